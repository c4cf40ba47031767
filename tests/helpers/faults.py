"""What the fault tests share: a Redis server of the test's own (stopped and restarted
at will; never the shared one), a deployment of real ``hub serve`` processes, websocket
subscribers that record every event they get, writers that keep changing stock, and
dropping a test database's own PostgreSQL connections."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import websockets

from tests.helpers.client import contract_operation
from tests.helpers.processes import (
    Process,
    database,
    free_port,
    hub_env,
    run_hub,
    serve,
    unavailable,
    wait_ready,
)

INVENTORY_CHANGED = contract_operation("InventoryChanged")
WAIT = 20.0  # seconds a single expected thing may take


# ----------------------------------------------------------------- our own Redis


class RedisServer:
    """A ``redis-server`` child process on a free port, without persistence (like the
    hub's): ``stop()`` loses everything, ``start()`` again comes back empty."""

    def __init__(self, log: Path) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            unavailable("redis-server is not installed")
        self.exe = exe or "redis-server"
        self.port = free_port()
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> None:
        assert self.proc is None, "already running"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    self.exe,
                    *("--port", str(self.port), "--bind", "127.0.0.1"),
                    *("--save", "", "--appendonly", "no", "--daemonize", "no"),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1
        import redis

        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, f"redis-server exited:\n{self.log.read_text()}"
            try:
                redis.Redis(port=self.port, socket_connect_timeout=0.5).ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop it (SIGKILL: nothing is saved, nothing is flushed politely)."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ------------------------------------------------------------- hub deployments


@dataclass
class Deployment:
    database_url: str
    env: dict[str, str]
    token: str
    procs: list[Process] = field(default_factory=list)


@contextlib.contextmanager
def deployment(
    backend: str, tmp: Path, *, processes: int = 2, workers: int = 1, **env: str
) -> Iterator[Deployment]:
    """A seeded database (60 demo products), an admin key and ``processes`` ``hub serve``
    processes (each with ``workers`` workers) on it; all stopped on the way out."""
    with database(backend, tmp, tag="faults") as url:
        penv = hub_env(url, **env)
        run_hub(["seed", "--demo", "--products", "60"], penv)
        token = run_hub(["apikey", "create", "--scope", "admin", "--name", "faults"], penv)
        d = Deployment(url, penv, token.strip())
        try:
            for n in range(processes):  # one after the other: each migrates on start
                p = serve(penv, tmp / f"serve-{n}.log", workers=workers)
                d.procs.append(p)
                wait_ready([p])
            yield d
        finally:
            for p in d.procs:
                p.stop()


async def readyz(url: str) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(timeout=5) as c:
        resp = await c.get(f"{url}/readyz")
    return resp.status_code, resp.json()


async def wait_readyz(url: str, status: int, within: float = WAIT) -> dict[str, Any]:
    """Until ``/readyz`` of ``url`` answers ``status``; its body."""
    deadline = time.monotonic() + within
    while True:
        code, body = await readyz(url)
        if code == status:
            return body
        assert time.monotonic() < deadline, f"/readyz stayed {code}: {body}"
        await asyncio.sleep(0.1)


async def gql(url: str, token: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as c:
        resp = await c.post(
            f"{url}/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert "errors" not in body, body
    return body["data"]


async def new_variant(d: Deployment, tag: str) -> tuple[str, str]:
    """A fresh tracked variant and a fresh warehouse selling to `web`: (variant, location)."""
    url, token = d.procs[0].url, d.token
    handle = f"fault-{tag}-{uuid.uuid4().hex[:6]}"
    data = await gql(
        url,
        token,
        """mutation($i: ProductInput!) { productCreate(input: $i) {
        product { variants(first: 1) { nodes { id } } } userErrors { code } } }""",
        {
            "i": {
                "handle": handle,
                "title": handle,
                "status": "ACTIVE",
                "variants": [{"sku": handle.upper()}],
            }
        },
    )
    variant = data["productCreate"]["product"]["variants"]["nodes"][0]["id"]
    data = await gql(
        url,
        token,
        """mutation($i: LocationInput!) { locationCreate(input: $i) {
        location { id } userErrors { code } } }""",
        {
            "i": {
                "handle": handle,
                "name": handle,
                "kind": "WAREHOUSE",
                "countryCode": "US",
                "channels": ["web"],
            }
        },
    )
    return variant, data["locationCreate"]["location"]["id"]


# ------------------------------------------------------------------ subscribers


class Subscriber:
    """One graphql-transport-ws connection with one ``InventoryChanged`` subscription;
    records ``(variant id, onHand)`` of every event it gets, in order."""

    def __init__(self, ws_url: str, token: str, variants: list[str], name: str) -> None:
        self.ws_url = ws_url
        self.token = token
        self.variants = variants
        self.name = name
        self.got: list[tuple[str, int]] = []
        self.errors: list[Any] = []
        self._task: asyncio.Task[None] | None = None
        self._live = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._live.wait(), WAIT)

    async def _run(self) -> None:
        async with websockets.connect(
            self.ws_url, subprotocols=["graphql-transport-ws"], open_timeout=WAIT
        ) as ws:  # type: ignore[list-item]
            init = {"authorization": f"Bearer {self.token}"}
            await ws.send(orjson.dumps({"type": "connection_init", "payload": init}).decode())
            ack = orjson.loads(await asyncio.wait_for(ws.recv(), WAIT))
            assert ack["type"] == "connection_ack", ack
            sub = {"query": INVENTORY_CHANGED, "variables": {"variantIds": self.variants}}
            await ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": sub}).decode())
            self._live.set()
            async for raw in ws:
                msg = orjson.loads(raw)
                if msg["type"] == "ping":
                    await ws.send('{"type":"pong"}')
                elif msg["type"] == "next" and "errors" not in msg["payload"]:
                    change = msg["payload"]["data"]["inventoryChanged"]
                    self.got.append((change["variant"]["id"], change["level"]["onHand"]))
                else:
                    self.errors.append(msg)

    def missing(self, expected: set[tuple[str, int]]) -> set[tuple[str, int]]:
        return expected - set(self.got)

    def duplicates(self) -> dict[tuple[str, int], int]:
        return {k: n for k, n in Counter(self.got).items() if n > 1}

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


async def subscribe_all(
    urls: list[str], token: str, variants: list[str], per_process: int
) -> list[Subscriber]:
    subs = [
        Subscriber(url.replace("http://", "ws://") + "/graphql", token, variants, f"{url}#{i}")
        for url in urls
        for i in range(per_process)
    ]
    await asyncio.gather(*(s.start() for s in subs))
    for url in urls:  # each subscription is live on its process's bus
        await wait_subscribers(url, per_process)
    return subs


async def wait_subscribers(url: str, n: int) -> dict[int, int]:
    """Until the processes behind ``url`` (one, or a ``--workers`` group sharing the
    port, told apart by the pid /readyz names) hold ``n`` bus subscribers in all; the
    count per pid."""
    deadline = time.monotonic() + WAIT
    seen: dict[int, int] = {}
    while sum(seen.values()) < n:
        assert time.monotonic() < deadline, f"subscriptions on {url} did not start: {seen}"
        _, body = await readyz(url)
        seen[body["process"]] = body["subscribers"]
        await asyncio.sleep(0.02)
    return seen


async def wait_complete(
    subs: list[Subscriber], expected: set[tuple[str, int]], within: float
) -> float:
    """Until every subscriber has every expected event; how long that took (s). Fails
    naming what is missing (and any duplicate) when ``within`` runs out."""
    start = time.monotonic()
    while any(s.missing(expected) for s in subs):
        if time.monotonic() - start > within:
            report = {
                s.name: {
                    "missing": len(s.missing(expected)),
                    "of": len(expected),
                    "errors": s.errors[:2],
                }
                for s in subs
            }
            raise AssertionError(f"events lost after {within:g}s: {report}")
        await asyncio.sleep(0.1)
    return time.monotonic() - start


# ------------------------------------------------------------------- writers


ADJUST = """mutation($i: InventoryAdjustInput!) { inventoryAdjust(input: $i) {
  level { onHand } userErrors { code message } } }"""


@dataclass
class Writer:
    """Adds one unit at a time to one variant through one process, each change with
    its own idempotency key, retrying a failed attempt with the same key until it is
    answered: so each change happens exactly once, and its event carries the onHand
    it made (1, 2, 3, ...)."""

    url: str
    token: str
    variant: str
    location: str
    done: int = 0
    failed_attempts: list[str] = field(default_factory=list)

    async def write(self, client: httpx.AsyncClient, key: str) -> int:
        payload = {
            "query": ADJUST,
            "variables": {
                "i": {
                    "variantId": self.variant,
                    "locationId": self.location,
                    "delta": 1,
                    "reason": "received",
                    "idempotencyKey": key,
                }
            },
        }
        deadline = time.monotonic() + WAIT
        while True:
            try:
                resp = await client.post(f"{self.url}/graphql", json=payload)
                body = resp.json()
                if resp.status_code == 200 and not body.get("errors"):
                    out = body["data"]["inventoryAdjust"]
                    assert out["userErrors"] == [], out
                    return int(out["level"]["onHand"])
                # A clean failure: an HTTP 503, or a GraphQL error; never a 500.
                assert resp.status_code in (200, 503), (resp.status_code, resp.text)
                self.failed_attempts.append(f"{resp.status_code} {resp.text[:200]}")
            except httpx.HTTPError as exc:
                self.failed_attempts.append(repr(exc))
            assert time.monotonic() < deadline, f"{key}: no answer within {WAIT}s"
            await asyncio.sleep(0.2)

    async def run(self, stop: asyncio.Event, pause: float = 0.02) -> None:
        tag = uuid.uuid4().hex[:8]
        async with httpx.AsyncClient(
            timeout=10, headers={"Authorization": f"Bearer {self.token}"}
        ) as client:
            while not stop.is_set():
                on_hand = await self.write(client, f"{tag}-{self.done + 1}")
                assert on_hand == self.done + 1, f"{self.variant}: onHand {on_hand}"
                self.done += 1
                await asyncio.sleep(pause)

    def expected(self) -> set[tuple[str, int]]:
        return {(self.variant, n) for n in range(1, self.done + 1)}


# --------------------------------------------------------------- PostgreSQL


async def _on_database(database_url: str, sql: str, *args: Any) -> Any:
    import asyncpg

    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def terminate_connections(database_url: str, application: str | None = None) -> int:
    """``pg_terminate_backend`` every connection to THIS test's database (only those of
    one ``application_name`` if given), never another database's; how many."""
    return await _on_database(
        database_url,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND ($1::text IS NULL OR application_name = $1)",
        application,
    )


async def connections(database_url: str, application: str) -> int:
    """Connections of ``application`` to THIS test's database."""
    return await _on_database(
        database_url,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND application_name = $1",
        application,
    )


def require_postgres() -> None:
    if not os.environ.get("HUB_TEST_POSTGRES_URL"):
        unavailable("PostgreSQL not configured (set HUB_TEST_POSTGRES_URL)")
