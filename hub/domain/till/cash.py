"""Cash in a till's drawer: every movement of a till session is a row of
``till_cash_movements`` (the float, cash taken for sales and the change given, cash
refunds, cash put in or taken out), so the session's expected cash is their signed sum.

:func:`record_cash` is what the rest of the hub writes through (a cash tender at
checkout, a cash refund, a till's offline sync): in the caller's transaction, on the
till's open session (or, for an ``occurred_at`` in the past, the session that was open
then), idempotent per ``(till, client_txn_id)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, case, func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from hub.db.models.tills import CASH_KINDS
from hub.db.tables import till_cash_t, till_sessions_t
from hub.domain.errors import Code, fail
from hub.domain.till.codes import TillCode

# The sign of each kind in the drawer's balance.
SIGN = {
    "FLOAT": 1,
    "SALE_CASH": 1,
    "CHANGE": -1,
    "REFUND_CASH": -1,
    "CASH_IN": 1,
    "CASH_OUT": -1,
}
MAX_AMOUNT = 10**12
MAX_TXN_ID = 128


@dataclass(frozen=True, slots=True)
class CashMovement:
    pk: int
    session_pk: int
    kind: str
    amount: int
    # False when ``client_txn_id`` was recorded before (this call changed nothing).
    created: bool


def _now() -> datetime:
    return datetime.now(UTC)


def check_amount(amount: int, *path: str, zero: bool = False) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise fail(TillCode.AMOUNT_INVALID, "an amount is a whole number of minor units", *path)
    if amount < 0 or (amount == 0 and not zero) or amount > MAX_AMOUNT:
        raise fail(
            TillCode.AMOUNT_INVALID,
            "an amount is positive" if not zero else "an amount is zero or more",
            *path,
        )
    return amount


async def open_session_pk(conn: AsyncConnection, till_pk: int) -> int | None:
    """The till's open session, if any."""
    got = await conn.scalar(
        select(till_sessions_t.c.id).where(till_sessions_t.c.open_till_id == till_pk)
    )
    return None if got is None else int(got)


async def _session_at(conn: AsyncConnection, till_pk: int, at: datetime) -> int | None:
    s = till_sessions_t
    got = await conn.scalar(
        select(s.c.id)
        .where(
            s.c.till_id == till_pk,
            s.c.opened_at <= at,
            or_(s.c.closed_at.is_(None), s.c.closed_at > at),
        )
        .order_by(s.c.id.desc())
        .limit(1)
    )
    return None if got is None else int(got)


async def record_cash(
    conn: AsyncConnection,
    till_pk: int,
    kind: str,
    amount: int,
    *,
    order_pk: int | None = None,
    client_txn_id: str | None = None,
    occurred_at: datetime | None = None,
    reason: str | None = None,
    staff_user_pk: int | None = None,
    session_pk: int | None = None,
) -> CashMovement:
    """Record ``amount`` (minor units, > 0) of ``kind`` (FLOAT, SALE_CASH, CHANGE,
    REFUND_CASH, CASH_IN, CASH_OUT) in the till's drawer, in the caller's transaction.

    The session is ``session_pk`` if given, else the one open at ``occurred_at`` (a
    movement recorded offline), else the till's open session; NO_OPEN_SESSION when there
    is none. With a ``client_txn_id`` the call is idempotent: a second call with the same
    id at the same till returns the first movement (``created=False``) and writes
    nothing."""
    if kind not in CASH_KINDS:
        raise fail(Code.INVALID, f"kind is one of {', '.join(CASH_KINDS)}", "kind")
    check_amount(amount, "amount")
    if client_txn_id is not None:
        client_txn_id = client_txn_id.strip()
        if not client_txn_id or len(client_txn_id) > MAX_TXN_ID:
            raise fail(
                Code.INVALID,
                f"a client transaction id is 1 to {MAX_TXN_ID} characters",
                "client_txn_id",
            )
        found = await _by_txn(conn, till_pk, client_txn_id)
        if found is not None:
            return found
    at = occurred_at or _now()
    if session_pk is None:
        session_pk = await _session_at(conn, till_pk, at) if occurred_at is not None else None
        if session_pk is None:
            session_pk = await open_session_pk(conn, till_pk)
    if session_pk is None:
        raise fail(TillCode.NO_OPEN_SESSION, "the till has no open session", "till_id")
    values = {
        "till_id": till_pk,
        "session_id": session_pk,
        "kind": kind,
        "amount": amount,
        "order_id": order_pk,
        "client_txn_id": client_txn_id,
        "reason": reason,
        "staff_user_id": staff_user_pk,
        "occurred_at": at,
        "created_at": _now(),
    }
    try:
        async with conn.begin_nested():
            pk = (
                await conn.execute(insert(till_cash_t).values(**values).returning(till_cash_t.c.id))
            ).scalar_one()
    except IntegrityError:
        # The same client transaction recorded concurrently: the first one stands.
        if client_txn_id is not None:
            found = await _by_txn(conn, till_pk, client_txn_id)
            if found is not None:
                return found
        raise
    return CashMovement(int(pk), session_pk, kind, amount, True)


async def _by_txn(conn: AsyncConnection, till_pk: int, txn: str) -> CashMovement | None:
    t = till_cash_t
    row = (
        await conn.execute(
            select(t.c.id, t.c.session_id, t.c.kind, t.c.amount).where(
                and_(t.c.till_id == till_pk, t.c.client_txn_id == txn)
            )
        )
    ).first()
    if row is None:
        return None
    return CashMovement(int(row.id), int(row.session_id), row.kind, int(row.amount), False)


def signed_amount() -> ColumnElement[Any]:
    """The signed amount of a movement, as SQL."""
    t = till_cash_t
    return case(
        *[(t.c.kind == k, t.c.amount * s) for k, s in SIGN.items()],
        else_=0,
    )


async def expected_cash(conn: AsyncConnection, session_pk: int) -> int:
    """What the drawer should hold: float + cash sales - change - cash refunds + cash in
    - cash out (the signed sum of the session's movements)."""
    got = await conn.scalar(
        select(func.coalesce(func.sum(signed_amount()), 0)).where(
            till_cash_t.c.session_id == session_pk
        )
    )
    return int(got or 0)
