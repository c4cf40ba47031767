"""PostgreSQL connections dropped under load (issue 7 point 11, the bus's part).

Two ``hub serve`` processes on PostgreSQL (the bus on LISTEN/NOTIFY, no Redis), with
subscribers on both and a writer per process. Four times, every connection to this
test's own database is terminated (``pg_terminate_backend``: the pools' connections
and the bus listeners alike; never another database's). The hub recovers by itself:
each change (an idempotency key) happens exactly once, any attempt that failed failed
cleanly (a GraphQL error or an HTTP 503, never a 500 or a hang) and was retried with
the same key; every subscriber gets every event exactly once; and ``hub inventory
verify`` finds the levels and the ledger in agreement.

PostgreSQL by nature (``pg_terminate_backend``); skips locally without
``HUB_TEST_POSTGRES_URL`` and fails under CI.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.faults import (
    Deployment,
    Writer,
    deployment,
    gql,
    new_variant,
    readyz,
    require_postgres,
    subscribe_all,
    terminate_connections,
    wait_complete,
)
from tests.helpers.processes import run_hub_async

DROPS = 4
LEVEL = """query($v: ID!) { node(id: $v) { ... on ProductVariant {
  inventoryLevels(first: 5) { nodes { onHand } } } } }"""


@pytest.fixture
def hubs(tmp_path: Path) -> Iterator[Deployment]:
    require_postgres()
    with deployment("postgresql", tmp_path, processes=2) as d:
        yield d


async def test_dropped_connections_lose_nothing_and_write_nothing_twice(
    hubs: Deployment,
) -> None:
    d = hubs
    a, b = d.procs
    (va, la), (vb, lb) = await new_variant(d, "a"), await new_variant(d, "b")
    subs = await subscribe_all([a.url, b.url], d.token, [va, vb], 2)
    writers = [Writer(a.url, d.token, va, la), Writer(b.url, d.token, vb, lb)]
    stop = asyncio.Event()
    writing = [asyncio.create_task(w.run(stop, pause=0.005)) for w in writers]
    dropped = 0
    try:
        for _ in range(DROPS):
            await asyncio.sleep(1.5)
            dropped += await terminate_connections(d.database_url)
        await asyncio.sleep(1.5)
    finally:
        stop.set()
        await asyncio.gather(*writing)
    assert dropped >= DROPS * 2, dropped  # at least both listeners each time

    try:
        expected = set().union(*(w.expected() for w in writers))
        took = await wait_complete(subs, expected, 10.0)
        await asyncio.sleep(1.5)
        for s in subs:
            assert s.duplicates() == {}, f"{s.name} got events twice: {s.duplicates()}"
    finally:
        for s in subs:
            await s.stop()
    for w in writers:  # each change happened once: the level is the number of changes
        data = await gql(a.url, d.token, LEVEL, {"v": w.variant})
        assert data["node"]["inventoryLevels"]["nodes"] == [{"onHand": w.done}]
    verified = await run_hub_async(["inventory", "verify"], d.env)
    assert "every stock level matches the ledger" in verified
    for p in d.procs:
        code, body = await readyz(p.url)
        assert code == 200 and body["bus"]["state"] == "up", body
    failed = [f for w in writers for f in w.failed_attempts]
    print(
        f"\n[pg connections dropped] {DROPS} times ({dropped} connections): "
        f"{sum(w.done for w in writers)} changes each applied once, {len(failed)} attempts "
        f"failed cleanly and were retried, {len(subs)} subscribers: 0 events lost, 0 "
        f"duplicated (complete {took:.1f}s after the writes ended)"
    )
