"""Fulfilments: units leaving a location, in part or in full, as a shipment (with its
carrier and tracking) or a pickup handed over at a store (BOPIS).

In one transaction (the caller's): the fulfilment and its lines are written, each
fulfillment order line and order line moves its running count with ONE conditional
UPDATE (a concurrent fulfilment can't count a unit twice), the stock leaves through
the ledger (``inventory.leave(in_store=False)``: committed -> shipped, reason
``fulfilled``), the fulfillment order becomes IN_PROGRESS or FULFILLED, the order's
fulfillment status is derived again, and ``fulfillment.created`` goes on the timeline
and in the outbox. Any refusal writes nothing (the transaction rolls back).

A store fulfils a SHIPPING fulfillment order exactly as a warehouse does
(ship-from-store): nothing here depends on the location's kind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import ids
from hub.db.tables import (
    fo_lines_t,
    fulfillment_lines_t,
    fulfillment_orders_t,
    fulfillments_t,
    order_lines_t,
)
from hub.domain.errors import Code, Errors, fail
from hub.domain.inventory.lots import serial_tracked, serials_on_hand
from hub.domain.inventory.operations import leave
from hub.domain.orders import fulfillment as fos
from hub.domain.orders.records import OrderCode
from hub.domain.orders.state import FulfillmentOrderStatus as S
from hub.domain.orders.timeline import record_event
from hub.events.outbox import Outbox


@dataclass(slots=True)
class Tracking:
    carrier: str | None = None
    number: str | None = None
    url: str | None = None


_TRACKING_LIMITS = {"carrier": 64, "number": 128, "url": 1024}


def clean_tracking(t: Tracking | None) -> Tracking:
    """Tracking fields trimmed and bounded; a URL must be http(s)."""
    if t is None:
        return Tracking()
    errs = Errors()
    out = Tracking()
    for name, limit in _TRACKING_LIMITS.items():
        v = getattr(t, name)
        v = v.strip() or None if isinstance(v, str) else None
        if v is not None and (len(v) > limit or any(ord(c) < 32 for c in v)):
            errs.add(
                Code.INVALID, f"{name} is at most {limit} characters, on one line", "tracking", name
            )
        setattr(out, name, v)
    if out.url is not None and not out.url.lower().startswith(("http://", "https://")):
        errs.add(Code.INVALID, "url must start with http:// or https://", "tracking", "url")
    errs.raise_if_any()
    return out


async def _fo_lines(conn: AsyncConnection, fo_pk: int) -> list[Any]:
    q = (
        select(fo_lines_t)
        .where(fo_lines_t.c.fulfillment_order_id == fo_pk)
        .order_by(fo_lines_t.c.id)
        .with_for_update()
    )
    return list((await conn.execute(q)).all())


def _wanted(
    fo_lines: Sequence[Any], lines: Sequence[tuple[int, int]] | None
) -> list[tuple[Any, int]]:
    """(fulfillment order line, quantity) to fulfil: ``lines`` checked against what
    remains (every remaining unit when ``lines`` is None)."""
    by_pk = {ln.id: ln for ln in fo_lines}
    left = {ln.id: ln.quantity - ln.quantity_fulfilled - ln.quantity_cancelled for ln in fo_lines}
    if lines is None:
        return [(by_pk[pk], q) for pk, q in left.items() if q > 0]
    errs = Errors()
    asked: dict[int, int] = {}
    for i, (pk, qty) in enumerate(lines):
        path = ("lines", str(i))
        if pk not in by_pk:
            errs.add(
                Code.NOT_FOUND,
                "no such line on this fulfillment order",
                *path,
                "fulfillment_order_line_id",
            )
        elif qty <= 0:
            errs.add(Code.INVALID, "quantity must be at least 1", *path, "quantity")
        else:
            asked[pk] = asked.get(pk, 0) + qty
            if asked[pk] > left[pk]:
                errs.add(
                    OrderCode.QUANTITY_EXCEEDS_REMAINING,
                    f"only {left[pk]} of this line remain to fulfil, {asked[pk]} asked",
                    *path,
                    "quantity",
                )
    if not lines:
        errs.add(Code.BLANK, "name at least one line", "lines")
    errs.raise_if_any()
    return [(by_pk[pk], q) for pk, q in asked.items()]


async def fulfil(
    conn: AsyncConnection,
    outbox: Outbox,
    fo_pk: int,
    lines: Sequence[tuple[int, int]] | None,
    tracking: Tracking | None,
    *,
    actor: str,
    pickup: bool = False,
    serials: Mapping[int, Sequence[str]] | None = None,
    serials_field: str = "lines",
) -> tuple[int, int]:
    """Units of fulfillment order ``fo_pk`` leave its location: (the fulfilment's pk,
    its order's pk). ``serials`` (fulfillment order line pk -> serial numbers) names
    the units of a serial-tracked variant that leave: exactly one on-hand serial per
    unit (see :func:`check_serials`); they are sold and recorded on the line."""
    track = clean_tracking(tracking)
    fo = await fos.load(conn, fo_pk)
    action = "hand it over" if pickup else "fulfil it"
    if fo.status in (S.FULFILLED.value,):
        raise fos.illegal(fo, action, OrderCode.ALREADY_FULFILLED)
    if pickup:
        if fo.delivery_kind != "PICKUP":
            raise fail(OrderCode.DELIVERY_KIND_MISMATCH, "not a pickup: create a fulfillment", "id")
        if fo.status in (S.OPEN.value, S.IN_PROGRESS.value, S.ON_HOLD.value):
            raise fos.illegal(fo, action, OrderCode.NOT_READY_FOR_PICKUP)
        if fo.status != S.READY_FOR_PICKUP.value:
            raise fos.illegal(fo, action)
    else:
        if fo.delivery_kind != "SHIPPING":
            raise fail(
                OrderCode.DELIVERY_KIND_MISMATCH,
                "a pickup is handed over with fulfillmentOrderPickedUp",
                "fulfillment_order_id",
            )
        if fo.status not in (S.OPEN.value, S.IN_PROGRESS.value):
            raise fos.illegal(fo, action)
    wanted = _wanted(await _fo_lines(conn, fo_pk), lines)
    if not wanted:
        raise fos.illegal(fo, action, OrderCode.ALREADY_FULFILLED)
    taken = await check_serials(conn, fo.location_id, wanted, serials or {}, serials_field)
    at = fos.now()
    f_pk = (
        await conn.execute(
            insert(fulfillments_t)
            .values(
                order_id=fo.order_id,
                fulfillment_order_id=fo.id,
                location_id=fo.location_id,
                kind="PICKUP" if pickup else "SHIPMENT",
                status="SUCCESS",
                carrier=track.carrier,
                tracking_number=track.number,
                tracking_url=track.url,
                created_at=at,
                updated_at=at,
            )
            .returning(fulfillments_t.c.id)
        )
    ).scalar_one()
    await conn.execute(
        insert(fulfillment_lines_t),
        [
            {
                "fulfillment_id": f_pk,
                "fulfillment_order_line_id": ln.id,
                "order_line_id": ln.order_line_id,
                "quantity": q,
                "serial_numbers": taken.get(ln.id),
            }
            for ln, q in wanted
        ],
    )
    ref = f"fulfillment:{ids.encode('Fulfillment', f_pk)}"
    for ln, q in wanted:
        await _count(conn, ln, q)
        if ln.variant_id is not None:
            await leave(
                conn,
                outbox,
                ln.variant_id,
                fo.location_id,
                q,
                in_store=False,
                reference=ref,
                serials=taken.get(ln.id, ()),
            )
    remaining = sum(
        r.quantity - r.quantity_fulfilled - r.quantity_cancelled
        for r in await _fo_lines(conn, fo_pk)
    )
    to = S.FULFILLED.value if remaining == 0 else S.IN_PROGRESS.value
    await fos.move(conn, fo, to, action, accepted_at=fo.accepted_at or at)
    status = await fos.refresh_fulfillment_status(conn, fo.order_id)
    units = [
        {"orderLineId": ids.encode("OrderLineItem", ln.order_line_id), "quantity": q}
        for ln, q in wanted
    ]
    data = fos.payload(
        fo,
        fulfillmentId=ids.encode("Fulfillment", f_pk),
        kind="PICKUP" if pickup else "SHIPMENT",
        lines=units,
        tracking={"carrier": track.carrier, "number": track.number, "url": track.url},
        fulfillmentStatus=status,
    )
    await record_event(
        conn,
        fo.order_id,
        "fulfillment.created",
        actor=actor,
        message=f"{sum(q for _, q in wanted)} unit(s) from {fo.location_name}",
        data=data,
        outbox=outbox,
    )
    if pickup:
        await record_event(
            conn,
            fo.order_id,
            "fulfillment_order.picked_up",
            actor=actor,
            message=f"picked up at {fo.location_name}",
            data=fos.payload(fo, fulfillmentId=ids.encode("Fulfillment", f_pk)),
            outbox=outbox,
        )
    return int(f_pk), int(fo.order_id)


async def check_serials(
    conn: AsyncConnection,
    location_pk: int,
    wanted: Sequence[tuple[Any, int]],
    serials: Mapping[int, Sequence[str]],
    field: str,
) -> dict[int, list[str]]:
    """The serial numbers each line takes (fulfillment order line pk -> serials),
    checked: a serial-tracked variant needs exactly one distinct serial per unit, each
    ON_HAND at the location (SERIAL_REQUIRED, SERIAL_NOT_IN_STOCK); any other line
    takes none (INVALID). Every problem at once; nothing is written."""
    by_pk = {ln.id: (ln, q) for ln, q in wanted}
    errs = Errors()
    index = {pk: i for i, pk in enumerate(serials)}
    for pk in serials:
        if pk not in by_pk:
            errs.add(
                Code.NOT_FOUND,
                "serials for a line this fulfilment doesn't take",
                field,
                str(index[pk]),
                "serial_numbers",
            )
    variants = [ln.variant_id for ln, _ in wanted if ln.variant_id is not None]
    tracked = await serial_tracked(conn, variants)
    taken: dict[int, list[str]] = {}
    for i, (ln, q) in enumerate(wanted):
        pk = ln.id
        path = (field, str(index.get(pk, i)), "serial_numbers")
        given = [sn.strip() for sn in serials.get(pk, ())]
        if ln.variant_id not in tracked:
            if given:
                errs.add(Code.INVALID, "this item is not serial-numbered", *path)
            continue
        if len(given) != q or len(set(given)) != len(given) or any(not sn for sn in given):
            errs.add(
                OrderCode.SERIAL_REQUIRED,
                f"the item is serial-numbered: give {q} distinct serial number(s), one per unit",
                *path,
            )
            continue
        here = await serials_on_hand(conn, ln.variant_id, location_pk, given)
        missing = [sn for sn in given if sn not in here]
        if missing:
            errs.add(
                OrderCode.SERIAL_NOT_IN_STOCK,
                f"not in stock at this location: {', '.join(missing[:10])}",
                *path,
            )
            continue
        taken[pk] = given
    errs.raise_if_any()
    return taken


async def _count(conn: AsyncConnection, ln: Any, q: int) -> None:
    """Move the fulfilled counts of the fulfillment order line and the order line, each
    with one conditional UPDATE."""
    done = await conn.execute(
        update(fo_lines_t)
        .where(
            fo_lines_t.c.id == ln.id,
            fo_lines_t.c.quantity_fulfilled + fo_lines_t.c.quantity_cancelled + q
            <= fo_lines_t.c.quantity,
        )
        .values(quantity_fulfilled=fo_lines_t.c.quantity_fulfilled + q)
    )
    moved = await conn.execute(
        update(order_lines_t)
        .where(
            order_lines_t.c.id == ln.order_line_id,
            order_lines_t.c.quantity_fulfilled + order_lines_t.c.quantity_cancelled + q
            <= order_lines_t.c.quantity,
        )
        .values(quantity_fulfilled=order_lines_t.c.quantity_fulfilled + q)
    )
    if done.rowcount != 1 or moved.rowcount != 1:
        raise fail(
            OrderCode.QUANTITY_EXCEEDS_REMAINING, "the line was fulfilled meanwhile", "lines"
        )


async def update_tracking(
    conn: AsyncConnection, outbox: Outbox, fulfillment_pk: int, tracking: Tracking, actor: str
) -> int:
    """Change a shipment's carrier, number or URL (the fields given); its order's pk."""
    track = clean_tracking(tracking)
    row = (
        await conn.execute(
            select(fulfillments_t).where(fulfillments_t.c.id == fulfillment_pk).with_for_update()
        )
    ).first()
    if row is None:
        raise fail(Code.NOT_FOUND, "no fulfillment with that id", "fulfillment_id")
    if row.kind != "SHIPMENT" or row.status != "SUCCESS":
        raise fail(
            OrderCode.ILLEGAL_TRANSITION,
            "only a shipment that went out has tracking",
            "fulfillment_id",
        )
    values = {
        k: v
        for k, v in (
            ("carrier", track.carrier),
            ("tracking_number", track.number),
            ("tracking_url", track.url),
        )
        if v is not None
    }
    if not values:
        raise fail(Code.BLANK, "give a carrier, number or url", "tracking")
    await conn.execute(
        update(fulfillments_t)
        .where(fulfillments_t.c.id == fulfillment_pk)
        .values(**values, updated_at=fos.now())
    )
    await record_event(
        conn,
        row.order_id,
        "fulfillment.tracking_updated",
        actor=actor,
        message=" ".join(str(v) for v in values.values()),
        data={
            "fulfillmentId": ids.encode("Fulfillment", fulfillment_pk),
            "carrier": values.get("carrier", row.carrier),
            "number": values.get("tracking_number", row.tracking_number),
            "url": values.get("tracking_url", row.tracking_url),
        },
        outbox=outbox,
    )
    return int(row.order_id)


async def handed_over_at_sale(
    conn: AsyncConnection, outbox: Outbox, order_pk: int, *, actor: str
) -> None:
    """Every open fulfillment order of ``order_pk`` was handed over when it was sold (a
    till's sale): a PICKUP fulfilment of what remains, the order FULFILLED. No stock
    moves here: the seller took the units out already (hub.domain.pos)."""
    fo_pks = (
        await conn.execute(
            select(fulfillment_orders_t.c.id)
            .where(fulfillment_orders_t.c.order_id == order_pk)
            .order_by(fulfillment_orders_t.c.id)
        )
    ).scalars()
    for fo_pk in list(fo_pks):
        fo = await fos.load(conn, fo_pk)
        wanted = _wanted(await _fo_lines(conn, fo_pk), None)
        if not wanted or fo.status == S.FULFILLED.value:
            continue
        at = fos.now()
        f_pk = (
            await conn.execute(
                insert(fulfillments_t)
                .values(
                    order_id=order_pk, fulfillment_order_id=fo.id, location_id=fo.location_id,
                    kind="PICKUP", status="SUCCESS", created_at=at, updated_at=at,
                )
                .returning(fulfillments_t.c.id)
            )
        ).scalar_one()  # fmt: skip
        await conn.execute(
            insert(fulfillment_lines_t),
            [
                {"fulfillment_id": f_pk, "fulfillment_order_line_id": ln.id,
                 "order_line_id": ln.order_line_id, "quantity": q}
                for ln, q in wanted
            ],
        )  # fmt: skip
        for ln, q in wanted:
            await _count(conn, ln, q)
        await fos.move(conn, fo, S.FULFILLED.value, "hand it over", accepted_at=at)
        await record_event(
            conn, order_pk, "fulfillment.created", actor=actor,
            message=f"handed over at the sale in {fo.location_name}",
            data=fos.payload(fo, fulfillmentId=ids.encode("Fulfillment", f_pk), kind="PICKUP"),
            outbox=outbox,
        )  # fmt: skip
    await fos.refresh_fulfillment_status(conn, order_pk)
