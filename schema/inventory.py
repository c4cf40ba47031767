"""Inventory on the API: locations, stock levels, storefront availability, the ledger,
and the stock operations staff and connectors use."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any

import strawberry
from strawberry.permission import BasePermission
from strawberry.types import Info

from hub import ids
from hub.domain import inventory as inv
from hub.domain.errors import Code, DomainError, UserError, fail
from hub.domain.paging import InvalidCursor, decode_cursor, encode_cursor
from hub.money import Money
from schema.catalog import ChannelType, MoneyType, ProductVariantType
from schema.errors import ApiError, from_domain
from schema.errors import UserError as UserErrorType
from schema.permissions import StaffOnly
from schema.relay import Connection, ConnectionValue, Node, connection_from_list, page_request


class InventoryWriter(BasePermission):
    message = "this needs an API key with the admin or connector scope"
    error_extensions = {"code": "ACCESS_DENIED"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return info.context.principal.has("connector")


WRITE = [InventoryWriter]


class _Reader(BasePermission):
    message = "this needs an API key with the admin or connector scope"
    error_extensions = {"code": "ACCESS_DENIED"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return info.context.principal.has("connector")


@strawberry.enum
class LocationKind(Enum):
    WAREHOUSE = "WAREHOUSE"
    STORE = "STORE"
    THIRD_PARTY = "THIRD_PARTY"
    DROPSHIP = "DROPSHIP"


@strawberry.input
class GeoPointInput:
    latitude: float
    longitude: float


@strawberry.type
class LocationAddress:
    address1: str
    city: str
    region: str
    postal_code: str
    country_code: str
    latitude: float | None
    longitude: float | None


def _pickup_time(minutes: int) -> str:
    if minutes < 60:
        return f"Usually ready in {max(minutes, 1)} minutes"
    if minutes < 24 * 60:
        hours = round(minutes / 60)
        return f"Usually ready in {hours} hour{'s' if hours != 1 else ''}"
    days = round(minutes / (24 * 60))
    return f"Usually ready in {days} day{'s' if days != 1 else ''}"


@strawberry.type(name="Location")
class LocationType(Node):
    id: strawberry.ID
    handle: str
    name: str
    kind: LocationKind = strawberry.field(resolver=lambda root: LocationKind(root.kind))
    active: bool
    pickup_enabled: bool
    pickup_lead_minutes: int
    ships_to_customers: bool = strawberry.field(resolver=lambda root: root.ships)
    fulfillment_priority: int | None = strawberry.field(
        permission_classes=[StaffOnly], description="Lower ships first (staff only)."
    )
    daily_capacity: int | None = strawberry.field(
        permission_classes=[StaffOnly], description="Orders it can ship a day (staff only)."
    )
    distance_km: float | None = strawberry.field(
        description="Great-circle distance from `near`, when the query gave one."
    )

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, inv.LocationRecord)

    @strawberry.field
    def address(self) -> LocationAddress:
        return self  # type: ignore[return-value]

    @strawberry.field
    def pick_up_time(self) -> str | None:
        return _pickup_time(self.pickup_lead_minutes) if self.pickup_enabled else None  # type: ignore[attr-defined]

    @strawberry.field(permission_classes=[StaffOnly], description="Staff only.")
    def cost_per_shipment(self) -> MoneyType | None:
        return Money(self.cost_per_shipment, self.cost_currency)  # type: ignore[attr-defined,return-value]

    @strawberry.field(description="Channels this location sells to.")
    async def channels(self, info: Info) -> list[ChannelType]:
        got = await info.context.loaders.channel_by_id.load_many(self.channel_pks)  # type: ignore[attr-defined]
        return [c for c in got if c is not None]


@strawberry.type(name="InventoryLevel")
class InventoryLevelType(Node):
    on_hand: int
    committed: int
    reserved: int
    incoming: int
    quarantined: int
    safety_stock: int
    reorder_point: int
    available: int = strawberry.field(
        description="onHand - committed - reserved - quarantined - safetyStock, never below 0."
    )
    updated_at: datetime

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, inv.LevelRecord)

    @strawberry.field
    def id(self) -> strawberry.ID:
        return self.gid  # type: ignore[attr-defined,return-value]

    @strawberry.field
    def location(self, info: Info) -> LocationType:
        return info.context.loaders.location_by_id.get(self.location_pk)  # type: ignore[attr-defined]

    @strawberry.field
    async def variant(self, info: Info) -> ProductVariantType:
        await info.context.channel(info)
        return await info.context.loaders.variant_by_id.load(self.variant_pk)  # type: ignore[attr-defined]


class StoreAvailabilityRecord:
    __slots__ = ("available", "distance_km", "location", "pick_up_time", "quantity_available")

    def __init__(self, location: inv.LocationRecord, qty: int, distance: float | None) -> None:
        self.location = location
        self.quantity_available = qty
        self.available = qty > 0
        self.distance_km = distance
        self.pick_up_time = (
            _pickup_time(location.pickup_lead_minutes)
            if location.pickup_enabled and qty > 0
            else None
        )


@strawberry.type
class StoreAvailability:
    available: bool = strawberry.field(description="In stock at this location.")
    quantity_available: int
    pick_up_time: str | None = strawberry.field(
        description="When a pickup order is usually ready; null where pickup isn't possible."
    )
    distance_km: float | None
    location: LocationType


@strawberry.type
class InventoryMovement:
    id: strawberry.ID = strawberry.field(
        resolver=lambda root: ids.encode("InventoryMovement", root.id)
    )
    reason: str
    on_hand: int = strawberry.field(resolver=lambda root: root.d_on_hand)
    committed: int = strawberry.field(resolver=lambda root: root.d_committed)
    reserved: int = strawberry.field(resolver=lambda root: root.d_reserved)
    incoming: int = strawberry.field(resolver=lambda root: root.d_incoming)
    quarantined: int = strawberry.field(resolver=lambda root: root.d_quarantined)
    actor: str
    reference: str | None
    lot_number: str | None
    serial_number: str | None
    created_at: datetime

    @strawberry.field
    def location(self, info: Info) -> LocationType:
        return info.context.loaders.location_by_id.get(self.location_id)  # type: ignore[attr-defined]

    @strawberry.field
    async def variant(self, info: Info) -> ProductVariantType:
        await info.context.channel(info)
        return await info.context.loaders.variant_by_id.load(self.variant_id)  # type: ignore[attr-defined]


@strawberry.type
class ReorderSuggestion:
    quantity: int
    daily_velocity: float
    level: InventoryLevelType

    @strawberry.field
    async def variant(self, info: Info) -> ProductVariantType:
        await info.context.channel(info)
        return await info.context.loaders.variant_by_id.load(self.variant_pk)  # type: ignore[attr-defined]


class _Suggestion:
    __slots__ = ("daily_velocity", "level", "quantity", "variant_pk")

    def __init__(self, d: dict[str, Any]) -> None:
        self.variant_pk = d["variant_pk"]
        self.level = d["level"]
        self.quantity = d["quantity"]
        self.daily_velocity = d["daily_velocity"]


# ----------------------------------------------------------------- fields on variants


async def _channel_locations(info: Info) -> list[inv.LocationRecord]:
    ctx = info.context
    channel = await ctx.channel(info)
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
    rows = []
    for loc in locations:
        if pickup_enabled is not None and loc.pickup_enabled != pickup_enabled:
            continue
        dist = loc.distance_from(near.latitude, near.longitude) if near else None
        rows.append(StoreAvailabilityRecord(loc, stock.get(loc.pk, 0), dist))
    if near is not None:
        rows.sort(key=lambda r: (r.distance_km is None, r.distance_km or 0.0, r.location.pk))
    else:
        rows.sort(key=lambda r: (r.location.fulfillment_priority, r.location.pk))
    n = page.size(default=10)
    cursors = [encode_cursor("SA", i, r.location.pk) for i, r in enumerate(rows[:n])]
    return ConnectionValue(rows[:n], cursors, len(rows) > n, False)


async def inventory_levels(
    root: Any, info: Info, first: int | None = None, after: str | None = None
) -> ConnectionValue:
    if not info.context.principal.has("connector"):
        raise ApiError("stock levels need the admin or connector scope", "ACCESS_DENIED")
    page = page_request(first, after, None, None, info.context.settings.max_page_size)
    levels = await info.context.loaders.levels_by_variant.load(root.pk)
    return connection_from_list(levels, page, "IL", lambda lv: lv.id)


# ----------------------------------------------------------------------------- queries


@strawberry.type
class InventoryQuery:
    @strawberry.field(
        description="Locations that sell to the request's channel; nearest "
        "first when `near` is given, else by fulfilment priority."
    )
    async def locations(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        near: GeoPointInput | None = None,
        pickup_enabled: bool | None = None,
        kind: LocationKind | None = None,
    ) -> Connection[LocationType]:
        ctx = info.context
        page = page_request(first, after, None, None, ctx.settings.max_page_size)
        channel = await ctx.channel(info)
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
        start = 0
        if after is not None:
            try:
                start, _ = decode_cursor(after, "L", "int32")
            except InvalidCursor as exc:
                raise ApiError(str(exc), "INVALID_CURSOR") from None
            if not isinstance(start, int) or start < 0:
                raise ApiError("invalid cursor", "INVALID_CURSOR")
        n = page.size(default=20)
        window = locs[start : start + n]
        cursors = [encode_cursor("L", start + i + 1, lc.pk) for i, lc in enumerate(window)]
        for lc in window:
            ctx.loaders.location_by_id.prime(lc.pk, lc)
        return ConnectionValue(window, cursors, start + n < len(locs), start > 0)  # type: ignore[return-value]

    @strawberry.field(permission_classes=[_Reader], description="The stock ledger, newest first.")
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
        before = None
        if after is not None:
            try:
                _, before = decode_cursor(after, "M")
            except InvalidCursor as exc:
                raise ApiError(str(exc), "INVALID_CURSOR") from None
        rows = await inv.movements(
            ctx.reader, variant_pk=vpk, location_pk=lpk, limit=first + 1, before_id=before
        )
        more = len(rows) > first
        rows = rows[:first]
        return ConnectionValue(
            rows,
            [encode_cursor("M", None, r.id) for r in rows],
            more,  # type: ignore[return-value]
            after is not None,
        )

    @strawberry.field(
        permission_classes=[_Reader],
        description="What to reorder at a location, from recent sales velocity "
        "and the location's replenishment lead time.",
    )
    async def reorder_suggestions(
        self, info: Info, location_id: strawberry.ID, cover_days: int = 14
    ) -> list[ReorderSuggestion]:
        lpk = _gid(location_id, "Location")
        out = await inv.reorder_suggestions(info.context.reader, lpk, cover_days=cover_days)
        return [_Suggestion(d) for d in out]  # type: ignore[misc]


def _gid(gid: str, type_name: str) -> int:
    try:
        return ids.decode_pk(gid, type_name)
    except ids.InvalidId as exc:
        raise ApiError(str(exc), "INVALID_ID") from None


# --------------------------------------------------------------------------- mutations


@strawberry.enum
class InventoryState(Enum):
    ON_HAND = "on_hand"
    INCOMING = "incoming"


@strawberry.input
class InventoryAdjustInput:
    variant_id: strawberry.ID
    location_id: strawberry.ID
    delta: int
    reason: str
    idempotency_key: str | None = None
    state: InventoryState = InventoryState.ON_HAND


@strawberry.input
class InventorySetOnHandInput:
    variant_id: strawberry.ID
    location_id: strawberry.ID
    quantity: int
    expected_quantity: int | None = strawberry.field(
        default=None, description="The onHand you counted from; refused if it has changed."
    )
    reason: str = "cycle_count"
    idempotency_key: str | None = None


@strawberry.input
class InventoryThresholdsInput:
    variant_id: strawberry.ID
    location_id: strawberry.ID
    safety_stock: int | None = None
    reorder_point: int | None = None


@strawberry.input
class InventoryReceiveInput:
    variant_id: strawberry.ID
    location_id: strawberry.ID
    quantity: int
    lot_number: str | None = None
    expires_on: date | None = None
    serial_numbers: list[str] | None = None
    reference: str | None = None
    idempotency_key: str | None = None


@strawberry.enum
class QuarantineAction(Enum):
    HOLD = "HOLD"
    RELEASE = "RELEASE"
    DISPOSE = "DISPOSE"


@strawberry.input
class InventoryQuarantineInput:
    variant_id: strawberry.ID
    location_id: strawberry.ID
    quantity: int
    action: QuarantineAction = QuarantineAction.HOLD
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class TransferLineInput:
    variant_id: strawberry.ID
    quantity: int


@strawberry.input
class InventoryTransferInput:
    from_location_id: strawberry.ID
    to_location_id: strawberry.ID
    lines: list[TransferLineInput]
    idempotency_key: str | None = None


@strawberry.input
class InventoryReserveInput:
    variant_id: strawberry.ID
    location_id: strawberry.ID
    quantity: int
    ttl_seconds: int | None = None
    reference: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class InventoryMoveInput:
    """A sale handed over at a store, a shipment leaving, or a return coming back."""

    variant_id: strawberry.ID
    location_id: strawberry.ID
    quantity: int
    serial_numbers: list[str] | None = None
    reference: str | None = None
    restock: bool = True
    idempotency_key: str | None = None


@strawberry.type
class Reservation:
    token: str
    expires_at: datetime | None


@strawberry.type
class InventoryPayload:
    level: InventoryLevelType | None = strawberry.field(
        description="The level changed (the first, when several were)."
    )
    levels: list[InventoryLevelType]
    transfer_id: strawberry.ID | None = None
    reservation: Reservation | None = None
    user_errors: list[UserErrorType]


@strawberry.input
class LocationInput:
    handle: str | None = None
    name: str | None = None
    kind: LocationKind | None = None
    address1: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country_code: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    active: bool | None = None
    pickup_enabled: bool | None = None
    pickup_lead_minutes: int | None = None
    ships_to_customers: bool | None = None
    fulfillment_priority: int | None = None
    cost_per_shipment: str | None = strawberry.field(
        default=None, description="Decimal amount in `costCurrency`."
    )
    cost_currency: str | None = None
    daily_capacity: int | None = None
    replenishment_lead_days: int | None = None
    channels: list[str] | None = strawberry.field(
        default=None, description="Handles of the channels this location sells to."
    )


@strawberry.type
class LocationPayload:
    location: LocationType | None
    user_errors: list[UserErrorType]


def _pk(gid: str, type_name: str, field: str) -> int:
    try:
        return ids.decode_pk(gid, type_name)
    except ids.InvalidId as exc:
        raise DomainError([UserError([field], str(exc), str(Code.INVALID))]) from None


async def _inventory_op(
    info: Info, op: Callable[[inv.Inventory], Awaitable[inv.Outcome]]
) -> InventoryPayload:
    service: inv.Inventory = info.context.services.inventory
    # Hand the read connection back before taking a write one: a request holding
    # two connections can starve the pool under load.
    await info.context.reader.close()
    try:
        out = await op(service)
    except DomainError as exc:
        return InventoryPayload(level=None, levels=[], user_errors=from_domain(exc))
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
    return InventoryPayload(
        level=out.levels[0] if out.levels else None,  # type: ignore[arg-type]
        levels=out.levels,  # type: ignore[arg-type]
        transfer_id=ids.encode("Transfer", transfer) if transfer else None,
        reservation=reservation,
        user_errors=[],
    )


def _actor(info: Info) -> str:
    p = info.context.principal
    return f"key:{p.key_pk}" if p.key_pk is not None else "anonymous"


@strawberry.type
class InventoryMutation:
    @strawberry.mutation(
        permission_classes=WRITE,
        description="Change onHand (or incoming) at a location by a delta.",
    )
    async def inventory_adjust(self, info: Info, input: InventoryAdjustInput) -> InventoryPayload:
        return await _inventory_op(
            info,
            lambda s: s.adjust(
                _pk(input.variant_id, "ProductVariant", "variantId"),
                _pk(input.location_id, "Location", "locationId"),
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
        return await _inventory_op(
            info,
            lambda s: s.set_on_hand(
                _pk(input.variant_id, "ProductVariant", "variantId"),
                _pk(input.location_id, "Location", "locationId"),
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
        return await _inventory_op(
            info,
            lambda s: s.set_thresholds(
                _pk(input.variant_id, "ProductVariant", "variantId"),
                _pk(input.location_id, "Location", "locationId"),
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
        return await _inventory_op(
            info,
            lambda s: s.receive(
                _pk(input.variant_id, "ProductVariant", "variantId"),
                _pk(input.location_id, "Location", "locationId"),
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
        return await _inventory_op(
            info,
            lambda s: s.quarantine(
                _pk(input.variant_id, "ProductVariant", "variantId"),
                _pk(input.location_id, "Location", "locationId"),
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
        return await _inventory_op(
            info,
            lambda s: s.transfer(
                _pk(input.from_location_id, "Location", "fromLocationId"),
                _pk(input.to_location_id, "Location", "toLocationId"),
                [
                    (_pk(ln.variant_id, "ProductVariant", "lines"), ln.quantity)
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
        return await _inventory_op(
            info,
            lambda s: s.receive_transfer(
                _pk(id, "Transfer", "id"), key=idempotency_key, actor=_actor(info)
            ),
        )

    @strawberry.mutation(
        permission_classes=WRITE, description="Hold stock for a checkout until it expires."
    )
    async def inventory_reserve(self, info: Info, input: InventoryReserveInput) -> InventoryPayload:
        ttl = timedelta(seconds=input.ttl_seconds or info.context.settings.reservation_ttl_seconds)
        if ttl.total_seconds() < 10 or ttl > timedelta(days=7):
            return InventoryPayload(
                level=None,
                levels=[],
                user_errors=from_domain(
                    fail(
                        Code.INVALID,
                        "ttlSeconds must be between 10 seconds and 7 days",
                        "ttlSeconds",
                    )
                ),
            )
        return await _inventory_op(
            info,
            lambda s: s.reserve(
                _pk(input.variant_id, "ProductVariant", "variantId"),
                _pk(input.location_id, "Location", "locationId"),
                input.quantity,
                ttl=ttl,
                reference=input.reference,
                key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(permission_classes=WRITE)
    async def inventory_reservation_release(self, info: Info, token: str) -> InventoryPayload:
        return await _inventory_op(info, lambda s: s.release(token))

    @strawberry.mutation(
        permission_classes=WRITE, description="Turn a reservation into a commitment (an order)."
    )
    async def inventory_reservation_commit(self, info: Info, token: str) -> InventoryPayload:
        return await _inventory_op(info, lambda s: s.commit(token))

    @strawberry.mutation(
        permission_classes=WRITE, description="Committed units ship: committed and onHand go down."
    )
    async def inventory_fulfill(self, info: Info, input: InventoryMoveInput) -> InventoryPayload:
        return await _inventory_op(
            info,
            lambda s: s.fulfill(
                _pk(input.variant_id, "ProductVariant", "variantId"),
                _pk(input.location_id, "Location", "locationId"),
                input.quantity,
                reference=input.reference,
                serials=input.serial_numbers or (),
                key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(
        permission_classes=WRITE,
        description="A sale handed over at a store (may use safety stock).",
    )
    async def inventory_sell(self, info: Info, input: InventoryMoveInput) -> InventoryPayload:
        return await _inventory_op(
            info,
            lambda s: s.sell_at_location(
                _pk(input.variant_id, "ProductVariant", "variantId"),
                _pk(input.location_id, "Location", "locationId"),
                input.quantity,
                reference=input.reference,
                serials=input.serial_numbers or (),
                key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(
        permission_classes=WRITE, description="A return at any location: restocked or quarantined."
    )
    async def inventory_return(self, info: Info, input: InventoryMoveInput) -> InventoryPayload:
        return await _inventory_op(
            info,
            lambda s: s.return_units(
                _pk(input.variant_id, "ProductVariant", "variantId"),
                _pk(input.location_id, "Location", "locationId"),
                input.quantity,
                restock=input.restock,
                serials=input.serial_numbers or (),
                reference=input.reference,
                key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(permission_classes=[StaffOnly])
    async def location_create(self, info: Info, input: LocationInput) -> LocationPayload:
        await info.context.reader.close()
        try:
            pk = await inv.create_location(info.context.db, _location_data(input))
        except DomainError as exc:
            return LocationPayload(location=None, user_errors=from_domain(exc))
        return LocationPayload(
            location=await info.context.loaders.location_by_id.load(pk), user_errors=[]
        )

    @strawberry.mutation(
        permission_classes=[StaffOnly],
        description="Delete an unused location (one with stock history can only be deactivated).",
    )
    async def location_delete(self, info: Info, id: strawberry.ID) -> LocationDeletePayload:
        await info.context.reader.close()
        try:
            await inv.delete_location(info.context.db, _pk(id, "Location", "id"))
        except DomainError as exc:
            return LocationDeletePayload(deleted_id=None, user_errors=from_domain(exc))
        return LocationDeletePayload(deleted_id=id, user_errors=[])

    @strawberry.mutation(permission_classes=[StaffOnly])
    async def location_update(
        self, info: Info, id: strawberry.ID, input: LocationInput
    ) -> LocationPayload:
        await info.context.reader.close()
        try:
            pk = await inv.update_location(
                info.context.db, _pk(id, "Location", "id"), _location_data(input)
            )
        except DomainError as exc:
            return LocationPayload(location=None, user_errors=from_domain(exc))
        info.context.loaders.location_by_id.clear(pk)
        return LocationPayload(
            location=await info.context.loaders.location_by_id.load(pk), user_errors=[]
        )


@strawberry.type
class LocationDeletePayload:
    deleted_id: strawberry.ID | None
    user_errors: list[UserErrorType]


def _location_data(i: LocationInput) -> dict[str, Any]:
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
        "channels": i.channels,
    }
    return {k: v for k, v in data.items() if v is not None}
