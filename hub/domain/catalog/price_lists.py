"""Price lists: customer-group price lists and volume breaks over channel prices.

A variant's base price in a channel is its ``variant_prices`` row (see
:mod:`hub.domain.catalog.prices`). A price list belongs to one channel (and is in its
currency) and one customer group; its entries give a variant's unit price from a
minimum quantity up. :func:`quote_prices` is what carts and checkout call: the unit
price each line pays, with where it came from.

Which entry wins: among the group's active lists for the channel (``active``, and
``now`` inside ``[starts_at, ends_at)``), lists are taken in ``priority`` order (lower
first, then oldest); the first list with an entry for the variant at or below the
quantity wins, and within it the entry with the highest ``min_quantity`` that the
quantity reaches. Variants without a channel price are not sellable there and are left
out of the result.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, bindparam, delete, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from hub import ids
from hub.db import fast
from hub.db.database import Database, Reader, fetch_all
from hub.db.tables import channels_t, entries_t, lists_t, prices_t, variants_t
from hub.domain.catalog._checks import delete_row, insert_row
from hub.domain.catalog.errors import CatalogCode
from hub.domain.channels import (
    HANDLE_RE,
    ChannelRecord,
    channel_handles,
    handle_key,
    unknown_channel,
)
from hub.domain.customers import GROUP_RE
from hub.domain.errors import DomainError, Errors, fail, refused_write
from hub.domain.paging import rank_within
from hub.money import MAX_MINOR, Money, MoneyError, is_currency, parse_amount

MAX_ENTRIES_PER_CALL = 1000


# --------------------------------------------------------------------------- quoting


@dataclass(frozen=True, slots=True)
class PriceQuote:
    """The unit price a line pays, in minor units of ``currency``.

    ``source`` is ``"channel"`` for the channel price, ``"price_list:<handle>"`` when a
    price list set it. ``compare_at`` is the channel's compare-at price, or the channel
    price when a list made the line cheaper and the channel has no compare-at."""

    unit_price: int
    compare_at: int | None
    currency: str
    source: str


# Built once: no construction or cache key per call (on a connection).
_CHANNEL_PRICES = select(
    prices_t.c.variant_id,
    prices_t.c.amount,
    prices_t.c.compare_at_amount,
    prices_t.c.currency,
).where(
    prices_t.c.channel_id == bindparam("channel"),
    prices_t.c.variant_id.in_(bindparam("variants", expanding=True)),
)
_CHANNEL_PRICES_FAST = fast.Prebuilt(_CHANNEL_PRICES)


def _active_at(now: datetime) -> Any:
    return and_(
        lists_t.c.active.is_(True),
        or_(lists_t.c.starts_at.is_(None), lists_t.c.starts_at <= now),
        or_(lists_t.c.ends_at.is_(None), lists_t.c.ends_at > now),
    )


async def quote_prices(
    conn: AsyncConnection | Reader,
    channel: ChannelRecord | int,
    lines: Mapping[int, int],
    *,
    customer_group: str | None,
    now: datetime,
) -> dict[int, PriceQuote]:
    """Unit prices for ``lines`` ({variant pk: quantity}) in ``channel`` for a buyer in
    ``customer_group`` (None: no group) at ``now``.

    At most two SQL statements whatever the number of lines: the channel prices, and
    (with a group) the applicable price-list entries."""
    if not lines:
        return {}
    channel_pk = channel if isinstance(channel, int) else channel.pk
    variant_pks = list(lines)
    base: Sequence[Any]
    if isinstance(conn, Reader):  # a request's reader: statements without parameters
        base = await conn.all(
            select(
                prices_t.c.variant_id,
                prices_t.c.amount,
                prices_t.c.compare_at_amount,
                prices_t.c.currency,
            ).where(prices_t.c.channel_id == channel_pk, prices_t.c.variant_id.in_(variant_pks))
        )
    else:
        base = (
            await fast.execute(
                conn, _CHANNEL_PRICES_FAST, {"channel": channel_pk, "variants": variant_pks}
            )
        ).all()
    if not base:
        return {}
    # variant -> the first applicable (list priority, list id, -min_quantity, amount, handle)
    best: dict[int, tuple[int, int, int, int, str]] = {}
    if customer_group is not None:
        currency = base[0].currency
        rows: Sequence[Any] = await fetch_all(
            conn,
            select(
                entries_t.c.variant_id,
                entries_t.c.min_quantity,
                entries_t.c.amount,
                lists_t.c.id,
                lists_t.c.handle,
                lists_t.c.priority,
            )
            .join(lists_t, lists_t.c.id == entries_t.c.price_list_id)
            .where(
                lists_t.c.channel_id == channel_pk,
                lists_t.c.customer_group == customer_group,
                lists_t.c.currency == currency,
                _active_at(now),
                entries_t.c.variant_id.in_([r.variant_id for r in base]),
            ),
        )
        for r in rows:
            if r.min_quantity > lines[r.variant_id]:
                continue
            key = (r.priority, r.id, -r.min_quantity, r.amount, r.handle)
            got = best.get(r.variant_id)
            if got is None or key < got:
                best[r.variant_id] = key
    out: dict[int, PriceQuote] = {}
    for r in base:
        hit = best.get(r.variant_id)
        if hit is None:
            out[r.variant_id] = PriceQuote(r.amount, r.compare_at_amount, r.currency, "channel")
            continue
        amount = hit[3]
        compare_at = r.compare_at_amount
        if compare_at is None and amount < r.amount:
            compare_at = r.amount
        out[r.variant_id] = PriceQuote(amount, compare_at, r.currency, f"price_list:{hit[4]}")
    return out


# --------------------------------------------------------------------------- records


class PriceListRecord:
    __slots__ = (
        "active",
        "channel_pk",
        "created_at",
        "currency",
        "customer_group",
        "ends_at",
        "handle",
        "id",
        "name",
        "pk",
        "priority",
        "starts_at",
        "updated_at",
    )

    def __init__(self, row: Any) -> None:
        self.pk = row.id
        self.id = ids.encode("PriceList", row.id)
        self.handle = row.handle
        self.name = row.name
        self.channel_pk = row.channel_id
        self.customer_group = row.customer_group
        self.currency = row.currency
        self.priority = row.priority
        self.active = row.active
        self.starts_at = row.starts_at
        self.ends_at = row.ends_at
        self.created_at = row.created_at
        self.updated_at = row.updated_at


class PriceListEntryRecord:
    __slots__ = ("min_quantity", "price", "price_list_pk", "variant_id", "variant_pk")

    def __init__(self, row: Any, currency: str) -> None:
        self.price_list_pk = row.price_list_id
        self.variant_pk = row.variant_id
        self.variant_id = ids.encode("ProductVariant", row.variant_id)
        self.min_quantity = row.min_quantity
        self.price = Money(row.amount, currency)


async def price_lists_by_pks(reader: Reader, pks: Sequence[int]) -> dict[int, PriceListRecord]:
    rows = await reader.all(select(lists_t).where(lists_t.c.id.in_(list(pks))))
    return {r.id: PriceListRecord(r) for r in rows}


async def list_price_lists(
    reader: Reader, *, limit: int, after_pk: int | None = None
) -> list[PriceListRecord]:
    stmt = select(lists_t).order_by(lists_t.c.id).limit(limit)
    if after_pk is not None:
        stmt = stmt.where(lists_t.c.id > after_pk)
    return [PriceListRecord(r) for r in await reader.all(stmt)]


async def entries_for_lists(
    reader: Reader,
    list_pks: Sequence[int],
    *,
    limit: int,
    after: tuple[int, int] | None = None,
) -> dict[int, list[PriceListEntryRecord]]:
    """Up to ``limit`` entries of each list, by (variant, min quantity), after ``after``:
    one statement for any number of lists."""
    wanted = list(set(list_pks))
    if not wanted or limit <= 0:
        return {}
    cond: list[ColumnElement[bool]] = [entries_t.c.price_list_id.in_(wanted)]
    if after is not None:
        cond.append(tuple_(entries_t.c.variant_id, entries_t.c.min_quantity) > tuple_(*after))
    rank = rank_within(entries_t.c.price_list_id, entries_t.c.variant_id, entries_t.c.min_quantity)
    inner = select(entries_t, lists_t.c.currency, rank).join(
        lists_t, lists_t.c.id == entries_t.c.price_list_id
    )
    sub = inner.where(*cond).subquery()
    rows = await reader.all(
        select(sub)
        .where(sub.c.rn <= limit)
        .order_by(sub.c.price_list_id, sub.c.variant_id, sub.c.min_quantity)
    )
    out: dict[int, list[PriceListEntryRecord]] = defaultdict(list)
    for r in rows:
        out[r.price_list_id].append(PriceListEntryRecord(r, r.currency))
    return dict(out)


# --------------------------------------------------------------------------- writes


@dataclass
class PriceListInput:
    handle: str | None = None
    name: str | None = None
    channel: str | None = None  # channel handle
    customer_group: str | None = None
    currency: str | None = None  # optional check: must equal the channel's currency
    priority: int | None = None
    active: bool | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None


# How messages name the fields (the API's names; error paths use the field names).
_LIST_LABELS = {
    "handle": "handle",
    "name": "name",
    "channel": "channel",
    "customer_group": "customerGroup",
    "currency": "currencyCode",
    "priority": "priority",
    "active": "active",
    "starts_at": "startsAt",
    "ends_at": "endsAt",
}
CLEARABLE = frozenset({"starts_at", "ends_at"})


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _validate_list(errs: Errors, data: PriceListInput) -> None:
    for f in fields(data):
        v = getattr(data, f.name)
        if isinstance(v, str) and "\x00" in v:
            errs.add(CatalogCode.INVALID, "contains a NUL character", f.name)
    if data.handle is not None:
        if not data.handle:
            errs.add(CatalogCode.BLANK, "handle can't be blank", "handle")
        elif len(data.handle) > 64:
            errs.add(CatalogCode.TOO_LONG, "handle is longer than 64 characters", "handle")
        elif not HANDLE_RE.match(data.handle):
            errs.add(
                CatalogCode.INVALID, "handle must be lowercase letters, digits and dashes", "handle"
            )
    if data.name is not None:
        if not data.name.strip():
            errs.add(CatalogCode.BLANK, "name can't be blank", "name")
        elif len(data.name) > 255:
            errs.add(CatalogCode.TOO_LONG, "name is longer than 255 characters", "name")
    if data.customer_group is not None and (
        not data.customer_group
        or len(data.customer_group) > 64
        or not GROUP_RE.match(data.customer_group)
    ):
        errs.add(
            CatalogCode.INVALID,
            "customerGroup must be a handle of at most 64 lowercase letters, digits, - and _",
            "customer_group",
        )
    if data.currency is not None and not is_currency(data.currency):
        errs.add(
            CatalogCode.INVALID,
            f"{data.currency!r} is not an ISO 4217 currency code",
            "currency",
        )
    if data.starts_at is not None and data.ends_at is not None:
        if _aware(data.ends_at) <= _aware(data.starts_at):
            errs.add(CatalogCode.INVALID, "endsAt must be after startsAt", "ends_at")


async def _channel_row(conn: AsyncConnection, handle: str) -> Any:
    stmt = select(channels_t).where(channels_t.c.handle == handle_key(handle))
    row = (await conn.execute(stmt)).first()
    if row is None:
        msg = unknown_channel(handle, await channel_handles(conn))
        raise fail(CatalogCode.NOT_FOUND, msg, "channel")
    return row


def _integrity(exc: IntegrityError) -> DomainError:
    return refused_write(exc, "handle", "handle is already taken", "the price list is invalid")


async def insert_price_list(conn: AsyncConnection, data: PriceListInput) -> int:
    """Insert a price list of checked ``data`` (see :func:`create_price_list`), in the
    caller's transaction."""
    now = datetime.now(UTC)
    ch = await _channel_row(conn, data.channel or "")
    if data.currency is not None and data.currency != ch.currency:
        raise fail(
            CatalogCode.CURRENCY_MISMATCH,
            f"channel {ch.handle!r} sells in {ch.currency}, not {data.currency}",
            "currency",
        )
    return await insert_row(
        conn,
        lists_t,
        {
            "handle": data.handle,
            "name": data.name,
            "channel_id": ch.id,
            "customer_group": data.customer_group,
            "currency": ch.currency,
            "priority": data.priority or 0,
            "active": True if data.active is None else data.active,
            "starts_at": data.starts_at,
            "ends_at": data.ends_at,
            "created_at": now,
            "updated_at": now,
        },
        _integrity,
    )


async def create_price_list(db: Database, data: PriceListInput) -> int:
    errs = Errors()
    errs.require(data, ("handle", "name", "channel", "customer_group"), _LIST_LABELS.__getitem__)
    _validate_list(errs, data)
    errs.raise_if_any()
    async with db.transaction() as conn:
        return await insert_price_list(conn, data)


async def change_price_list(
    conn: AsyncConnection, pk: int, data: PriceListInput, clear: set[str]
) -> int:
    """Change the given fields of price list ``pk`` (checked; see
    :func:`update_price_list`; ``clear`` names the fields to remove), in the caller's
    transaction."""
    row = (await conn.execute(select(lists_t).where(lists_t.c.id == pk))).first()
    if row is None:
        raise fail(CatalogCode.NOT_FOUND, "price list not found", "id")
    values: dict[str, Any] = {
        k: v for k, v in vars(data).items() if v is not None and k not in ("channel", "currency")
    }
    for name in clear:
        values[name] = None
    currency = row.currency
    if data.channel is not None:
        ch = await _channel_row(conn, data.channel)
        if ch.currency != row.currency:
            has_entries = (
                await conn.execute(
                    select(entries_t.c.variant_id).where(entries_t.c.price_list_id == pk).limit(1)
                )
            ).first()
            if has_entries:
                raise fail(
                    CatalogCode.CURRENCY_MISMATCH,
                    f"the list has prices in {row.currency} and channel {ch.handle!r} "
                    f"sells in {ch.currency}; remove its entries first",
                    "channel",
                )
        values["channel_id"] = ch.id
        values["currency"] = currency = ch.currency
    if data.currency is not None and data.currency != currency:
        raise fail(
            CatalogCode.CURRENCY_MISMATCH,
            f"the list's channel sells in {currency}, not {data.currency}",
            "currency",
        )
    starts = values.get("starts_at", row.starts_at)
    ends = values.get("ends_at", row.ends_at)
    if starts is not None and ends is not None and _aware(ends) <= _aware(starts):
        raise fail(CatalogCode.INVALID, "endsAt must be after startsAt", "ends_at")
    values["updated_at"] = datetime.now(UTC)
    try:
        await conn.execute(update(lists_t).where(lists_t.c.id == pk).values(**values))
    except IntegrityError as exc:
        raise _integrity(exc) from None
    return pk


async def update_price_list(
    db: Database, pk: int, data: PriceListInput, *, clear: Iterable[str] = ()
) -> int:
    """Change the given fields; ``clear`` names ``starts_at``/``ends_at`` to remove.
    Moving a list with entries to a channel in another currency is refused."""
    errs = Errors()
    _validate_list(errs, data)
    clear = set(clear)
    for name in clear - CLEARABLE:
        errs.add(
            CatalogCode.BLANK,
            f"{_LIST_LABELS.get(name, name)} can't be null",
            name,
        )
    errs.raise_if_any()
    async with db.transaction() as conn:
        await change_price_list(conn, pk, data, clear)
    return pk


async def delete_price_list(db: Database, pk: int) -> None:
    async with db.transaction() as conn:
        await delete_row(conn, lists_t, pk, "price list")


@dataclass
class EntryInput:
    variant_pk: int
    min_quantity: int
    amount: Decimal


async def upsert_price_list_entries(
    conn: AsyncConnection, list_pk: int, entries: Sequence[EntryInput], *, replace: bool = False
) -> int:
    """:func:`set_price_list_entries` in the caller's transaction."""
    errs = Errors()
    row = (await conn.execute(select(lists_t).where(lists_t.c.id == list_pk))).first()
    if row is None:
        raise fail(CatalogCode.NOT_FOUND, "price list not found", "price_list_id")
    known: set[int] = set()
    if entries:
        known = set(
            (
                await conn.execute(
                    select(variants_t.c.id).where(
                        variants_t.c.id.in_({e.variant_pk for e in entries})
                    )
                )
            ).scalars()
        )
    rows: list[dict[str, Any]] = []
    seen: set[tuple[int, int]] = set()
    for i, e in enumerate(entries):
        path = ("entries", str(i))
        if e.variant_pk not in known:
            errs.add(CatalogCode.NOT_FOUND, "variant not found", *path, "variant_id")
            continue
        if e.min_quantity < 1:
            errs.add(CatalogCode.INVALID, "minQuantity must be at least 1", *path, "min_quantity")
            continue
        try:
            amount = parse_amount(e.amount, row.currency, max_minor=MAX_MINOR)
        except MoneyError as exc:
            errs.add(CatalogCode.INVALID, str(exc), *path, "amount")
            continue
        key = (e.variant_pk, e.min_quantity)
        if key in seen:
            errs.add(
                CatalogCode.TAKEN,
                "the same variant and minQuantity appear twice",
                *path,
                "min_quantity",
            )
            continue
        seen.add(key)
        rows.append(
            {
                "price_list_id": list_pk,
                "variant_id": e.variant_pk,
                "min_quantity": e.min_quantity,
                "amount": amount,
            }
        )
    errs.raise_if_any()
    if replace:
        await conn.execute(delete(entries_t).where(entries_t.c.price_list_id == list_pk))
    if rows:
        ins = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(entries_t)
        stmt = ins.values(rows).on_conflict_do_update(
            index_elements=["price_list_id", "variant_id", "min_quantity"],
            set_={"amount": ins.excluded.amount},
        )
        await conn.execute(stmt)
    await conn.execute(
        update(lists_t).where(lists_t.c.id == list_pk).values(updated_at=datetime.now(UTC))
    )
    return len(rows)


async def set_price_list_entries(
    db: Database, list_pk: int, entries: Sequence[EntryInput], *, replace: bool = False
) -> int:
    """Create or replace entries of a list (one upsert statement); with ``replace``
    the list's other entries are removed. Returns the number of entries written."""
    if len(entries) > MAX_ENTRIES_PER_CALL:
        raise fail(
            CatalogCode.LIMIT_EXCEEDED,
            f"at most {MAX_ENTRIES_PER_CALL} entries per call",
            "entries",
        )
    async with db.transaction() as conn:
        return await upsert_price_list_entries(conn, list_pk, entries, replace=replace)
