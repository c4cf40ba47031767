"""Fulfillment orders: the part of an order one location fulfils.

Checkout writes them with the order, one per (location, delivery kind) of the lines'
allocations (the stock it committed), so each location sees what it must ship or hand
over. Routing strategies (``hub.domain.orders.routing``, per channel) decide the
allocations; this module only turns a decision into rows and gives back what is no
longer due (``release_unfulfilled``: the commitments of every unit not yet fulfilled
or cancelled, through the ledger).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import ids
from hub.db.tables import (
    backorders_t,
    fo_lines_t,
    fulfillment_orders_t,
    order_lines_t,
    variant_policies_t,
)
from hub.domain.inventory.changes import Change, apply_change
from hub.domain.orders.routing import Routed
from hub.domain.orders.state import FulfillmentOrderStatus
from hub.events.outbox import Outbox

DEFAULT_REASON = "checkout allocation: the locations that held the stock when it was reserved"
DONE = (FulfillmentOrderStatus.FULFILLED, FulfillmentOrderStatus.CANCELLED)

# As the order lines: one multi-row INSERT, ids in VALUES order once sorted.
_INSERT_FO = fulfillment_orders_t.insert().returning(fulfillment_orders_t.c.id)
_INSERT_FO_LINES = fo_lines_t.insert()


async def cancel_backorders(
    conn: AsyncConnection, order_pk: int, fo_pks: set[int]
) -> dict[tuple[int, int], int]:
    """Cancel the open backorders of the order's fulfillment orders ``fo_pks`` (their
    units leave the variant's backordered count); the units that were never
    allocated, by (order line, fulfillment order)."""
    if not fo_pks:
        return {}
    rows = (
        await conn.execute(
            update(backorders_t)
            .where(
                backorders_t.c.order_id == order_pk,
                backorders_t.c.fulfillment_order_id.in_(sorted(fo_pks)),
                backorders_t.c.status == "OPEN",
            )
            .values(status="CANCELLED")
            .returning(
                backorders_t.c.order_line_id,
                backorders_t.c.fulfillment_order_id,
                backorders_t.c.variant_id,
                backorders_t.c.quantity,
                backorders_t.c.quantity_allocated,
            )
        )
    ).all()
    waiting: dict[tuple[int, int], int] = {}
    for r in rows:
        left = r.quantity - r.quantity_allocated
        key = (r.order_line_id, r.fulfillment_order_id)
        waiting[key] = waiting.get(key, 0) + left
        less = variant_policies_t.c.backordered - left
        await conn.execute(
            update(variant_policies_t)
            .where(variant_policies_t.c.variant_id == r.variant_id)
            .values(backordered=case((less > 0, less), else_=0))
        )
    return waiting


def plan_fulfillment_orders(
    lines: Sequence[dict[str, Any]], line_pks: Sequence[int]
) -> list[tuple[tuple[int, str], list[tuple[int, int | None, int]]]]:
    """Group the order lines' allocations by (location, delivery kind):
    ``[((location_pk, kind), [(order_line_pk, variant_pk, quantity), ...]), ...]`` in
    first-seen order. ``lines`` are the order line values in the order they were
    inserted, ``line_pks`` their ids."""
    groups: dict[tuple[int, str], list[tuple[int, int | None, int]]] = {}
    for ln, pk in zip(lines, line_pks, strict=True):
        kind = ln.get("delivery_kind") or "SHIPPING"
        for a in ln.get("allocations") or ():
            loc, qty = a.get("locationId"), int(a.get("quantity") or 0)
            if loc is None or qty <= 0:
                continue
            items = groups.setdefault((int(loc), kind), [])
            if items and items[-1][0] == pk:  # a backorder with its line's stock there
                items[-1] = (pk, items[-1][1], items[-1][2] + qty)
                continue
            items.append((pk, ln.get("variant_id"), qty))
    return list(groups.items())


async def insert_fulfillment_orders(
    conn: AsyncConnection,
    order_pk: int,
    groups: Sequence[tuple[tuple[int, str], Sequence[tuple[int, int | None, int]]]],
    *,
    reasons: dict[tuple[int, str], str] | None = None,
    now: datetime | None = None,
    transfers: dict[int, int] | None = None,
) -> list[int]:
    """Write one fulfillment order per group (two statements, whatever the count)."""
    if not groups:
        return []
    now = now or datetime.now(UTC)
    rows = [
        {
            "order_id": order_pk,
            "location_id": loc,
            "status": FulfillmentOrderStatus.OPEN.value,
            "delivery_kind": kind,
            "routing_reason": (reasons or {}).get((loc, kind), DEFAULT_REASON),
            # Endless aisle: the store a PICKUP at another location goes to.
            "pickup_location_id": (transfers or {}).get(loc) if kind == "PICKUP" else None,
            "created_at": now,
            "updated_at": now,
        }
        for (loc, kind), _ in groups
    ]
    fo_pks = sorted(r[0] for r in (await conn.execute(_INSERT_FO, rows)).all())
    line_rows = [
        {
            "fulfillment_order_id": fo_pk,
            "order_line_id": line_pk,
            "variant_id": variant_pk,
            "quantity": qty,
            "quantity_fulfilled": 0,
            "quantity_cancelled": 0,
        }
        for fo_pk, (_, items) in zip(fo_pks, groups, strict=True)
        for line_pk, variant_pk, qty in items
    ]
    await conn.execute(_INSERT_FO_LINES, line_rows)
    return fo_pks


def routing_entries(
    routing: Routed | None,
    groups: Sequence[tuple[tuple[int, str], Sequence[tuple[int, int | None, int]]]],
    fo_pks: Sequence[int],
) -> list[dict[str, Any]]:
    """The order's routing decision (``orders.routing``): one entry per fulfillment
    order, with the strategy, whether the order was split, and the reason."""
    strategy = routing.strategy if routing is not None else "DEFAULT"
    split = routing.split if routing is not None else False
    reasons = routing.reasons if routing is not None else {}
    return [
        {
            "fulfillmentOrderId": fo_pk,
            "locationId": loc,
            "deliveryKind": kind,
            "lineIds": sorted({line_pk for line_pk, _, _ in items}),
            "strategy": strategy,
            "split": split,
            "destination": routing.destination if routing is not None else None,
            "reason": reasons.get((loc, kind), DEFAULT_REASON),
        }
        for fo_pk, ((loc, kind), items) in zip(fo_pks, groups, strict=True)
    ]


def routed_event(entries: Sequence[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The timeline message and data of the routing decision
    (``fulfillment_order.routed``: written with the order's first timeline rows, and
    queued as the event of that name)."""
    first = entries[0]
    message = f"routed by {first['strategy']}" + (
        f" and split over {len(entries)} fulfillment orders" if first["split"] else ""
    )
    data = {
        "strategy": first["strategy"],
        "split": first["split"],
        "fulfillmentOrders": [
            {
                "id": ids.encode("FulfillmentOrder", e["fulfillmentOrderId"]),
                "locationId": ids.encode("Location", e["locationId"]),
                "deliveryKind": e["deliveryKind"],
                "reason": e["reason"],
            }
            for e in entries
        ],
    }
    return message, data


async def release_unfulfilled(
    conn: AsyncConnection,
    outbox: Outbox,
    order_pk: int,
    *,
    fulfillment_order_pks: Sequence[int] | None = None,
    reason: str = "order_cancelled",
    actor: str = "system",
    reference: str | None = None,
) -> list[tuple[int, int, int]]:
    """Cancel the open fulfillment orders of an order (or only ``fulfillment_order_pks``):
    every unit neither fulfilled nor cancelled is cancelled on its fulfillment order
    line and its order line, and its commitment released at its location through the
    ledger. Returns ``[(variant_pk, location_pk, quantity), ...]`` released."""
    q = (
        select(
            fo_lines_t.c.id,
            fo_lines_t.c.order_line_id,
            fo_lines_t.c.variant_id,
            fo_lines_t.c.quantity,
            fo_lines_t.c.quantity_fulfilled,
            fo_lines_t.c.quantity_cancelled,
            fulfillment_orders_t.c.id.label("fo_id"),
            fulfillment_orders_t.c.location_id,
        )
        .join(fulfillment_orders_t, fulfillment_orders_t.c.id == fo_lines_t.c.fulfillment_order_id)
        .where(
            fulfillment_orders_t.c.order_id == order_pk,
            fulfillment_orders_t.c.status.not_in([s.value for s in DONE]),
        )
        .order_by(fo_lines_t.c.id)
        .with_for_update()
    )
    if fulfillment_order_pks is not None:
        q = q.where(fulfillment_orders_t.c.id.in_(list(fulfillment_order_pks)))
    rows = (await conn.execute(q)).all()
    waiting = await cancel_backorders(conn, order_pk, {r.fo_id for r in rows})
    released: list[tuple[int, int, int]] = []
    fo_pks: set[int] = set()
    now = datetime.now(UTC)
    for r in rows:
        fo_pks.add(r.fo_id)
        due = r.quantity - r.quantity_fulfilled - r.quantity_cancelled
        if due <= 0:
            continue
        await conn.execute(
            update(fo_lines_t)
            .where(fo_lines_t.c.id == r.id)
            .values(quantity_cancelled=fo_lines_t.c.quantity_cancelled + due)
        )
        await conn.execute(
            update(order_lines_t)
            .where(order_lines_t.c.id == r.order_line_id)
            .values(quantity_cancelled=order_lines_t.c.quantity_cancelled + due)
        )
        # Backordered units never committed are not released (their backorder is
        # cancelled instead).
        unheld = min(due, waiting.pop((r.order_line_id, r.fo_id), 0))
        if r.variant_id is not None and due > unheld:
            ch = Change(
                r.variant_id,
                r.location_id,
                reason,
                {"committed": -(due - unheld)},
                reference=reference,
                actor=actor,
                field="quantity",
            )
            await apply_change(conn, ch, outbox)
            released.append((r.variant_id, r.location_id, due - unheld))
    if fo_pks:
        await conn.execute(
            update(fulfillment_orders_t)
            .where(fulfillment_orders_t.c.id.in_(sorted(fo_pks)))
            .values(status=FulfillmentOrderStatus.CANCELLED.value, updated_at=now)
        )
    return released
