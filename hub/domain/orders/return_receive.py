"""Receiving a return at a location: each unit restocked (back on hand), quarantined
(on hand and held for inspection) or disposed of (received, then written off: a
``returned`` and a ``return_disposed`` ledger row, so the ledger still adds up), all
through the inventory ledger in the caller's transaction.

A line's received units are counted by one conditional UPDATE (restocked +
quarantined + disposed never passes what the line returns), so two receipts of the
same line can't count a unit twice. The return becomes RECEIVED when every unit is
in (then its money is resolved by the service), PARTIALLY_RECEIVED before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import ids
from hub.db.tables import order_lines_t, orders_t, return_lines_t, returns_t
from hub.domain.errors import Code, Errors, fail
from hub.domain.inventory.changes import Change, apply_change, check_exists
from hub.domain.inventory.operations import return_units
from hub.domain.orders.fraud import record_flags
from hub.domain.orders.records import OrderCode
from hub.domain.orders.return_records import Disposition
from hub.domain.orders.returns import check_location, location_flags, now
from hub.domain.orders.state import ReturnStatus
from hub.domain.orders.timeline import record_event
from hub.events.outbox import Outbox
from hub.settings import Settings

RECEIVABLE = (ReturnStatus.OPEN.value, ReturnStatus.PARTIALLY_RECEIVED.value)
_COLUMN = {
    Disposition.RESTOCK: "quantity_restocked",
    Disposition.QUARANTINE: "quantity_quarantined",
    Disposition.DISPOSE: "quantity_disposed",
}


@dataclass(slots=True)
class ReceiveLineInput:
    return_line_pk: int
    quantity: int
    disposition: Disposition


@dataclass(slots=True)
class Received:
    order_pk: int
    status: ReturnStatus


async def receive(
    conn: AsyncConnection,
    outbox: Outbox,
    return_pk: int,
    location_pk: int,
    lines: Sequence[ReceiveLineInput],
    settings: Settings,
    *,
    actor: str,
) -> Received:
    ret, order, rows = await _load(conn, return_pk, lines)
    await check_location(conn, location_pk, "location_id")
    ref = f"return:{ids.encode('Return', return_pk)}"
    for i, ln in enumerate(lines):
        row = rows[ln.return_line_pk]
        await _count(conn, ln, row, i)
        if row.variant_id is not None:
            await _move_stock(conn, outbox, row, location_pk, ln, ref)
    status = await _status(conn, return_pk)
    await conn.execute(
        update(returns_t)
        .where(returns_t.c.id == return_pk)
        .values(status=status.value, received_location_id=location_pk, updated_at=now())
    )
    await record_event(
        conn,
        order.id,
        "return.received",
        actor=actor,
        message=f"{sum(ln.quantity for ln in lines)} unit(s) received",
        data={
            "returnId": ids.encode("Return", return_pk),
            "locationId": ids.encode("Location", location_pk),
            "lines": [
                {
                    "returnLineId": ids.encode("ReturnLine", ln.return_line_pk),
                    "quantity": ln.quantity,
                    "disposition": ln.disposition.value,
                }
                for ln in lines
            ],
        },
        outbox=outbox,
    )
    await record_flags(
        conn,
        outbox,
        order.id,
        return_pk,
        location_flags(order, location_pk, ret.amount, settings),
        actor=actor,
    )
    return Received(int(order.id), status)


async def _load(
    conn: AsyncConnection, return_pk: int, lines: Sequence[ReceiveLineInput]
) -> tuple[Any, Any, dict[int, Any]]:
    """The return (locked), its order and its lines by id; every refusal of the input."""
    errs = Errors()
    if not lines:
        errs.add(Code.BLANK, "give at least one line to receive", "lines")
    for i, ln in enumerate(lines):
        if ln.quantity <= 0:
            errs.add(Code.INVALID, "quantity must be at least 1", "lines", str(i), "quantity")
    errs.raise_if_any()
    ret = (
        await conn.execute(select(returns_t).where(returns_t.c.id == return_pk).with_for_update())
    ).first()
    if ret is None:
        raise fail(Code.NOT_FOUND, "no return with that id", "return_id")
    if ret.status not in RECEIVABLE:
        raise fail(
            OrderCode.RETURN_NOT_RECEIVABLE,
            f"the return is {ret.status}: only an open return is received",
            "return_id",
        )
    order = (await conn.execute(select(orders_t).where(orders_t.c.id == ret.order_id))).one()
    rows = {
        r.id: r
        for r in (
            await conn.execute(
                select(return_lines_t, order_lines_t.c.variant_id, order_lines_t.c.sku)
                .join(order_lines_t, order_lines_t.c.id == return_lines_t.c.order_line_id)
                .where(return_lines_t.c.return_id == return_pk)
            )
        ).all()
    }
    for i, ln in enumerate(lines):
        if ln.return_line_pk not in rows:
            errs.add(Code.NOT_FOUND, "not a line of this return", "lines", str(i), "return_line_id")
    errs.raise_if_any()
    return ret, order, rows


async def _count(conn: AsyncConnection, ln: ReceiveLineInput, row: Any, i: int) -> None:
    if ln.quantity > row.quantity:  # refused before any arithmetic could overflow
        raise fail(
            OrderCode.RECEIVE_EXCEEDS_RETURNED,
            f"{row.sku}: the line returns {row.quantity} unit(s)",
            "lines",
            str(i),
            "quantity",
        )
    column = return_lines_t.c[_COLUMN[ln.disposition]]
    received = (
        return_lines_t.c.quantity_restocked
        + return_lines_t.c.quantity_quarantined
        + return_lines_t.c.quantity_disposed
    )
    res = await conn.execute(
        update(return_lines_t)
        .where(return_lines_t.c.id == row.id, received + ln.quantity <= return_lines_t.c.quantity)
        .values({column: column + ln.quantity})
    )
    if res.rowcount != 1:
        left = row.quantity - (
            row.quantity_restocked + row.quantity_quarantined + row.quantity_disposed
        )
        raise fail(
            OrderCode.RECEIVE_EXCEEDS_RETURNED,
            f"{row.sku}: {max(left, 0)} unit(s) left to receive on this line",
            "lines",
            str(i),
            "quantity",
        )


async def _move_stock(
    conn: AsyncConnection,
    outbox: Outbox,
    row: Any,
    location_pk: int,
    ln: ReceiveLineInput,
    ref: str,
) -> None:
    variant_pk = int(row.variant_id)
    await check_exists(conn, variant_pk, location_pk)
    # The serial goes back on hand with the unit (a disposed one stays sold: it's gone).
    serials = (
        [row.serial_number] if row.serial_number and ln.disposition != Disposition.DISPOSE else []
    )
    await return_units(
        conn,
        outbox,
        variant_pk,
        location_pk,
        ln.quantity,
        restock=ln.disposition != Disposition.QUARANTINE,
        serials=serials,
        reference=ref,
    )
    if ln.disposition == Disposition.DISPOSE:
        ch = Change(
            variant_pk,
            location_pk,
            "return_disposed",
            {"on_hand": -ln.quantity},
            reference=ref,
            field="quantity",
        )
        await apply_change(conn, ch, outbox)


async def _status(conn: AsyncConnection, return_pk: int) -> ReturnStatus:
    rows = (
        await conn.execute(select(return_lines_t).where(return_lines_t.c.return_id == return_pk))
    ).all()
    done = all(
        r.quantity_restocked + r.quantity_quarantined + r.quantity_disposed >= r.quantity
        for r in rows
    )
    return ReturnStatus.RECEIVED if done else ReturnStatus.PARTIALLY_RECEIVED
