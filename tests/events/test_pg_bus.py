"""The PostgreSQL LISTEN/NOTIFY bus between two buses ("processes") on one database:
small events travel in the notification, events too large for one (PostgreSQL refuses
8,000 bytes or more) as a reference read from the outbox; a process's own NOTIFY is
not delivered twice; the listener comes back after its connection is terminated.

PostgreSQL by nature; skips locally without ``HUB_TEST_POSTGRES_URL`` and fails under
CI. ``pg_terminate_backend`` here reaches this test's own database only.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import orjson
import pytest

from hub.db.database import Database
from hub.events.bus import Event
from hub.events.pg_bus import MAX_PAYLOAD, PostgresBus, pack
from tests.helpers.db import migrated_database
from tests.helpers.events import committed, take
from tests.helpers.faults import terminate_connections
from tests.helpers.processes import database

WAIT = 10.0


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with database("postgresql", tmp_path_factory.mktemp("pgbus"), tag="pgbus") as url:
        yield url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    async with migrated_database(database_url) as d:
        yield d


@pytest.fixture
async def buses(db: Database) -> AsyncIterator[tuple[PostgresBus, PostgresBus]]:
    a = PostgresBus.for_database(db, ping_interval=0.2, backoff=(0.05, 0.2))
    b = PostgresBus.for_database(db, ping_interval=0.2, backoff=(0.05, 0.2))
    await a.start()
    await b.start()
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


def test_payloads_stay_under_the_notify_limit() -> None:
    small = [Event(i, "t", {"n": i, "pad": "x" * 300}) for i in range(60)]
    big = Event(99, "t", {"blob": "y" * 20_000})
    payloads = pack([*small[:30], big, *small[30:]])
    assert len(payloads) > 1
    assert all(len(p.encode()) <= MAX_PAYLOAD < 8000 for p in payloads)
    items = [item for p in payloads for item in orjson.loads(p)]
    assert [i.get("id", i.get("ref")) for i in items] == [*range(30), 99, *range(30, 60)]
    assert {"ref": 99, "topic": "t"} in items  # the big one by reference


async def test_events_cross_processes_small_and_large(
    db: Database, buses: tuple[PostgresBus, PostgresBus]
) -> None:
    a, b = buses
    topic = f"pg.{uuid.uuid4().hex[:8]}"
    on_a, on_b = a.subscribe([topic]), b.subscribe([topic])
    events = await committed(db, topic, {"n": 1}, {"blob": "z" * 20_000}, {"n": 3})
    await a.publish(events)
    assert await take(on_b, 3, WAIT) == events  # the large one read back from the outbox
    assert await take(on_a, 3, WAIT) == events  # delivered here by publish itself...
    await asyncio.sleep(0.3)
    assert on_a.pending == 0  # ...and not again by its own notification
    assert a.status() == {"kind": "postgresql", "state": "up"}


async def test_the_listener_comes_back_after_its_connection_is_terminated(
    db: Database, database_url: str, buses: tuple[PostgresBus, PostgresBus]
) -> None:
    a, b = buses
    topic = f"pg.{uuid.uuid4().hex[:8]}"
    on_b = b.subscribe([topic])
    before = (a._pid, b._pid)
    assert await terminate_connections(database_url, "hub-events") == 2
    deadline = asyncio.get_running_loop().time() + WAIT
    while not (a.connected and b.connected and a._pid != before[0] and b._pid != before[1]):
        # each listening again, on a new connection
        assert asyncio.get_running_loop().time() < deadline, "the listeners did not come back"
        await asyncio.sleep(0.05)
    events = await committed(db, topic, {"n": 1})
    await a.publish(events)
    assert await take(on_b, 1, WAIT) == events
