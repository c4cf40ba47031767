"""Connector runs across real processes, on SQLite and PostgreSQL: with Redis the
scheduled runs are arq jobs of ``hub worker``; a ``hub serve`` killed with SIGKILL in
the middle of a run leaves a lease that expires, and the next run closes the dead
one's run as FAILED (ABANDONED)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.auth import create_api_key
from hub.db.database import Database
from hub.settings import load_settings
from tests.helpers.connectors import CREATE, RUN, RUN_NOW, RUNS
from tests.helpers.processes import Process, hub_env, run_hub_async, serve, wait_ready
from tests.helpers.tax_service import TaxStandIn, tax_stand_in
from tests.helpers.worker import (  # noqa: F401  (fixtures)
    WorkerSetup,
    database_url,
    prefix,
    redis_url,
    worker_setup,
)


@pytest.fixture
def service() -> Iterator[TaxStandIn]:
    with tax_stand_in() as state:
        yield state


async def _admin_key(url: str) -> str:
    db = Database(load_settings(database_url=url))
    try:
        _, key = await create_api_key(db, "connector-tests", ["admin"])
        return key
    finally:
        await db.dispose()


async def _gql(base: str, key: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        resp = await client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {key}"},
        )
    assert resp.status_code == 200, resp.text
    got: dict[str, Any] = resp.json()
    assert "errors" not in got, got
    return got["data"]


async def _create_tax(base: str, key: str, service: TaxStandIn, **fields: Any) -> str:
    config = {"url": service.url, "api_key": service.api_key, "timeout": 20, "retries": 0}
    data = await _gql(
        base,
        key,
        CREATE,
        {"input": {"name": "tax", "typeName": "http_tax", "config": config, **fields}},
    )
    assert data["connectorCreate"]["userErrors"] == [], data
    gid: str = data["connectorCreate"]["connector"]["id"]
    return gid


async def test_scheduled_runs_are_jobs_of_hub_worker(
    worker_setup: WorkerSetup,  # noqa: F811
    service: TaxStandIn,
    tmp_path: Path,
) -> None:
    env, _ = await worker_setup.migrate()
    key = await _admin_key(worker_setup.database_url)
    server = serve(env, tmp_path / "serve.log")
    worker = Process.start(["worker"], env, tmp_path / "worker.log")
    try:
        await asyncio.to_thread(wait_ready, [server])
        gid = await _create_tax(server.url, key, service, scheduleSeconds=1)
        deadline = time.monotonic() + 30
        while True:
            data = await _gql(server.url, key, RUNS, {"id": gid, "first": 10})
            done = [r for r in data["connectorRuns"]["nodes"] if r["status"] == "SUCCEEDED"]
            if len(done) >= 2:
                break
            assert worker.proc.poll() is None, worker.output()
            assert time.monotonic() < deadline, (data, worker.output(), server.output())
            await asyncio.sleep(0.25)
        assert {r["trigger"] for r in done} == {"SCHEDULE"}
        # Run by the worker (its pid), not by the serve process.
        assert {r["runner"].split(":")[1] for r in done} == {str(worker.proc.pid)}
        assert service.calls >= 2
    finally:
        await asyncio.to_thread(worker.stop)
        await asyncio.to_thread(server.stop)


async def test_a_killed_process_leaves_a_lease_that_expires(
    database_url: str,  # noqa: F811
    service: TaxStandIn,
    tmp_path: Path,
) -> None:
    env = hub_env(database_url, HUB_CONNECTORS_LEASE_SECONDS="2")
    await run_hub_async(["migrate"], env)
    key = await _admin_key(database_url)
    first = serve(env, tmp_path / "first.log")
    second: Process | None = None
    try:
        await asyncio.to_thread(wait_ready, [first])
        gid = await _create_tax(first.url, key, service, enabled=True)
        service.delay = 30.0  # the probe hangs in the first process
        started = (await _gql(first.url, key, RUN_NOW, {"id": gid, "wait": False}))[
            "connectorRunNow"
        ]["run"]
        assert started["status"] == "RUNNING"
        deadline = time.monotonic() + 10
        while service.calls == 0:  # the call is under way
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        os.killpg(first.proc.pid, signal.SIGKILL)
        first.proc.wait(10)

        service.delay = 0.0
        second = serve(env, tmp_path / "second.log")
        await asyncio.to_thread(wait_ready, [second])
        deadline = time.monotonic() + 15
        while True:
            got = (await _gql(second.url, key, RUN_NOW, {"id": gid, "wait": True}))[
                "connectorRunNow"
            ]
            if not got["userErrors"]:
                break
            assert [e["code"] for e in got["userErrors"]] == ["CONNECTOR_BUSY"]
            assert time.monotonic() < deadline, "the dead process's lease never expired"
            await asyncio.sleep(0.3)
        assert got["run"]["status"] == "SUCCEEDED", got
        old = (await _gql(second.url, key, RUN, {"id": started["id"]}))["connectorRun"]
        assert old["status"] == "FAILED" and [e["code"] for e in old["errors"]] == ["ABANDONED"]
        assert old["endedAt"] is not None
    finally:
        service.delay = 0.0
        await asyncio.to_thread(first.stop)
        if second is not None:
            await asyncio.to_thread(second.stop)
