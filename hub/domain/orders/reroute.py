"""Moving fulfillment orders: a staff reroute to another location, and the pickup
window's expiry.

Reroute: an unstarted SHIPPING fulfillment order (OPEN, nothing fulfilled) moves to
another active location that ships and sells to the order's channel, under its daily
capacity (``LOCATION_AT_CAPACITY``) and holding the stock (``INSUFFICIENT_STOCK``):
its commitments move with it through the ledger (``rerouted_out`` at the old location,
``rerouted_in`` at the new, which must have the units available), its reason and the
order's routing entry say who moved it and from where.

Expiry: a READY_FOR_PICKUP fulfillment order whose deadline passed is cancelled
(``cancel_reason`` EXPIRED), its uncollected units' commitments are released
(``release_unfulfilled``, ledger reason ``pickup_expired``) and ``fulfillment_order.expired``
names the order lines and quantities released (for their refund). When units were
released, ``expiry_refund`` becomes DUE: the job refunds them after the commit and
records the outcome (:func:`settle_expiry_refund`); one still DUE (the provider could
not be reached, or the job stopped in between) is tried again on the next run
(:func:`refunds_due`), under the same idempotency key.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import ids
from hub.db.tables import fo_lines_t, fulfillment_orders_t, order_lines_t, orders_t
from hub.domain.errors import Code, DomainError, fail
from hub.domain.inventory.changes import Change, apply_change
from hub.domain.orders import fulfillment as fos
from hub.domain.orders.fulfillment_orders import release_unfulfilled
from hub.domain.orders.records import OrderCode
from hub.domain.orders.routing import load_sites
from hub.domain.orders.state import FulfillmentOrderStatus as S
from hub.domain.orders.timeline import record_event
from hub.events.outbox import Outbox


async def _due_lines(conn: AsyncConnection, fo_pk: int) -> list[Any]:
    q = (
        select(fo_lines_t)
        .where(fo_lines_t.c.fulfillment_order_id == fo_pk)
        .order_by(fo_lines_t.c.id)
        .with_for_update()
    )
    return list((await conn.execute(q)).all())


async def reroute(
    conn: AsyncConnection, outbox: Outbox, fo_pk: int, location_pk: int, actor: str
) -> None:
    """Move unstarted fulfillment order ``fo_pk`` to ``location_pk`` (module docstring)."""
    fo = await fos.load(conn, fo_pk)
    if fo.delivery_kind != "SHIPPING":
        raise fail(
            OrderCode.DELIVERY_KIND_MISMATCH,
            "a pickup stays at the store the customer chose",
            "id",
        )
    lines = await _due_lines(conn, fo_pk)
    if fo.status != S.OPEN.value or any(ln.quantity_fulfilled > 0 for ln in lines):
        raise fos.illegal(fo, "reroute it (only an unstarted one moves)")
    if location_pk == fo.location_id:
        raise fail(Code.INVALID, "the fulfillment order is at that location already", "location_id")
    _, sites = await load_sites(conn, fo.channel_id)
    target = next((s for s in sites if s.pk == location_pk and s.ships), None)
    if target is None:
        raise fail(
            OrderCode.LOCATION_NOT_ELIGIBLE,
            "that location is not an active location shipping to the order's channel",
            "location_id",
        )
    if target.full:
        raise fail(
            OrderCode.LOCATION_AT_CAPACITY,
            f"{target.name} is at its daily capacity ({target.used}/{target.capacity})",
            "location_id",
        )
    ref = f"reroute:{ids.encode('FulfillmentOrder', fo_pk)}"
    for ln in lines:
        due = ln.quantity - ln.quantity_fulfilled - ln.quantity_cancelled
        if due <= 0 or ln.variant_id is None:
            continue
        into = Change(
            ln.variant_id,
            location_pk,
            "rerouted_in",
            {"committed": due},
            need_available=due,
            reference=ref,
            actor=actor,
            field="location_id",
        )
        try:
            await apply_change(conn, into, outbox)
        except DomainError as exc:
            raise fail(
                OrderCode.INSUFFICIENT_STOCK,
                f"{target.name} lacks the stock for {due} unit(s) of a line: "
                + "; ".join(e.message for e in exc.errors),
                "location_id",
            ) from None
        out = Change(
            ln.variant_id,
            fo.location_id,
            "rerouted_out",
            {"committed": -due},
            reference=ref,
            actor=actor,
        )
        await apply_change(conn, out, outbox)
    reason = (
        f"rerouted by {actor} from {fo.location_name} to {target.name} (was: {fo.routing_reason})"
    )[:2000]
    await fos.move(
        conn,
        fo,
        S.OPEN.value,
        "reroute it",
        location_id=location_pk,
        routing_reason=reason,
        accepted_at=None,
    )
    await _rewrite_routing(conn, fo.order_id, fo_pk, location_pk, reason)
    await _move_allocations(conn, lines, fo.location_id, location_pk)
    await record_event(
        conn,
        fo.order_id,
        "fulfillment_order.rerouted",
        actor=actor,
        message=reason,
        data=fos.payload(
            fo,
            locationId=ids.encode("Location", location_pk),
            fromLocationId=ids.encode("Location", fo.location_id),
            reason=reason,
        ),
        outbox=outbox,
    )


async def _rewrite_routing(
    conn: AsyncConnection, order_pk: int, fo_pk: int, location_pk: int, reason: str
) -> None:
    """The order's routing entry of ``fo_pk`` now names its new location and reason."""
    got = (
        await conn.execute(
            select(orders_t.c.routing).where(orders_t.c.id == order_pk).with_for_update()
        )
    ).scalar_one()
    entries = [dict(e) for e in got or ()]
    for e in entries:
        if e.get("fulfillmentOrderId") == fo_pk:
            e["rerouted"] = [*e.get("rerouted", ()), e.get("locationId")]
            e["locationId"] = location_pk
            e["reason"] = reason
    await conn.execute(update(orders_t).where(orders_t.c.id == order_pk).values(routing=entries))


async def _move_allocations(
    conn: AsyncConnection, lines: Sequence[Any], old: int, new: int
) -> None:
    """The order lines' allocations (``OrderLineItem.locationIds``) follow the units
    moved from ``old`` to ``new``."""
    moved = {
        ln.order_line_id: ln.quantity - ln.quantity_fulfilled - ln.quantity_cancelled
        for ln in lines
    }
    rows = (
        await conn.execute(
            select(order_lines_t.c.id, order_lines_t.c.allocations).where(
                order_lines_t.c.id.in_(sorted(moved))
            )
        )
    ).all()
    for r in rows:
        allocs = [dict(a) for a in r.allocations or ()]
        want = moved[r.id]
        for a in allocs:
            if a.get("locationId") == old and want > 0:
                q = min(int(a.get("quantity") or 0), want)
                a["quantity"] = int(a.get("quantity") or 0) - q
                want -= q
                allocs.append({"locationId": new, "quantity": q, "reroutedFrom": old})
        merged: dict[int, dict[str, Any]] = {}
        for a in allocs:
            if int(a.get("quantity") or 0) <= 0:
                continue
            loc = int(a["locationId"])
            if loc in merged:
                merged[loc]["quantity"] += int(a["quantity"])
            else:
                merged[loc] = a
        await conn.execute(
            update(order_lines_t)
            .where(order_lines_t.c.id == r.id)
            .values(allocations=list(merged.values()))
        )


_EXPIRED = (
    select(fulfillment_orders_t.c.id)
    .where(
        fulfillment_orders_t.c.status == S.READY_FOR_PICKUP.value,
        fulfillment_orders_t.c.pickup_deadline < bindparam("now"),
    )
    .order_by(fulfillment_orders_t.c.pickup_deadline, fulfillment_orders_t.c.id)
)


async def expired_pickups(conn: AsyncConnection, now: datetime, limit: int) -> list[int]:
    """Ready pickups past their deadline, oldest deadline first."""
    rows = await conn.execute(_EXPIRED.limit(limit), {"now": now})
    return [r.id for r in rows]


async def expire_pickup(
    conn: AsyncConnection, outbox: Outbox, fo_pk: int, now: datetime
) -> tuple[int, list[tuple[int, int]]] | None:
    """Cancel one expired pickup and release its stock: (order pk, [(order line pk,
    quantity released)]), or None when it is no longer due (collected, or moved)."""
    fo = await fos.load(conn, fo_pk)
    if fo.status != S.READY_FOR_PICKUP.value or fo.pickup_deadline is None:
        return None
    if fo.pickup_deadline >= now:
        return None
    lines = await _due_lines(conn, fo_pk)
    due = [
        (ln.order_line_id, ln.quantity - ln.quantity_fulfilled - ln.quantity_cancelled)
        for ln in lines
    ]
    due = [(pk, q) for pk, q in due if q > 0]
    await release_unfulfilled(
        conn,
        outbox,
        fo.order_id,
        fulfillment_order_pks=[fo_pk],
        reason="pickup_expired",
        actor="system",
        reference=f"pickup-expired:{ids.encode('FulfillmentOrder', fo_pk)}",
    )
    await conn.execute(
        update(fulfillment_orders_t)
        .where(fulfillment_orders_t.c.id == fo_pk)
        .values(cancel_reason="EXPIRED", expiry_refund="DUE" if due else None)
    )
    await fos.refresh_fulfillment_status(conn, fo.order_id)
    await record_event(
        conn,
        fo.order_id,
        "fulfillment_order.expired",
        message=f"not collected at {fo.location_name} by {fo.pickup_deadline.isoformat()}; "
        "stock released",
        data=fos.payload(
            fo,
            pickupDeadline=fo.pickup_deadline.isoformat(),
            lines=[
                {"orderLineId": ids.encode("OrderLineItem", pk), "quantity": q} for pk, q in due
            ],
        ),
        outbox=outbox,
    )
    return int(fo.order_id), due


EXPIRY_REFUND_STATES = ("DUE", "DONE", "FAILED", "REFUSED")


async def refunds_due(
    conn: AsyncConnection, limit: int
) -> list[tuple[int, int, list[tuple[int, int]]]]:
    """Expired pickups whose refund is still DUE, oldest first: (fulfillment order pk,
    order pk, [(order line pk, units released)])."""
    rows = (
        await conn.execute(
            select(fulfillment_orders_t.c.id, fulfillment_orders_t.c.order_id)
            .where(
                fulfillment_orders_t.c.expiry_refund == "DUE",
                fulfillment_orders_t.c.status == S.CANCELLED.value,
                fulfillment_orders_t.c.cancel_reason == "EXPIRED",
            )
            .order_by(fulfillment_orders_t.c.id)
            .limit(limit)
        )
    ).all()
    if not rows:
        return []
    lines = (
        await conn.execute(
            select(
                fo_lines_t.c.fulfillment_order_id,
                fo_lines_t.c.order_line_id,
                fo_lines_t.c.quantity_cancelled,
            )
            .where(fo_lines_t.c.fulfillment_order_id.in_([r.id for r in rows]))
            .order_by(fo_lines_t.c.id)
        )
    ).all()
    by_fo: dict[int, list[tuple[int, int]]] = {}
    for ln in lines:
        if ln.quantity_cancelled > 0:
            by_fo.setdefault(ln.fulfillment_order_id, []).append(
                (int(ln.order_line_id), int(ln.quantity_cancelled))
            )
    return [(int(r.id), int(r.order_id), by_fo.get(r.id, [])) for r in rows]


async def settle_expiry_refund(conn: AsyncConnection, fo_pk: int, state: str) -> None:
    """Record how an expired pickup's refund ended (DONE, FAILED or REFUSED)."""
    if state not in EXPIRY_REFUND_STATES:
        raise ValueError(f"unknown expiry refund state {state!r}")
    await conn.execute(
        update(fulfillment_orders_t)
        .where(fulfillment_orders_t.c.id == fo_pk, fulfillment_orders_t.c.expiry_refund == "DUE")
        .values(expiry_refund=state)
    )
