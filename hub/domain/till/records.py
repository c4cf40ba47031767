"""Reads of tills and till sessions: records, several at once, pages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from hub.db.database import Reader
from hub.db.tables import till_cash_t, till_sessions_t, tills_t
from hub.domain.till.cash import signed_amount


@dataclass(frozen=True, slots=True)
class TillRecord:
    pk: int
    location_pk: int
    code: str
    name: str
    active: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SessionRecord:
    pk: int
    till_pk: int
    status: str
    opening_float: int
    opened_by: int | None
    closed_by: int | None
    expected_cash: int | None
    counted_cash: int | None
    over_short: int | None
    opened_at: datetime
    closed_at: datetime | None


def _till(r: Any) -> TillRecord:
    return TillRecord(r.id, r.location_id, r.code, r.name, r.active, r.created_at)


def _session(r: Any) -> SessionRecord:
    return SessionRecord(
        r.id,
        r.till_id,
        r.status,
        r.opening_float,
        r.opened_by,
        r.closed_by,
        r.expected_cash,
        r.counted_cash,
        r.over_short,
        r.opened_at,
        r.closed_at,
    )


async def tills_by_pks(reader: Reader, pks: Sequence[int]) -> dict[int, TillRecord]:
    if not pks:
        return {}
    rows = await reader.all(select(tills_t).where(tills_t.c.id.in_(sorted(set(pks)))))
    return {r.id: _till(r) for r in rows}


async def tills_of_location(reader: Reader, location_pk: int, limit: int) -> list[TillRecord]:
    rows = await reader.all(
        select(tills_t)
        .where(tills_t.c.location_id == location_pk)
        .order_by(tills_t.c.code, tills_t.c.id)
        .limit(limit)
    )
    return [_till(r) for r in rows]


async def sessions_by_pks(reader: Reader, pks: Sequence[int]) -> dict[int, SessionRecord]:
    if not pks:
        return {}
    rows = await reader.all(
        select(till_sessions_t).where(till_sessions_t.c.id.in_(sorted(set(pks))))
    )
    return {r.id: _session(r) for r in rows}


async def sessions_page(
    reader: Reader, till_pk: int, first: int, after: int | None
) -> tuple[list[SessionRecord], bool]:
    """Newest first: up to ``first`` sessions of the till with ids below ``after``, and
    whether there are more."""
    s = till_sessions_t
    stmt = select(s).where(s.c.till_id == till_pk)
    if after is not None:
        stmt = stmt.where(s.c.id < after)
    rows = await reader.all(stmt.order_by(s.c.id.desc()).limit(first + 1))
    return [_session(r) for r in rows[:first]], len(rows) > first


async def totals_of_sessions(reader: Reader, pks: Sequence[int]) -> dict[int, dict[str, int]]:
    """Per session, the total of each kind of cash movement (one query)."""
    if not pks:
        return {}
    t = till_cash_t
    rows = await reader.all(
        select(t.c.session_id, t.c.kind, func.sum(t.c.amount).label("total"))
        .where(t.c.session_id.in_(sorted(set(pks))))
        .group_by(t.c.session_id, t.c.kind)
    )
    out: dict[int, dict[str, int]] = {pk: {} for pk in pks}
    for r in rows:
        out[r.session_id][r.kind] = int(r.total)
    return out


async def balances_of_sessions(reader: Reader, pks: Sequence[int]) -> dict[int, int]:
    """Per session, the expected cash now (the signed sum of its movements)."""
    if not pks:
        return {}
    t = till_cash_t
    rows = await reader.all(
        select(t.c.session_id, func.sum(signed_amount()).label("total"))
        .where(t.c.session_id.in_(sorted(set(pks))))
        .group_by(t.c.session_id)
    )
    out = dict.fromkeys(pks, 0)
    for r in rows:
        out[r.session_id] = int(r.total or 0)
    return out
