"""The inputs of inventory mutations."""

from __future__ import annotations

from datetime import date
from enum import Enum

import strawberry

from schema.inventory.types import LocationKind


@strawberry.enum
class InventoryState(Enum):
    ON_HAND = "on_hand"
    INCOMING = "incoming"


@strawberry.input
class AtLevelInput:
    """An input naming one level: a variant at a location (a base of others only)."""

    variant_id: strawberry.ID
    location_id: strawberry.ID


@strawberry.input
class UnitsInput(AtLevelInput):
    """An input moving units of one level (a base of others only)."""

    quantity: int


@strawberry.input
class InventoryAdjustInput(AtLevelInput):
    delta: int
    reason: str
    idempotency_key: str | None = None
    state: InventoryState = InventoryState.ON_HAND


@strawberry.input
class InventorySetOnHandInput(UnitsInput):
    expected_quantity: int | None = strawberry.field(
        default=None, description="The onHand you counted from; refused if it has changed."
    )
    reason: str = "cycle_count"
    idempotency_key: str | None = None


@strawberry.input
class InventoryThresholdsInput(AtLevelInput):
    safety_stock: int | None = None
    reorder_point: int | None = None


@strawberry.input
class InventoryReceiveInput(UnitsInput):
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
class InventoryQuarantineInput(UnitsInput):
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
class InventoryReserveInput(UnitsInput):
    ttl_seconds: int | None = None
    reference: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class InventoryMoveInput(UnitsInput):
    """A sale handed over at a store, a shipment leaving, or a return coming back."""

    serial_numbers: list[str] | None = None
    reference: str | None = None
    restock: bool = True
    idempotency_key: str | None = None


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
    pickup_window_hours: int | None = strawberry.field(
        default=None, description="How long a ready pickup waits before its stock goes back."
    )
    channels: list[str] | None = strawberry.field(
        default=None, description="Handles of the channels this location sells to."
    )
