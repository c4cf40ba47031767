"""Stock-aware catalog reads: whether a product or variant can be bought in a channel.

The catalog asks inventory for sellable units (safety stock kept back; bundles count
complete kits), so the arrow points one way: inventory refers to channels through
:mod:`hub.domain.channels` and must not import the catalog package."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, exists

from hub.db.database import Reader
from hub.db.tables import (
    bundle_t,
    levels_t,
    loc_channels_t,
    locations_t,
    prices_t,
    products_t,
    variants_t,
)
from hub.domain.catalog.records import VariantRecord
from hub.domain.channels import ChannelRecord
from hub.domain.inventory import available_sql, channel_availability


def available_products_clause(channel: ChannelRecord) -> Any:
    """Products with at least one variant sellable in the channel: priced there, and
    untracked, or in stock at a location that sells to the channel, or (a bundle)
    with every component in stock there."""

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
    return exists().where(
        variants_t.c.product_id == products_t.c.id,
        prices_t.c.variant_id == variants_t.c.id,
        prices_t.c.channel_id == channel.pk,
        ~variants_t.c.tracked | bundle_ok | in_stock(variants_t.c.id),
    )


async def attach_availability(
    reader: Reader, records: Sequence[VariantRecord], channel: ChannelRecord
) -> None:
    """Stock-aware `quantity_available`/`available_for_sale` for the channel, in one
    batch for all the records (bundles count complete kits)."""
    tracked = [v.pk for v in records if v.tracked]
    bundles = [v.pk for v in records if v.tracked and v.is_bundle]
    qty = (
        await channel_availability(reader, tracked, channel.pk, bundles=bundles) if tracked else {}
    )
    for v in records:
        if v.tracked:
            v.quantity_available = qty.get(v.pk, 0)
            v.available_for_sale = v.available_for_sale and v.quantity_available > 0
