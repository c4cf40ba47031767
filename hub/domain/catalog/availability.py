"""Stock-aware catalog reads: whether a product or variant can be bought in a channel.

The catalog asks inventory for sellable units (safety stock kept back; bundles count
complete kits), so the arrow points one way: inventory refers to channels through
:mod:`hub.domain.channels` and must not import the catalog package.

A variant whose inventory policy sells beyond stock (BACKORDER or PREORDER, see
:mod:`hub.domain.backorders`) is available for sale while its backorder cap (if any)
has room, with no stock at all: checkout takes the units as backorders. Its
``quantity_available`` still reports the physical stock. The policy is read by an
outer join in the variants' own statement (:func:`sells_beyond_stock_sql`), and by an
EXISTS in the listing's "available" filter: no statement of its own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, case, exists, func, or_

from hub.db.database import Reader
from hub.db.tables import (
    bundle_t,
    levels_t,
    loc_channels_t,
    locations_t,
    prices_t,
    products_t,
    variant_policies_t,
    variants_t,
)
from hub.domain.catalog.records import VariantRecord
from hub.domain.channels import ChannelRecord
from hub.domain.inventory import available_sql, channel_availability


def _beyond_stock_cond() -> Any:
    """The policy row (of ``variant_policies_t``) sells beyond stock with room left
    under its cap. The values are :class:`hub.domain.backorders.InventoryPolicy`'s."""
    pol = variant_policies_t.c
    return and_(
        pol.policy.in_(("BACKORDER", "PREORDER")),
        or_(pol.backorder_limit.is_(None), pol.backorder_limit > func.coalesce(pol.backordered, 0)),
    )


def sells_beyond_stock_sql() -> Any:
    """A boolean column for a select over ``variants_t`` outer-joined to
    ``variant_policies_t`` (:func:`policy_join`): true while the variant may be sold
    beyond stock (false without a policy row: DENY)."""
    return case((_beyond_stock_cond(), True), else_=False).label("sells_beyond_stock")


def policy_join(from_: Any) -> Any:
    """``from_`` (over ``variants_t``) outer-joined to the variants' policies (one row
    per variant at most: the policy's key is the variant)."""
    return from_.outerjoin(variant_policies_t, variant_policies_t.c.variant_id == variants_t.c.id)


def available_products_clause(channel: ChannelRecord) -> Any:
    """Products with at least one variant sellable in the channel: priced there, and
    untracked, or in stock at a location that sells to the channel, or (a bundle)
    with every component in stock there, or selling beyond stock (backorder or
    pre-order) with room under its cap."""

    def in_stock(variant_col: Any) -> Any:
        return exists().where(
            levels_t.c.variant_id == variant_col,
            available_sql() > 0,
            loc_channels_t.c.location_id == levels_t.c.location_id,
            loc_channels_t.c.channel_id == channel.pk,
            locations_t.c.id == levels_t.c.location_id,
            locations_t.c.active.is_(True),
        )

    comp = bundle_t.alias("comp")
    bundle_ok = and_(
        variants_t.c.is_bundle,
        ~exists().where(
            comp.c.bundle_variant_id == variants_t.c.id, ~in_stock(comp.c.component_variant_id)
        ),
    )
    beyond = exists().where(
        variant_policies_t.c.variant_id == variants_t.c.id, _beyond_stock_cond()
    )
    return exists().where(
        variants_t.c.product_id == products_t.c.id,
        prices_t.c.variant_id == variants_t.c.id,
        prices_t.c.channel_id == channel.pk,
        ~variants_t.c.tracked | bundle_ok | in_stock(variants_t.c.id) | beyond,
    )


async def attach_availability(
    reader: Reader, records: Sequence[VariantRecord], channel: ChannelRecord
) -> None:
    """Stock-aware `quantity_available`/`available_for_sale` for the channel, in one
    batch for all the records (bundles count complete kits). A variant selling beyond
    stock with room under its cap stays available with no stock; its
    `quantity_available` is the physical stock all the same."""
    tracked = [v.pk for v in records if v.tracked]
    bundles = [v.pk for v in records if v.tracked and v.is_bundle]
    qty = (
        await channel_availability(reader, tracked, channel.pk, bundles=bundles) if tracked else {}
    )
    for v in records:
        if v.tracked:
            v.quantity_available = qty.get(v.pk, 0)
            v.available_for_sale = v.available_for_sale and (
                v.quantity_available > 0 or v.sells_beyond_stock
            )
