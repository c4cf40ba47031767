"""Helpers shared by the tests (moved from tests.test_subscriptions)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import websockets

from tests.helpers.client import contract_operation
from tests.helpers.processes import HUB, free_port, hub_run, pg_admin, unavailable

INVENTORY_CHANGED = contract_operation("InventoryChanged")


AVAILABILITY = """subscription Availability($productIds: [ID!]!) @inContext(channel: "web") {
  availabilityChanged(productIds: $productIds) {
    product { id availableForSale }
    variant { id quantityAvailable availableForSale }
    occurredAt
  }
}"""


WAIT = 15.0  # seconds any single expected thing may take


@dataclass
class Proc:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])


@dataclass
class Deployment:
    backend: str
    procs: list[Proc]
    admin_token: str
    env: dict[str, str]

    @property
    def a(self) -> Proc:
        return self.procs[0]

    @property
    def b(self) -> Proc:
        return self.procs[-1]


def _pg_server() -> str:
    url = os.environ.get("HUB_TEST_POSTGRES_URL")
    if not url:
        unavailable("PostgreSQL: HUB_TEST_POSTGRES_URL is not set")
    return url.replace("postgresql+asyncpg://", "postgresql://")  # type: ignore[union-attr]


def _start(env: dict[str, str], logdir: Path) -> Proc:
    port = free_port()
    log = logdir / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*HUB, "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    p = Proc(port, proc, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"hub serve exited:\n{p.log_tail()}"
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{p.url}/readyz", timeout=2).status_code == 200:
                return p
        time.sleep(0.2)
    proc.kill()
    proc.wait(timeout=10)
    pytest.fail(f"hub serve did not become ready:\n{p.log_tail()}")


def _stop(p: Proc) -> None:
    if p.proc.poll() is None:
        p.proc.terminate()
        try:
            p.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.proc.kill()
            p.proc.wait(timeout=10)


def served_fixture(tag: str) -> Any:
    """A test module's ``served`` fixture: :func:`deployment` (one process) on each
    backend, for the whole module; ``tag`` names its folder."""

    @pytest.fixture(scope="module", params=["sqlite", "postgresql"], name="served")
    def served(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[Deployment]:
        with deployment(request.param, tmp_path_factory.mktemp(f"{tag}-{request.param}")) as d:
            yield d

    return served


@contextlib.contextmanager
def deployment(
    backend: str, tmp: Path, *, processes: int = 1, redis_url: str | None = None
) -> Iterator[Deployment]:
    """A seeded database and ``processes`` hub servers sharing it (and Redis, if given);
    every process is stopped and the PostgreSQL database dropped on the way out."""
    drop: tuple[str, str] | None = None
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp / 'hub.db'}"
    else:
        server = _pg_server()
        name = f"hub_subs_{uuid.uuid4().hex[:8]}"
        pg_admin(server, f'CREATE DATABASE "{name}"')
        drop = (server, name)
        url = "postgresql+asyncpg://" + f"{server.rsplit('/', 1)[0]}/{name}".split("://", 1)[1]
    env = {**os.environ, "HUB_DATABASE_URL": url, "HUB_LOG_LEVEL": "WARNING"}
    env.pop("HUB_REDIS_URL", None)
    if redis_url:
        env["HUB_REDIS_URL"] = redis_url
        env["HUB_REDIS_PREFIX"] = f"hubtest-{uuid.uuid4().hex[:10]}"  # this run's channels
    procs: list[Proc] = []
    try:
        seeded = hub_run(["seed", "--demo", "--products", "60"], env)
        assert "60 products" in seeded.stdout
        token = hub_run(["apikey", "create", "--scope", "admin", "--name", "subs"], env).stdout
        token = token.strip()
        for _ in range(processes):  # one after the other: each migrates on start
            procs.append(_start(env, tmp))
        yield Deployment(backend, procs, token, env)
    finally:
        for p in procs:
            _stop(p)
        if drop is not None:
            pg_admin(drop[0], f'DROP DATABASE IF EXISTS "{drop[1]}" WITH (FORCE)')


async def gql(p: Proc, query: str, variables: dict[str, Any] | None = None, token: str = "") -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(timeout=30) as c:
        resp = await c.post(
            f"{p.url}/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert "errors" not in body, body
    return body["data"]


async def subscribers(p: Proc) -> int:
    async with httpx.AsyncClient(timeout=10) as c:
        return (await c.get(f"{p.url}/readyz")).json()["subscribers"]


async def wait_subscribers(p: Proc, n: int) -> None:
    """Until the process has exactly ``n`` bus subscribers (a subscription is live)."""
    deadline = time.monotonic() + WAIT
    got = await subscribers(p)
    while got != n:
        assert time.monotonic() < deadline, f"{got} bus subscribers, expected {n}"
        await asyncio.sleep(0.05)
        got = await subscribers(p)


def _uid() -> str:
    return uuid.uuid4().hex[:8]


async def make_variant(d: Deployment) -> tuple[str, str, str]:
    """A fresh active product with one variant priced in `web` only: (product, variant, sku)."""
    handle = f"sub-{_uid()}"
    data = await gql(
        d.a,
        """mutation($i: ProductInput!) { productCreate(input: $i) {
        product { id variants(first: 1) { nodes { id sku } } } userErrors { code } } }""",
        {
            "i": {
                "handle": handle,
                "title": f"Sub {handle}",
                "status": "ACTIVE",
                "variants": [{"sku": handle.upper()}],
            }
        },
        d.admin_token,
    )
    product = data["productCreate"]["product"]
    variant = product["variants"]["nodes"][0]
    out = await gql(
        d.a,
        """mutation($p: [VariantPriceInput!]!) { productVariantPricesSet(prices: $p) {
        userErrors { code } } }""",
        {"p": [{"variantId": variant["id"], "channel": "web", "amount": "10"}]},
        d.admin_token,
    )
    assert out["productVariantPricesSet"]["userErrors"] == []
    return product["id"], variant["id"], variant["sku"]


async def make_location(d: Deployment) -> tuple[str, str]:
    name = f"Subs {_uid()}"
    data = await gql(
        d.a,
        """mutation($i: LocationInput!) { locationCreate(input: $i) {
        location { id name } userErrors { field code } } }""",
        {
            "i": {
                "handle": f"loc-{_uid()}",
                "name": name,
                "kind": "WAREHOUSE",
                "countryCode": "US",
                "channels": ["web"],
            }
        },
        d.admin_token,
    )
    assert data["locationCreate"]["userErrors"] == []
    return data["locationCreate"]["location"]["id"], name


async def stock_op(p: Proc, token: str, op: str, input_type: str, **input_: Any) -> Any:
    data = await gql(
        p,
        f"""mutation($i: {input_type}!) {{ {op}(input: $i) {{
        level {{ onHand committed reserved available }} userErrors {{ code message }} }} }}""",
        {"i": input_},
        token,
    )
    assert data[op]["userErrors"] == [], data
    return data[op]["level"]


async def adjust(p: Proc, token: str, variant: str, location: str, delta: int) -> Any:
    return await stock_op(
        p,
        token,
        "inventoryAdjust",
        "InventoryAdjustInput",
        variantId=variant,
        locationId=location,
        delta=delta,
        reason="received" if delta > 0 else "damaged",
    )


class TransportWS:
    """A graphql-transport-ws client: ``next`` messages kept per operation id."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.inbox: dict[str, list[dict[str, Any]]] = {}

    async def subscribe(self, id: str, query: str, variables: dict[str, Any]) -> None:
        msg = {"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}}
        await self.ws.send(orjson.dumps(msg).decode())

    async def complete(self, id: str) -> None:
        await self.ws.send(orjson.dumps({"id": id, "type": "complete"}).decode())

    async def message(self, id: str, within: float = WAIT) -> dict[str, Any]:
        """The next message for operation ``id`` (frames for other ids are kept)."""
        deadline = time.monotonic() + within
        while not self.inbox.get(id):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no message for {id} within {within}s")
            raw = await asyncio.wait_for(self.ws.recv(), left)
            assert isinstance(raw, str), f"protocol messages are text frames, got {raw!r}"
            msg = orjson.loads(raw)
            if msg["type"] == "ping":
                await self.ws.send('{"type":"pong"}')
                continue
            self.inbox.setdefault(msg.get("id", ""), []).append(msg)
        return self.inbox[id].pop(0)

    async def next(self, id: str) -> dict[str, Any]:
        msg = await self.message(id)
        assert msg["type"] == "next", msg
        assert "errors" not in msg["payload"], msg
        return msg["payload"]["data"]

    async def nothing_for(self, id: str, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            msg = await self.message(id, seconds)
            pytest.fail(f"unexpected message for {id}: {msg}")


@contextlib.asynccontextmanager
async def transport_ws(
    url: str, payload: dict[str, Any] | None = None
) -> AsyncIterator[TransportWS]:
    async with websockets.connect(
        url, subprotocols=["graphql-transport-ws"], open_timeout=WAIT
    ) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "graphql-transport-ws"
        await ws.send(orjson.dumps({"type": "connection_init", "payload": payload or {}}).decode())
        ack = orjson.loads(await asyncio.wait_for(ws.recv(), WAIT))
        assert ack["type"] == "connection_ack", ack
        yield TransportWS(ws)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}
