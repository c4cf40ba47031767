"""Tills and their sessions: the writes (each on the caller's transaction)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.tables import locations_t, till_sessions_t, tills_t
from hub.domain.errors import Code, fail
from hub.domain.till.cash import check_amount, expected_cash, record_cash
from hub.domain.till.codes import TillCode

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_NAME = 255
MAX_REASON = 255


def _now() -> datetime:
    return datetime.now(UTC)


def check_code(raw: str) -> str:
    code = raw.strip()
    if not code:
        raise fail(Code.BLANK, "a till code can't be blank", "code")
    if not _CODE.match(code):
        raise fail(
            Code.INVALID,
            "a till code is 1 to 64 letters, digits, dots, dashes or underscores",
            "code",
        )
    return code


def check_name(raw: str) -> str:
    name = raw.strip()
    if not name:
        raise fail(Code.BLANK, "a name can't be blank", "name")
    if len(name) > MAX_NAME:
        raise fail(Code.TOO_LONG, f"a name is at most {MAX_NAME} characters", "name")
    return name


async def create_till(conn: AsyncConnection, location_pk: int, code: str, name: str) -> int:
    values = {"code": check_code(code), "name": check_name(name)}
    found = await conn.scalar(select(locations_t.c.id).where(locations_t.c.id == location_pk))
    if found is None:
        raise fail(Code.NOT_FOUND, "no location with that id", "location_id")
    at = _now()
    try:
        async with conn.begin_nested():
            pk = (
                await conn.execute(
                    insert(tills_t)
                    .values(
                        **values, location_id=location_pk, active=True, created_at=at, updated_at=at
                    )
                    .returning(tills_t.c.id)
                )
            ).scalar_one()
    except IntegrityError:
        raise fail(Code.TAKEN, "the location has a till with this code", "code") from None
    return int(pk)


async def update_till(
    conn: AsyncConnection,
    pk: int,
    *,
    code: str | None = None,
    name: str | None = None,
    active: bool | None = None,
) -> int:
    values: dict[str, Any] = {}
    if code is not None:
        values["code"] = check_code(code)
    if name is not None:
        values["name"] = check_name(name)
    if active is not None:
        values["active"] = active
    try:
        async with conn.begin_nested():
            res = await conn.execute(
                update(tills_t).where(tills_t.c.id == pk).values(**values, updated_at=_now())
            )
    except IntegrityError:
        raise fail(Code.TAKEN, "the location has a till with this code", "code") from None
    if res.rowcount != 1:
        raise fail(Code.NOT_FOUND, "no till with that id", "id")
    return pk


async def open_session(
    conn: AsyncConnection, till_pk: int, opening_float: int, staff_pk: int | None
) -> int:
    """Open a session with its float (recorded as the FLOAT movement).
    SESSION_ALREADY_OPEN when the till has one: ``open_till_id`` is unique, so of two
    concurrent opens one wins on either database."""
    check_amount(opening_float, "float", zero=True)
    till = (await conn.execute(select(tills_t.c.active).where(tills_t.c.id == till_pk))).first()
    if till is None:
        raise fail(Code.NOT_FOUND, "no till with that id", "till_id")
    if not till.active:
        raise fail(TillCode.TILL_INACTIVE, "the till is deactivated", "till_id")
    try:
        async with conn.begin_nested():
            pk = (
                await conn.execute(
                    insert(till_sessions_t)
                    .values(
                        till_id=till_pk,
                        open_till_id=till_pk,
                        status="OPEN",
                        opening_float=opening_float,
                        opened_by=staff_pk,
                        opened_at=_now(),
                    )
                    .returning(till_sessions_t.c.id)
                )
            ).scalar_one()
    except IntegrityError:
        raise fail(
            TillCode.SESSION_ALREADY_OPEN,
            "the till has an open session: close it first",
            "till_id",
        ) from None
    if opening_float > 0:
        await record_cash(
            conn, till_pk, "FLOAT", opening_float, staff_user_pk=staff_pk, session_pk=int(pk)
        )
    return int(pk)


async def _open_session_row(conn: AsyncConnection, session_pk: int) -> Any:
    """The session's row, locked (NOT_FOUND, SESSION_CLOSED)."""
    s = till_sessions_t
    stmt = select(s.c.id, s.c.till_id, s.c.status).where(s.c.id == session_pk)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).first()
    if row is None:
        raise fail(Code.NOT_FOUND, "no till session with that id", "session_id")
    if row.status != "OPEN":
        raise fail(TillCode.SESSION_CLOSED, "the till session is closed", "session_id")
    return row


async def cash_movement(
    conn: AsyncConnection,
    session_pk: int,
    kind: str,
    amount: int,
    reason: str | None,
    staff_pk: int | None,
) -> int:
    """Cash put in (CASH_IN) or taken out (CASH_OUT) of the drawer, with a reason.
    Taking out more than the drawer should hold is NOT_ENOUGH_CASH."""
    if kind not in ("CASH_IN", "CASH_OUT"):
        raise fail(Code.INVALID, "kind is CASH_IN or CASH_OUT", "kind")
    check_amount(amount, "amount")
    if reason is not None:
        reason = reason.strip() or None
        if reason is not None and len(reason) > MAX_REASON:
            raise fail(Code.TOO_LONG, f"a reason is at most {MAX_REASON} characters", "reason")
    row = await _open_session_row(conn, session_pk)
    if kind == "CASH_OUT" and amount > await expected_cash(conn, session_pk):
        raise fail(TillCode.NOT_ENOUGH_CASH, "the drawer should not hold that much cash", "amount")
    await record_cash(
        conn,
        row.till_id,
        kind,
        amount,
        reason=reason,
        staff_user_pk=staff_pk,
        session_pk=session_pk,
    )
    return session_pk


async def close_session(
    conn: AsyncConnection, session_pk: int, counted: int, staff_pk: int | None
) -> int:
    """Close with the counted cash: expected cash and over/short (counted - expected)
    are recorded; the till may open a new session."""
    check_amount(counted, "counted_cash", zero=True)
    await _open_session_row(conn, session_pk)
    expected = await expected_cash(conn, session_pk)
    s = till_sessions_t
    res = await conn.execute(
        update(s)
        .where(s.c.id == session_pk, s.c.status == "OPEN")
        .values(
            status="CLOSED",
            open_till_id=None,
            closed_by=staff_pk,
            closed_at=_now(),
            expected_cash=expected,
            counted_cash=counted,
            over_short=counted - expected,
        )
    )
    if res.rowcount != 1:  # closed meanwhile (SQLite has no row lock)
        raise fail(TillCode.SESSION_CLOSED, "the till session is closed", "session_id")
    return session_pk
