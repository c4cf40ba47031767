"""Substitutions: staff propose a substitute variant for units of a fulfillment order
line they cannot pick; the customer approves or declines.

- **approved**: those units of the line become the substitute (the line's variant is
  changed in place when all its open units are substituted; otherwise the line is split
  and a new line holds the substitute), and the commitment moves with them at the same
  location through the ledger: ``substitution_released`` gives back the original's,
  ``substitution_committed`` takes the substitute's (refused, and nothing written,
  when it is no longer available there). The price difference, per unit the
  substitute's channel price less the line's unit price, is refunded (cheaper) or
  captured (dearer) by the service after the commit.
- **declined**: those units are cancelled on the fulfillment order line and the order
  line, their commitment released (``substitution_declined``), and refunded.

Every operation runs on the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import ids
from hub.db.tables import (
    fo_lines_t,
    fulfillment_orders_t,
    order_lines_t,
    orders_t,
    prices_t,
    substitutions_t,
    variants_t,
)
from hub.domain.errors import Code, DomainError, fail
from hub.domain.inventory.changes import Change, apply_change, check_exists
from hub.domain.orders.fulfillment_orders import DONE
from hub.domain.orders.records import OrderCode
from hub.domain.orders.returns import MAX_NOTE, now
from hub.domain.orders.timeline import record_event
from hub.events.outbox import Outbox

DONE_VALUES = [s.value for s in DONE]


@dataclass(slots=True)
class Decision:
    """What a decision leaves the service to do with money: ``refund`` (amount, or
    the lines) or ``capture`` (amount) of the difference, or nothing."""

    order_pk: int
    substitution_pk: int
    approved: bool
    refund_amount: int = 0
    refund_lines: list[tuple[int, int]] | None = None
    capture_amount: int = 0


async def _fo_line(conn: AsyncConnection, fo_line_pk: int, *, lock: bool = False) -> Any:
    q = (
        select(
            fo_lines_t,
            fulfillment_orders_t.c.order_id,
            fulfillment_orders_t.c.location_id,
            fulfillment_orders_t.c.status.label("fo_status"),
        )
        .join(fulfillment_orders_t, fulfillment_orders_t.c.id == fo_lines_t.c.fulfillment_order_id)
        .where(fo_lines_t.c.id == fo_line_pk)
    )
    if lock:
        q = q.with_for_update()
    return (await conn.execute(q)).first()


def _open_units(row: Any) -> int:
    return int(row.quantity - row.quantity_fulfilled - row.quantity_cancelled)


async def _check_proposal(
    conn: AsyncConnection, fo_line_pk: int, variant_pk: int, quantity: int, note: str | None
) -> tuple[Any, Any, Any]:
    """The line, its order and the substitute's channel price; every refusal."""
    if quantity <= 0:
        raise fail(Code.INVALID, "quantity must be at least 1", "quantity")
    if note is not None and len(note) > MAX_NOTE:
        raise fail(Code.TOO_LONG, f"at most {MAX_NOTE} characters", "note")
    line = await _fo_line(conn, fo_line_pk)
    if line is None:
        raise fail(
            Code.NOT_FOUND, "no fulfillment order line with that id", "fulfillment_order_line_id"
        )
    if line.fo_status in DONE_VALUES:
        raise fail(
            OrderCode.NOT_SUBSTITUTABLE,
            f"the fulfillment order is {line.fo_status}",
            "fulfillment_order_line_id",
        )
    if quantity > _open_units(line):
        raise fail(
            OrderCode.NOT_SUBSTITUTABLE,
            f"{_open_units(line)} unit(s) of this line are still to pick",
            "quantity",
        )
    if line.variant_id == variant_pk:
        raise fail(Code.INVALID, "the substitute is the same variant", "variant_id")
    pending = (
        await conn.execute(
            select(substitutions_t.c.id).where(
                substitutions_t.c.fulfillment_order_line_id == fo_line_pk,
                substitutions_t.c.status == "PROPOSED",
            )
        )
    ).first()
    if pending is not None:
        raise fail(
            OrderCode.NOT_SUBSTITUTABLE,
            "a substitution of this line awaits the customer already",
            "fulfillment_order_line_id",
        )
    order = (await conn.execute(select(orders_t).where(orders_t.c.id == line.order_id))).one()
    if (
        await conn.execute(select(variants_t.c.id).where(variants_t.c.id == variant_pk))
    ).first() is None:
        raise fail(Code.NOT_FOUND, "no variant with that id", "variant_id")
    await check_exists(conn, variant_pk, line.location_id)
    price = (
        await conn.execute(
            select(prices_t.c.amount, prices_t.c.currency).where(
                prices_t.c.variant_id == variant_pk, prices_t.c.channel_id == order.channel_id
            )
        )
    ).first()
    if price is None or price.currency != order.currency:
        raise fail(
            OrderCode.SUBSTITUTE_UNAVAILABLE,
            "the substitute has no price in the order's channel",
            "variant_id",
        )
    return line, order, price


async def propose(
    conn: AsyncConnection,
    outbox: Outbox,
    fo_line_pk: int,
    variant_pk: int,
    quantity: int,
    note: str | None,
    *,
    actor: str,
) -> int:
    """A PROPOSED substitution (the customer decides); its id."""
    line, order, price = await _check_proposal(conn, fo_line_pk, variant_pk, quantity, note)
    pk = (
        await conn.execute(
            insert(substitutions_t)
            .values(
                order_id=order.id,
                fulfillment_order_line_id=fo_line_pk,
                original_variant_id=line.variant_id,
                variant_id=variant_pk,
                quantity=quantity,
                unit_price=price.amount,
                status="PROPOSED",
                note=note,
                created_at=now(),
            )
            .returning(substitutions_t.c.id)
        )
    ).scalar_one()
    await record_event(
        conn,
        order.id,
        "substitution.proposed",
        actor=actor,
        message=note or "",
        data={
            "substitutionId": ids.encode("Substitution", pk),
            "fulfillmentOrderLineId": ids.encode("FulfillmentOrderLine", fo_line_pk),
            "variantId": ids.encode("ProductVariant", variant_pk),
            "quantity": quantity,
            "unitPrice": price.amount,
        },
        outbox=outbox,
    )
    return int(pk)


async def substitution_order(conn: AsyncConnection, substitution_pk: int) -> Any:
    """The substitution with its order's customer (for the owner check)."""
    return (
        await conn.execute(
            select(substitutions_t, orders_t.c.customer_id)
            .join(orders_t, orders_t.c.id == substitutions_t.c.order_id)
            .where(substitutions_t.c.id == substitution_pk)
        )
    ).first()


async def decide(
    conn: AsyncConnection,
    outbox: Outbox,
    substitution_pk: int,
    *,
    approve: bool,
    actor: str,
) -> Decision:
    """Approve or decline a PROPOSED substitution (one conditional UPDATE claims it)."""
    status = "APPROVED" if approve else "DECLINED"
    row = (
        await conn.execute(
            update(substitutions_t)
            .where(substitutions_t.c.id == substitution_pk, substitutions_t.c.status == "PROPOSED")
            .values(status=status, decided_at=now())
            .returning(*substitutions_t.c)
        )
    ).first()
    if row is None:
        got = await substitution_order(conn, substitution_pk)
        if got is None:
            raise fail(Code.NOT_FOUND, "no substitution with that id", "substitution_id")
        raise fail(
            OrderCode.SUBSTITUTION_NOT_PROPOSED,
            f"the substitution was {got.status.lower()} already",
            "substitution_id",
        )
    line = await _fo_line(conn, row.fulfillment_order_line_id, lock=True)
    q = int(row.quantity)
    if line is None or line.fo_status in DONE_VALUES or q > _open_units(line):
        raise fail(
            OrderCode.NOT_SUBSTITUTABLE,
            "those units were picked or cancelled meanwhile",
            "substitution_id",
        )
    order_line = (
        await conn.execute(select(order_lines_t).where(order_lines_t.c.id == line.order_line_id))
    ).one()
    ref = f"substitution:{ids.encode('Substitution', substitution_pk)}"
    if approve:
        decision = await _apply(conn, outbox, row, line, order_line, ref)
    else:
        decision = await _cancel(conn, outbox, row, line, ref)
    await record_event(
        conn,
        int(row.order_id),
        f"substitution.{status.lower()}",
        actor=actor,
        data={
            "substitutionId": ids.encode("Substitution", substitution_pk),
            "quantity": q,
            "refund": decision.refund_amount or None,
            "capture": decision.capture_amount or None,
        },
        outbox=outbox,
    )
    return decision


async def _apply(
    conn: AsyncConnection, outbox: Outbox, sub: Any, line: Any, order_line: Any, ref: str
) -> Decision:
    q = int(sub.quantity)
    loc = int(line.location_id)
    if line.variant_id is not None:
        release = Change(
            line.variant_id, loc, "substitution_released", {"committed": -q}, reference=ref
        )
        await apply_change(conn, release, outbox)
    take = Change(
        sub.variant_id,
        loc,
        "substitution_committed",
        {"committed": q},
        need_available=q,
        reference=ref,
        field="quantity",
    )
    try:
        await apply_change(conn, take, outbox)
    except DomainError:
        raise fail(
            OrderCode.SUBSTITUTE_UNAVAILABLE,
            f"{q} unit(s) of the substitute are no longer available at the location",
            "substitution_id",
        ) from None
    if q == _open_units(line) and line.quantity_fulfilled == 0 and line.quantity_cancelled == 0:
        await conn.execute(
            update(fo_lines_t).where(fo_lines_t.c.id == line.id).values(variant_id=sub.variant_id)
        )
    else:
        await conn.execute(
            update(fo_lines_t)
            .where(fo_lines_t.c.id == line.id)
            .values(quantity=fo_lines_t.c.quantity - q)
        )
        await conn.execute(
            insert(fo_lines_t).values(
                fulfillment_order_id=line.fulfillment_order_id,
                order_line_id=line.order_line_id,
                variant_id=sub.variant_id,
                quantity=q,
                quantity_fulfilled=0,
                quantity_cancelled=0,
            )
        )
    diff = (int(sub.unit_price) - int(order_line.unit_price)) * q
    return Decision(
        int(sub.order_id),
        int(sub.id),
        True,
        refund_amount=-diff if diff < 0 else 0,
        capture_amount=diff if diff > 0 else 0,
    )


async def _cancel(conn: AsyncConnection, outbox: Outbox, sub: Any, line: Any, ref: str) -> Decision:
    q = int(sub.quantity)
    await conn.execute(
        update(fo_lines_t)
        .where(fo_lines_t.c.id == line.id)
        .values(quantity_cancelled=fo_lines_t.c.quantity_cancelled + q)
    )
    res = await conn.execute(
        update(order_lines_t)
        .where(
            order_lines_t.c.id == line.order_line_id,
            order_lines_t.c.quantity_cancelled + order_lines_t.c.quantity_fulfilled + q
            <= order_lines_t.c.quantity,
        )
        .values(quantity_cancelled=order_lines_t.c.quantity_cancelled + q)
    )
    if res.rowcount != 1:
        raise fail(OrderCode.NOT_SUBSTITUTABLE, "those units are no longer due", "substitution_id")
    if line.variant_id is not None:
        ch = Change(
            line.variant_id,
            int(line.location_id),
            "substitution_declined",
            {"committed": -q},
            reference=ref,
            field="quantity",
        )
        await apply_change(conn, ch, outbox)
    return Decision(
        int(sub.order_id), int(sub.id), False, refund_lines=[(int(line.order_line_id), q)]
    )
