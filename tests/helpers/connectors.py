"""Connector tests' helpers: GraphQL calls of the connector admin API (create, run now,
wait for a run's end, read the runs) and test connector types.

A test connector type is a test double of an OUTSIDE system: it records what the hub
handed it (events, sync calls) as JSON lines in a file the test names in its config,
and can be told to fail, to fail some items, or to hang. Register it on the running
hub with :func:`register` (``hub.integrations.register``), as a plugin would.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from connectors.base import ConnectorKind, Event, RunContext
from tests.helpers.app import hub_of
from tests.helpers.client import Hub

CONNECTOR_FIELDS = """
    id name typeName kind enabled source config secrets { name isSet }
    scheduleSeconds eventIntervalSeconds timeoutSeconds cursor failures nextRunAt
    eventsAfter lastError running
"""
RUN_FIELDS = """
    id connectorId trigger status startedAt endedAt itemsRead itemsWritten events
    errorCount errors { item code message } message runner
"""

CREATE = f"""
mutation($input: ConnectorCreateInput!) {{
  connectorCreate(input: $input) {{
    connector {{ {CONNECTOR_FIELDS} }}
    userErrors {{ field message code }}
  }}
}}"""

UPDATE = f"""
mutation($id: ID!, $input: ConnectorUpdateInput!) {{
  connectorUpdate(id: $id, input: $input) {{
    connector {{ {CONNECTOR_FIELDS} }}
    userErrors {{ field message code }}
  }}
}}"""

DELETE = """
mutation($id: ID!) { connectorDelete(id: $id) { deletedId userErrors { field message code } } }
"""

RUN_NOW = f"""
mutation($id: ID!, $wait: Boolean) {{
  connectorRunNow(id: $id, wait: $wait) {{
    run {{ {RUN_FIELDS} }}
    userErrors {{ field message code }}
  }}
}}"""

RUN = f"""query($id: ID!) {{ connectorRun(id: $id) {{ {RUN_FIELDS} }} }}"""

RUNS = f"""
query($id: ID!, $first: Int, $after: String) {{
  connectorRuns(connectorId: $id, first: $first, after: $after) {{
    nodes {{ {RUN_FIELDS} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""

CONNECTOR = f"""query($id: ID!) {{ connector(id: $id) {{ {CONNECTOR_FIELDS} }} }}"""


def register(hub: Hub, *types: type[Any]) -> None:
    """Register connector types on the running app (as a plugin would)."""
    for cls in types:
        hub_of(hub.app).integrations.register(cls)


async def create_connector(
    hub: Hub, name: str, type_name: str, config: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    """``connectorCreate``; the connector (asserts no userErrors)."""
    got = await hub.admin(
        CREATE, {"input": {"name": name, "typeName": type_name, "config": config, **fields}}
    )
    assert "errors" not in got, got
    payload = got["data"]["connectorCreate"]
    assert payload["userErrors"] == [], payload
    connector: dict[str, Any] = payload["connector"]
    return connector


async def update_connector(hub: Hub, gid: str, **fields: Any) -> dict[str, Any]:
    got = await hub.admin(UPDATE, {"id": gid, "input": fields})
    assert "errors" not in got, got
    payload: dict[str, Any] = got["data"]["connectorUpdate"]
    return payload


async def delete_connector(hub: Hub, gid: str) -> None:
    got = await hub.admin(DELETE, {"id": gid})
    assert got["data"]["connectorDelete"]["userErrors"] == [], got


async def connector(hub: Hub, gid: str) -> dict[str, Any]:
    got = await hub.admin(CONNECTOR, {"id": gid})
    assert "errors" not in got, got
    found: dict[str, Any] = got["data"]["connector"]
    return found


async def run_now(
    hub: Hub, gid: str, *, wait: bool = False, busy_for: float = 10.0
) -> dict[str, Any]:
    """``connectorRunNow``: the run (RUNNING, or ended with ``wait``). While an
    automatic run holds the instance (CONNECTOR_BUSY) it asks again, for up to
    ``busy_for`` seconds."""
    deadline = time.monotonic() + busy_for
    while True:
        got = await hub.admin(RUN_NOW, {"id": gid, "wait": wait})
        assert "errors" not in got, got
        payload = got["data"]["connectorRunNow"]
        codes = [e["code"] for e in payload["userErrors"]]
        if codes == ["CONNECTOR_BUSY"] and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            continue
        assert payload["userErrors"] == [], payload
        run: dict[str, Any] = payload["run"]
        return run


async def wait_run(hub: Hub, run_id: str, within: float = 15.0) -> dict[str, Any]:
    """The run once it ended (polls ``connectorRun``)."""
    deadline = time.monotonic() + within
    while True:
        got = await hub.admin(RUN, {"id": run_id})
        run: dict[str, Any] = got["data"]["connectorRun"]
        if run["status"] != "RUNNING":
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} still RUNNING after {within}s")
        await asyncio.sleep(0.1)


async def runs(
    hub: Hub, gid: str, first: int = 50, after: str | None = None
) -> list[dict[str, Any]]:
    """The connector's runs, newest first (one page)."""
    got = await hub.admin(RUNS, {"id": gid, "first": first, "after": after})
    assert "errors" not in got, got
    found: list[dict[str, Any]] = got["data"]["connectorRuns"]["nodes"]
    return found


async def wait_runs(
    hub: Hub, gid: str, n: int, within: float = 15.0, **match: Any
) -> list[dict[str, Any]]:
    """At least ``n`` ended runs of the connector with these fields (e.g.
    ``trigger="EVENT"``), newest first (polls ``connectorRuns``)."""
    deadline = time.monotonic() + within
    while True:
        found = [
            r
            for r in await runs(hub, gid)
            if r["status"] != "RUNNING" and all(r[k] == v for k, v in match.items())
        ]
        if len(found) >= n:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(found)} of {n} runs {match} after {within}s")
        await asyncio.sleep(0.1)


async def idle(hub: Hub, gid: str, within: float = 15.0) -> None:
    """Once no run of the connector is RUNNING (an event run may follow a manual one:
    on PostgreSQL a new instance starts at the server-wide transaction horizon, so
    events committed just before its creation can still come, at least once)."""
    deadline = time.monotonic() + within
    while any(r["status"] == "RUNNING" for r in await runs(hub, gid, first=5)):
        if time.monotonic() > deadline:
            raise AssertionError(f"connector {gid} still running after {within}s")
        await asyncio.sleep(0.1)


# ---------------------------------------------------------------- test connector types


class RecorderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    out: str  # the file the connector appends what it received to
    token: str | None = None  # a secret (write-only)
    items: int = 1  # items "read" per sync
    fail: bool = False  # every run raises
    fail_items: list[str] = []  # items reported as errors
    hang: bool = False  # sync never returns


def received(path: Path) -> list[dict[str, Any]]:
    """What a recorder connector wrote to ``path``, in order."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def _append(path: str, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")


class Recorder:
    """A connector that records each sync and each batch of events it is handed."""

    type_name: str = "test_recorder"
    kind: ConnectorKind = "erp"
    config_schema: type[Any] = RecorderConfig
    secret_fields: frozenset[str] = frozenset({"token"})
    topics: tuple[str, ...] = ("inventory.*", "test.*")

    async def sync(self, ctx: RunContext) -> None:
        config = RecorderConfig.model_validate(dict(ctx.config))
        if config.hang:
            _append(config.out, {"hang": True})
            await asyncio.sleep(3600)
        if config.fail:
            raise RuntimeError("the outside system is down")
        n = int(ctx.cursor or 0) + 1
        _append(config.out, {"sync": n, "token": config.token})
        ctx.read(config.items)
        ctx.written(config.items - len(config.fail_items))
        for item in config.fail_items:
            ctx.error(item, "BAD_ITEM", f"item {item} is broken")
        ctx.set_cursor(str(n))

    async def handle(self, ctx: RunContext, events: Sequence[Event]) -> None:
        config = RecorderConfig.model_validate(dict(ctx.config))
        if config.fail:
            raise RuntimeError("the outside system is down")
        _append(
            config.out,
            {"events": [{"id": e.id, "topic": e.topic, "payload": e.payload} for e in events]},
        )
        ctx.written(len(events))
