"""Idempotency keys of stock writes, and the unit of work every write runs as.

A write with a key records it (``idempotency_keys``, per key and operation) in its own
transaction before it changes anything; the same key later answers the stored result
(the levels it left) instead of writing again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.tables import idem_t
from hub.domain.inventory.changes import dialect_insert, levels_by_ids
from hub.domain.inventory.records import LevelRecord, Outcome, now
from hub.events.outbox import Outbox

# A write's body: it runs on the open transaction, queues its events on the outbox and
# answers the levels it left and what else it made (a reservation's token, ...).
Done = tuple[list[LevelRecord], dict[str, Any]]
Body = Callable[[AsyncConnection, Outbox], Awaitable[Done]]


async def claim_key(
    conn: AsyncConnection, key: str | None, operation: str
) -> dict[str, Any] | None:
    """Record an idempotency key; the stored result if the key was used before."""
    if key is None:
        return None
    stmt = (
        dialect_insert(conn, idem_t)
        .values(key=key, operation=operation, result={}, created_at=now())
        .on_conflict_do_nothing(index_elements=["key", "operation"])
        .returning(idem_t.c.key)
    )
    if (await conn.execute(stmt)).first() is not None:
        return None
    row = (
        await conn.execute(
            select(idem_t.c.result).where(idem_t.c.key == key, idem_t.c.operation == operation)
        )
    ).first()
    return dict(row.result) if row else {}


async def store_key(
    conn: AsyncConnection, key: str | None, operation: str, result: dict[str, Any]
) -> None:
    if key is not None:
        await conn.execute(
            update(idem_t)
            .where(idem_t.c.key == key, idem_t.c.operation == operation)
            .values(result=result)
        )


async def replay(conn: AsyncConnection, stored: dict[str, Any]) -> Outcome:
    """The answer of a key used before: its stored result and the levels as they are."""
    levels = await levels_by_ids(conn, stored.get("levels", []))
    return Outcome(levels, [], replayed=True, result=stored)


async def run_in(conn: AsyncConnection, operation: str, key: str | None, body: Body) -> Outcome:
    """Run one write on ``conn`` (the caller's open transaction): claim its key (or
    replay the key's first result), run ``body``, store the result under the key and
    write the queued events to the outbox. Publishing them is the caller's, after
    commit."""
    outbox = Outbox()
    stored = await claim_key(conn, key, operation)
    if stored is not None:
        return await replay(conn, stored)
    levels, result = await body(conn, outbox)
    result = {**result, "levels": [lv.id for lv in levels]}
    await store_key(conn, key, operation, result)
    events = await outbox.flush(conn)
    return Outcome(levels, events, result=result)


def to_json(value: Any) -> str:
    return orjson.dumps(value).decode()


def from_json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, (str, bytes)) else value
