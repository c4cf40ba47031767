"""The inventory's GraphQL types: locations, stock levels, store availability, ledger
movements, reorder suggestions and the payloads of stock writes."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from sqlalchemy import Row
from strawberry.types import Info

from hub import ids
from hub.domain import inventory as inv
from hub.money import Money
from schema.errors import UserError as UserErrorType
from schema.permissions import needs
from schema.relay import Node, is_record

if TYPE_CHECKING:  # the catalog's types, referenced lazily: schema.catalog imports this
    from schema.catalog import ChannelType, MoneyType, ProductVariantType

Channel = Annotated["ChannelType", strawberry.lazy("schema.catalog")]
Money_ = Annotated["MoneyType", strawberry.lazy("schema.catalog")]
Variant = Annotated["ProductVariantType", strawberry.lazy("schema.catalog")]


@strawberry.enum
class LocationKind(Enum):
    WAREHOUSE = "WAREHOUSE"
    STORE = "STORE"
    THIRD_PARTY = "THIRD_PARTY"
    DROPSHIP = "DROPSHIP"


def _location(info: Info, pk: int) -> LocationType:
    """A location by pk: at once when already loaded (no await), else an awaitable."""
    got: Any = info.context.loaders.location_by_id.get(pk)
    return cast(LocationType, got)


async def _variant(info: Info, pk: int) -> Variant:
    await info.context.channel()
    got: Any = await info.context.loaders.variant_by_id.load(pk)
    return cast(Variant, got)


def _level_id(root: strawberry.Parent[inv.LevelRecord]) -> strawberry.ID:
    return strawberry.ID(root.gid)


def _movement_id(root: strawberry.Parent[Row[Any]]) -> strawberry.ID:
    return strawberry.ID(ids.encode("InventoryMovement", root.id))


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


@strawberry.type(name="Location")
class LocationType(Node):
    id: strawberry.ID
    handle: str
    name: str
    kind: LocationKind = strawberry.field(resolver=lambda root: LocationKind(root.kind))
    active: bool
    pickup_enabled: bool
    pickup_lead_minutes: int
    pickup_window_hours: int = strawberry.field(
        description="How long a ready pickup waits here before its stock goes back."
    )
    ships_to_customers: bool = strawberry.field(resolver=lambda root: root.ships)
    fulfillment_priority: int | None = strawberry.field(
        permission_classes=needs("settings"), description="Lower ships first (staff only)."
    )
    daily_capacity: int | None = strawberry.field(
        permission_classes=needs("settings"), description="Orders it can ship a day (staff only)."
    )
    distance_km: float | None = strawberry.field(
        description="Great-circle distance from `near`, when the query gave one."
    )

    is_type_of = is_record(inv.LocationRecord)

    @strawberry.field
    def address(self, root: strawberry.Parent[inv.LocationRecord]) -> LocationAddress:
        address: Any = root  # the record has the address's fields
        return cast(LocationAddress, address)

    @strawberry.field
    def pick_up_time(self, root: strawberry.Parent[inv.LocationRecord]) -> str | None:
        return inv.pickup_time(root.pickup_lead_minutes) if root.pickup_enabled else None

    @strawberry.field(permission_classes=needs("settings"), description="Staff only.")
    def cost_per_shipment(self, root: strawberry.Parent[inv.LocationRecord]) -> Money_ | None:
        money: Any = Money(root.cost_per_shipment, root.cost_currency)
        return cast(Money_, money)

    @strawberry.field(description="Channels this location sells to.")
    async def channels(
        self, root: strawberry.Parent[inv.LocationRecord], info: Info
    ) -> list[Channel]:
        got = await info.context.loaders.channel_by_id.load_many(root.channel_pks)
        return [c for c in got if c is not None]


@strawberry.type
class StockCounts:
    """The counts of a level: ``InventoryLevel``'s and, in a subscription event, those
    right after a change (``InventoryChangeLevel``)."""

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


@strawberry.type(name="InventoryLevel")
class InventoryLevelType(Node, StockCounts):
    id: strawberry.ID = strawberry.field(resolver=_level_id)
    updated_at: datetime

    is_type_of = is_record(inv.LevelRecord)

    @strawberry.field
    def location(self, root: strawberry.Parent[inv.LevelRecord], info: Info) -> LocationType:
        return _location(info, root.location_pk)

    @strawberry.field
    async def variant(self, root: strawberry.Parent[inv.LevelRecord], info: Info) -> Variant:
        return await _variant(info, root.variant_pk)


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
    id: strawberry.ID = strawberry.field(resolver=_movement_id)
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
    def location(self, root: strawberry.Parent[Row[Any]], info: Info) -> LocationType:
        return _location(info, root.location_id)

    @strawberry.field
    async def variant(self, root: strawberry.Parent[Row[Any]], info: Info) -> Variant:
        return await _variant(info, root.variant_id)


class SuggestionRecord:
    """A reorder suggestion of :func:`hub.domain.inventory.reorder_suggestions`."""

    __slots__ = ("daily_velocity", "level", "quantity", "variant_pk")

    def __init__(self, d: dict[str, Any]) -> None:
        self.variant_pk = d["variant_pk"]
        self.level = d["level"]
        self.quantity = d["quantity"]
        self.daily_velocity = d["daily_velocity"]


@strawberry.type
class ReorderSuggestion:
    quantity: int
    daily_velocity: float
    level: InventoryLevelType

    @strawberry.field
    async def variant(self, root: strawberry.Parent[SuggestionRecord], info: Info) -> Variant:
        return await _variant(info, root.variant_pk)


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


@strawberry.type
class LocationPayload:
    location: LocationType | None
    user_errors: list[UserErrorType]


@strawberry.type
class LocationDeletePayload:
    deleted_id: strawberry.ID | None
    user_errors: list[UserErrorType]
