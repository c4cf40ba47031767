"""Catalog reads by key, batched for the dataloaders: products, variants (priced and
stock-aware in a channel), attributes and bundle components."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, select

from hub.db import fast
from hub.db.database import Reader
from hub.db.dialect import among, is_postgres
from hub.db.tables import attrs_t, bundle_t, prices_t, products_t, ranges_t, variants_t
from hub.domain.catalog.availability import (
    attach_availability,
    policy_join,
    sells_beyond_stock_sql,
)
from hub.domain.catalog.barcodes import barcode_key
from hub.domain.catalog.records import (
    AttributeRecord,
    BundleComponentRecord,
    ProductRecord,
    VariantRecord,
)
from hub.domain.channels import ChannelRecord


def _product_select(channel: ChannelRecord | None):
    if channel is None:
        return select(products_t)
    join_on = and_(ranges_t.c.product_id == products_t.c.id, ranges_t.c.channel_id == channel.pk)
    return select(products_t, ranges_t.c.min_amount, ranges_t.c.max_amount).select_from(
        products_t.outerjoin(ranges_t, join_on)
    )


async def products_by_pks(
    reader: Reader, pks: Sequence[int], channel: ChannelRecord | None
) -> dict[int, ProductRecord]:
    rows = await reader.all(_product_select(channel).where(products_t.c.id.in_(pks)))
    return {r.id: ProductRecord(r, channel) for r in rows}


async def products_by_handles(
    reader: Reader, handles: Sequence[str], channel: ChannelRecord | None
) -> dict[str, ProductRecord]:
    rows = await reader.all(_product_select(channel).where(products_t.c.handle.in_(handles)))
    return {r.handle: ProductRecord(r, channel) for r in rows}


# catalog.records.VariantRecord unpacks these (and _PRICE_COLS, then the policy's
# sells_beyond_stock flag) in this order.
_VARIANT_COLS = (
    variants_t.c.id,
    variants_t.c.product_id,
    variants_t.c.sku,
    variants_t.c.barcode,
    variants_t.c.title,
    variants_t.c.position,
    variants_t.c.option1,
    variants_t.c.option2,
    variants_t.c.option3,
    variants_t.c.weight_grams,
    variants_t.c.requires_shipping,
    variants_t.c.is_bundle,
    variants_t.c.tracked,
)
_PRICE_COLS = (prices_t.c.amount, prices_t.c.compare_at_amount, prices_t.c.cost_amount)


def _variants_priced(on: Any, *extra: Any):
    """Variants with their prices joined ``on`` and their inventory policy."""
    return select(*_VARIANT_COLS, *_PRICE_COLS, sells_beyond_stock_sql(), *extra).select_from(
        policy_join(variants_t.outerjoin(prices_t, on))
    )


def _variant_select(channel: ChannelRecord | None, *extra: Any):
    channel_pk = channel.pk if channel is not None else -1
    on = and_(prices_t.c.variant_id == variants_t.c.id, prices_t.c.channel_id == channel_pk)
    return _variants_priced(on, *extra)


# variants_by_products' statement per dialect (True: PostgreSQL), built once with bind
# parameters ``channel`` and ``pks``: the listing runs it on every page, and building
# it (operators, joins, its cache key) cost more than binding it.
_OF_PRODUCTS: dict[bool, Any] = {}


def _of_products(postgres: bool) -> Any:
    stmt = _OF_PRODUCTS.get(postgres)
    if stmt is None:
        on = and_(
            prices_t.c.variant_id == variants_t.c.id,
            prices_t.c.channel_id == bindparam("channel"),
            # lets the planner use the (channel, product) index
            among(prices_t.c.product_id, "pks", postgres),
        )
        stmt = _OF_PRODUCTS[postgres] = fast.Prebuilt(
            _variants_priced(on)
            .where(among(variants_t.c.product_id, "pks", postgres))
            .order_by(variants_t.c.product_id, variants_t.c.position, variants_t.c.id)
        )
    return stmt


async def variants_by_products(
    reader: Reader, products: Sequence[ProductRecord], channel: ChannelRecord | None
) -> dict[int, list[VariantRecord]]:
    """All variants of the given products, in position order, priced in the channel."""
    by_pk = {p.pk: p for p in products}
    params = {"channel": channel.pk if channel is not None else -1, "pks": list(by_pk)}
    out: dict[int, list[VariantRecord]] = defaultdict(list)
    currency = channel.currency if channel else None
    records = []
    for r in await reader.all(_of_products(is_postgres(reader)), params):
        p = by_pk[r.product_id]
        rec = VariantRecord(r, p.option_defs, p.status, currency)
        out[r.product_id].append(rec)
        records.append(rec)
    if channel is not None:
        await attach_availability(reader, records, channel)
    return out


async def variants_by_pks(
    reader: Reader, pks: Sequence[int], channel: ChannelRecord | None
) -> dict[int, VariantRecord]:
    stmt = (
        _variant_select(channel, products_t.c.options, products_t.c.status)
        .join(products_t, products_t.c.id == variants_t.c.product_id)
        .where(variants_t.c.id.in_(pks))
    )
    currency = channel.currency if channel else None
    out = {r.id: VariantRecord(r, r.options, r.status, currency) for r in await reader.all(stmt)}
    if channel is not None and out:
        await attach_availability(reader, list(out.values()), channel)
    return out


async def variant_pks_by_skus(reader: Reader, skus: Sequence[str]) -> dict[str, int]:
    rows = await reader.all(
        select(variants_t.c.sku, variants_t.c.id).where(variants_t.c.sku.in_(skus))
    )
    return {r.sku: r.id for r in rows}


async def variant_pk_by_barcode(reader: Reader, code: str) -> int | None:
    """The variant whose barcode ``code`` spells (any GTIN spelling), if any."""
    key = barcode_key(code)
    if key is None:
        return None
    row = await reader.first(select(variants_t.c.id).where(variants_t.c.barcode_key == key))
    return None if row is None else row.id


async def attributes_by_products(
    reader: Reader, pks: Sequence[int]
) -> dict[int, list[AttributeRecord]]:
    return await reader.grouped(
        select(attrs_t).where(attrs_t.c.product_id.in_(pks)).order_by(attrs_t.c.key),
        lambda r: r.product_id,
        lambda r: AttributeRecord(r.key, r.type, r.value),
    )


async def bundle_components_by_variants(
    reader: Reader, pks: Sequence[int]
) -> dict[int, list[BundleComponentRecord]]:
    return await reader.grouped(
        select(bundle_t)
        .where(bundle_t.c.bundle_variant_id.in_(pks))
        .order_by(bundle_t.c.bundle_variant_id, bundle_t.c.component_variant_id),
        lambda r: r.bundle_variant_id,
        lambda r: BundleComponentRecord(r.component_variant_id, r.quantity),
    )
