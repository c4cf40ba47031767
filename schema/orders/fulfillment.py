"""Fulfillment orders, fulfilments and the routing decision on the API: the types, the
per-request loaders (a page of orders costs the same statements whatever its size:
one for the fulfillment orders, one for their lines, one for their locations) and the
resolvers of ``Order.fulfillmentOrders``, ``Order.fulfillments`` and ``Order.routing``.
The staff mutations are in :mod:`schema.orders.fulfillment_mutations`."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from hub import ids
from hub.domain.orders import fulfillment_reads as reads
from hub.domain.orders.routing import Strategy
from schema.inventory.types import LocationType
from schema.loaders import Loader
from schema.relay import Node, is_record, register_node


@strawberry.enum(name="FulfillmentOrderStatus")
class FulfillmentOrderStatusEnum(Enum):
    OPEN = "OPEN"
    IN_PROGRESS = "IN_PROGRESS"
    READY_FOR_PICKUP = "READY_FOR_PICKUP"
    FULFILLED = "FULFILLED"
    CANCELLED = "CANCELLED"
    ON_HOLD = "ON_HOLD"


@strawberry.enum
class DeliveryKind(Enum):
    SHIPPING = "SHIPPING"
    PICKUP = "PICKUP"


RoutingStrategy = strawberry.enum(
    Strategy,
    name="RoutingStrategy",
    description="How an order's lines are assigned to fulfilling locations (per channel).",
)


@strawberry.enum
class CaptureMode(Enum):
    AT_CHECKOUT = "AT_CHECKOUT"
    ON_FULFILLMENT = "ON_FULFILLMENT"


class _Loaders:
    def __init__(self, ctx: Any) -> None:
        reader = ctx.reader

        async def fos(keys: Sequence[int]) -> dict[Hashable, Any]:
            return {k: v for k, v in (await reads.fulfillment_orders_of(reader, keys)).items()}

        async def fo_lines(keys: Sequence[int]) -> dict[Hashable, Any]:
            return {k: v for k, v in (await reads.fo_lines_of(reader, keys)).items()}

        async def fulfillments(keys: Sequence[int]) -> dict[Hashable, Any]:
            return {k: v for k, v in (await reads.fulfillments_of(reader, keys)).items()}

        async def f_lines(keys: Sequence[int]) -> dict[Hashable, Any]:
            return {k: v for k, v in (await reads.fulfillment_lines_of(reader, keys)).items()}

        async def fo_by_id(keys: Sequence[int]) -> dict[Hashable, Any]:
            return {k: v for k, v in (await reads.fulfillment_orders_by_pks(reader, keys)).items()}

        async def f_by_id(keys: Sequence[int]) -> dict[Hashable, Any]:
            return {k: v for k, v in (await reads.fulfillments_by_pks(reader, keys)).items()}

        self.fos_by_order = Loader(fos, default=list)
        self.lines_by_fo = Loader(fo_lines, default=list)
        self.fulfillments_by_order = Loader(fulfillments, default=list)
        self.lines_by_fulfillment = Loader(f_lines, default=list)
        self.fo_by_id = Loader(fo_by_id)
        self.fulfillment_by_id = Loader(f_by_id)


def loaders(info: Info) -> _Loaders:
    ctx = info.context
    got: _Loaders = ctx.keyed(_Loaders, lambda: _Loaders(ctx))
    return got


async def _location(info: Info, pk: int | None) -> LocationType | None:
    if pk is None:
        return None
    got: LocationType | None = await info.context.loaders.location_by_id.load(pk)
    return got


@strawberry.type(name="FulfillmentOrderLine")
class FulfillmentOrderLineType:
    id: strawberry.ID
    sku: str
    title: str
    quantity: int
    quantity_fulfilled: int
    quantity_cancelled: int
    remaining_quantity: int = strawberry.field(
        resolver=lambda root: root.remaining, description="Units still to fulfil."
    )

    @strawberry.field
    def order_line_id(
        self, root: strawberry.Parent[reads.FulfillmentOrderLineRecord]
    ) -> strawberry.ID:
        return strawberry.ID(ids.encode("OrderLineItem", root.order_line_pk))

    @strawberry.field
    def variant_id(
        self, root: strawberry.Parent[reads.FulfillmentOrderLineRecord]
    ) -> strawberry.ID | None:
        pk = root.variant_pk
        return strawberry.ID(ids.encode("ProductVariant", pk)) if pk is not None else None


@strawberry.type(name="FulfillmentOrder", description="The part of an order one location fulfils.")
class FulfillmentOrderType(Node):
    id: strawberry.ID
    status: FulfillmentOrderStatusEnum = strawberry.field(
        resolver=lambda root: FulfillmentOrderStatusEnum(root.status)
    )
    delivery_kind: DeliveryKind = strawberry.field(
        resolver=lambda root: DeliveryKind(root.delivery_kind)
    )
    routing_reason: str = strawberry.field(description="Why routing sent it to this location.")
    hold_reason: str | None
    accepted_at: datetime | None
    ready_at: datetime | None
    pickup_deadline: datetime | None = strawberry.field(
        description="A ready pickup not collected by then is released (the pickup window)."
    )
    customer_arrived_at: datetime | None
    arrival_note: str | None = strawberry.field(description="Curbside: the parking spot.")
    cancel_reason: str | None = strawberry.field(description="EXPIRED, ORDER_CANCELLED, ...")
    created_at: datetime
    updated_at: datetime

    is_type_of = is_record(reads.FulfillmentOrderRecord)

    @strawberry.field
    def order_id(self, root: strawberry.Parent[reads.FulfillmentOrderRecord]) -> strawberry.ID:
        return strawberry.ID(ids.encode("Order", root.order_pk))

    @strawberry.field
    async def location(
        self, root: strawberry.Parent[reads.FulfillmentOrderRecord], info: Info
    ) -> LocationType | None:
        return await _location(info, root.location_pk)

    @strawberry.field
    async def lines(
        self, root: strawberry.Parent[reads.FulfillmentOrderRecord], info: Info
    ) -> list[FulfillmentOrderLineType]:
        got: list[FulfillmentOrderLineType] = await loaders(info).lines_by_fo.load(root.pk)
        return got


@strawberry.type(name="FulfillmentTracking")
class TrackingType:
    carrier: str | None
    number: str | None
    url: str | None


@strawberry.type(name="FulfillmentLine")
class FulfillmentLineType:
    id: strawberry.ID
    sku: str
    quantity: int
    serial_numbers: list[str] | None = strawberry.field(
        description="The serial numbers of the units that left (a serial-numbered item)."
    )

    @strawberry.field
    def order_line_id(self, root: strawberry.Parent[reads.FulfillmentLineRecord]) -> strawberry.ID:
        return strawberry.ID(ids.encode("OrderLineItem", root.order_line_pk))

    @strawberry.field
    def fulfillment_order_line_id(
        self, root: strawberry.Parent[reads.FulfillmentLineRecord]
    ) -> strawberry.ID:
        return strawberry.ID(ids.encode("FulfillmentOrderLine", root.fo_line_pk))


@strawberry.type(name="Fulfillment", description="Units that left a location.")
class FulfillmentType:
    id: strawberry.ID
    kind: str = strawberry.field(description="SHIPMENT or PICKUP.")
    status: str
    created_at: datetime
    updated_at: datetime

    @strawberry.field
    def tracking(self, root: strawberry.Parent[reads.FulfillmentRecord]) -> TrackingType:
        return TrackingType(
            carrier=root.carrier, number=root.tracking_number, url=root.tracking_url
        )

    @strawberry.field
    def fulfillment_order_id(
        self, root: strawberry.Parent[reads.FulfillmentRecord]
    ) -> strawberry.ID:
        return strawberry.ID(ids.encode("FulfillmentOrder", root.fo_pk))

    @strawberry.field
    async def location(
        self, root: strawberry.Parent[reads.FulfillmentRecord], info: Info
    ) -> LocationType | None:
        return await _location(info, root.location_pk)

    @strawberry.field
    async def lines(
        self, root: strawberry.Parent[reads.FulfillmentRecord], info: Info
    ) -> list[FulfillmentLineType]:
        got: list[FulfillmentLineType] = await loaders(info).lines_by_fulfillment.load(root.pk)
        return got


@strawberry.type(name="OrderRoutingDecision")
class RoutingDecisionType:
    fulfillment_order_id: strawberry.ID | None
    location_id: strawberry.ID
    delivery_kind: DeliveryKind
    line_ids: list[strawberry.ID]
    reason: str
    rerouted_from: list[strawberry.ID] = strawberry.field(
        description="Locations it was moved away from by fulfillmentOrderReroute."
    )

    @strawberry.field
    async def location(self, info: Info) -> LocationType | None:
        return await _location(info, ids.decode_pk(self.location_id, "Location"))


@strawberry.type(name="OrderRouting", description="Where routing sent the order, and why.")
class RoutingType:
    strategy: str
    split: bool = strawberry.field(
        description="No single location could fill the order: it ships from several."
    )
    destination: str | None = strawberry.field(
        description="How NEAREST placed the destination (null for other strategies)."
    )
    decisions: list[RoutingDecisionType]


def _gid(kind: str, pk: Any) -> strawberry.ID:
    return strawberry.ID(ids.encode(kind, int(pk)))


def routing_of(entries: Sequence[dict[str, Any]]) -> RoutingType | None:
    if not entries:
        return None
    first = entries[0]
    return RoutingType(
        strategy=str(first.get("strategy") or "DEFAULT"),
        split=any(bool(e.get("split")) for e in entries),
        destination=first.get("destination"),
        decisions=[
            RoutingDecisionType(
                fulfillment_order_id=(
                    _gid("FulfillmentOrder", e["fulfillmentOrderId"])
                    if e.get("fulfillmentOrderId") is not None
                    else None
                ),
                location_id=_gid("Location", e["locationId"]),
                delivery_kind=DeliveryKind(e.get("deliveryKind") or "SHIPPING"),
                line_ids=[_gid("OrderLineItem", pk) for pk in e.get("lineIds") or ()],
                reason=str(e.get("reason") or ""),
                rerouted_from=[_gid("Location", pk) for pk in e.get("rerouted") or ()],
            )
            for e in entries
        ],
    )


# ----- the Order's fields (resolvers the Order type names)


async def order_fulfillment_orders(
    root: strawberry.Parent[Any], info: Info
) -> list[FulfillmentOrderType]:
    got: list[FulfillmentOrderType] = await loaders(info).fos_by_order.load(root.pk)
    return got


async def order_fulfillments(root: strawberry.Parent[Any], info: Info) -> list[FulfillmentType]:
    got: list[FulfillmentType] = await loaders(info).fulfillments_by_order.load(root.pk)
    return got


def order_routing(root: strawberry.Parent[Any]) -> RoutingType | None:
    return routing_of(getattr(root, "routing", None) or ())


async def _fo_nodes(info: Info, pks: list[int]) -> dict[int, Any]:
    """node(id:) of a fulfillment order: staff only (customers see theirs on the order)."""
    if not info.context.principal.can("orders"):
        return {}
    got = await loaders(info).fo_by_id.load_many(pks)
    p = info.context.principal
    return {
        pk: fo
        for pk, fo in zip(pks, got, strict=True)
        if fo is not None and p.may_location(fo.location_pk, "orders")
    }


register_node("FulfillmentOrder", _fo_nodes)
