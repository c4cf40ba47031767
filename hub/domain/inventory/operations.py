"""The stock operations of staff, connectors and stores: adjustments, counts,
thresholds, receipts, quarantine, fulfilment, store sales and returns.

Each operation has a ``check_*`` part (pure: refuses bad input before any transaction
opens) and a body that runs on the caller's open transaction and queues its events on
the caller's outbox (the unit of work: :class:`hub.domain.inventory.Inventory` opens
and commits it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.tables import levels_t
from hub.domain.errors import Code, Errors, fail
from hub.domain.inventory.changes import (
    Change,
    apply_cas,
    apply_change,
    check_exists,
    check_reason,
    ensure_level,
    positive,
)
from hub.domain.inventory.idempotency import Done
from hub.domain.inventory.lots import add_lot, serial_arrives, serial_returned, serial_sold
from hub.domain.inventory.oversold import settle
from hub.domain.inventory.records import InventoryCode, label, refuse
from hub.events.outbox import Outbox

ADJUSTABLE = ("on_hand", "incoming")


async def _one(conn: AsyncConnection, outbox: Outbox, ch: Change) -> Done:
    """Apply one change: its level, nothing else to answer."""
    return [await apply_change(conn, ch, outbox)], {}


async def _state_of(conn: AsyncConnection, variant_pk: int, location_pk: int, state: str) -> int:
    """One state of a level, creating the (empty) level first if it has none."""
    await ensure_level(conn, variant_pk, location_pk)
    column = levels_t.c[state]
    stmt = select(column).where(
        levels_t.c.variant_id == variant_pk, levels_t.c.location_id == location_pk
    )
    value: int = (await conn.execute(stmt)).scalar_one()
    return value


# ----- adjustments and counts


def check_adjust(reason: str, state: str, delta: int) -> None:
    check_reason(reason)
    if state not in ADJUSTABLE:
        raise fail(Code.INVALID, "only onHand and incoming can be adjusted", "state")
    if delta == 0:
        raise fail(Code.INVALID, "delta can't be zero", "delta")


async def adjust(
    conn: AsyncConnection,
    outbox: Outbox,
    variant_pk: int,
    location_pk: int,
    delta: int,
    reason: str,
    *,
    state: str = "on_hand",
    actor: str = "system",
    reference: str | None = None,
) -> Done:
    await check_exists(conn, variant_pk, location_pk)
    ch = Change(variant_pk, location_pk, reason, {state: delta}, actor=actor, reference=reference)
    return await _one(conn, outbox, ch)


def check_count(reason: str, quantity: int) -> None:
    check_reason(reason)
    if quantity < 0:
        raise refuse(InventoryCode.NEGATIVE_STOCK, "a count can't be negative", "quantity")


async def set_on_hand(
    conn: AsyncConnection,
    outbox: Outbox,
    variant_pk: int,
    location_pk: int,
    quantity: int,
    expected: int | None,
    reason: str = "cycle_count",
    *,
    actor: str = "system",
) -> Done:
    """A counted quantity, with compare-and-set on the previous value."""
    await check_exists(conn, variant_pk, location_pk)
    current = await _state_of(conn, variant_pk, location_pk, "on_hand")
    if expected is not None and current != expected:
        raise refuse(
            InventoryCode.STALE_QUANTITY,
            f"onHand is {current}, not the {expected} you counted from",
            "expected_quantity",
        )
    # The UPDATE re-checks the old value, so a change that slipped in between the read
    # and the write is caught too.
    ch = Change(
        variant_pk,
        location_pk,
        reason,
        {"on_hand": quantity - current},
        actor=actor,
        field="quantity",
    )
    if expected is not None:
        done: Done = [await apply_cas(conn, ch, expected, outbox)], {}
    else:
        done = await _one(conn, outbox, ch)
    await settle(conn, variant_pk, location_pk)  # a count settles an oversold level
    return done


def threshold_settings(safety_stock: int | None, reorder_point: int | None) -> dict[str, int]:
    """The thresholds to set (refusing negative ones)."""
    errs = Errors()
    given = {
        k: v
        for k, v in (("safety_stock", safety_stock), ("reorder_point", reorder_point))
        if v is not None
    }
    for name, v in given.items():
        if v < 0:
            errs.add(Code.INVALID, f"{label(name)} can't be negative", name)
    errs.raise_if_any()
    return given


async def set_thresholds(
    conn: AsyncConnection,
    outbox: Outbox,
    variant_pk: int,
    location_pk: int,
    settings: dict[str, int],
    *,
    actor: str = "system",
) -> Done:
    await check_exists(conn, variant_pk, location_pk)
    await ensure_level(conn, variant_pk, location_pk)
    ch = Change(variant_pk, location_pk, "thresholds", settings=settings, actor=actor)
    return await _one(conn, outbox, ch)


# ----- receipts and quarantine


def check_receive(quantity: int, serials: Sequence[str]) -> None:
    positive(quantity)
    if serials and len(serials) != quantity:
        raise fail(Code.INVALID, "give one serial number per unit received", "serials")


async def receive(
    conn: AsyncConnection,
    outbox: Outbox,
    variant_pk: int,
    location_pk: int,
    quantity: int,
    *,
    lot_number: str | None = None,
    expires_on: date | None = None,
    serials: Sequence[str] = (),
    actor: str = "system",
    reference: str | None = None,
) -> Done:
    """Incoming units arrive: incoming -> onHand (receipts beyond what was expected
    simply add to onHand)."""
    await check_exists(conn, variant_pk, location_pk)
    incoming = await _state_of(conn, variant_pk, location_pk, "incoming")
    ch = Change(
        variant_pk,
        location_pk,
        "received",
        {"on_hand": quantity, "incoming": -min(incoming, quantity)},
        field="quantity",
        actor=actor,
        reference=reference,
        lot_number=lot_number,
    )
    lv = await apply_change(conn, ch, outbox)
    if lot_number:
        await add_lot(conn, variant_pk, location_pk, lot_number, expires_on, quantity)
    for sn in serials:
        await serial_arrives(conn, variant_pk, location_pk, sn)
    return [lv], {}


def quarantine_change(
    quantity: int, *, release: bool, dispose: bool, reason: str | None
) -> tuple[dict[str, int], str]:
    """A quarantine's deltas and reason: hold units back for QA (onHand stays, they
    stop being available), release them back, or dispose of them (they leave onHand
    too)."""
    positive(quantity)
    if release and dispose:
        raise fail(Code.INVALID, "release or dispose, not both", "release")
    if release:
        deltas, why = {"quarantined": -quantity}, reason or "quarantine_released"
    elif dispose:
        deltas, why = {"quarantined": -quantity, "on_hand": -quantity}, reason or "disposed"
    else:
        deltas, why = {"quarantined": quantity}, reason or "quarantined"
    check_reason(why)
    return deltas, why


async def quarantine(
    conn: AsyncConnection,
    outbox: Outbox,
    variant_pk: int,
    location_pk: int,
    deltas: dict[str, int],
    reason: str,
    *,
    actor: str = "system",
) -> Done:
    """Apply a :func:`quarantine_change` (a hold needs the units available)."""
    await check_exists(conn, variant_pk, location_pk)
    held = deltas.get("quarantined", 0)
    ch = Change(
        variant_pk,
        location_pk,
        reason,
        deltas,
        need_available=held if held > 0 and len(deltas) == 1 else None,
        online=False,
        actor=actor,
        field="quantity",
    )
    return await _one(conn, outbox, ch)


# ----- sales: fulfilment, store sales and returns


async def leave(
    conn: AsyncConnection,
    outbox: Outbox,
    variant_pk: int,
    location_pk: int,
    quantity: int,
    *,
    in_store: bool,
    reference: str | None = None,
    serials: Sequence[str] = (),
) -> Done:
    """Units leave, their serial numbers sold: a fulfilment (committed units leave the
    building: committed and onHand go down) or, ``in_store``, a store sale handed over
    on the spot (may use safety stock)."""
    for sn in serials:
        await serial_sold(conn, variant_pk, location_pk, sn)
    if in_store:
        ch = Change(
            variant_pk,
            location_pk,
            "sold_in_store",
            {"on_hand": -quantity},
            need_available=quantity,
            online=False,
            reference=reference,
            field="quantity",
        )
    else:
        deltas = {"committed": -quantity, "on_hand": -quantity}
        ch = Change(
            variant_pk, location_pk, "fulfilled", deltas, reference=reference, field="quantity"
        )
    return await _one(conn, outbox, ch)


async def return_units(
    conn: AsyncConnection,
    outbox: Outbox,
    variant_pk: int,
    location_pk: int,
    quantity: int,
    *,
    restock: bool = True,
    serials: Sequence[str] = (),
    reference: str | None = None,
) -> Done:
    """A return at any location: back on hand, or into quarantine for inspection."""
    deltas = {"on_hand": quantity} if restock else {"on_hand": quantity, "quarantined": quantity}
    await check_exists(conn, variant_pk, location_pk)
    for sn in serials:
        await serial_returned(conn, variant_pk, location_pk, sn)
    ch = Change(variant_pk, location_pk, "returned", deltas, reference=reference, field="quantity")
    return await _one(conn, outbox, ch)
