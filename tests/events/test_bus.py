"""The event bus (memory and Redis) and the transactional outbox (SQLite and PostgreSQL).

Redis is expected at 127.0.0.1:6379 (``HUB_TEST_REDIS_URL`` overrides it) and
PostgreSQL at ``HUB_TEST_POSTGRES_URL``. Without them these tests skip locally and
fail under CI (``CI`` set). Every test uses its own topics, so parallel runs sharing
one Redis do not see each other's events.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, insert, select, update

from hub.composition import create_bus
from hub.db.database import Database
from hub.db.migrate import upgrade
from hub.events.bus import BusUnavailable, Event, MemoryBus, QueueSubscription
from hub.events.outbox import Outbox, OutboxDispatcher, outbox, publish_committed
from hub.events.pg_bus import PostgresBus
from hub.events.redis_bus import RedisBus
from hub.settings import load_settings
from tests.helpers.client import pg_admin
from tests.helpers.events import take
from tests.helpers.processes import reachable_redis, unavailable

RUN = uuid.uuid4().hex[:8]
WAIT = 5.0  # seconds to wait for an event that should arrive


# ---------------------------------------------------------------- helpers / fixtures


@pytest.fixture
def topic(request: pytest.FixtureRequest) -> str:
    """A topic no other test (or parallel run) uses."""
    return f"test.{RUN}.{request.node.name[:24]}.{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="session")
def redis_url() -> str:
    return reachable_redis()


async def _redis_bus(url: str, **kw: Any) -> RedisBus:
    bus = RedisBus(url, **kw)
    await bus.start()
    return bus


@pytest.fixture
async def redis_bus(redis_url: str) -> AsyncIterator[RedisBus]:
    bus = await _redis_bus(redis_url)
    yield bus
    await bus.close()


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[MemoryBus | RedisBus]:
    b: MemoryBus | RedisBus
    if request.param == "memory":
        b = MemoryBus()
        await b.start()
    else:
        b = await _redis_bus(request.getfixturevalue("redis_url"))
    yield b
    await b.close()


_ids = iter(range(1, 10**9))


def ev(topic: str, **payload: Any) -> Event:
    """An event with a fresh id."""
    return Event(next(_ids), topic, payload)


async def receive(sub: QueueSubscription, n: int = 1, wait: float = WAIT) -> list[Event]:
    """The next ``n`` events of ``sub`` (fails if they don't come within ``wait`` s)."""
    out = await take(sub, n, wait)
    assert len(out) == n, f"subscription ended after {len(out)} of {n} events"
    return out


async def drain_to_end(sub: QueueSubscription, wait: float = WAIT) -> list[Event]:
    async with asyncio.timeout(wait):
        return [e async for e in sub]


# ---------------------------------------------------------------- delivery


async def test_delivery_with_topic_filtering(bus: MemoryBus | RedisBus, topic: str) -> None:
    other = topic + ".other"
    mine = bus.subscribe([topic])
    theirs = bus.subscribe([other])
    both = bus.subscribe([topic, other])
    assert bus.subscriber_count == 3

    a, b = ev(topic, n=1), ev(other, n=2)
    await bus.publish([a, b])

    assert await receive(mine) == [a]
    assert await receive(theirs) == [b]
    assert await receive(both, 2) == [a, b]
    assert a.payload == {"n": 1}

    # Nothing else for ``mine``: the next thing it gets is the next event of its topic.
    c = ev(topic, n=3)
    await bus.publish([ev(other), c])
    assert await receive(mine) == [c]


async def test_two_redis_buses_are_two_processes(redis_url: str, topic: str) -> None:
    a = await _redis_bus(redis_url)
    b = await _redis_bus(redis_url)
    try:
        sub = b.subscribe([topic])
        assert a.subscriber_count == 0
        events = [ev(topic, i=i, nested={"x": [1, 2]}) for i in range(3)]
        await a.publish(events[:1])  # one PUBLISH
        await a.publish(events[1:])  # a pipeline
        assert await receive(sub, 3) == events
    finally:
        await a.close()
        await b.close()


async def test_same_event_id_is_delivered_once(bus: MemoryBus | RedisBus, topic: str) -> None:
    sub = bus.subscribe([topic])
    first = ev(topic, n=1)
    await bus.publish([first, first])
    await bus.publish([first])  # e.g. swept again after a crash
    second = ev(topic, n=2)
    await bus.publish([second])
    assert await receive(sub, 2) == [first, second]


async def test_slow_subscriber_is_closed_and_others_still_receive(
    bus: MemoryBus | RedisBus, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    slow = bus.subscribe([topic], maxsize=2)
    fast = bus.subscribe([topic], maxsize=100)
    events = [ev(topic, i=i) for i in range(5)]
    await bus.publish(events)

    assert await receive(fast, 5) == events
    assert await drain_to_end(slow) == []  # its iteration ends
    assert slow.closed and slow.overflowed
    assert bus.subscriber_count == 1
    assert "slow event subscriber" in caplog.text

    later = ev(topic)
    await bus.publish([later])
    assert await receive(fast) == [later]


async def test_subscription_close_ends_iteration(bus: MemoryBus | RedisBus, topic: str) -> None:
    sub = bus.subscribe([topic])
    consumer = asyncio.create_task(drain_to_end(sub))
    await asyncio.sleep(0)
    await sub.close()
    await sub.close()  # idempotent
    assert await consumer == []
    assert bus.subscriber_count == 0
    assert await drain_to_end(sub) == []  # and stays ended


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_close_ends_iterations_and_leaves_no_tasks(
    kind: str, topic: str, request: pytest.FixtureRequest
) -> None:
    before = asyncio.all_tasks()
    b = MemoryBus() if kind == "memory" else await _redis_bus(request.getfixturevalue("redis_url"))
    subs = [b.subscribe([topic]) for _ in range(3)]
    consumers = [asyncio.create_task(drain_to_end(s)) for s in subs]
    event = ev(topic)
    await b.publish([event])
    await asyncio.sleep(0.05 if kind == "memory" else 0.3)
    await b.close()
    results = await asyncio.gather(*consumers)
    assert all(r in ([], [event]) for r in results)
    assert all(s.closed for s in subs)
    assert b.subscriber_count == 0
    await asyncio.sleep(0)
    # Other fixtures' background loops (the app's sweeper) may start short-lived
    # tasks meanwhile; what matters is that nothing of this bus outlives close().
    left = {
        t
        for t in asyncio.all_tasks() - before
        if t.get_name().startswith("hub-events") or t in consumers
    }
    assert left == set()
    with pytest.raises(RuntimeError):
        b.subscribe([topic])


async def test_redis_bus_reconnects_after_the_connection_drops(redis_url: str, topic: str) -> None:
    name = f"hub-test-{uuid.uuid4().hex[:8]}"
    b = await _redis_bus(redis_url, client_name=name, backoff=(0.05, 0.5))
    admin = aioredis.Redis.from_url(redis_url)
    try:
        sub = b.subscribe([topic])
        clients = await admin.client_list(_type="pubsub")
        ours = [c["id"] for c in clients if c.get("name") == name]
        assert len(ours) == 1, "one pub/sub connection per bus"
        await admin.client_kill_filter(_id=ours[0])

        # Pub/sub does not replay what was published while disconnected: keep publishing
        # until an event gets through the new connection.
        async with asyncio.timeout(WAIT):
            while True:
                event = ev(topic)
                await b.publish([event])
                try:
                    async with asyncio.timeout(0.2):
                        got = await receive(sub)
                except TimeoutError:
                    continue
                assert got == [event]
                break
        clients = await admin.client_list(_type="pubsub")
        assert [c["id"] for c in clients if c.get("name") == name] != ours
    finally:
        await admin.aclose()
        await b.close()


async def test_redis_bus_start_fails_when_redis_is_down() -> None:
    b = RedisBus("redis://127.0.0.1:1/0", start_timeout=0.3, backoff=(0.05, 0.1))
    before = asyncio.all_tasks()
    with pytest.raises(ConnectionError):
        await b.start()
    await b.close()
    # Only the bus's own tasks count: under pytest-xdist other tests' hubs share this
    # event loop and start tasks of their own meanwhile.
    leaked = {
        t
        for t in asyncio.all_tasks() - before
        if any("hub/events/" in f.f_code.co_filename for f in t.get_stack())
    }
    assert leaked == set()


async def test_redis_publish_delivers_here_and_fails_fast_while_redis_is_away(
    topic: str,
) -> None:
    b = RedisBus("redis://127.0.0.1:1/0", connect_timeout=0.5)
    try:
        sub = b.subscribe([topic])
        first, second = ev(topic, n=1), ev(topic, n=2)
        with pytest.raises(BusUnavailable, match="PUBLISH failed"):
            await b.publish([first])
        t0 = time.perf_counter()
        with pytest.raises(BusUnavailable, match="a moment ago"):
            await b.publish([second])  # no new attempt right after a failure
        assert time.perf_counter() - t0 < 0.05
        assert await receive(sub, 2) == [first, second]  # this process's subscribers
    finally:
        await b.close()


def test_create_bus_follows_the_settings() -> None:
    assert isinstance(create_bus(load_settings(redis_url=None)), MemoryBus)
    assert isinstance(create_bus(load_settings(redis_url="redis://127.0.0.1:6379/0")), RedisBus)
    pg = load_settings(database_url="postgresql://nobody@127.0.0.1:1/x", redis_url=None)
    assert isinstance(create_bus(pg, Database(pg)), PostgresBus)  # no Redis: LISTEN/NOTIFY
    sqlite = load_settings(database_url="sqlite+aiosqlite:///x.db", redis_url=None)
    assert isinstance(create_bus(sqlite, Database(sqlite)), MemoryBus)
    with_redis = pg.model_copy(update={"redis_url": "redis://127.0.0.1:6379/0"})
    assert isinstance(create_bus(with_redis, Database(pg)), RedisBus)  # Redis wins


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_fan_out_to_1000_subscribers(
    kind: str, topic: str, capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest
) -> None:
    b = MemoryBus() if kind == "memory" else await _redis_bus(request.getfixturevalue("redis_url"))
    try:
        subs = [b.subscribe([topic]) for _ in range(1000)]
        events = [ev(topic, sku="X", n=i) for i in range(20)]
        timings = []
        for event in events:
            t0 = time.perf_counter()
            await b.publish([event])
            # Fan-out happens in one step: once one subscriber has it, all have it. On
            # Redis ``publish`` returns first and the reader fans out when PUBLISH echoes.
            assert await receive(subs[0]) == [event]
            timings.append(time.perf_counter() - t0)
            assert all(s.pending == 1 for s in subs[1:])
            for s in subs[1:]:
                assert await receive(s) == [event]
        with capsys.disabled():
            what = "publish() fan-out" if kind == "memory" else "PUBLISH -> 1,000 queued"
            ms = sorted(t * 1000 for t in timings)
            print(
                f"\n[fan-out] {kind}: 1,000 subscribers, {what}: first {timings[0] * 1000:.2f} ms,"
                f" median {ms[len(ms) // 2]:.2f} ms, min {ms[0]:.2f} ms (20 events)"
            )
    finally:
        await b.close()


# ---------------------------------------------------------------- outbox


@pytest.fixture(scope="session")
def pg_server() -> str | None:
    url = os.environ.get("HUB_TEST_POSTGRES_URL")
    if url and url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url[len("postgresql://") :]
    return url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def migrated_db(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    pg_server: str | None,
) -> AsyncIterator[Database]:
    dropped: str | None = None
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('events') / 'hub.db'}"
    else:
        if pg_server is None:
            unavailable("PostgreSQL not configured (set HUB_TEST_POSTGRES_URL)")
            raise AssertionError  # unreachable
        name = f"hub_evt_{uuid.uuid4().hex[:10]}"
        await pg_admin(pg_server, f'CREATE DATABASE "{name}"')
        dropped = name
        url = f"{pg_server.rsplit('/', 1)[0]}/{name}"
    db = Database(load_settings(database_url=url))
    try:
        await upgrade(db.engine)
        yield db
    finally:
        await db.dispose()
        if dropped is not None and pg_server is not None:
            await pg_admin(pg_server, f'DROP DATABASE IF EXISTS "{dropped}" WITH (FORCE)')


@pytest.fixture
async def db(migrated_db: Database) -> Database:
    """The backend's database with an empty outbox."""
    async with migrated_db.transaction() as conn:
        await conn.execute(outbox.delete())
    return migrated_db


async def _rows(db: Database) -> list[Any]:
    async with db.read() as conn:
        return list((await conn.execute(select(outbox).order_by(outbox.c.id))).all())


async def _insert_committed(db: Database, topic: str, age: timedelta, **payload: Any) -> int:
    """An event as a crashed process leaves it: committed ``age`` ago, never published."""
    async with db.transaction() as conn:
        result = await conn.execute(
            insert(outbox).returning(outbox.c.id),
            {"topic": topic, "payload": payload, "created_at": datetime.now(UTC) - age},
        )
        return int(result.scalar_one())


async def test_flush_writes_in_the_transaction_and_returns_ids(db: Database, topic: str) -> None:
    box = Outbox()
    box.add(topic, {"variant_id": 7, "available": 3})
    box.add(topic + ".b", {"ids": (1, 2)})
    async with db.transaction() as conn:
        events = await box.flush(conn)
    assert len(box) == 0
    assert [e.topic for e in events] == [topic, topic + ".b"]
    assert events[1].payload == {"ids": [1, 2]}  # normalised to JSON
    assert events[0].id < events[1].id

    rows = await _rows(db)
    assert [(r.id, r.topic, r.payload) for r in rows] == [
        (e.id, e.topic, e.payload) for e in events
    ]
    assert all(r.published_at is None and r.created_at is not None for r in rows)

    async with db.transaction() as conn:
        assert await Outbox().flush(conn) == []


async def test_rolled_back_flush_writes_nothing(db: Database, topic: str) -> None:
    box = Outbox()
    for i in range(3):
        box.add(topic, {"i": i})

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with db.transaction() as conn:
            assert len(await box.flush(conn)) == 3
            raise Boom
    assert await _rows(db) == []


def test_outbox_rejects_bad_events() -> None:
    box = Outbox()
    with pytest.raises(TypeError):
        box.add("t", {"when": object()})
    with pytest.raises(ValueError):
        box.add("x" * 65, {})
    assert len(box) == 0


async def test_publish_committed_publishes_and_marks(db: Database, topic: str) -> None:
    bus = MemoryBus()
    sub = bus.subscribe([topic])
    box = Outbox()
    box.add(topic, {"n": 1})
    box.add(topic, {"n": 2})
    async with db.transaction() as conn:
        events = await box.flush(conn)
    await publish_committed(db, bus, events)
    assert await receive(sub, 2) == events
    assert all(r.published_at is not None for r in await _rows(db))
    await bus.close()


async def test_publish_committed_leaves_failures_for_the_sweeper(
    db: Database, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    class Down(MemoryBus):
        async def publish(self, events: Any) -> None:
            raise ConnectionError("redis is down")

    box = Outbox()
    box.add(topic, {"n": 1})
    async with db.transaction() as conn:
        events = await box.flush(conn)
    await publish_committed(db, Down(), events)  # does not raise
    assert "sweeper will retry" in caplog.text
    assert [r.published_at for r in await _rows(db)] == [None]

    bus = MemoryBus()
    sub = bus.subscribe([topic])
    assert await OutboxDispatcher(db, bus, grace=0).sweep_once() == 1
    assert await receive(sub) == events


async def test_dispatcher_sweeps_an_old_row_once_and_ignores_fresh_ones(
    db: Database, topic: str
) -> None:
    bus = MemoryBus()
    sub = bus.subscribe([topic])
    old = await _insert_committed(db, topic, timedelta(seconds=60), n="old")
    fresh = await _insert_committed(db, topic, timedelta(seconds=0), n="fresh")

    dispatcher = OutboxDispatcher(db, bus, grace=5.0)
    assert await dispatcher.sweep_once() == 1
    assert await receive(sub) == [Event(old, topic, {"n": "old"})]
    assert sub.pending == 0
    assert await dispatcher.sweep_once() == 0  # exactly once

    published = {r.id: r.published_at for r in await _rows(db)}
    assert published[old] is not None
    assert published[fresh] is None  # within grace: publish_committed may still be on it
    await bus.close()


async def test_dispatcher_batches(db: Database, topic: str) -> None:
    bus = MemoryBus()
    sub = bus.subscribe([topic], maxsize=10)
    for i in range(5):
        await _insert_committed(db, topic, timedelta(minutes=1), i=i)
    dispatcher = OutboxDispatcher(db, bus, grace=1.0, batch=2)
    assert [await dispatcher.sweep_once() for _ in range(4)] == [2, 2, 1, 0]
    assert [e.payload["i"] for e in await receive(sub, 5)] == [0, 1, 2, 3, 4]


@pytest.fixture
async def pg_db(pg_server: str | None, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A migrated PostgreSQL database of its own, for what only PostgreSQL does."""
    if pg_server is None:
        unavailable("PostgreSQL not configured (set HUB_TEST_POSTGRES_URL)")
        raise AssertionError  # unreachable
    name = f"hub_evt_{uuid.uuid4().hex[:10]}"
    await pg_admin(pg_server, f'CREATE DATABASE "{name}"')
    db = Database(load_settings(database_url=f"{pg_server.rsplit('/', 1)[0]}/{name}"))
    try:
        await upgrade(db.engine)
        yield db
    finally:
        await db.dispose()
        await pg_admin(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_dispatcher_skips_rows_claimed_by_another_process(
    pg_db: Database, topic: str
) -> None:
    """PostgreSQL by nature: row claiming (FOR UPDATE SKIP LOCKED); SQLite has one
    writer at a time."""
    db = pg_db
    bus = MemoryBus()
    sub = bus.subscribe([topic])
    claimed = await _insert_committed(db, topic, timedelta(minutes=1), n="claimed")
    free = await _insert_committed(db, topic, timedelta(minutes=1), n="free")
    dispatcher = OutboxDispatcher(db, bus, grace=1.0)
    async with db.transaction() as other:  # another sweeper, mid-publish
        await other.execute(select(outbox.c.id).where(outbox.c.id == claimed).with_for_update())
        assert await dispatcher.sweep_once() == 1
        assert [e.id for e in await receive(sub)] == [free]
    assert await dispatcher.sweep_once() == 1
    assert [e.id for e in await receive(sub)] == [claimed]


async def test_dispatcher_runs_in_the_background(db: Database, topic: str) -> None:
    before = asyncio.all_tasks()
    bus = MemoryBus()
    sub = bus.subscribe([topic])
    row = await _insert_committed(db, topic, timedelta(minutes=1), n=1)
    dispatcher = OutboxDispatcher(db, bus, interval=0.05, grace=1.0)
    await dispatcher.start()
    task = dispatcher._task
    try:
        assert [e.id for e in await receive(sub)] == [row]
    finally:
        await dispatcher.stop()
    await bus.close()
    assert task is not None and task.done()

    # Nothing of this dispatcher is left running. (Other apps' dispatchers share this
    # event loop in the test session and start tasks of their own at any moment.)
    def ours(t: asyncio.Task) -> bool:
        frame = getattr(t.get_coro(), "cr_frame", None)
        owner = frame.f_locals.get("self") if frame is not None else None
        return owner is dispatcher or owner is dispatcher._stopping or owner is bus

    assert {t for t in asyncio.all_tasks() - before if ours(t)} == set()


async def test_prune_deletes_old_published_rows(db: Database, topic: str) -> None:
    ids = [await _insert_committed(db, topic, timedelta(days=9), i=i) for i in range(3)]
    now = datetime.now(UTC)
    async with db.transaction() as conn:
        await conn.execute(
            update(outbox).where(outbox.c.id == ids[0]).values(published_at=now - timedelta(days=8))
        )
        await conn.execute(
            update(outbox).where(outbox.c.id == ids[1]).values(published_at=now - timedelta(days=1))
        )
    assert await OutboxDispatcher(db, MemoryBus()).prune() == 1
    async with db.read() as conn:
        left = (await conn.execute(select(func.count()).select_from(outbox))).scalar_one()
    assert left == 2
    assert [r.id for r in await _rows(db)] == ids[1:]
