"""Reading fulfillment orders and fulfilments: of several orders (or by id), with their
lines, one statement per kind whatever the count (the API's loaders batch by them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from hub import ids
from hub.db.database import Reader
from hub.db.tables import (
    fo_lines_t,
    fulfillment_lines_t,
    fulfillment_orders_t,
    fulfillments_t,
    order_lines_t,
)


class FulfillmentOrderRecord:
    __slots__ = (
        "accepted_at",
        "arrival_note",
        "cancel_reason",
        "created_at",
        "customer_arrived_at",
        "delivery_kind",
        "hold_reason",
        "id",
        "location_pk",
        "order_pk",
        "pickup_deadline",
        "pk",
        "ready_at",
        "routing_reason",
        "status",
        "updated_at",
    )

    def __init__(self, r: Any) -> None:
        self.pk = r.id
        self.id = ids.encode("FulfillmentOrder", r.id)
        self.order_pk = r.order_id
        self.location_pk = r.location_id
        self.status = r.status
        self.delivery_kind = r.delivery_kind
        self.routing_reason = r.routing_reason
        self.hold_reason = r.hold_reason
        self.pickup_deadline = r.pickup_deadline
        self.ready_at = r.ready_at
        self.customer_arrived_at = r.customer_arrived_at
        self.arrival_note = r.arrival_note
        self.accepted_at = r.accepted_at
        self.cancel_reason = r.cancel_reason
        self.created_at = r.created_at
        self.updated_at = r.updated_at


class FulfillmentOrderLineRecord:
    __slots__ = (
        "fo_pk",
        "id",
        "order_line_pk",
        "pk",
        "quantity",
        "quantity_cancelled",
        "quantity_fulfilled",
        "sku",
        "title",
        "variant_pk",
    )

    def __init__(self, r: Any) -> None:
        self.pk = r.id
        self.id = ids.encode("FulfillmentOrderLine", r.id)
        self.fo_pk = r.fulfillment_order_id
        self.order_line_pk = r.order_line_id
        self.variant_pk = r.variant_id
        self.quantity = r.quantity
        self.quantity_fulfilled = r.quantity_fulfilled
        self.quantity_cancelled = r.quantity_cancelled
        self.sku = r.sku
        self.title = r.title

    @property
    def remaining(self) -> int:
        return self.quantity - self.quantity_fulfilled - self.quantity_cancelled


class FulfillmentRecord:
    __slots__ = (
        "carrier",
        "created_at",
        "fo_pk",
        "id",
        "kind",
        "location_pk",
        "order_pk",
        "pk",
        "status",
        "tracking_number",
        "tracking_url",
        "updated_at",
    )

    def __init__(self, r: Any) -> None:
        self.pk = r.id
        self.id = ids.encode("Fulfillment", r.id)
        self.order_pk = r.order_id
        self.fo_pk = r.fulfillment_order_id
        self.location_pk = r.location_id
        self.kind = r.kind
        self.status = r.status
        self.carrier = r.carrier
        self.tracking_number = r.tracking_number
        self.tracking_url = r.tracking_url
        self.created_at = r.created_at
        self.updated_at = r.updated_at


class FulfillmentLineRecord:
    __slots__ = (
        "fo_line_pk",
        "fulfillment_pk",
        "id",
        "order_line_pk",
        "pk",
        "quantity",
        "serial_numbers",
        "sku",
    )

    def __init__(self, r: Any) -> None:
        self.pk = r.id
        self.id = ids.encode("FulfillmentLine", r.id)
        self.fulfillment_pk = r.fulfillment_id
        self.fo_line_pk = r.fulfillment_order_line_id
        self.order_line_pk = r.order_line_id
        self.quantity = r.quantity
        self.sku = r.sku
        self.serial_numbers: list[str] | None = r.serial_numbers


async def fulfillment_orders_of(
    reader: Reader, order_pks: Sequence[int]
) -> dict[int, list[FulfillmentOrderRecord]]:
    """The fulfillment orders of several orders, oldest first."""
    if not order_pks:
        return {}
    q = (
        select(fulfillment_orders_t)
        .where(fulfillment_orders_t.c.order_id.in_(sorted(set(order_pks))))
        .order_by(fulfillment_orders_t.c.id)
    )
    out: dict[int, list[FulfillmentOrderRecord]] = {}
    for r in await reader.all(q):
        out.setdefault(r.order_id, []).append(FulfillmentOrderRecord(r))
    return out


async def fulfillment_orders_by_pks(
    reader: Reader, pks: Sequence[int]
) -> dict[int, FulfillmentOrderRecord]:
    if not pks:
        return {}
    q = select(fulfillment_orders_t).where(fulfillment_orders_t.c.id.in_(sorted(set(pks))))
    return {r.id: FulfillmentOrderRecord(r) for r in await reader.all(q)}


async def fo_lines_of(
    reader: Reader, fo_pks: Sequence[int]
) -> dict[int, list[FulfillmentOrderLineRecord]]:
    """The lines of several fulfillment orders (with their order line's SKU and title)."""
    if not fo_pks:
        return {}
    q = (
        select(fo_lines_t, order_lines_t.c.sku, order_lines_t.c.title)
        .join(order_lines_t, order_lines_t.c.id == fo_lines_t.c.order_line_id)
        .where(fo_lines_t.c.fulfillment_order_id.in_(sorted(set(fo_pks))))
        .order_by(fo_lines_t.c.id)
    )
    out: dict[int, list[FulfillmentOrderLineRecord]] = {}
    for r in await reader.all(q):
        out.setdefault(r.fulfillment_order_id, []).append(FulfillmentOrderLineRecord(r))
    return out


async def fulfillments_of(
    reader: Reader, order_pks: Sequence[int]
) -> dict[int, list[FulfillmentRecord]]:
    if not order_pks:
        return {}
    q = (
        select(fulfillments_t)
        .where(fulfillments_t.c.order_id.in_(sorted(set(order_pks))))
        .order_by(fulfillments_t.c.id)
    )
    out: dict[int, list[FulfillmentRecord]] = {}
    for r in await reader.all(q):
        out.setdefault(r.order_id, []).append(FulfillmentRecord(r))
    return out


async def fulfillments_by_pks(reader: Reader, pks: Sequence[int]) -> dict[int, FulfillmentRecord]:
    if not pks:
        return {}
    q = select(fulfillments_t).where(fulfillments_t.c.id.in_(sorted(set(pks))))
    return {r.id: FulfillmentRecord(r) for r in await reader.all(q)}


async def fulfillment_lines_of(
    reader: Reader, fulfillment_pks: Sequence[int]
) -> dict[int, list[FulfillmentLineRecord]]:
    if not fulfillment_pks:
        return {}
    q = (
        select(fulfillment_lines_t, order_lines_t.c.sku)
        .join(order_lines_t, order_lines_t.c.id == fulfillment_lines_t.c.order_line_id)
        .where(fulfillment_lines_t.c.fulfillment_id.in_(sorted(set(fulfillment_pks))))
        .order_by(fulfillment_lines_t.c.id)
    )
    out: dict[int, list[FulfillmentLineRecord]] = {}
    for r in await reader.all(q):
        out.setdefault(r.fulfillment_id, []).append(FulfillmentLineRecord(r))
    return out
