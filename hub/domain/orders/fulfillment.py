"""A fulfillment order's life: accept, start, hold and release, ready for pickup,
customer arrived (curbside), and the status moves a fulfilment makes.

Each transition is an operation on the caller's transaction: it locks the fulfillment
order, checks its preconditions (an illegal one raises ``ILLEGAL_TRANSITION`` or a
more precise code and writes nothing: the caller's transaction rolls back), moves the
status with a conditional UPDATE (so two concurrent transitions can't both pass) and
appends to the order's timeline with its outbox event.

    OPEN ──accept──► OPEN (accepted)     OPEN/IN_PROGRESS ──hold──► ON_HOLD ──release──► (back)
    OPEN ──start──► IN_PROGRESS          OPEN/IN_PROGRESS ──ready──► READY_FOR_PICKUP (pickups)
    OPEN/IN_PROGRESS ──fulfil (part)──► IN_PROGRESS ──fulfil (rest)──► FULFILLED
    READY_FOR_PICKUP ──customer arrived──► READY_FOR_PICKUP (arrival noted)
    READY_FOR_PICKUP ──picked up──► FULFILLED     READY_FOR_PICKUP ──window over──► CANCELLED
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import ids
from hub.db.tables import (
    backorders_t,
    fo_lines_t,
    fulfillment_orders_t,
    locations_t,
    order_lines_t,
    orders_t,
)
from hub.domain.errors import Code, DomainError, fail
from hub.domain.orders.records import OrderCode
from hub.domain.orders.state import FulfillmentOrderStatus as S
from hub.domain.orders.state import fulfillment_status
from hub.domain.orders.timeline import record_event
from hub.events.outbox import Outbox

MAX_NOTE = 255

_FO = (
    select(
        fulfillment_orders_t,
        locations_t.c.name.label("location_name"),
        locations_t.c.pickup_window_hours,
        orders_t.c.name.label("order_name"),
        orders_t.c.email,
        orders_t.c.phone,
        orders_t.c.channel_id,
        orders_t.c.status.label("order_status"),
    )
    .join(locations_t, locations_t.c.id == fulfillment_orders_t.c.location_id)
    .join(orders_t, orders_t.c.id == fulfillment_orders_t.c.order_id)
)


def now() -> datetime:
    return datetime.now(UTC)


async def load(conn: AsyncConnection, fo_pk: int) -> Any:
    """The fulfillment order (with its location and order), locked for the change;
    NOT_FOUND on ``id`` when there is none."""
    q = _FO.where(fulfillment_orders_t.c.id == fo_pk).with_for_update(of=fulfillment_orders_t)
    row = (await conn.execute(q)).first()
    if row is None:
        raise fail(Code.NOT_FOUND, "no fulfillment order with that id", "id")
    return row


def illegal(fo: Any, action: str, code: StrEnum = OrderCode.ILLEGAL_TRANSITION) -> DomainError:
    return fail(
        code, f"can't {action}: the fulfillment order is {fo.status.replace('_', ' ')}", "id"
    )


def payload(fo: Any, **extra: Any) -> dict[str, Any]:
    """The event data of a fulfillment order (global ids)."""
    return {
        "fulfillmentOrderId": ids.encode("FulfillmentOrder", fo.id),
        "locationId": ids.encode("Location", fo.location_id),
        **extra,
    }


async def move(conn: AsyncConnection, fo: Any, to: str, action: str, **values: Any) -> None:
    """Set the status ``to`` (and ``values``) while it is still ``fo.status``."""
    done = await conn.execute(
        update(fulfillment_orders_t)
        .where(fulfillment_orders_t.c.id == fo.id, fulfillment_orders_t.c.status == fo.status)
        .values(status=to, updated_at=now(), **values)
    )
    if done.rowcount != 1:
        raise illegal(fo, action)  # pragma: no cover - the row is locked


def _require(fo: Any, action: str, *allowed: S) -> None:
    if fo.status not in {a.value for a in allowed}:
        raise illegal(fo, action)


def _pickup_only(fo: Any, action: str) -> None:
    if fo.delivery_kind != "PICKUP":
        raise fail(
            OrderCode.DELIVERY_KIND_MISMATCH,
            f"can't {action}: the fulfillment order ships to an address (not a pickup)",
            "id",
        )


def _note(note: str | None, field: str = "note") -> str | None:
    if note is not None:
        note = note.strip() or None
    if note is not None and (len(note) > MAX_NOTE or any(ord(c) < 32 for c in note)):
        raise fail(Code.INVALID, f"a note is at most {MAX_NOTE} characters, on one line", field)
    return note


async def accept(conn: AsyncConnection, outbox: Outbox, fo_pk: int, actor: str) -> None:
    """The location acknowledges the fulfillment order (once, while it is OPEN)."""
    fo = await load(conn, fo_pk)
    _require(fo, "accept it", S.OPEN)
    if fo.accepted_at is not None:
        raise fail(OrderCode.ILLEGAL_TRANSITION, "the fulfillment order was accepted already", "id")
    await move(conn, fo, S.OPEN.value, "accept it", accepted_at=now())
    await record_event(
        conn,
        fo.order_id,
        "fulfillment_order.accepted",
        actor=actor,
        message=f"accepted by {fo.location_name}",
        data=payload(fo, status=S.OPEN.value),
        outbox=outbox,
    )


async def start(conn: AsyncConnection, outbox: Outbox, fo_pk: int, actor: str) -> None:
    """Picking begins: OPEN -> IN_PROGRESS."""
    fo = await load(conn, fo_pk)
    _require(fo, "start it", S.OPEN)
    await move(conn, fo, S.IN_PROGRESS.value, "start it", accepted_at=fo.accepted_at or now())
    await record_event(
        conn,
        fo.order_id,
        "fulfillment_order.started",
        actor=actor,
        message=f"{fo.location_name} started it",
        data=payload(fo, status=S.IN_PROGRESS.value),
        outbox=outbox,
    )


async def hold(
    conn: AsyncConnection, outbox: Outbox, fo_pk: int, reason: str | None, actor: str
) -> None:
    """Put on hold (OPEN or IN_PROGRESS -> ON_HOLD); release goes back to where it was."""
    reason = _note(reason, "reason")
    fo = await load(conn, fo_pk)
    _require(fo, "hold it", S.OPEN, S.IN_PROGRESS)
    await move(conn, fo, S.ON_HOLD.value, "hold it", held_from=fo.status, hold_reason=reason)
    await record_event(
        conn,
        fo.order_id,
        "fulfillment_order.held",
        actor=actor,
        message=reason or "",
        data=payload(fo, status=S.ON_HOLD.value, reason=reason),
        outbox=outbox,
    )


async def release(conn: AsyncConnection, outbox: Outbox, fo_pk: int, actor: str) -> None:
    """Take off hold: back to the status the hold came from."""
    fo = await load(conn, fo_pk)
    _require(fo, "release it", S.ON_HOLD)
    if actor != "backorders" and await _awaiting_stock(conn, fo_pk):
        raise fail(
            OrderCode.AWAITING_STOCK,
            "can't release it: units of it are backordered and no stock was received for "
            "them yet (it is released when they are allocated)",
            "id",
        )
    back = fo.held_from or S.OPEN.value
    await move(conn, fo, back, "release it", held_from=None, hold_reason=None)
    await record_event(
        conn,
        fo.order_id,
        "fulfillment_order.released",
        actor=actor,
        data=payload(fo, status=back),
        outbox=outbox,
    )


async def _awaiting_stock(conn: AsyncConnection, fo_pk: int) -> bool:
    """Whether backorders of the fulfillment order still wait for stock."""
    q = select(
        exists().where(
            backorders_t.c.fulfillment_order_id == fo_pk, backorders_t.c.status == "OPEN"
        )
    )
    return bool((await conn.execute(q)).scalar())


async def ready_for_pickup(
    conn: AsyncConnection, outbox: Outbox, fo_pk: int, actor: str
) -> datetime:
    """A pickup is packed and waiting at its store: READY_FOR_PICKUP, with its deadline
    (now + the location's pickup window); ``fulfillment_order.ready_for_pickup`` tells
    the customer (the event carries the order's email and phone)."""
    fo = await load(conn, fo_pk)
    _pickup_only(fo, "mark it ready for pickup")
    _require(fo, "mark it ready for pickup", S.OPEN, S.IN_PROGRESS)
    bound = select(fulfillment_orders_t.c.pickup_location_id).where(
        fulfillment_orders_t.c.id == fo_pk
    )
    if (await conn.execute(bound)).scalar() is not None:
        raise fail(
            OrderCode.AWAITING_TRANSFER,
            "can't mark it ready for pickup: its units are still to be transferred to "
            "the pickup store (fulfillmentOrderTransfer, then the store receives them)",
            "id",
        )
    at = now()
    deadline = at + timedelta(hours=int(fo.pickup_window_hours))
    await move(
        conn,
        fo,
        S.READY_FOR_PICKUP.value,
        "mark it ready for pickup",
        ready_at=at,
        pickup_deadline=deadline,
        accepted_at=fo.accepted_at or at,
    )
    await record_event(
        conn,
        fo.order_id,
        "fulfillment_order.ready_for_pickup",
        actor=actor,
        message=f"ready for pickup at {fo.location_name} until {deadline.isoformat()}",
        data=payload(
            fo,
            status=S.READY_FOR_PICKUP.value,
            orderName=fo.order_name,
            email=fo.email,
            phone=fo.phone,
            locationName=fo.location_name,
            pickupDeadline=deadline.isoformat(),
        ),
        outbox=outbox,
    )
    return deadline


async def customer_arrived(
    conn: AsyncConnection, outbox: Outbox, fo_pk: int, note: str | None, actor: str
) -> None:
    """Curbside: the customer is outside (``note``: the parking spot). Only when the
    order is ready for pickup (NOT_READY_FOR_PICKUP before)."""
    note = _note(note)
    fo = await load(conn, fo_pk)
    _pickup_only(fo, "note the customer's arrival")
    if fo.status in (S.OPEN.value, S.IN_PROGRESS.value, S.ON_HOLD.value):
        raise illegal(fo, "note the customer's arrival", OrderCode.NOT_READY_FOR_PICKUP)
    _require(fo, "note the customer's arrival", S.READY_FOR_PICKUP)
    await move(
        conn,
        fo,
        S.READY_FOR_PICKUP.value,
        "note the customer's arrival",
        customer_arrived_at=now(),
        arrival_note=note,
    )
    await record_event(
        conn,
        fo.order_id,
        "fulfillment_order.customer_arrived",
        actor=actor,
        message=note or "customer arrived",
        data=payload(fo, note=note, locationName=fo.location_name),
        outbox=outbox,
    )


async def refresh_fulfillment_status(conn: AsyncConnection, order_pk: int) -> str:
    """Derive the order's fulfillment status from its lines that need fulfilling (those
    routed to a location) and store it."""
    routed = exists().where(fo_lines_t.c.order_line_id == order_lines_t.c.id)
    row = (
        await conn.execute(
            select(
                func.coalesce(func.sum(order_lines_t.c.quantity), 0).label("ordered"),
                func.coalesce(func.sum(order_lines_t.c.quantity_cancelled), 0).label("cancelled"),
                func.coalesce(func.sum(order_lines_t.c.quantity_fulfilled), 0).label("fulfilled"),
                func.coalesce(func.sum(order_lines_t.c.quantity_returned), 0).label("returned"),
            ).where(and_(order_lines_t.c.order_id == order_pk, routed))
        )
    ).one()
    status = fulfillment_status(
        ordered=int(row.ordered),
        cancelled=int(row.cancelled),
        fulfilled=int(row.fulfilled),
        returned=int(row.returned),
    ).value
    await conn.execute(
        update(orders_t)
        .where(orders_t.c.id == order_pk)
        .values(fulfillment_status=status, updated_at=now())
    )
    return status
