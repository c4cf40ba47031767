"""No event lost across a Redis outage (issue 7 point 6).

Two real ``hub serve`` processes on PostgreSQL share a Redis server that THIS TEST
starts on a free port (never the shared one). Subscribers on both processes follow two
variants while a writer per process keeps changing stock. Mid-stream the test kills
that Redis (SIGKILL: it runs without persistence) for about 12 s, checks that every
write still succeeds and that ``/readyz`` answers 503 naming the bus on both processes,
then starts Redis again, empty. Every subscriber must get every event exactly once,
within a bounded time after Redis is back.

PostgreSQL by nature: two processes need a shared database (SQLite serves one process),
and this is the production set-up the outage hits. Needs ``HUB_TEST_POSTGRES_URL`` and
``redis-server``; missing either skips locally and fails under CI.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.faults import (
    Deployment,
    RedisServer,
    Writer,
    deployment,
    new_variant,
    readyz,
    require_postgres,
    subscribe_all,
    wait_complete,
    wait_readyz,
)

OUTAGE = 12.0  # seconds Redis stays down
AFTER = 15.0  # seconds every subscriber may take to have everything once Redis is back
PER_PROCESS = 3  # subscribers on each process


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis.log") as server:
        yield server


@pytest.fixture
def hubs(redis: RedisServer, tmp_path: Path) -> Iterator[Deployment]:
    require_postgres()
    env = {"HUB_REDIS_URL": redis.url, "HUB_LOG_LEVEL": "INFO"}
    with deployment("postgresql", tmp_path, processes=2, **env) as d:
        yield d


async def test_no_event_lost_when_redis_stops_and_restarts_empty(
    redis: RedisServer, hubs: Deployment
) -> None:
    d = hubs
    a, b = d.procs
    for p in d.procs:
        _, body = await readyz(p.url)
        assert body["bus"] == {"kind": "redis", "state": "up"}, body
    (va, la), (vb, lb) = await new_variant(d, "a"), await new_variant(d, "b")
    subs = await subscribe_all([a.url, b.url], d.token, [va, vb], PER_PROCESS)
    writers = [Writer(a.url, d.token, va, la), Writer(b.url, d.token, vb, lb)]
    stop = asyncio.Event()
    writing = [asyncio.create_task(w.run(stop)) for w in writers]
    try:
        await asyncio.sleep(2)
        before = sum(w.done for w in writers)
        assert before > 0, "no writes before the outage"

        redis.stop()
        down_at = time.monotonic()
        for p in d.procs:  # the bus is reported down, with the reason
            body = await wait_readyz(p.url, 503, within=5)
            assert body["bus"]["kind"] == "redis" and body["bus"]["state"] == "down", body
            assert body["bus"]["reason"], body
            assert body["database"] == "postgresql", body
        await asyncio.sleep(OUTAGE - (time.monotonic() - down_at))
        during = sum(w.done for w in writers) - before
        assert during > 0, "writes stopped while Redis was down"

        await asyncio.to_thread(redis.start)  # empty: nothing survived
        for p in d.procs:
            body = await wait_readyz(p.url, 200, within=10)
            assert body["bus"] == {"kind": "redis", "state": "up"}, body
        await asyncio.sleep(2)
    finally:
        stop.set()
        await asyncio.gather(*writing)

    expected = set().union(*(w.expected() for w in writers))
    took = await wait_complete(subs, expected, AFTER)
    await asyncio.sleep(1.5)  # anything sent twice would have arrived by now
    for s in subs:
        assert s.duplicates() == {}, f"{s.name} got events twice: {s.duplicates()}"
        assert len(s.got) == len(expected), (s.name, len(s.got), len(expected))
        assert s.errors == [], (s.name, s.errors[:3])
    for s in subs:
        await s.stop()
    print(
        f"\n[redis outage] {len(expected)} events ({during} while Redis was down for "
        f"{OUTAGE:g}s), {len(subs)} subscribers on 2 processes: 0 lost, 0 duplicated; "
        f"complete {took:.1f}s after the writes ended; "
        f"write attempts that failed: {sum(len(w.failed_attempts) for w in writers)}"
    )
    assert all(w.failed_attempts == [] for w in writers), [w.failed_attempts[:3] for w in writers]
    logs = a.log.read_text() + b.log.read_text()
    assert "Traceback" not in logs, logs
