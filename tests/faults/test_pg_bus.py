"""The event bus on PostgreSQL without Redis: LISTEN/NOTIFY (issue 8 point 3), with the
same no-loss guarantee as Redis when its connection drops (issue 7 point 6).

PostgreSQL by nature (LISTEN/NOTIFY is PostgreSQL's; SQLite serves one process). Needs
``HUB_TEST_POSTGRES_URL``: skips locally without it and fails under CI. Every
``pg_terminate_backend`` here is limited to this test's own database.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.faults import (
    Deployment,
    Subscriber,
    Writer,
    connections,
    deployment,
    new_variant,
    readyz,
    require_postgres,
    subscribe_all,
    terminate_connections,
    wait_complete,
    wait_subscribers,
)

AFTER = 10.0  # seconds every subscriber may take to have everything once writes end


@pytest.fixture
def two_processes(tmp_path: Path) -> Iterator[Deployment]:
    require_postgres()
    with deployment("postgresql", tmp_path, processes=2, HUB_LOG_LEVEL="INFO") as d:
        yield d


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[Deployment]:
    require_postgres()
    with deployment("postgresql", tmp_path, processes=1, workers=2) as d:
        yield d


async def _listeners(d: Deployment, n: int, within: float = 10) -> None:
    deadline = time.monotonic() + within
    while (got := await connections(d.database_url, "hub-events")) != n:
        assert time.monotonic() < deadline, f"{got} listener connections, expected {n}"
        await asyncio.sleep(0.1)


async def test_every_process_gets_every_event_and_a_dropped_listener_loses_none(
    two_processes: Deployment,
) -> None:
    d = two_processes
    a, b = d.procs
    for p in d.procs:
        code, body = await readyz(p.url)
        assert code == 200 and body["bus"] == {"kind": "postgresql", "state": "up"}, body
    await _listeners(d, 2)
    (va, la), (vb, lb) = await new_variant(d, "a"), await new_variant(d, "b")
    subs = await subscribe_all([a.url, b.url], d.token, [va, vb], 3)
    writers = [Writer(a.url, d.token, va, la), Writer(b.url, d.token, vb, lb)]
    stop = asyncio.Event()
    writing = [asyncio.create_task(w.run(stop)) for w in writers]
    dropped = 0
    try:
        for _ in range(3):  # the listeners' connections dropped mid-stream, three times
            await asyncio.sleep(1.5)
            dropped += await terminate_connections(d.database_url, "hub-events")
        await asyncio.sleep(1.5)
    finally:
        stop.set()
        await asyncio.gather(*writing)
    assert dropped >= 3, dropped
    expected = set().union(*(w.expected() for w in writers))
    took = await wait_complete(subs, expected, AFTER)
    await asyncio.sleep(1.5)  # anything sent twice would have arrived by now
    try:
        for s in subs:
            assert s.duplicates() == {}, f"{s.name} got events twice: {s.duplicates()}"
            assert s.errors == [], s.errors[:3]
        await _listeners(d, 2)  # both listening again
        for p in d.procs:
            code, body = await readyz(p.url)
            assert code == 200 and body["bus"]["state"] == "up", body
    finally:
        for s in subs:
            await s.stop()
    logs = a.log.read_text() + b.log.read_text()
    assert "PostgreSQL listener lost" in logs, logs[-3000:]
    assert "Traceback" not in logs, logs
    print(
        f"\n[pg bus] {len(expected)} events, 6 subscribers on 2 processes, listener "
        f"connections dropped {dropped} times: 0 lost, 0 duplicated (complete {took:.1f}s "
        "after the writes ended)"
    )


async def test_serve_with_two_workers_without_redis(two_workers: Deployment) -> None:
    """``hub serve --workers 2``: both workers LISTEN, and a change made through either
    reaches the subscribers of both (the kernel spreads connections between them)."""
    d = two_workers
    (url,) = [p.url for p in d.procs]
    await _listeners(d, 2)
    variant, location = await new_variant(d, "w")
    subs: list[Subscriber] = []
    spread: dict[int, int] = {}
    while len(subs) < 6 or len([n for n in spread.values() if n]) < 2:  # on both workers
        assert len(subs) < 40, f"40 websockets all went to one worker: {spread}"
        subs += await subscribe_all([url], d.token, [variant], 1)
        spread = await wait_subscribers(url, len(subs))
    writer = Writer(url, d.token, variant, location)
    stop = asyncio.Event()
    task = asyncio.create_task(writer.run(stop, pause=0.05))
    await asyncio.sleep(3)
    stop.set()
    await task
    assert writer.done >= 10, writer.done
    try:
        took = await wait_complete(subs, writer.expected(), AFTER)
        await asyncio.sleep(1.5)
        for s in subs:
            assert s.duplicates() == {}, s.duplicates()
    finally:
        for s in subs:
            await s.stop()
    print(
        f"\n[pg bus, --workers 2] {writer.done} events to {len(subs)} subscribers on 2 "
        f"workers {sorted(spread.values())}: 0 lost "
        f"(complete {took:.1f}s after the writes ended)"
    )
