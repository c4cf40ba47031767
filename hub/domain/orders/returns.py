"""Returns anywhere: opened by staff at any location (``open_return``) or requested by
the customer by mail (``request``, approved or declined by staff), each line checked
against the order it was bought on.

A line may be returned when it is a line of this order, its units were fulfilled and
not already returned, the channel's return window (``channels.return_window_days``,
counted from the line's last fulfillment, or from the order's date when none is
recorded) is still open, and, for a serial-numbered variant, the serial is one the
fulfilments of THIS order line took out (``fulfillment_lines.serial_numbers``; a line
fulfilled before serials were recorded there: one this hub sold) and still SOLD (not
already back in stock). The units are counted on ``order_lines.quantity_returned`` by one
conditional UPDATE per line (``quantity_returned + q <= quantity_fulfilled``), so two
concurrent returns can never together exceed what was fulfilled; a declined request
gives them back. Every operation runs on the caller's transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import ids
from hub.db.tables import (
    channels_t,
    fulfillment_lines_t,
    fulfillments_t,
    locations_t,
    order_lines_t,
    orders_t,
    return_lines_t,
    returns_t,
    serials_t,
    variants_t,
)
from hub.domain.errors import Code, Errors, fail
from hub.domain.inventory.lots import serial_tracked
from hub.domain.orders.fraud import Flag, record_flags, volume_flags
from hub.domain.orders.records import OrderCode
from hub.domain.orders.return_records import Resolution, ReturnReason
from hub.domain.orders.state import FulfillmentStatus, ReturnStatus, fulfillment_status
from hub.domain.orders.timeline import record_event
from hub.events.outbox import Outbox
from hub.settings import Settings

MAX_NOTE = 2000
MAX_LINES = 250


def now() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(slots=True)
class ReturnLineInput:
    order_line_pk: int
    quantity: int
    reason: ReturnReason
    note: str | None = None
    serial_number: str | None = None


@dataclass(slots=True)
class ExchangeLineInput:
    variant_pk: int
    quantity: int


@dataclass(slots=True)
class NewReturn:
    order_pk: int
    lines: list[ReturnLineInput]
    resolution: Resolution
    location_pk: int | None = None
    exchange_lines: list[ExchangeLineInput] = field(default_factory=list)
    note: str | None = None
    actor: str = "system"
    customer_request: bool = False


def check_input(new: NewReturn) -> None:
    """What needs no database: quantities, lengths, exchange lines."""
    errs = Errors()
    if not new.lines:
        errs.add(Code.BLANK, "give at least one line to return", "lines")
    if len(new.lines) > MAX_LINES:
        errs.add(Code.LIMIT_EXCEEDED, f"at most {MAX_LINES} lines", "lines")
    for i, ln in enumerate(new.lines):
        if ln.quantity <= 0:
            errs.add(Code.INVALID, "quantity must be at least 1", "lines", str(i), "quantity")
        if ln.note is not None and len(ln.note) > MAX_NOTE:
            errs.add(Code.TOO_LONG, f"at most {MAX_NOTE} characters", "lines", str(i), "note")
        sn = ln.serial_number
        if sn is not None and not (0 < len(sn.strip()) <= 128):
            errs.add(
                Code.INVALID, "a serial is 1 to 128 characters", "lines", str(i), "serial_number"
            )
        if sn is not None and ln.quantity != 1:
            errs.add(
                Code.INVALID, "a line with a serial returns one unit", "lines", str(i), "quantity"
            )
    if new.note is not None and len(new.note) > MAX_NOTE:
        errs.add(Code.TOO_LONG, f"at most {MAX_NOTE} characters", "note")
    if new.resolution == Resolution.EXCHANGE and not new.exchange_lines:
        errs.add(
            OrderCode.EXCHANGE_LINES_REQUIRED,
            "an exchange needs the replacement lines",
            "exchange_lines",
        )
    if new.resolution != Resolution.EXCHANGE and new.exchange_lines:
        errs.add(Code.INVALID, "exchange lines go with resolution EXCHANGE", "exchange_lines")
    for i, ex in enumerate(new.exchange_lines):
        if not 0 < ex.quantity <= 1000:
            errs.add(Code.INVALID, "quantity is 1 to 1000", "exchange_lines", str(i), "quantity")
    errs.raise_if_any()


def unit_value(line: Any, taxes_included: bool) -> tuple[int, int]:
    """What a line's units were paid (after discounts, with their tax): (total, per
    quantity) so ``q`` units are worth ``total * q // quantity``."""
    total = line.total + (0 if taxes_included else line.tax)
    return total, line.quantity


def value_of(line: Any, taxes_included: bool, q: int) -> int:
    total, per = unit_value(line, taxes_included)
    return total * q // per


async def _order(conn: AsyncConnection, order_pk: int) -> Any:
    row = (
        await conn.execute(
            select(orders_t, channels_t.c.return_window_days)
            .join(channels_t, channels_t.c.id == orders_t.c.channel_id)
            .where(orders_t.c.id == order_pk)
        )
    ).first()
    if row is None:
        raise fail(Code.NOT_FOUND, "no order with that id", "order_id")
    return row


async def _fulfilled_at(conn: AsyncConnection, line_pks: Sequence[int]) -> dict[int, datetime]:
    """When each order line's units last left (its latest fulfillment)."""
    rows = (
        await conn.execute(
            select(fulfillment_lines_t.c.order_line_id, func.max(fulfillments_t.c.created_at))
            .join(fulfillments_t, fulfillments_t.c.id == fulfillment_lines_t.c.fulfillment_id)
            .where(
                fulfillment_lines_t.c.order_line_id.in_(list(line_pks)),
                fulfillments_t.c.status == "SUCCESS",
            )
            .group_by(fulfillment_lines_t.c.order_line_id)
        )
    ).all()
    return {r[0]: aware(r[1]) for r in rows if r[1] is not None}


async def _order_serials(conn: AsyncConnection, line_pks: Sequence[int]) -> dict[int, set[str]]:
    """The serial numbers the fulfilments of these order lines took out (order line pk
    -> serials); a line fulfilled without recording serials is absent."""
    rows = await conn.execute(
        select(fulfillment_lines_t.c.order_line_id, fulfillment_lines_t.c.serial_numbers)
        .join(fulfillments_t, fulfillments_t.c.id == fulfillment_lines_t.c.fulfillment_id)
        .where(
            fulfillment_lines_t.c.order_line_id.in_(list(line_pks)),
            fulfillments_t.c.status == "SUCCESS",
        )
    )
    out: dict[int, set[str]] = {}
    for r in rows:
        if r.serial_numbers:
            out.setdefault(r.order_line_id, set()).update(r.serial_numbers)
    return out


async def _check_serial(
    conn: AsyncConnection, errs: Errors, variant_pk: int, sn: str, *path: str
) -> None:
    row = (
        await conn.execute(
            select(serials_t.c.status).where(
                serials_t.c.variant_id == variant_pk, serials_t.c.serial_number == sn
            )
        )
    ).first()
    if row is None or row.status != "SOLD":
        errs.add(
            OrderCode.SERIAL_MISMATCH,
            f"serial {sn} is not one sold of this item",
            *path,
        )


async def validate_lines(
    conn: AsyncConnection, order: Any, lines: Sequence[ReturnLineInput], at: datetime
) -> dict[int, Any]:
    """Every line's problems at once; the order lines by pk when there are none."""
    pks = sorted({ln.order_line_pk for ln in lines})
    rows = {
        r.id: r
        for r in (
            await conn.execute(select(order_lines_t).where(order_lines_t.c.id.in_(pks)))
        ).all()
    }
    fulfilled = await _fulfilled_at(conn, pks)
    serialized = await serial_tracked(
        conn, [r.variant_id for r in rows.values() if r.variant_id is not None]
    )
    sold_here = await _order_serials(conn, pks)
    window = timedelta(days=int(order.return_window_days))
    asked: dict[int, int] = defaultdict(int)
    seen_serials: set[tuple[int, str]] = set()
    errs = Errors()
    for i, ln in enumerate(lines):
        path = ("lines", str(i))
        row = rows.get(ln.order_line_pk)
        if row is None or row.order_id != order.id:
            errs.add(OrderCode.NOT_RETURNABLE, "not a line of this order", *path, "order_line_id")
            continue
        asked[row.id] += ln.quantity
        left = row.quantity_fulfilled - row.quantity_returned
        if asked[row.id] > left:
            errs.add(
                OrderCode.RETURN_QUANTITY_EXCEEDED,
                f"{row.sku}: {max(left, 0)} fulfilled unit(s) left to return",
                *path,
                "quantity",
            )
        since = fulfilled.get(row.id, aware(order.created_at))
        if at > since + window:
            errs.add(
                OrderCode.RETURN_WINDOW_CLOSED,
                f"{row.sku}: the {window.days}-day return window closed "
                f"on {(since + window).date().isoformat()}",
                *path,
                "order_line_id",
            )
        if row.variant_id in serialized:
            sn = (ln.serial_number or "").strip()
            if not sn:
                errs.add(
                    OrderCode.SERIAL_REQUIRED,
                    f"{row.sku} is serial-numbered: give the unit's serial",
                    *path,
                    "serial_number",
                )
            elif (row.variant_id, sn) in seen_serials:
                errs.add(
                    OrderCode.SERIAL_MISMATCH, f"serial {sn} given twice", *path, "serial_number"
                )
            elif row.id in sold_here and sn not in sold_here[row.id]:
                errs.add(
                    OrderCode.SERIAL_MISMATCH,
                    f"serial {sn} was not sold on this order",
                    *path,
                    "serial_number",
                )
            else:
                # Sold on this order (or fulfilled before serials were recorded on
                # fulfilments: sold at all) and not back in stock already.
                seen_serials.add((row.variant_id, sn))
                await _check_serial(conn, errs, row.variant_id, sn, *path, "serial_number")
    errs.raise_if_any()
    return rows


async def check_location(conn: AsyncConnection, location_pk: int | None, *path: str) -> None:
    if location_pk is None:
        return
    got = (
        await conn.execute(select(locations_t.c.id).where(locations_t.c.id == location_pk))
    ).first()
    if got is None:
        raise fail(Code.NOT_FOUND, "no location with that id", *path)


async def _check_exchange_variants(conn: AsyncConnection, new: NewReturn) -> None:
    if not new.exchange_lines:
        return
    pks = [ex.variant_pk for ex in new.exchange_lines]
    found = {
        r[0]
        for r in (await conn.execute(select(variants_t.c.id).where(variants_t.c.id.in_(pks)))).all()
    }
    errs = Errors()
    for i, ex in enumerate(new.exchange_lines):
        if ex.variant_pk not in found:
            errs.add(
                Code.NOT_FOUND, "no variant with that id", "exchange_lines", str(i), "variant_id"
            )
    errs.raise_if_any()


async def take_units(conn: AsyncConnection, lines: Sequence[ReturnLineInput]) -> None:
    """Count the units as returned: one conditional UPDATE per order line, so two
    returns racing for the same units can never both take them."""
    per: dict[int, int] = defaultdict(int)
    for ln in lines:
        per[ln.order_line_pk] += ln.quantity
    for i, (pk, q) in enumerate(sorted(per.items())):
        res = await conn.execute(
            update(order_lines_t)
            .where(
                order_lines_t.c.id == pk,
                order_lines_t.c.quantity_returned + q <= order_lines_t.c.quantity_fulfilled,
            )
            .values(quantity_returned=order_lines_t.c.quantity_returned + q)
        )
        if res.rowcount != 1:
            raise fail(
                OrderCode.RETURN_QUANTITY_EXCEEDED,
                "those units were returned meanwhile",
                "lines",
                str(i),
                "quantity",
            )


async def give_back_units(conn: AsyncConnection, return_pk: int) -> None:
    """A declined or cancelled return's units may be returned again."""
    rows = (
        await conn.execute(
            select(return_lines_t.c.order_line_id, return_lines_t.c.quantity).where(
                return_lines_t.c.return_id == return_pk
            )
        )
    ).all()
    for r in rows:
        await conn.execute(
            update(order_lines_t)
            .where(order_lines_t.c.id == r.order_line_id)
            .values(quantity_returned=order_lines_t.c.quantity_returned - r.quantity)
        )


async def refresh_fulfillment_status(conn: AsyncConnection, order_pk: int) -> FulfillmentStatus:
    """The order's fulfillment status from its lines' counts."""
    row = (
        await conn.execute(
            select(
                func.coalesce(func.sum(order_lines_t.c.quantity), 0),
                func.coalesce(func.sum(order_lines_t.c.quantity_cancelled), 0),
                func.coalesce(func.sum(order_lines_t.c.quantity_fulfilled), 0),
                func.coalesce(func.sum(order_lines_t.c.quantity_returned), 0),
            ).where(order_lines_t.c.order_id == order_pk)
        )
    ).one()
    status = fulfillment_status(
        ordered=int(row[0]), cancelled=int(row[1]), fulfilled=int(row[2]), returned=int(row[3])
    )
    await conn.execute(
        update(orders_t)
        .where(orders_t.c.id == order_pk)
        .values(fulfillment_status=status.value, updated_at=now())
    )
    return status


async def open_return(
    conn: AsyncConnection, outbox: Outbox, new: NewReturn, settings: Settings
) -> int:
    """Open a return (staff: OPEN at ``location_pk``; a customer's request: REQUESTED),
    count its units as returned and raise its fraud flags. The return's id."""
    check_input(new)
    order = await _order(conn, new.order_pk)
    if order.status == "CANCELLED":
        raise fail(OrderCode.NOT_RETURNABLE, "the order was cancelled", "order_id")
    await check_location(conn, new.location_pk, "location_id")
    await _check_exchange_variants(conn, new)
    at = now()
    rows = await validate_lines(conn, order, new.lines, at)
    await take_units(conn, new.lines)
    amount = sum(
        value_of(rows[ln.order_line_pk], order.taxes_included, ln.quantity) for ln in new.lines
    )
    status = ReturnStatus.REQUESTED if new.customer_request else ReturnStatus.OPEN
    pk = (
        await conn.execute(
            insert(returns_t)
            .values(
                order_id=order.id,
                customer_id=order.customer_id,
                status=status.value,
                source="CUSTOMER" if new.customer_request else "STAFF",
                location_id=new.location_pk,
                resolution=new.resolution.value,
                exchange_lines=[
                    {"variantId": ex.variant_pk, "quantity": ex.quantity}
                    for ex in new.exchange_lines
                ]
                or None,
                amount=amount,
                flags=[],
                note=new.note,
                actor=new.actor,
                created_at=at,
                updated_at=at,
            )
            .returning(returns_t.c.id)
        )
    ).scalar_one()
    await conn.execute(
        insert(return_lines_t),
        [
            {
                "return_id": pk,
                "order_line_id": ln.order_line_pk,
                "quantity": ln.quantity,
                "reason": ln.reason.value,
                "reason_note": ln.note,
                "serial_number": (ln.serial_number or "").strip() or None,
                "quantity_restocked": 0,
                "quantity_quarantined": 0,
                "quantity_disposed": 0,
            }
            for ln in new.lines
        ],
    )
    await refresh_fulfillment_status(conn, order.id)
    kind = "return.requested" if new.customer_request else "return.created"
    await record_event(
        conn,
        order.id,
        kind,
        actor=new.actor,
        message=f"{sum(ln.quantity for ln in new.lines)} unit(s) to return",
        data={"returnId": ids.encode("Return", pk), "amount": amount},
        outbox=outbox,
    )
    flags = await volume_flags(conn, order, pk, settings, at)
    flags += await serial_flags(conn, pk, new.lines, rows)
    if new.location_pk is not None:
        flags += location_flags(order, new.location_pk, amount, settings)
    await record_flags(conn, outbox, order.id, pk, flags, actor=new.actor)
    return int(pk)


async def serial_flags(
    conn: AsyncConnection, return_pk: int, lines: Sequence[ReturnLineInput], rows: dict[int, Any]
) -> list[Flag]:
    """A serial that came back on an earlier return already."""
    flags: list[Flag] = []
    for ln in lines:
        sn = (ln.serial_number or "").strip()
        if not sn:
            continue
        variant_pk = rows[ln.order_line_pk].variant_id
        earlier = (
            await conn.execute(
                select(return_lines_t.c.return_id)
                .join(order_lines_t, order_lines_t.c.id == return_lines_t.c.order_line_id)
                .where(
                    return_lines_t.c.serial_number == sn,
                    order_lines_t.c.variant_id == variant_pk,
                    return_lines_t.c.return_id != return_pk,
                )
                .limit(1)
            )
        ).first()
        if earlier is not None:
            flags.append(
                Flag(
                    "SERIAL_RETURNED_BEFORE",
                    f"serial {sn} was returned before",
                    {"serial": sn, "earlierReturnId": ids.encode("Return", earlier[0])},
                )
            )
    return flags


def location_flags(order: Any, location_pk: int, amount: int, settings: Settings) -> list[Flag]:
    """Received away from where it was bought (a web order was bought nowhere), for
    at least the threshold amount."""
    if order.location_id == location_pk or amount < settings.return_fraud_location_amount:
        return []
    return [
        Flag(
            "LOCATION_MISMATCH",
            "returned away from where it was bought, for a high amount",
            {
                "locationId": ids.encode("Location", location_pk),
                "purchaseLocationId": (
                    ids.encode("Location", order.location_id) if order.location_id else None
                ),
                "amount": amount,
            },
        )
    ]


async def decide_request(
    conn: AsyncConnection,
    outbox: Outbox,
    return_pk: int,
    *,
    approve: bool,
    location_pk: int | None,
    actor: str,
) -> int:
    """Staff approve (REQUESTED -> OPEN) or decline (-> DECLINED, the units free to
    return again) a customer's request. The order's id."""
    await check_location(conn, location_pk, "location_id")
    status = ReturnStatus.OPEN if approve else ReturnStatus.DECLINED
    values: dict[str, Any] = {"status": status.value, "updated_at": now()}
    if location_pk is not None:
        values["location_id"] = location_pk
    row = (
        await conn.execute(
            update(returns_t)
            .where(returns_t.c.id == return_pk, returns_t.c.status == ReturnStatus.REQUESTED.value)
            .values(**values)
            .returning(returns_t.c.order_id)
        )
    ).first()
    if row is None:
        exists = (
            await conn.execute(select(returns_t.c.status).where(returns_t.c.id == return_pk))
        ).first()
        if exists is None:
            raise fail(Code.NOT_FOUND, "no return with that id", "return_id")
        raise fail(
            OrderCode.RETURN_NOT_PENDING,
            f"the return is {exists.status}, not REQUESTED",
            "return_id",
        )
    order_pk = int(row.order_id)
    if not approve:
        await give_back_units(conn, return_pk)
        await refresh_fulfillment_status(conn, order_pk)
    await record_event(
        conn,
        order_pk,
        "return.approved" if approve else "return.declined",
        actor=actor,
        data={"returnId": ids.encode("Return", return_pk)},
        outbox=outbox,
    )
    return order_pk
