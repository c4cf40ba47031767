"""What a marketplace connector reads of the hub (through ``HubGateway``): the active
products of a channel as listings (variant SKU, titles, attributes, the channel's
price, the units sellable from the chosen locations), and the references of the orders
a marketplace sent (external id, the external line ids of its lines).

Reads only; every function takes the :class:`~hub.db.database.Database` and opens one
read connection. The quantity is what inventory says a channel can sell online
(safety stock kept back; a bundle counts the kits its components make at one
location, :func:`hub.domain.inventory.reads.stock_by_location`), summed over the
chosen locations, or over every active location that sells to the channel.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from connectors.base import ListingRow, OrderRef
from hub import ids
from hub.db.database import Database, Reader
from hub.db.tables import (
    attrs_t,
    bundle_t,
    channels_t,
    locations_t,
    order_lines_t,
    orders_t,
    prices_t,
    products_t,
    variants_t,
)
from hub.domain.errors import Code, fail
from hub.domain.inventory.reads import stock_by_location

# The order attribute the order import keeps a marketplace's line ids in (a JSON list,
# in the order of the lines), so shipments can name the marketplace's lines.
EXTERNAL_LINES = "externalLineIds"
PAGE_MAX = 1000

_LISTING = (
    select(
        variants_t.c.id, variants_t.c.sku, variants_t.c.title.label("variant_title"),
        variants_t.c.option1, variants_t.c.option2, variants_t.c.option3, variants_t.c.barcode,
        variants_t.c.tracked, variants_t.c.is_bundle, variants_t.c.weight_grams,
        products_t.c.id.label("product_id"), products_t.c.handle, products_t.c.title,
        products_t.c.description, products_t.c.vendor, products_t.c.product_type,
        products_t.c.options, prices_t.c.amount, prices_t.c.compare_at_amount,
        prices_t.c.currency,
    )
    .join(products_t, products_t.c.id == variants_t.c.product_id)
    .join(prices_t, prices_t.c.variant_id == variants_t.c.id)
    .where(products_t.c.status == "ACTIVE")
)  # fmt: skip


async def _channel_pk(reader: Reader, channel: str) -> int:
    row = await reader.first(select(channels_t.c.id).where(channels_t.c.handle == channel))
    if row is None:
        raise fail(Code.NOT_FOUND, f"no channel with handle {channel!r}", "channel")
    return int(row.id)


async def _location_pks(reader: Reader, locations: Sequence[str] | None) -> set[int] | None:
    if locations is None:
        return None
    rows = await reader.all(
        select(locations_t.c.id, locations_t.c.handle).where(locations_t.c.handle.in_(locations))
    )
    missing = set(locations) - {r.handle for r in rows}
    if missing:
        raise fail(Code.NOT_FOUND, f"no location {sorted(missing)[0]!r}", "locations")
    return {int(r.id) for r in rows}


def _title(row: Any) -> str:
    if not row.variant_title or row.variant_title == "Default":
        return str(row.title)
    return f"{row.title} - {row.variant_title}"[:255]


def _attributes(row: Any, typed: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, opt in enumerate(row.options or ()):
        value = (row.option1, row.option2, row.option3)[i] if i < 3 else None
        if value is not None and isinstance(opt, dict) and opt.get("name"):
            out[str(opt["name"]).lower()] = value
    for key, value in (
        ("vendor", row.vendor), ("product_type", row.product_type),
        ("barcode", row.barcode), ("weight_grams", row.weight_grams),
    ):  # fmt: skip
        if value not in (None, ""):
            out[key] = value
    out.update(typed)
    return out


def _typed(kind: str, value: str) -> Any:
    if kind == "INTEGER":
        try:
            return int(value)
        except ValueError:
            return value
    if kind == "BOOLEAN":
        return value.lower() in ("true", "1", "yes")
    return value


async def _rows(
    reader: Reader, rows: Sequence[Any], channel_pk: int, locations: set[int] | None
) -> list[ListingRow]:
    if not rows:
        return []
    attrs: dict[int, dict[str, Any]] = defaultdict(dict)
    for a in await reader.all(
        select(attrs_t.c.product_id, attrs_t.c.key, attrs_t.c.type, attrs_t.c.value)
        .where(attrs_t.c.product_id.in_({r.product_id for r in rows}))
        .order_by(attrs_t.c.product_id, attrs_t.c.key)
    ):
        attrs[a.product_id][a.key] = _typed(a.type, a.value)
    tracked = [r.id for r in rows if r.tracked]
    bundles = {r.id for r in rows if r.tracked and r.is_bundle}
    per = await stock_by_location(reader, tracked, channel_pk, bundles=bundles) if tracked else {}
    out = []
    for r in rows:
        qty: int | None = None
        if r.tracked:
            locs = per.get(r.id, {})
            qty = sum(n for loc, n in locs.items() if locations is None or loc in locations)
        out.append(
            ListingRow(
                variant_id=int(r.id), sku=r.sku, product_handle=r.handle, title=_title(r),
                description=r.description or "", attributes=_attributes(r, attrs[r.product_id]),
                price=int(r.amount), compare_at=r.compare_at_amount, currency=r.currency,
                quantity=qty,
            )
        )  # fmt: skip
    return out


async def channel_listings(
    db: Database,
    channel: str,
    locations: Sequence[str] | None,
    *,
    after: int | None = None,
    limit: int = 500,
) -> list[ListingRow]:
    """One page of the channel's listings (active products, variants priced in the
    channel), by variant id after ``after``; at most ``limit`` (1 to 1000)."""
    limit = max(1, min(limit, PAGE_MAX))
    reader = Reader(db)
    try:
        channel_pk = await _channel_pk(reader, channel)
        locs = await _location_pks(reader, locations)
        stmt = _LISTING.where(prices_t.c.channel_id == channel_pk)
        if after is not None:
            stmt = stmt.where(variants_t.c.id > after)
        rows = await reader.all(stmt.order_by(variants_t.c.id).limit(limit))
        return await _rows(reader, rows, channel_pk, locs)
    finally:
        await reader.close()


async def variant_offers(
    db: Database, channel: str, locations: Sequence[str] | None, variant_ids: Sequence[int]
) -> list[ListingRow]:
    """The listings of these variants and of the bundles made of them (a component's
    stock changes its kits' quantity), those still listed in the channel."""
    if not variant_ids:
        return []
    reader = Reader(db)
    try:
        channel_pk = await _channel_pk(reader, channel)
        locs = await _location_pks(reader, locations)
        kits = await reader.all(
            select(bundle_t.c.bundle_variant_id).where(
                bundle_t.c.component_variant_id.in_(set(variant_ids))
            )
        )
        wanted = set(variant_ids) | {int(k.bundle_variant_id) for k in kits}
        rows = await reader.all(
            _LISTING.where(prices_t.c.channel_id == channel_pk, variants_t.c.id.in_(wanted))
            .order_by(variants_t.c.id)
        )  # fmt: skip
        return await _rows(reader, rows, channel_pk, locs)
    finally:
        await reader.close()


def _order_pk(global_id: str) -> int | None:
    try:
        return ids.decode_pk(global_id, "Order")
    except ids.InvalidId:
        return None


async def order_refs(db: Database, source: str, order_ids: Sequence[str]) -> list[OrderRef]:
    """The orders among ``order_ids`` (global ids, as events carry them) that came
    from ``source``, with their external id and each line's external line id."""
    pks = {pk for pk in map(_order_pk, order_ids) if pk is not None}
    if not pks:
        return []
    async with db.read() as conn:
        orders = (
            await conn.execute(
                select(orders_t.c.id, orders_t.c.name, orders_t.c.external_id,
                       orders_t.c.status, orders_t.c.attributes)
                .where(orders_t.c.id.in_(pks), orders_t.c.source == source,
                       orders_t.c.external_id.is_not(None))
                .order_by(orders_t.c.id)
            )
        ).all()  # fmt: skip
        lines = (
            await conn.execute(
                select(order_lines_t.c.id, order_lines_t.c.order_id)
                .where(order_lines_t.c.order_id.in_([o.id for o in orders]))
                .order_by(order_lines_t.c.order_id, order_lines_t.c.id)
            )
        ).all()
    by_order: dict[int, list[int]] = defaultdict(list)
    for ln in lines:
        by_order[ln.order_id].append(int(ln.id))
    out = []
    for o in orders:
        external = _external_lines(o.attributes)
        refs = {
            ids.encode("OrderLineItem", pk): external[i]
            for i, pk in enumerate(by_order[o.id])
            if i < len(external)
        }
        out.append(
            OrderRef(
                order_id=ids.encode("Order", o.id), name=o.name, source=source,
                external_id=o.external_id, status=o.status, lines=refs,
            )
        )  # fmt: skip
    return out


def _external_lines(attributes: Any) -> list[str]:
    for a in attributes or ():
        if isinstance(a, dict) and a.get("key") == EXTERNAL_LINES:
            try:
                got = json.loads(a.get("value") or "[]")
            except ValueError:
                return []
            return [str(x) for x in got] if isinstance(got, list) else []
    return []
