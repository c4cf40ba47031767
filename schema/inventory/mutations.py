"""Inventory mutations: the stock operations staff and connectors use, reservations,
and locations. Each resolver decodes its input, calls one domain operation and maps
the result (the domain's error fields as GraphQL paths: :func:`schema.errors.run_write`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import Any

import strawberry
from strawberry.permission import BasePermission
from strawberry.types import Info

from hub import ids
from hub.domain import inventory as inv
from hub.domain.inventory.transfers import transfer_destination
from schema.errors import decode_id, run_write
from schema.inventory.inputs import (
    AtLevelInput,
    InventoryAdjustInput,
    InventoryMoveInput,
    InventoryQuarantineInput,
    InventoryReceiveInput,
    InventoryReserveInput,
    InventorySetOnHandInput,
    InventoryThresholdsInput,
    InventoryTransferInput,
    LocationInput,
    QuarantineAction,
)
from schema.inventory.types import (
    InventoryPayload,
    LocationDeletePayload,
    LocationPayload,
    Reservation,
)
from schema.permissions import needs, require_location

WRITE: list[type[BasePermission]] = needs("inventory")


def _level_of(input: AtLevelInput) -> tuple[int, int]:
    """The (variant, location) pks of an input naming one level."""
    return (
        decode_id(input.variant_id, "ProductVariant", "variantId"),
        decode_id(input.location_id, "Location", "locationId"),
    )


def _pk_or_none(gid: str, kind: str) -> int | None:
    try:
        return ids.decode_pk(gid, kind)
    except ids.InvalidId:
        return None  # the write reports it as a userError on its path


def _at(info: Info, *location_gids: str) -> None:
    """ACCESS_DENIED (nothing written) unless the principal's inventory permission reaches
    every named location: a store's role changes its stores' stock only."""
    for gid in location_gids:
        pk = _pk_or_none(gid, "Location")
        if pk is not None:
            require_location(info, pk, "inventory")


def _everywhere(info: Info) -> None:
    """Operations whose location is not in their input (reservations by token) are for
    principals whose inventory permission is not restricted to some locations."""
    if info.context.principal.locations("inventory") is not None:
        require_location(info, None, "inventory")


def _move(
    input: InventoryMoveInput, operation: Callable[..., Awaitable[inv.Outcome]]
) -> Awaitable[inv.Outcome]:
    """A fulfilment, store sale or return of ``input`` by ``operation``."""
    return operation(
        *_level_of(input),
        input.quantity,
        reference=input.reference,
        serials=input.serial_numbers or (),
        key=input.idempotency_key,
    )


async def _inventory_op(
    info: Info, op: Callable[[inv.Inventory], Awaitable[inv.Outcome]]
) -> InventoryPayload:
    service: inv.Inventory = info.context.hub.inventory
    out, errs = await run_write(info, lambda: op(service))
    if out is None:
        return InventoryPayload(level=None, levels=[], user_errors=errs)
    for lv in out.levels:
        info.context.loaders.levels_by_variant.clear(lv.variant_pk)
    reservation = None
    if "reservation" in out.result:
        expires = out.result.get("expires_at")
        reservation = Reservation(
            token=out.result["reservation"],
            expires_at=datetime.fromisoformat(expires) if expires else None,
        )
    transfer = out.result.get("transfer")
    levels: list[Any] = list(out.levels)
    return InventoryPayload(
        level=levels[0] if levels else None,
        levels=levels,
        transfer_id=strawberry.ID(ids.encode("Transfer", transfer)) if transfer else None,
        reservation=reservation,
        user_errors=[],
    )


def _actor(info: Info) -> str:
    p = info.context.principal
    return p.client if p.key_pk is not None else "anonymous"


@strawberry.type
class InventoryMutation:
    @strawberry.mutation(
        permission_classes=WRITE,
        description="Change onHand (or incoming) at a location by a delta.",
    )
    async def inventory_adjust(self, info: Info, input: InventoryAdjustInput) -> InventoryPayload:
        _at(info, input.location_id)
        return await _inventory_op(
            info,
            lambda s: s.adjust(
                *_level_of(input),
                input.delta,
                input.reason,
                state=input.state.value,
                key=input.idempotency_key,
                actor=_actor(info),
            ),
        )

    @strawberry.mutation(
        permission_classes=WRITE,
        description="Set a counted onHand, compare-and-set on the old value.",
    )
    async def inventory_set_on_hand(
        self, info: Info, input: InventorySetOnHandInput
    ) -> InventoryPayload:
        _at(info, input.location_id)
        return await _inventory_op(
            info,
            lambda s: s.set_on_hand(
                *_level_of(input),
                input.quantity,
                input.expected_quantity,
                input.reason,
                key=input.idempotency_key,
                actor=_actor(info),
            ),
        )

    @strawberry.mutation(permission_classes=WRITE)
    async def inventory_set_thresholds(
        self, info: Info, input: InventoryThresholdsInput
    ) -> InventoryPayload:
        _at(info, input.location_id)
        return await _inventory_op(
            info,
            lambda s: s.set_thresholds(
                *_level_of(input),
                safety_stock=input.safety_stock,
                reorder_point=input.reorder_point,
                actor=_actor(info),
            ),
        )

    @strawberry.mutation(
        permission_classes=WRITE,
        description="Units arrive: incoming -> onHand, with lot or serials.",
    )
    async def inventory_receive(self, info: Info, input: InventoryReceiveInput) -> InventoryPayload:
        _at(info, input.location_id)
        return await _inventory_op(
            info,
            lambda s: s.receive(
                *_level_of(input),
                input.quantity,
                key=input.idempotency_key,
                lot_number=input.lot_number,
                expires_on=input.expires_on,
                serials=input.serial_numbers or (),
                actor=_actor(info),
                reference=input.reference,
            ),
        )

    @strawberry.mutation(permission_classes=WRITE)
    async def inventory_quarantine(
        self, info: Info, input: InventoryQuarantineInput
    ) -> InventoryPayload:
        _at(info, input.location_id)
        return await _inventory_op(
            info,
            lambda s: s.quarantine(
                *_level_of(input),
                input.quantity,
                release=input.action == QuarantineAction.RELEASE,
                dispose=input.action == QuarantineAction.DISPOSE,
                reason=input.reason,
                key=input.idempotency_key,
                actor=_actor(info),
            ),
        )

    @strawberry.mutation(
        permission_classes=WRITE,
        description="Ship stock between locations (in transit as incoming).",
    )
    async def inventory_transfer_create(
        self, info: Info, input: InventoryTransferInput
    ) -> InventoryPayload:
        _at(info, input.from_location_id, input.to_location_id)
        return await _inventory_op(
            info,
            lambda s: s.transfer(
                decode_id(input.from_location_id, "Location", "fromLocationId"),
                decode_id(input.to_location_id, "Location", "toLocationId"),
                [
                    (decode_id(ln.variant_id, "ProductVariant", "lines"), ln.quantity)
                    for ln in input.lines
                ],
                key=input.idempotency_key,
                actor=_actor(info),
            ),
        )

    @strawberry.mutation(permission_classes=WRITE)
    async def inventory_transfer_receive(
        self, info: Info, id: strawberry.ID, idempotency_key: str | None = None
    ) -> InventoryPayload:
        if info.context.principal.locations("inventory") is not None:
            pk = _pk_or_none(id, "Transfer")
            if pk is not None:
                dest = await transfer_destination(info.context.reader, pk)
                require_location(info, dest, "inventory")
        return await _inventory_op(
            info,
            lambda s: s.receive_transfer(
                decode_id(id, "Transfer", "id"), key=idempotency_key, actor=_actor(info)
            ),
        )

    @strawberry.mutation(
        permission_classes=WRITE, description="Hold stock for a checkout until it expires."
    )
    async def inventory_reserve(self, info: Info, input: InventoryReserveInput) -> InventoryPayload:
        _at(info, input.location_id)

        def reserve(s: inv.Inventory) -> Awaitable[inv.Outcome]:
            # The lifetime's bounds first: they are refused before the ids are read.
            default = info.context.settings.reservation_ttl_seconds
            ttl = inv.reservation_ttl(input.ttl_seconds, default)
            return s.reserve(
                *_level_of(input),
                input.quantity,
                ttl=ttl,
                reference=input.reference,
                key=input.idempotency_key,
            )

        return await _inventory_op(info, reserve)

    @strawberry.mutation(permission_classes=WRITE)
    async def inventory_reservation_release(self, info: Info, token: str) -> InventoryPayload:
        _everywhere(info)
        return await _inventory_op(info, lambda s: s.release(token))

    @strawberry.mutation(
        permission_classes=WRITE, description="Turn a reservation into a commitment (an order)."
    )
    async def inventory_reservation_commit(self, info: Info, token: str) -> InventoryPayload:
        _everywhere(info)
        return await _inventory_op(info, lambda s: s.commit(token))

    @strawberry.mutation(
        permission_classes=WRITE, description="Committed units ship: committed and onHand go down."
    )
    async def inventory_fulfill(self, info: Info, input: InventoryMoveInput) -> InventoryPayload:
        _at(info, input.location_id)
        return await _inventory_op(
            info,
            lambda s: _move(input, s.fulfill),
        )

    @strawberry.mutation(
        permission_classes=WRITE,
        description="A sale handed over at a store (may use safety stock).",
    )
    async def inventory_sell(self, info: Info, input: InventoryMoveInput) -> InventoryPayload:
        _at(info, input.location_id)
        return await _inventory_op(
            info,
            lambda s: _move(input, s.sell_at_location),
        )

    @strawberry.mutation(
        permission_classes=WRITE, description="A return at any location: restocked or quarantined."
    )
    async def inventory_return(self, info: Info, input: InventoryMoveInput) -> InventoryPayload:
        _at(info, input.location_id)
        return await _inventory_op(
            info,
            lambda s: _move(input, partial(s.return_units, restock=input.restock)),
        )

    @strawberry.mutation(permission_classes=needs("settings"))
    async def location_create(self, info: Info, input: LocationInput) -> LocationPayload:
        return await _location_write(
            info, lambda: inv.create_location(info.context.db, _location_data(input))
        )

    @strawberry.mutation(
        permission_classes=needs("settings"),
        description="Delete an unused location (one with stock history can only be deactivated).",
    )
    async def location_delete(self, info: Info, id: strawberry.ID) -> LocationDeletePayload:
        async def go() -> strawberry.ID:
            await inv.delete_location(info.context.db, decode_id(id, "Location", "id"))
            return id

        done, errs = await run_write(info, go)
        return LocationDeletePayload(deleted_id=done, user_errors=errs)

    @strawberry.mutation(permission_classes=needs("settings"))
    async def location_update(
        self, info: Info, id: strawberry.ID, input: LocationInput
    ) -> LocationPayload:
        return await _location_write(
            info,
            lambda: inv.update_location(
                info.context.db, decode_id(id, "Location", "id"), _location_data(input)
            ),
            updated=True,
        )


async def _location_write(
    info: Info, write: Callable[[], Awaitable[int]], *, updated: bool = False
) -> LocationPayload:
    """Run a location write; the location as it is now, or the userErrors."""
    pk, errs = await run_write(info, write)
    if pk is None:
        return LocationPayload(location=None, user_errors=errs)
    if updated:
        info.context.loaders.location_by_id.clear(pk)
    return LocationPayload(
        location=await info.context.loaders.location_by_id.load(pk), user_errors=[]
    )


def _location_data(i: LocationInput) -> dict[str, Any]:
    """The domain's location fields of the input (those it gives)."""
    data = {
        "handle": i.handle,
        "name": i.name,
        "kind": i.kind.value if i.kind else None,
        "address1": i.address1,
        "city": i.city,
        "region": i.region,
        "postal_code": i.postal_code,
        "country_code": i.country_code,
        "latitude": i.latitude,
        "longitude": i.longitude,
        "active": i.active,
        "pickup_enabled": i.pickup_enabled,
        "pickup_lead_minutes": i.pickup_lead_minutes,
        "ships": i.ships_to_customers,
        "fulfillment_priority": i.fulfillment_priority,
        "cost_per_shipment": i.cost_per_shipment,
        "cost_currency": i.cost_currency,
        "daily_capacity": i.daily_capacity,
        "replenishment_lead_days": i.replenishment_lead_days,
        "pickup_window_hours": i.pickup_window_hours,
        "channels": i.channels,
    }
    return {k: v for k, v in data.items() if v is not None}
