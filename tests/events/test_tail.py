"""Each process's tail of the event log (``hub.events.tail``), on SQLite and PostgreSQL:
events the transport never carried are delivered from the outbox, once, in commit
order; events that came by the transport are not delivered again; a transaction that
commits late (PostgreSQL sequence order is not commit order) is never skipped, and one
left open does not hold back what committed after it.

PostgreSQL comes from ``HUB_TEST_POSTGRES_URL``; without it the PostgreSQL half skips
locally and fails under CI.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from hub.db.database import Database
from hub.events.bus import Event, MemoryBus, QueueSubscription
from hub.events.outbox import Outbox, OutboxDispatcher, outbox
from hub.events.tail import OutboxTail
from tests.helpers.db import migrated_database
from tests.helpers.events import committed, take
from tests.helpers.processes import BACKENDS, database

WAIT = 5.0


@pytest.fixture(scope="module", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp(f"tail-{request.param}")
    with database(request.param, tmp, tag="tail") as url:
        yield url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    async with migrated_database(database_url) as d:
        yield d


@pytest.fixture(scope="module")
def pg_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with database("postgresql", tmp_path_factory.mktemp("tail-pg"), tag="tail") as url:
        yield url


@pytest.fixture
async def pg_db(pg_database_url: str) -> AsyncIterator[Database]:
    async with migrated_database(pg_database_url) as d:
        yield d


@pytest.fixture
def topic() -> str:
    return f"tail.{uuid.uuid4().hex[:8]}"


async def _write(db: Database, topic: str, n: int) -> list[Event]:
    """``n`` events committed (one transaction) and never published."""
    return await committed(db, topic, *({"i": i} for i in range(n)))


@contextlib.asynccontextmanager
async def _tailing(
    db: Database, topic: str
) -> AsyncIterator[tuple[MemoryBus, OutboxTail, QueueSubscription]]:
    """A started memory bus with a tail of ``db``'s log feeding it, and a subscription
    to ``topic``; the tail and the bus stopped afterwards."""
    bus = MemoryBus()
    await bus.start()
    tail = OutboxTail(db, bus, interval=0.05)
    await tail.start()
    sub = bus.subscribe([topic])
    try:
        yield bus, tail, sub
    finally:
        await tail.stop()
        await bus.close()


async def test_events_the_transport_missed_come_from_the_log_once(db: Database, topic: str) -> None:
    async with _tailing(db, topic) as (bus, tail, sub):
        missed = await _write(db, topic, 3)  # as if the transport had been down
        assert await take(sub, 3, WAIT) == missed  # in commit order

        carried = await _write(db, topic, 2)
        await bus.publish(carried)  # by the transport this time
        assert await take(sub, 2, WAIT) == carried
        swept = await OutboxDispatcher(db, bus, grace=0).sweep_once()
        assert swept == 5  # published again (and marked): dropped as already seen
        later = await _write(db, topic, 1)
        assert await take(sub, 1, WAIT) == later  # the next thing is the next event
        assert sub.pending == 0
        assert tail.caught_up == 4 and tail.status()["state"] == "following"


async def test_a_late_commit_is_never_skipped_and_an_open_one_holds_nothing_back(
    pg_db: Database, topic: str
) -> None:
    """PostgreSQL by nature: SQLite has one writer at a time, so its ids are commit
    order; PostgreSQL hands out ids at insert, and commits in any order."""
    db = pg_db
    async with _tailing(db, topic) as (_bus, tail, sub):
        async with db.transaction() as slow:  # takes an id first, commits last
            box = Outbox()
            box.add(topic, {"who": "slow"})
            (early,) = await box.flush(slow)
            (late,) = await _write(db, topic, 1)
            assert early.id < late.id
            # Committed while `slow` is still open: delivered all the same...
            assert await take(sub, 1, WAIT) == [late]
            await asyncio.sleep(0.3)
            # ...and the cursor has not passed `slow`'s transaction.
            assert tail.cursor is not None and tail.cursor[0] < (early.txid or 0)
        assert await take(sub, 1, WAIT) == [early]  # committed last, not skipped
        await asyncio.sleep(0.3)
        assert sub.pending == 0  # and `late` did not come twice
        # The cursor passes `late` once no older transaction is open anywhere on the
        # server (transaction ids are server-wide: other databases' work holds it back).
        for _ in range(100):
            if tail.cursor[0] >= (late.txid or 0):
                break
            await asyncio.sleep(0.1)
        assert tail.cursor[0] >= (late.txid or 0)


async def test_prune_keeps_the_newest_row_so_ids_never_go_back(db: Database, topic: str) -> None:
    """SQLite gives a new row the largest id plus one: were every row pruned, ids would
    start again below the tails' cursors."""
    events = await _write(db, topic, 3)
    old = datetime.now(UTC) - timedelta(days=30)
    async with db.transaction() as conn:
        await conn.execute(update(outbox).values(published_at=old, created_at=old))
    await OutboxDispatcher(db, MemoryBus()).prune()
    async with db.read() as conn:
        newest = (await conn.execute(select(func.max(outbox.c.id)))).scalar_one()
        left = (await conn.execute(select(func.count()).select_from(outbox))).scalar_one()
    assert newest == events[-1].id and left == 1
    (after,) = await _write(db, topic, 1)
    assert after.id > events[-1].id
