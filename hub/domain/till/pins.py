"""Staff PINs at a till: set (argon2id through the accounts' :class:`Passwords`), and
the check of a PIN sign-in with its lockout.

A PIN is 4 to 8 digits, bound to a staff user and the locations it works at. After
:data:`MAX_FAILURES` wrong attempts in a row the PIN is locked for :data:`LOCK_FOR`
(checked before the hash, so a locked PIN costs no argon2 time and tells nothing); a
right PIN resets the count. The per-till and per-user rate limits are the API's (it
knows the client), as for the password sign-ins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.tables import locations_t, staff_pins_t, staff_users_t
from hub.domain.errors import Code, DomainError, fail
from hub.domain.till.codes import TillCode

MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=15)
MIN_PIN, MAX_PIN = 4, 8


def _now() -> datetime:
    return datetime.now(UTC)


def check_pin(pin: str) -> str:
    if not (MIN_PIN <= len(pin) <= MAX_PIN) or not pin.isascii() or not pin.isdigit():
        raise fail(TillCode.PIN_INVALID, f"a PIN is {MIN_PIN} to {MAX_PIN} digits", "pin")
    return pin


def rejected() -> DomainError:
    return fail(TillCode.PIN_REJECTED, "wrong PIN, or not at this till", "pin")


def locked(until: datetime) -> DomainError:
    return fail(
        TillCode.PIN_LOCKED, f"too many wrong PINs: locked until {until.isoformat()}", "pin"
    )


async def store_pin(
    conn: AsyncConnection, user_pk: int, pin_hash: str, location_pks: Sequence[int]
) -> int:
    wanted = sorted(set(location_pks))
    if not wanted:
        raise fail(Code.BLANK, "a PIN works at one location at least", "location_ids")
    found = {
        r.id
        for r in await conn.execute(select(locations_t.c.id).where(locations_t.c.id.in_(wanted)))
    }
    if any(pk not in found for pk in wanted):
        raise fail(Code.NOT_FOUND, "no location with that id", "location_ids")
    user = (
        await conn.execute(select(staff_users_t.c.active).where(staff_users_t.c.id == user_pk))
    ).first()
    if user is None:
        raise fail(Code.NOT_FOUND, "no staff user with that id", "staff_user_id")
    values = {
        "pin_hash": pin_hash,
        "location_ids": wanted,
        "failed_attempts": 0,
        "locked_until": None,
        "updated_at": _now(),
    }
    res = await conn.execute(
        update(staff_pins_t).where(staff_pins_t.c.user_id == user_pk).values(**values)
    )
    if res.rowcount == 0:
        await conn.execute(insert(staff_pins_t).values(user_id=user_pk, **values))
    return user_pk


@dataclass(frozen=True, slots=True)
class PinRow:
    user_pk: int
    pin_hash: str | None
    location_pks: frozenset[int]
    locked_until: datetime | None
    active: bool


async def find_pin(
    conn: AsyncConnection, *, email: str | None, user_pk: int | None
) -> PinRow | None:
    u, p = staff_users_t, staff_pins_t
    stmt = select(u.c.id, u.c.active, p.c.pin_hash, p.c.location_ids, p.c.locked_until).select_from(
        u.outerjoin(p, p.c.user_id == u.c.id)
    )
    if user_pk is not None:
        stmt = stmt.where(u.c.id == user_pk)
    else:
        stmt = stmt.where(u.c.email == email)
    row: Any = (await conn.execute(stmt)).first()
    if row is None:
        return None
    return PinRow(
        int(row.id),
        row.pin_hash,
        frozenset(row.location_ids or ()),
        row.locked_until,
        bool(row.active),
    )


async def count_failure(conn: AsyncConnection, user_pk: int) -> datetime | None:
    """One more wrong attempt (one conditional UPDATE); the lock's end if this one
    locked the PIN."""
    p = staff_pins_t
    row = (
        await conn.execute(
            update(p)
            .where(p.c.user_id == user_pk)
            .values(failed_attempts=p.c.failed_attempts + 1)
            .returning(p.c.failed_attempts)
        )
    ).first()
    if row is None or row.failed_attempts < MAX_FAILURES:
        return None
    until = _now() + LOCK_FOR
    await conn.execute(
        update(p).where(p.c.user_id == user_pk).values(failed_attempts=0, locked_until=until)
    )
    return until


async def reset_failures(conn: AsyncConnection, user_pk: int) -> None:
    await conn.execute(
        update(staff_pins_t)
        .where(staff_pins_t.c.user_id == user_pk)
        .values(failed_attempts=0, locked_until=None)
    )
