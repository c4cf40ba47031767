"""Workers that survive (issue 7 point 7), on SQLite and PostgreSQL.

- ``hub worker`` started while ITS Redis (a server this test starts on a free port,
  never the shared one) is down waits for it; when that Redis is killed and restarted
  empty, the worker comes back by itself: one log line per change of state, and it
  keeps releasing expired reservations after each return.
- With the worker killed (``kill -9``), a ``hub serve`` process that no longer sees its
  heartbeat releases an expired reservation itself, and hands the jobs back when a
  worker is running again.

Needs ``redis-server`` (and ``HUB_TEST_POSTGRES_URL`` for the PostgreSQL half); without
them these skip locally and fail under CI.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from hub.db.database import Database
from hub.domain.inventory import Inventory
from hub.settings import load_settings
from tests.helpers.faults import RedisServer, readyz, wait_readyz
from tests.helpers.processes import BACKENDS, Process, database, hub_env, run_hub, serve, wait_ready
from tests.helpers.worker import _setup_stock, _state

WAIT = 30.0


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path, tag="wfault") as url:
        run_hub(["migrate"], hub_env(url))
        yield url


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis.log")  # not started: each test decides when
    try:
        yield server
    finally:
        server.stop()


async def _expires(db: Database, within: float = WAIT) -> tuple[str, int, int]:
    """A 1-second reservation of 2 units; waits until someone released it."""
    variant, here, _ = await _setup_stock(db)
    made = await Inventory(db).reserve(variant, here, 2, ttl=timedelta(seconds=1))
    token = made.result["reservation"]
    deadline = time.monotonic() + within
    while await _state(db, token, variant, here) != ("EXPIRED", 0):
        assert time.monotonic() < deadline, "the expired reservation was not released"
        await asyncio.sleep(0.2)
    return token, variant, here


def _env(database_url: str, redis: RedisServer, **extra: str) -> dict[str, str]:
    """A ``hub`` process on this Redis (prefix ``faults``), sweeping reservations every
    second, logging at INFO."""
    return hub_env(
        database_url,
        HUB_REDIS_URL=redis.url,
        HUB_REDIS_PREFIX="faults",
        HUB_RESERVATION_SWEEP_SECONDS="1",
        **extra,
        HUB_LOG_LEVEL="INFO",
    )


async def _wait_log(p: Process, text: str, count: int = 1, within: float = WAIT) -> None:
    deadline = time.monotonic() + within
    while p.log.read_text(errors="replace").count(text) < count:
        assert p.proc.poll() is None, f"the process exited:\n{p.output()}"
        assert time.monotonic() < deadline, f"no {count} x {text!r} in:\n{p.output()}"
        await asyncio.sleep(0.1)


async def test_worker_rides_out_redis_outages(
    database_url: str, redis: RedisServer, tmp_path: Path
) -> None:
    env = _env(database_url, redis)
    db = Database(load_settings(database_url=database_url))
    worker = Process.start(["worker"], env, tmp_path / "worker.log")
    try:
        # Redis is down at start: the worker waits for it instead of exiting.
        await _wait_log(worker, "unreachable")
        await asyncio.sleep(2)
        assert worker.proc.poll() is None, worker.output()

        await asyncio.to_thread(redis.start)
        await _wait_log(worker, "worker: connected to Redis")
        await _expires(db)

        for n in (2, 3):  # killed (it forgets everything) and restarted, twice
            redis.stop()
            await _wait_log(worker, "unreachable", count=n)
            await asyncio.sleep(3)  # down for a while: a few reconnection attempts
            await asyncio.to_thread(redis.start)
            await _wait_log(worker, "worker: connected to Redis", count=n)
            await _expires(db)
    finally:
        code = await asyncio.to_thread(worker.stop)
        await db.dispose()
    log = worker.log.read_text()
    assert code == 0, log
    # One line per change of state, not one per attempt.
    assert log.count("unreachable") == 3, log
    assert log.count("worker: connected to Redis") == 3, log
    assert "hub: worker stopped" in log and "Traceback" not in log, log


async def test_serve_runs_the_jobs_while_no_worker_is_seen(
    database_url: str, redis: RedisServer, tmp_path: Path
) -> None:
    redis.start()
    env = _env(database_url, redis, HUB_WORKER_GRACE_SECONDS="2")
    db = Database(load_settings(database_url=database_url))
    worker = Process.start(["worker"], env, tmp_path / "worker.log")
    hub = serve(env, tmp_path / "serve.log")
    client = aioredis.Redis.from_url(redis.url)
    try:
        await asyncio.to_thread(wait_ready, [hub])
        deadline = time.monotonic() + WAIT
        while not await client.exists("faults:worker:heartbeat"):
            assert time.monotonic() < deadline, worker.output()
            await asyncio.sleep(0.1)
        _, body = await readyz(hub.url)
        assert body["jobs"] == "worker", body
        await _expires(db)  # by the worker
        assert "released" in worker.log.read_text(), worker.output()

        worker.signal(signal.SIGKILL)
        await asyncio.to_thread(worker.proc.wait, 10)
        await _expires(db)  # by the serve process, once the heartbeat is gone
        serve_log = hub.log.read_text()
        assert "no hub worker seen for 2s" in serve_log, serve_log
        assert "released 1 expired reservations" in serve_log, serve_log
        code, body = await readyz(hub.url)
        assert code == 200 and body["jobs"] == "this process", body

        worker = Process.start(["worker"], env, tmp_path / "worker-2.log")
        await _wait_log(hub, "hub worker is back")
        body = await wait_readyz(hub.url, 200)
        assert body["jobs"] == "worker", body
    finally:
        await client.aclose()
        await asyncio.to_thread(worker.stop)
        await asyncio.to_thread(hub.stop)
        await db.dispose()
    assert "Traceback" not in hub.log.read_text(), hub.output()
