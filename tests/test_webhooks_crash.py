"""kill -9 of real ``hub serve`` processes between an event's commit and its webhook's
delivery, on SQLite and PostgreSQL: after a restart the webhook is delivered (nothing
lost), once per event id.

1. Process A never fans out after its start (``HUB_WEBHOOK_POLL_SECONDS=600``): the
   events committed through it have no delivery yet when it is killed.
2. Process B delivers them, then is killed while a receiver holds B's request open
   (sent, not yet recorded); process C sends it again once B's claim lapses.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.db import read_rows
from tests.helpers.processes import BACKENDS, Process, database, hub_env, run_hub, serve, wait_ready
from tests.helpers.webhooks import SUBSCRIBE, Receiver, adjust, receiver_server, stock


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with receiver_server() as r:
        yield r


def _client(p: Process, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=p.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


async def _subscribe(client: httpx.AsyncClient, url: str) -> int:
    resp = await client.post(
        "/graphql",
        json={"query": SUBSCRIBE, "variables": {"i": {"url": url, "topics": ["inventory.*"]}}},
    )
    made = resp.json()["data"]["webhookSubscriptionCreate"]
    assert made["userErrors"] == [], made
    return int(made["webhookSubscription"]["id"].rsplit("/", 1)[1])


async def _count(url: str, sql: str, **params: object) -> int:
    return int((await read_rows(url, sql, **params))[0][0])


def _kill(p: Process) -> None:
    p.signal(signal.SIGKILL)
    p.proc.wait(10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_kill_between_commit_and_delivery_then_restart_delivers(
    backend: str, tmp_path: Path, receiver: Receiver
) -> None:
    with database(backend, tmp_path, tag="whcrash") as url:
        env = hub_env(
            url,
            HUB_WEBHOOK_ALLOW_PRIVATE="true",
            HUB_WEBHOOK_POLL_SECONDS="0.2",
            HUB_WEBHOOK_BACKOFF_SECONDS="0.2",
            HUB_WEBHOOK_TIMEOUT_SECONDS="2",
            HUB_WEBHOOK_LEASE_SECONDS="1",  # a claim lasts the timeout + 5 s
        )
        run_hub(["seed", "--demo", "--products", "10"], env)
        token = run_hub(["apikey", "create", "--scope", "admin", "--name", "wh"], env).strip()
        procs: list[Process] = []
        try:
            asyncio.run(_scenario(url, env, token, tmp_path, receiver, procs))
        finally:
            for p in procs:
                p.stop()


async def _scenario(
    url: str,
    env: dict[str, str],
    token: str,
    tmp: Path,
    receiver: Receiver,
    procs: list[Process],
) -> None:
    path, hold = f"crash-{time.time_ns()}", f"hold-{time.time_ns()}"
    # 1. A commits events and dies before fanning them out.
    a = serve({**env, "HUB_WEBHOOK_POLL_SECONDS": "600"}, tmp / "a.log")
    procs.append(a)
    wait_ready([a], timeout=120)
    async with _client(a, token) as admin:
        sub = await _subscribe(admin, receiver.endpoint(path))
        variant, location = await stock(admin)
        await adjust(admin, variant, location)
    events = await _count(
        url, "SELECT COUNT(*) FROM outbox WHERE topic = 'inventory.changed' AND id > :i", i=0
    )
    assert events >= 2
    await asyncio.sleep(1.0)
    assert await _count(url, "SELECT COUNT(*) FROM webhook_deliveries") == 0
    _kill(a)
    assert receiver.at(path) == []

    # 2. B delivers them; then it dies with a request to `hold` in flight.
    b = serve(env, tmp / "b.log")
    procs.append(b)
    wait_ready([b], timeout=120)
    got = await receiver.wait(path, 2, within=30)
    assert len(got) == 2, b.output()
    assert len({h.event_id for h in got}) == 2
    async with _client(b, token) as admin:
        await _subscribe(admin, receiver.endpoint(hold, delay=60.0))
        await adjust(admin, variant, location)
    for _ in range(400):  # `hold` has its request; the first subscription is settled
        settled = await _count(
            url,
            "SELECT COUNT(*) FROM webhook_deliveries WHERE subscription_id = :s "
            "AND status = 'SUCCEEDED'",
            s=sub,
        )
        if receiver.at(hold) and settled == 3:
            break
        await asyncio.sleep(0.05)
    [held] = receiver.at(hold)
    assert held.status == 0  # still answering
    killed = time.monotonic()
    _kill(b)
    receiver.paths[hold].delay = 0.0

    # C sends it again once B's claim lapses: delivered, exactly one success.
    c = serve(env, tmp / "c.log")
    procs.append(c)
    wait_ready([c], timeout=120)
    for _ in range(400):
        again = [h for h in receiver.at(hold) if h.at > killed and h.status == 200]
        if again:
            break
        await asyncio.sleep(0.05)
    assert len(again) == 1 and again[0].event_id == held.event_id, c.output()
    for _ in range(100):
        done = await _count(
            url, "SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'SUCCEEDED'"
        )
        if done == 4:  # three events to the first subscription, one to `hold`
            break
        await asyncio.sleep(0.1)
    assert done == 4
    assert (
        await _count(
            url,
            "SELECT COUNT(*) FROM webhook_deliveries WHERE subscription_id = :s AND attempts = 1",
            s=sub,
        )
        == 3
    )
    # Exactly one success per event id on the first subscription.
    successes = [h.event_id for h in receiver.at(path) if h.status == 200]
    assert len(successes) == len(set(successes)) == 3
