"""Lots and serial numbers: what arrives with a lot number (and its expiry), and where
each serial-numbered unit is (ON_HAND at a location, or SOLD)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.tables import lots_t, serials_t
from hub.domain.errors import DomainError
from hub.domain.inventory.changes import dialect_insert
from hub.domain.inventory.records import InventoryCode, now, refuse


def _invalid(message: str) -> DomainError:
    return refuse(InventoryCode.INVALID_SERIAL, message, "serials")


async def add_lot(
    conn: AsyncConnection, vpk: int, lpk: int, lot: str, expires: date | None, q: int
) -> None:
    stmt = dialect_insert(conn, lots_t).values(
        variant_id=vpk, location_id=lpk, lot_number=lot, expires_on=expires, quantity=q
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["variant_id", "location_id", "lot_number"],
        set_={"quantity": lots_t.c.quantity + q},
    )
    await conn.execute(stmt)


async def serial_arrives(conn: AsyncConnection, vpk: int, lpk: int, sn: str) -> None:
    row = (
        await conn.execute(
            select(serials_t).where(serials_t.c.variant_id == vpk, serials_t.c.serial_number == sn)
        )
    ).first()
    if row is not None and row.status == "ON_HAND":
        raise _invalid(f"serial {sn} is already on hand at another location")
    if row is None:
        await conn.execute(
            insert(serials_t).values(
                variant_id=vpk,
                serial_number=sn,
                location_id=lpk,
                status="ON_HAND",
                updated_at=now(),
            )
        )
    else:
        await conn.execute(
            update(serials_t)
            .where(serials_t.c.id == row.id)
            .values(location_id=lpk, status="ON_HAND", updated_at=now())
        )


async def _move_serial(
    conn: AsyncConnection, vpk: int, sn: str, where: Any, values: dict[str, Any], refusal: str
) -> None:
    """Move one serial number from the state ``where`` says to ``values``, or refuse."""
    res = await conn.execute(
        update(serials_t)
        .where(serials_t.c.variant_id == vpk, serials_t.c.serial_number == sn, *where)
        .values(**values, updated_at=now())
    )
    if res.rowcount != 1:
        raise _invalid(refusal)


async def serial_sold(conn: AsyncConnection, vpk: int, lpk: int, sn: str) -> None:
    on_hand_here = (serials_t.c.location_id == lpk, serials_t.c.status == "ON_HAND")
    sold = {"status": "SOLD", "location_id": None}
    await _move_serial(
        conn, vpk, sn, on_hand_here, sold, f"serial {sn} is not on hand at this location"
    )


async def serial_returned(conn: AsyncConnection, vpk: int, lpk: int, sn: str) -> None:
    back = {"status": "ON_HAND", "location_id": lpk}
    await _move_serial(
        conn,
        vpk,
        sn,
        (serials_t.c.status == "SOLD",),
        back,
        f"serial {sn} was not sold, so it can't be returned",
    )


async def serial_tracked(conn: AsyncConnection, variant_pks: Sequence[int]) -> set[int]:
    """The variants tracked by serial number (any serial row exists)."""
    if not variant_pks:
        return set()
    rows = await conn.execute(
        select(serials_t.c.variant_id)
        .where(serials_t.c.variant_id.in_(sorted(set(variant_pks))))
        .distinct()
    )
    return {r[0] for r in rows}


async def serials_on_hand(
    conn: AsyncConnection, vpk: int, lpk: int, serials: Sequence[str]
) -> set[str]:
    """Which of ``serials`` of variant ``vpk`` are ON_HAND at location ``lpk``."""
    if not serials:
        return set()
    rows = await conn.execute(
        select(serials_t.c.serial_number).where(
            serials_t.c.variant_id == vpk,
            serials_t.c.location_id == lpk,
            serials_t.c.status == "ON_HAND",
            serials_t.c.serial_number.in_(list(serials)),
        )
    )
    return {r[0] for r in rows}
