"""Allocating backorders when stock is received: oldest first, strictly in order (a
backorder is never skipped for a younger one that would fit), each allocation a
commitment through the ledger (``backorder_allocated``); a fulfillment order whose
backorders are all allocated leaves its hold (``fulfillment_order.released``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.tables import backorders_t, fulfillment_orders_t, levels_t, variant_policies_t
from hub.domain.inventory.changes import Change, apply_change
from hub.domain.orders.aisle import arrived
from hub.domain.orders.fulfillment import release
from hub.events.outbox import Outbox

ACTOR = "backorders"


def unbackorder(variant_pk: int, quantity: int) -> Any:
    """The variant's count of units sold beyond stock, less ``quantity``."""
    left = variant_policies_t.c.backordered - quantity
    return (
        update(variant_policies_t)
        .where(variant_policies_t.c.variant_id == variant_pk)
        .values(backordered=case((left > 0, left), else_=0))
    )


async def _free(conn: AsyncConnection, variant_pk: int, location_pk: int) -> int:
    """Units at the level neither committed, reserved nor quarantined (safety stock is
    for new online sales: these units are sold already)."""
    row = (
        await conn.execute(
            select(
                levels_t.c.on_hand
                - levels_t.c.committed
                - levels_t.c.reserved
                - levels_t.c.quarantined
            ).where(levels_t.c.variant_id == variant_pk, levels_t.c.location_id == location_pk)
        )
    ).first()
    return max(int(row[0]), 0) if row is not None else 0


async def allocate_received(
    conn: AsyncConnection, outbox: Outbox, received: Iterable[tuple[int, int]]
) -> list[int]:
    """Allocate the open backorders of each (variant, location) in ``received`` from
    the stock now free there, on ``conn`` (the receipt's transaction). Returns the
    fulfillment orders released."""
    touched: set[int] = set()
    now = datetime.now(UTC)
    for v, loc in sorted(set(received)):
        queue = (
            await conn.execute(
                select(backorders_t)
                .where(
                    backorders_t.c.variant_id == v,
                    backorders_t.c.location_id == loc,
                    backorders_t.c.status == "OPEN",
                )
                .order_by(backorders_t.c.id)
                .with_for_update()
            )
        ).all()
        if not queue:
            continue
        free = await _free(conn, v, loc)
        for b in queue:
            due = b.quantity - b.quantity_allocated
            q = min(due, free)
            if q <= 0:
                break
            await apply_change(
                conn,
                Change(
                    v,
                    loc,
                    "backorder_allocated",
                    {"committed": q},
                    need_available=q,
                    online=False,
                    reference=f"backorder:{b.id}",
                    actor=ACTOR,
                ),
                outbox,
            )
            full = q == due
            await conn.execute(
                update(backorders_t)
                .where(backorders_t.c.id == b.id)
                .values(
                    quantity_allocated=backorders_t.c.quantity_allocated + q,
                    status="ALLOCATED" if full else "OPEN",
                    allocated_at=now if full else None,
                )
            )
            await conn.execute(unbackorder(v, q))
            outbox.add(
                "backorder.allocated",
                {
                    "backorderId": b.id,
                    "orderId": b.order_id,
                    "variantId": v,
                    "locationId": loc,
                    "fulfillmentOrderId": b.fulfillment_order_id,
                    "quantity": q,
                    "complete": full,
                },
            )
            free -= q
            if b.fulfillment_order_id is not None and full:
                touched.add(b.fulfillment_order_id)
            if not full:
                break
    return [fo for fo in sorted(touched) if await _release_if_done(conn, outbox, fo)]


async def on_receipt(
    conn: AsyncConnection,
    outbox: Outbox,
    received: list[tuple[int, int]],
    result: dict[str, Any],
) -> None:
    """Stock was received (``Inventory.after_receipt``): first an endless-aisle
    pickup the transfer carried gets ready (its units are its own), then the
    backorders waiting there take what is free, oldest first."""
    if result.get("transfer") is not None:
        await arrived(conn, outbox, int(result["transfer"]))
    await allocate_received(conn, outbox, received)


async def _release_if_done(conn: AsyncConnection, outbox: Outbox, fo_pk: int) -> bool:
    """Take the fulfillment order off its backorder hold once none of its backorders
    waits any more."""
    waiting = (
        await conn.execute(
            select(func.count())
            .select_from(backorders_t)
            .where(backorders_t.c.fulfillment_order_id == fo_pk, backorders_t.c.status == "OPEN")
        )
    ).scalar_one()
    if waiting:
        return False
    held = (
        await conn.execute(
            select(fulfillment_orders_t.c.id).where(
                fulfillment_orders_t.c.id == fo_pk,
                fulfillment_orders_t.c.status == "ON_HOLD",
                fulfillment_orders_t.c.hold_reason.in_(("BACKORDER", "PREORDER")),
            )
        )
    ).first()
    if held is None:
        return False
    await release(conn, outbox, fo_pk, ACTOR)
    return True
