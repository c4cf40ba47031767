"""Inventory queries: locations of the channel, the stock ledger, reorder
suggestions; and the stock fields of product variants (store availability, levels)."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from hub import ids
from hub.domain import inventory as inv
from hub.domain.paging import PageRequest, encode_cursor
from hub.domain.shipping import store_availability as availability_by_store
from schema.calls import after_cursor
from schema.errors import ApiError
from schema.inventory.types import (
    GeoPointInput,
    InventoryMovement,
    LocationKind,
    LocationType,
    ReorderSuggestion,
    SuggestionRecord,
)
from schema.permissions import needs, require_location
from schema.relay import (
    Connection,
    ConnectionValue,
    connection_from_list,
    forward_paged,
    page_request,
)


async def _channel_locations(info: Info) -> list[inv.LocationRecord]:
    ctx = info.context
    channel = await ctx.channel()
    return await ctx.loaders.channel_locations(channel.pk)


async def store_availability(
    root: Any,
    info: Info,
    first: int | None = None,
    near: GeoPointInput | None = None,
    pickup_enabled: bool | None = None,
) -> ConnectionValue:
    ctx = info.context
    page = page_request(first, None, None, None, ctx.settings.max_page_size)
    locations = await _channel_locations(info)
    stock = await ctx.loaders.stock_by_variant.load(root.pk)
    rows = availability_by_store(
        locations,
        stock,
        near=(near.latitude, near.longitude) if near is not None else None,
        pickup_enabled=pickup_enabled,
    )
    n = page.size(default=10)
    cursors = [encode_cursor("SA", i, r.location.pk) for i, r in enumerate(rows[:n])]
    return ConnectionValue(rows[:n], cursors, len(rows) > n, False)


async def inventory_levels(
    root: Any, info: Info, first: int | None = None, after: str | None = None
) -> ConnectionValue:
    principal = info.context.principal
    if not principal.can("inventory"):
        raise ApiError("stock levels need the inventory permission", "ACCESS_DENIED")
    page = page_request(first, after, None, None, info.context.settings.max_page_size)
    levels = await info.context.loaders.levels_by_variant.load(root.pk)
    scope = principal.locations("inventory")
    if scope is not None:  # a store's role sees its stores' levels only
        levels = [lv for lv in levels if lv.location_pk in scope]
    return connection_from_list(levels, page, "IL", lambda lv: lv.id)


@strawberry.type
class InventoryQuery:
    @strawberry.field(
        description="Locations that sell to the request's channel; nearest "
        "first when `near` is given, else by fulfilment priority."
    )
    @forward_paged
    async def locations(
        self,
        info: Info,
        page: PageRequest,
        near: GeoPointInput | None = None,
        pickup_enabled: bool | None = None,
        kind: LocationKind | None = None,
    ) -> Connection[LocationType]:
        ctx = info.context
        channel = await ctx.channel()
        locs = await inv.list_locations(
            ctx.reader, channel_pk=channel.pk, pickup_enabled=pickup_enabled
        )
        if kind is not None:
            locs = [lc for lc in locs if lc.kind == kind.value]
        if near is not None:
            for lc in locs:
                lc.distance_km = lc.distance_from(near.latitude, near.longitude)
            locs.sort(key=lambda lc: (lc.distance_km is None, lc.distance_km or 0.0, lc.pk))
        else:
            locs.sort(key=lambda lc: (lc.fulfillment_priority, lc.pk))
        got = after_cursor(page.after, "L", "int32")
        start = 0 if got is None else got[0]
        if start < 0:
            raise ApiError("invalid cursor", "INVALID_CURSOR")
        n = page.size(default=20)
        window = locs[start : start + n]
        cursors = [encode_cursor("L", start + i + 1, lc.pk) for i, lc in enumerate(window)]
        for lc in window:
            ctx.loaders.location_by_id.prime(lc.pk, lc)
        # The connection of records stands for the GraphQL connection (resolved by name).
        return ConnectionValue(window, cursors, start + n < len(locs), start > 0)  # type: ignore[return-value]

    @strawberry.field(
        permission_classes=needs("inventory"), description="The stock ledger, newest first."
    )
    async def inventory_movements(
        self,
        info: Info,
        first: int = 50,
        after: str | None = None,
        variant_id: strawberry.ID | None = None,
        location_id: strawberry.ID | None = None,
    ) -> Connection[InventoryMovement]:
        ctx = info.context
        page_request(first, after, None, None, ctx.settings.max_page_size)
        vpk = _gid(variant_id, "ProductVariant") if variant_id else None
        lpk = _gid(location_id, "Location") if location_id else None
        if ctx.principal.locations("inventory") is not None:
            # A store's role reads its stores' ledger: it names the location.
            require_location(info, lpk, "inventory")
        got = after_cursor(after, "M")
        before = None if got is None else got[1]
        rows = await inv.movements(
            ctx.reader, variant_pk=vpk, location_pk=lpk, limit=first + 1, before_id=before
        )
        more = len(rows) > first
        rows = rows[:first]
        return ConnectionValue(
            rows,
            [encode_cursor("M", None, r.id) for r in rows],
            more,  # type: ignore[return-value]  # records stand for the GraphQL connection
            after is not None,
        )

    @strawberry.field(
        permission_classes=needs("inventory"),
        description="What to reorder at a location, from recent sales velocity "
        "and the location's replenishment lead time.",
    )
    async def reorder_suggestions(
        self, info: Info, location_id: strawberry.ID, cover_days: int = 14
    ) -> list[ReorderSuggestion]:
        lpk = _gid(location_id, "Location")
        require_location(info, lpk, "inventory")
        out = await inv.reorder_suggestions(info.context.reader, lpk, cover_days=cover_days)
        # Records stand for the GraphQL type (its fields are resolved by name).
        return [SuggestionRecord(d) for d in out]  # type: ignore[misc]


def _gid(gid: str, type_name: str) -> int:
    try:
        return ids.decode_pk(gid, type_name)
    except ids.InvalidId as exc:
        raise ApiError(str(exc), "INVALID_ID") from None
