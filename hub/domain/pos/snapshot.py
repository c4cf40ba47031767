"""``posSnapshot``: what a till needs to sell offline, as a full snapshot or as the
changes since a cursor, a bounded page at a time.

A snapshot is read in sections, each a keyset over ids: ``products`` (active products
priced in the store's channel, each with its variants, barcodes and channel prices),
``promotions`` (active, not ended, in the channel's currency or any, with their
definitions as the admin API shows them), ``stock`` (the store's levels of those
products' variants) and, in a change feed only, ``removed`` (deleted products and
promotions). Tax rates (one per tax class the products use, at the store's address,
from the tax engine port) come with a sync's first page.

A change feed (``since``: the ``sync_cursor`` of the last sync's final page) holds every
product, promotion and stock level changed since: a product changes when it is edited,
priced, or a variant of it changes (``products.updated_at``); a promotion when it is
edited (``updated_at``) or its end passed; a stock level when the ledger moved it
(``inventory_movements``) or its product changed. A changed product or promotion that
is no longer sellable comes as a tombstone. Windows overlap by :data:`OVERLAP` so a
write that committed late is not missed; entries are full states, so seeing one twice
is harmless.

How a till applies pages (and converges to a fresh snapshot): a full sync's first page
clears its state; tax rates, when given, replace its rates; products, promotions and
stock are upserted by id; tombstones delete; after the last page it drops the stock of
variants none of its products has.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

import orjson
from sqlalchemy import and_, exists, or_, select

from connectors.base import TaxEngine, TaxLine, TaxRequest, TaxUnavailable
from hub import ids
from hub.db.database import Reader
from hub.db.tables import (
    deletions_t,
    levels_t,
    loc_channels_t,
    locations_t,
    moves_t,
    prices_t,
    products_t,
    promotions_t,
    ranges_t,
    variants_t,
)
from hub.domain.channels import ChannelRecord
from hub.domain.inventory.records import available_sql
from hub.domain.promotions.admin import PromotionRecord, promotions_by_pks

MAX_PAGE = 250  # the schema's bound on any `first` (schema.limits)
DEFAULT_PAGE = 100
OVERLAP = timedelta(seconds=5)
SECTIONS = ("products", "promotions", "stock", "removed")
_RATE_BASE = 1_000_000  # the amount taxed to read a class's rate from the engine


class SnapshotProblem(StrEnum):
    LOCATION_NOT_FOUND = "LOCATION_NOT_FOUND"
    LOCATION_NOT_IN_CHANNEL = "LOCATION_NOT_IN_CHANNEL"
    INVALID_CURSOR = "INVALID_CURSOR"


class PosError(ValueError):
    def __init__(self, code: SnapshotProblem, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class TillVariant:
    pk: int
    id: str
    sku: str
    title: str
    barcode: str | None
    price: int | None  # minor units of the channel's currency
    compare_at_price: int | None


@dataclass(frozen=True, slots=True)
class TillProduct:
    pk: int
    id: str
    handle: str
    title: str
    product_type: str
    tax_class: str
    variants: list[TillVariant]


@dataclass(frozen=True, slots=True)
class StockEntry:
    variant_pk: int
    variant_id: str
    on_hand: int
    available: int  # on hand less committed, reserved and quarantined (till sales)


@dataclass(frozen=True, slots=True)
class Tombstone:
    kind: str  # PRODUCT or PROMOTION
    pk: int
    id: str


@dataclass(frozen=True, slots=True)
class TaxRateEntry:
    tax_class: str
    rate: Decimal
    name: str


@dataclass
class SnapshotPage:
    full: bool
    as_of: datetime
    currency: str
    prices_include_tax: bool
    tax_rates: list[TaxRateEntry] | None = None
    products: list[TillProduct] = field(default_factory=list)
    promotions: list[PromotionRecord] = field(default_factory=list)
    stock: list[StockEntry] = field(default_factory=list)
    removed: list[Tombstone] = field(default_factory=list)
    next_cursor: str | None = None  # more pages of this sync
    sync_cursor: str | None = None  # on the last page: `since` for the next sync


@dataclass(frozen=True, slots=True)
class _Cursor:
    kind: str  # "page" (more of a sync) or "since" (start a change feed)
    since: datetime | None  # None: a full snapshot
    as_of: datetime
    section: int
    after: int
    location: int
    channel: int

    def encode(self) -> str:
        raw = [
            self.kind,
            self.since.isoformat() if self.since else None,
            self.as_of.isoformat(),
            self.section,
            self.after,
            self.location,
            self.channel,
        ]
        return base64.urlsafe_b64encode(orjson.dumps(["pos", *raw])).rstrip(b"=").decode()

    @staticmethod
    def decode(text: str) -> _Cursor:
        try:
            tag, kind, since, as_of, section, after, loc, chan = orjson.loads(
                base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            )
            if tag != "pos" or kind not in ("page", "since") or not 0 <= section < len(SECTIONS):
                raise ValueError(kind)
            return _Cursor(
                kind,
                datetime.fromisoformat(since) if since else None,
                datetime.fromisoformat(as_of),
                int(section),
                int(after),
                int(loc),
                int(chan),
            )
        except Exception:
            raise PosError(SnapshotProblem.INVALID_CURSOR, "not a posSnapshot cursor") from None


def _sellable(channel: ChannelRecord) -> Any:
    """Products a till of ``channel`` sells: active and priced there."""
    return and_(
        products_t.c.status == "ACTIVE",
        exists().where(
            ranges_t.c.product_id == products_t.c.id, ranges_t.c.channel_id == channel.pk
        ),
    )


def _promotion_live(channel: ChannelRecord, now: datetime) -> Any:
    return and_(
        promotions_t.c.status == "ACTIVE",
        or_(promotions_t.c.ends_at.is_(None), promotions_t.c.ends_at > now),
        or_(promotions_t.c.currency.is_(None), promotions_t.c.currency == channel.currency),
    )


def _start(
    since: str | None, after: str | None, now: datetime, location_pk: int, channel_pk: int
) -> _Cursor:
    """Where this page starts: after a page's cursor, at a change feed's ``since``, or
    at the beginning of a full snapshot."""
    if after is not None:
        cur = _Cursor.decode(after)
        if cur.kind != "page":
            raise PosError(SnapshotProblem.INVALID_CURSOR, "`after` takes a page's nextCursor")
    elif since is not None:
        start = _Cursor.decode(since)
        if start.kind != "since":
            raise PosError(SnapshotProblem.INVALID_CURSOR, "`since` takes a sync's syncCursor")
        cur = _Cursor("page", start.since, now, 0, 0, start.location, start.channel)
    else:
        cur = _Cursor("page", None, now, 0, 0, location_pk, channel_pk)
    if (cur.location, cur.channel) != (location_pk, channel_pk):
        raise PosError(
            SnapshotProblem.INVALID_CURSOR, "the cursor belongs to another store or channel"
        )
    return cur


async def pos_snapshot(
    reader: Reader,
    tax: TaxEngine,
    channel: ChannelRecord,
    location_pk: int,
    *,
    since: str | None = None,
    after: str | None = None,
    first: int = DEFAULT_PAGE,
) -> SnapshotPage:
    """One page of a till's sync for the store ``location_pk`` selling in ``channel``:
    a full snapshot (no ``since``), the changes after ``since``, or the page after
    ``after`` (a ``next_cursor``). ``first`` bounds the entries on the page."""
    loc = await reader.first(
        select(
            locations_t,
            exists()
            .where(
                loc_channels_t.c.location_id == locations_t.c.id,
                loc_channels_t.c.channel_id == channel.pk,
            )
            .label("sells"),
        ).where(locations_t.c.id == location_pk)
    )
    if loc is None:
        raise PosError(SnapshotProblem.LOCATION_NOT_FOUND, "location not found")
    if not loc.sells:
        raise PosError(
            SnapshotProblem.LOCATION_NOT_IN_CHANNEL,
            f"the location does not sell in {channel.handle!r}",
        )
    now = datetime.now(UTC)
    cur = _start(since, after, now, location_pk, channel.pk)

    page = SnapshotPage(
        full=cur.since is None,
        as_of=cur.as_of,
        currency=channel.currency,
        prices_include_tax=channel.tax_inclusive,
    )
    if cur.section == 0 and cur.after == 0:
        page.tax_rates = await _tax_rates(reader, tax, channel, loc)
    changed = None if cur.since is None else cur.since - OVERLAP
    room = first
    section, last = cur.section, cur.after
    while section < len(SECTIONS):
        name = SECTIONS[section]
        if name == "removed" and changed is None:
            section, last = section + 1, 0
            continue
        got, more, last = await _SECTION_READERS[name](
            reader, page, channel, location_pk, changed, last, room, now
        )
        room -= got
        if more:
            page.next_cursor = _Cursor(
                "page", cur.since, cur.as_of, section, last, location_pk, channel.pk
            ).encode()
            return page
        section, last = section + 1, 0
        if room <= 0 and section < len(SECTIONS):
            page.next_cursor = _Cursor(
                "page", cur.since, cur.as_of, section, 0, location_pk, channel.pk
            ).encode()
            return page
    page.sync_cursor = _Cursor(
        "since", cur.as_of, cur.as_of, 0, 0, location_pk, channel.pk
    ).encode()
    return page


async def _products(
    reader: Reader,
    page: SnapshotPage,
    channel: ChannelRecord,
    location_pk: int,
    changed: datetime | None,
    after: int,
    room: int,
    now: datetime,
) -> tuple[int, bool, int]:
    sellable = _sellable(channel).label("sellable")
    stmt = select(products_t, sellable).where(products_t.c.id > after)
    if changed is None:
        stmt = stmt.where(_sellable(channel))
    else:
        stmt = stmt.where(products_t.c.updated_at > changed)
    rows = await reader.all(stmt.order_by(products_t.c.id).limit(room + 1))
    more = len(rows) > room
    rows = rows[:room]
    live = [r for r in rows if r.sellable]
    variants: dict[int, list[TillVariant]] = {r.id: [] for r in live}
    if live:
        vrows = await reader.all(
            select(
                variants_t.c.id,
                variants_t.c.product_id,
                variants_t.c.sku,
                variants_t.c.title,
                variants_t.c.barcode,
                prices_t.c.amount,
                prices_t.c.compare_at_amount,
            )
            .select_from(
                variants_t.outerjoin(
                    prices_t,
                    and_(
                        prices_t.c.variant_id == variants_t.c.id,
                        prices_t.c.channel_id == channel.pk,
                    ),
                )
            )
            .where(variants_t.c.product_id.in_(list(variants)))
            .order_by(variants_t.c.product_id, variants_t.c.position, variants_t.c.id)
        )
        for v in vrows:
            variants[v.product_id].append(
                TillVariant(
                    v.id,
                    ids.encode("ProductVariant", v.id),
                    v.sku,
                    v.title,
                    v.barcode,
                    v.amount,
                    v.compare_at_amount,
                )
            )
    for r in rows:
        if r.sellable:
            page.products.append(
                TillProduct(
                    r.id,
                    ids.encode("Product", r.id),
                    r.handle,
                    r.title,
                    r.product_type,
                    r.tax_class,
                    variants[r.id],
                )
            )
        else:
            page.removed.append(Tombstone("PRODUCT", r.id, ids.encode("Product", r.id)))
    return len(rows), more, rows[-1].id if rows else after


async def _promotions(
    reader: Reader,
    page: SnapshotPage,
    channel: ChannelRecord,
    location_pk: int,
    changed: datetime | None,
    after: int,
    room: int,
    now: datetime,
) -> tuple[int, bool, int]:
    live = _promotion_live(channel, now)
    stmt = select(promotions_t.c.id, live.label("live")).where(promotions_t.c.id > after)
    if changed is None:
        stmt = stmt.where(live)
    else:
        ended = and_(promotions_t.c.ends_at > changed, promotions_t.c.ends_at <= now)
        stmt = stmt.where(or_(promotions_t.c.updated_at > changed, ended))
    rows = await reader.all(stmt.order_by(promotions_t.c.id).limit(room + 1))
    more = len(rows) > room
    rows = rows[:room]
    recs = await promotions_by_pks(reader, [r.id for r in rows if r.live]) if rows else {}
    for r in rows:
        if r.live and r.id in recs:
            page.promotions.append(recs[r.id])
        else:
            page.removed.append(Tombstone("PROMOTION", r.id, ids.encode("Promotion", r.id)))
    return len(rows), more, rows[-1].id if rows else after


async def _stock(
    reader: Reader,
    page: SnapshotPage,
    channel: ChannelRecord,
    location_pk: int,
    changed: datetime | None,
    after: int,
    room: int,
    now: datetime,
) -> tuple[int, bool, int]:
    stmt = (
        select(levels_t.c.variant_id, levels_t.c.on_hand, available_sql(online=False).label("a"))
        .select_from(
            levels_t.join(variants_t, variants_t.c.id == levels_t.c.variant_id).join(
                products_t, products_t.c.id == variants_t.c.product_id
            )
        )
        .where(
            levels_t.c.location_id == location_pk,
            levels_t.c.variant_id > after,
            _sellable(channel),
        )
    )
    if changed is not None:
        moved = exists().where(
            moves_t.c.variant_id == levels_t.c.variant_id,
            moves_t.c.location_id == location_pk,
            moves_t.c.created_at > changed,
        )
        stmt = stmt.where(or_(moved, products_t.c.updated_at > changed))
    rows = await reader.all(stmt.order_by(levels_t.c.variant_id).limit(room + 1))
    more = len(rows) > room
    rows = rows[:room]
    page.stock.extend(
        StockEntry(r.variant_id, ids.encode("ProductVariant", r.variant_id), r.on_hand, r.a)
        for r in rows
    )
    return len(rows), more, rows[-1].variant_id if rows else after


async def _removed(
    reader: Reader,
    page: SnapshotPage,
    channel: ChannelRecord,
    location_pk: int,
    changed: datetime | None,
    after: int,
    room: int,
    now: datetime,
) -> tuple[int, bool, int]:
    rows = await reader.all(
        select(deletions_t)
        .where(deletions_t.c.deleted_at > changed, deletions_t.c.id > after)
        .order_by(deletions_t.c.id)
        .limit(room + 1)
    )
    more = len(rows) > room
    rows = rows[:room]
    for r in rows:
        node = "Product" if r.kind == "PRODUCT" else "Promotion"
        page.removed.append(Tombstone(r.kind, r.entity_id, ids.encode(node, r.entity_id)))
    return len(rows), more, rows[-1].id if rows else after


_SECTION_READERS = {
    "products": _products,
    "promotions": _promotions,
    "stock": _stock,
    "removed": _removed,
}


async def _tax_rates(
    reader: Reader, tax: TaxEngine, channel: ChannelRecord, loc: Any
) -> list[TaxRateEntry] | None:
    """The rate of each tax class the channel's products use, at the store's address,
    as the tax engine computes it (None when the engine is unavailable: the till keeps
    the rates it has)."""
    rows = await reader.all(select(products_t.c.tax_class).where(_sellable(channel)).distinct())
    classes = sorted({"standard", *(r.tax_class for r in rows)})
    req = TaxRequest(
        currency=channel.currency,
        country=loc.country_code,
        region=loc.region or None,
        postal_code=loc.postal_code or None,
        prices_include_tax=channel.tax_inclusive,
        lines=tuple(TaxLine(c, _RATE_BASE, 1, tax_class=c) for c in classes),
        shipping=0,
        customer_vat_id=None,
    )
    try:
        res = await tax.calculate(req)
    except TaxUnavailable:
        return None
    names = [b.name for b in res.breakdown]
    out = []
    for c in classes:
        t = res.lines.get(c, 0)
        net = _RATE_BASE - t if channel.tax_inclusive else _RATE_BASE
        rate = (Decimal(t) / Decimal(net)).quantize(Decimal("0.000001")) if net else Decimal(0)
        out.append(
            TaxRateEntry(c, rate.normalize() if rate else Decimal(0), names[0] if names else "")
        )
    return out
