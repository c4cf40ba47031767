"""The customer timeline: what happened to a profile (a duplicate merged into it, it
merged into another, its personal data erased), newest first."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import ids
from hub.db.database import Reader, fetch_all
from hub.db.dialect import dialect_insert
from hub.db.tables import customer_events_t


class TimelineEvent:
    __slots__ = ("created_at", "data", "id", "kind", "pk")

    def __init__(self, row: Any) -> None:
        self.pk: int = row.id
        self.id = ids.encode("CustomerEvent", row.id)
        self.kind: str = row.kind
        self.data: dict[str, Any] = dict(row.data or {})
        self.created_at = row.created_at


async def record(
    conn: AsyncConnection,
    customer_pk: int,
    kind: str,
    data: dict[str, Any],
    *,
    key: str | None = None,
) -> None:
    """Add an event to the customer's timeline (once per ``key``)."""
    stmt = dialect_insert(conn, customer_events_t).values(
        customer_id=customer_pk,
        kind=kind,
        data=data,
        idempotency_key=key,
        created_at=datetime.now(UTC),
    )
    if key is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=["customer_id", "idempotency_key"])
    await conn.execute(stmt)


async def events_of(
    conn: Reader | AsyncConnection, pks: Sequence[int]
) -> dict[int, list[TimelineEvent]]:
    """The timelines of several customers, newest first: one statement."""
    if not pks:
        return {}
    t = customer_events_t
    rows = await fetch_all(
        conn,
        select(t)
        .where(t.c.customer_id.in_(list(set(pks))))
        .order_by(t.c.customer_id, t.c.id.desc()),
    )
    out: dict[int, list[TimelineEvent]] = defaultdict(list)
    for r in rows:
        out[r.customer_id].append(TimelineEvent(r))
    return out
