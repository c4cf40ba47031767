"""Endless aisle (issue 14, item 6): a store sells what it lacks, picked up there.

A pickup group with ``transfer_in`` (``pickupByTransfer``) lets routing take a line
the pickup store lacks from another location (:func:`hub.domain.orders.routing`):
the order's fulfillment order for it is at that source location, kind PICKUP, with
``pickup_location_id`` the store. Checkout reserves and commits the units at the
source as for any order. Then:

1. the source ships them (:func:`ship_to_store`, ``fulfillmentOrderTransfer``): a
   transfer (``transfers.fulfillment_order_id``) takes the committed units out of the
   source (``transfer_out``: on hand and committed) and puts them ``incoming`` at the
   store, committed there to this order (``transfer_in_transit``: incoming and
   committed, so the arriving units are never sold to someone else); the fulfillment
   order moves to the store, IN_PROGRESS, still bound for pickup there
   (``pickup_location_id``: it can't be marked ready yet). Cancelling the order now
   releases the commitment at the store; the units arrive as ordinary stock;
2. the store receives the transfer (``inventoryTransferReceive``): :func:`arrived`
   marks the fulfillment order READY_FOR_PICKUP (the usual event tells the
   customer); the pickup then goes as any other (``fulfillmentOrderPickedUp``).

The existing pieces are reused: the transfer and its receipt, the ledger, the
fulfillment order's pickup states; nothing is fulfilled twice and no stock goes
negative.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import ids
from hub.db.tables import fo_lines_t, fulfillment_orders_t, transfers_t
from hub.domain.errors import fail
from hub.domain.inventory.changes import Change, apply_change
from hub.domain.orders.fulfillment import load, ready_for_pickup
from hub.domain.orders.records import OrderCode
from hub.domain.orders.state import FulfillmentOrderStatus as S
from hub.domain.orders.timeline import record_event
from hub.events.outbox import Outbox

ACTOR = "endless-aisle"


async def _remaining(conn: AsyncConnection, fo_pk: int) -> list[tuple[int, int]]:
    rows = (
        await conn.execute(
            select(
                fo_lines_t.c.variant_id,
                fo_lines_t.c.quantity
                - fo_lines_t.c.quantity_fulfilled
                - fo_lines_t.c.quantity_cancelled,
            )
            .where(fo_lines_t.c.fulfillment_order_id == fo_pk)
            .order_by(fo_lines_t.c.id)
        )
    ).all()
    return [(int(v), int(q)) for v, q in rows if v is not None and q > 0]


async def _store_of(conn: AsyncConnection, fo_pk: int) -> int | None:
    got = (
        await conn.execute(
            select(fulfillment_orders_t.c.pickup_location_id).where(
                fulfillment_orders_t.c.id == fo_pk
            )
        )
    ).scalar()
    return int(got) if got is not None else None


async def ship_to_store(
    conn: AsyncConnection, outbox: Outbox, fo_pk: int, actor: str
) -> dict[str, Any]:
    """Send an endless-aisle pickup's units to its store (see the module docstring):
    the transfer's pk. NOT_TRANSFERABLE when the fulfillment order is no pickup bound
    for another store, or not OPEN/IN_PROGRESS, or has nothing left to send."""
    fo = await load(conn, fo_pk)
    store = await _store_of(conn, fo_pk)
    if store is None or fo.delivery_kind != "PICKUP":
        raise fail(
            OrderCode.NOT_TRANSFERABLE,
            "it is not an endless-aisle pickup waiting to go to its store",
            "id",
        )
    if fo.status not in (S.OPEN.value, S.IN_PROGRESS.value):
        raise fail(OrderCode.NOT_TRANSFERABLE, f"it is {fo.status}", "id")
    already = (
        await conn.execute(
            select(transfers_t.c.id).where(
                transfers_t.c.fulfillment_order_id == fo_pk,
                transfers_t.c.status == "IN_TRANSIT",
            )
        )
    ).first()
    lines = await _remaining(conn, fo_pk)
    if already is not None or not lines:
        raise fail(OrderCode.NOT_TRANSFERABLE, "its units are on their way already", "id")
    src = int(fo.location_id)
    tid = (
        await conn.execute(
            insert(transfers_t)
            .values(
                from_location_id=src,
                to_location_id=store,
                status="IN_TRANSIT",
                lines=[{"variant_id": v, "quantity": q} for v, q in lines],
                fulfillment_order_id=fo_pk,
                created_at=_now(),
            )
            .returning(transfers_t.c.id)
        )
    ).scalar_one()
    ref = f"transfer:{tid}"
    for v, q in lines:
        out = Change(v, src, "transfer_out", {"on_hand": -q, "committed": -q}, reference=ref)
        out.actor = actor
        await apply_change(conn, out, outbox)
        arriving = Change(
            v, store, "transfer_in_transit", {"incoming": q, "committed": q}, reference=ref
        )
        arriving.actor = actor
        await apply_change(conn, arriving, outbox)
    await conn.execute(
        update(fulfillment_orders_t)
        .where(fulfillment_orders_t.c.id == fo_pk)
        .values(location_id=store, status=S.IN_PROGRESS.value, updated_at=_now())
    )
    await record_event(
        conn,
        fo.order_id,
        "fulfillment_order.transferring",
        actor=actor,
        message=f"sent to the pickup store by transfer {tid}",
        data={
            "fulfillmentOrderId": ids.encode("FulfillmentOrder", fo_pk),
            "transferId": ids.encode("Transfer", tid),
            "fromLocationId": ids.encode("Location", src),
            "toLocationId": ids.encode("Location", store),
        },
        outbox=outbox,
    )
    return {"transfer": tid, "fulfillment_order": fo_pk}


async def arrived(conn: AsyncConnection, outbox: Outbox, transfer_pk: int) -> int | None:
    """The transfer ``transfer_pk`` was received: if it carried an endless-aisle
    pickup still waiting for it, mark it ready for pickup at the store. The
    fulfillment order's pk, or None."""
    row = (
        await conn.execute(
            select(transfers_t.c.fulfillment_order_id, transfers_t.c.to_location_id).where(
                transfers_t.c.id == transfer_pk
            )
        )
    ).first()
    if row is None or row.fulfillment_order_id is None:
        return None
    fo_pk, store = int(row.fulfillment_order_id), int(row.to_location_id)
    status = (
        await conn.execute(
            select(fulfillment_orders_t.c.status).where(fulfillment_orders_t.c.id == fo_pk)
        )
    ).scalar()
    if await _store_of(conn, fo_pk) != store or status != S.IN_PROGRESS.value:
        return None  # cancelled meanwhile: the units simply arrived
    await conn.execute(
        update(fulfillment_orders_t)
        .where(fulfillment_orders_t.c.id == fo_pk)
        .values(pickup_location_id=None, updated_at=_now())
    )
    await ready_for_pickup(conn, outbox, fo_pk, ACTOR)
    return fo_pk


def _now() -> datetime:
    return datetime.now(UTC)
