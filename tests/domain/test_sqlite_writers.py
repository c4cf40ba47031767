"""On SQLite (the embedded default) a transaction takes the write lock when it begins
(hub.db.engine: BEGIN IMMEDIATE), so two writers that read first wait their turn
instead of one failing with "database is locked" (WAL refuses, without waiting, a
deferred transaction's first write when another committed since its read began)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from hub.db.database import Database
from hub.settings import load_settings


async def test_a_writer_that_read_first_is_not_refused(tmp_path: Path) -> None:
    db = Database(load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'w.db'}"))
    try:
        async with db.transaction() as conn:
            await conn.execute(text("CREATE TABLE counters (id INTEGER PRIMARY KEY, n INTEGER)"))
            await conn.execute(text("INSERT INTO counters VALUES (1, 0)"))

        async def other_writer() -> None:
            async with db.transaction() as conn:
                await conn.execute(text("UPDATE counters SET n = n + 10 WHERE id = 1"))

        async with db.transaction() as conn:
            n = (await conn.execute(text("SELECT n FROM counters WHERE id = 1"))).scalar_one()
            other = asyncio.create_task(other_writer())
            await asyncio.sleep(0.3)
            assert not other.done()  # it waits for this transaction's lock
            await conn.execute(text("UPDATE counters SET n = :n WHERE id = 1"), {"n": n + 1})
        await asyncio.wait_for(other, 15)
        async with db.read() as conn:
            # Both writes, in turn: 0 + 1, then + 10 (nothing lost, nothing refused).
            assert (await conn.execute(text("SELECT n FROM counters"))).scalar_one() == 11
    finally:
        await db.dispose()
