"""The edge against real ``hub serve`` processes, on SQLite and PostgreSQL.

- Keys checked for the life of a socket (issue 7 point 1): admin sockets on two
  processes sharing Redis, ``hub apikey revoke``: both closed with 4403 well within
  HUB_AUTH_CACHE_SECONDS, their subscriptions gone, a mutation sent meanwhile refused
  (nothing written), other keys' sockets untouched. Without Redis the periodic check
  closes a revoked or expired key's socket within the cache lifetime.
- The cost budget shared by two processes through Redis.
- Bounded requests (issue 7 point 3): 10 MB bodies 413 (by Content-Length and chunked,
  answered before the body is sent), the process does not grow with fifty distinct
  large requests (RSS), a websocket frame over the limit closes the socket (1009).
- Websocket robustness (issue 7 point 8): malformed messages on both protocols close
  with 4400 or answer an error, never a traceback; a non-string query is an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
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
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.helpers.client import contract_operation
from tests.helpers.processes import (
    Process,
    database,
    hub_env,
    hub_run,
    reachable_redis,
    run_hub_async,
    serve,
    wait_ready,
)

LISTING = contract_operation("ProductListing")
INVENTORY_CHANGED = contract_operation("InventoryChanged")
CACHE_SECONDS = 4.0
WAIT = 15.0


@dataclass
class Served:
    backend: str
    url: str  # database
    env: dict[str, str]
    procs: list[Process]
    admin: str

    @property
    def a(self) -> Process:
        return self.procs[0]

    @property
    def b(self) -> Process:
        return self.procs[-1]


def ws_url(p: Process) -> str:
    return p.url.replace("http://", "ws://") + "/graphql"


@contextlib.contextmanager
def deployment(backend: str, tmp: Path, processes: int, **extra: str) -> Iterator[Served]:
    with database(backend, tmp, "edge") as url:
        env = hub_env(url, HUB_AUTH_CACHE_SECONDS=str(CACHE_SECONDS), **extra)
        hub_run(["seed", "--demo", "--products", "30"], env)
        admin = hub_run(["apikey", "create", "--scope", "admin", "--name", "edge"], env).stdout
        procs: list[Process] = []
        try:
            for i in range(processes):
                procs.append(serve(env, tmp / f"serve-{i}.log"))
                wait_ready(procs[-1:])
            yield Served(backend, url, env, procs, admin.strip())
        finally:
            for p in procs:
                p.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def solo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp(f"edge-solo-{request.param}")
    with deployment(request.param, tmp, 1) as d:
        yield d


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp(f"edge-pair-{request.param}")
    extra = {
        "HUB_REDIS_URL": reachable_redis(),
        "HUB_REDIS_PREFIX": f"hubtest-{uuid.uuid4().hex[:10]}",
        "HUB_MAX_QUERY_COST": "2000",
        "HUB_COST_BUCKET_SIZE": "3000",
        "HUB_COST_RESTORE_RATE": "50",
    }
    with deployment(request.param, tmp, 2, **extra) as d:
        yield d


# ------------------------------------------------------------------------- helpers


async def create_key(d: Served, *args: str) -> tuple[int, str]:
    out = await asyncio.to_thread(
        hub_run, ["apikey", "create", "--scope", "admin", "--name", "edge-ws", *args], d.env
    )
    pk = int(re.search(r"key (\d+) created", out.stderr).group(1))  # type: ignore[union-attr]
    return pk, out.stdout.strip()


async def subscribers(p: Process) -> int:
    async with httpx.AsyncClient(timeout=10) as c:
        return (await c.get(f"{p.url}/readyz")).json()["subscribers"]


async def wait_subscribers(p: Process, n: int) -> None:
    deadline = time.monotonic() + WAIT
    while (got := await subscribers(p)) != n:
        assert time.monotonic() < deadline, f"{got} bus subscribers, expected {n}"
        await asyncio.sleep(0.05)


async def recv(ws: Any, within: float = WAIT) -> dict[str, Any]:
    while True:
        msg = orjson.loads(await asyncio.wait_for(ws.recv(), within))
        if msg.get("type") not in ("ka", "ping"):
            return msg


async def closed_with(ws: Any, within: float = WAIT) -> int:
    """Wait for the server to close ``ws``; its close code (messages before are dropped)."""
    deadline = time.monotonic() + within
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))
    rcvd = closed.value.rcvd
    assert rcvd is not None, "closed without a close frame"
    return rcvd.code


@contextlib.asynccontextmanager
async def transport(p: Process, token: str | None = None) -> AsyncIterator[Any]:
    async with websockets.connect(ws_url(p), subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        payload = {"authorization": f"Bearer {token}"} if token else {}
        await ws.send(orjson.dumps({"type": "connection_init", "payload": payload}).decode())
        assert (await recv(ws))["type"] == "connection_ack"
        yield ws


@contextlib.asynccontextmanager
async def legacy(p: Process, token: str | None = None) -> AsyncIterator[Any]:
    async with websockets.connect(ws_url(p), subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
        payload = {"headers": {"Authorization": f"Bearer {token}"}} if token else {}
        await ws.send(orjson.dumps({"type": "connection_init", "payload": payload}).decode())
        assert (await recv(ws))["type"] == "connection_ack"
        yield ws


ISSUE = """mutation($note: String) { giftCardIssue(input: {amount: "25.00",
  currencyCode: "USD", note: $note}) { code userErrors { code } } }"""


async def gift_cards(d: Served) -> int:
    engine = create_async_engine(d.url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text("SELECT count(*) FROM gift_cards"))).scalar_one()
    finally:
        await engine.dispose()


# ------------------------------------------------------------- keys on open sockets


async def test_revoked_key_closes_its_sockets_on_every_process(pair: Served) -> None:
    pk, token = await create_key(pair)
    _, bystander = await create_key(pair)
    note = f"after-revoke-{uuid.uuid4().hex[:8]}"
    variables = {"variantIds": ["gid://hub/ProductVariant/1"]}
    async with (
        transport(pair.a, token) as on_a,
        legacy(pair.b, token) as on_b,
        transport(pair.b, token) as writer_b,
        transport(pair.b, bystander) as other,
    ):
        # Working sockets: a subscription on each, a mutation goes through.
        start = {"query": INVENTORY_CHANGED, "variables": variables}
        await on_a.send(orjson.dumps({"id": "s", "type": "subscribe", "payload": start}).decode())
        await on_b.send(orjson.dumps({"id": "s", "type": "start", "payload": start}).decode())
        await other.send(orjson.dumps({"id": "s", "type": "subscribe", "payload": start}).decode())
        await wait_subscribers(pair.a, 1)
        await wait_subscribers(pair.b, 2)
        mut = {"query": ISSUE, "variables": {"note": "before-revoke"}}
        await writer_b.send(
            orjson.dumps({"id": "m0", "type": "subscribe", "payload": mut}).decode()
        )
        got = await recv(writer_b)
        assert got["type"] == "next" and got["payload"]["data"]["giftCardIssue"]["code"], got
        # (the legacy protocol runs subscriptions only: a mutation is a clean error)
        await on_b.send(orjson.dumps({"id": "m0", "type": "start", "payload": mut}).decode())
        got = await recv(on_b)
        assert got["type"] == "error" and got["payload"]["extensions"]["code"] == "BAD_REQUEST"

        cards = await gift_cards(pair)
        await run_hub_async(["apikey", "revoke", str(pk)], pair.env)
        revoked_at = time.monotonic()
        # Sent meanwhile, over both sockets: refused, nothing written.
        mut = {"query": ISSUE, "variables": {"note": note}}
        with contextlib.suppress(websockets.ConnectionClosed):
            await on_a.send(
                orjson.dumps({"id": "m1", "type": "subscribe", "payload": mut}).decode()
            )
        with contextlib.suppress(websockets.ConnectionClosed):
            await writer_b.send(
                orjson.dumps({"id": "m1", "type": "subscribe", "payload": mut}).decode()
            )
        with contextlib.suppress(websockets.ConnectionClosed):
            await on_b.send(orjson.dumps({"id": "s2", "type": "start", "payload": start}).decode())
        assert await closed_with(on_a, CACHE_SECONDS + 3) == 4403
        assert await closed_with(writer_b, CACHE_SECONDS + 3) == 4403
        assert await closed_with(on_b, CACHE_SECONDS + 3) == 4403
        took = time.monotonic() - revoked_at
        assert took < CACHE_SECONDS, f"closed {took:.1f}s after the revocation"
        # Their subscriptions are gone; the other key's socket still streams.
        await wait_subscribers(pair.a, 0)
        await wait_subscribers(pair.b, 1)
        async with httpx.AsyncClient(timeout=30) as c:
            resp = await c.post(
                f"{pair.a.url}/graphql",
                json={
                    "query": """mutation { inventoryAdjust(input: {variantId:
                    "gid://hub/ProductVariant/1", locationId: "gid://hub/Location/1",
                    delta: 1, reason: "received"}) { userErrors { code } } }"""
                },
                headers={"Authorization": f"Bearer {pair.admin}"},
            )
            assert resp.status_code == 200 and "errors" not in resp.json(), resp.text
            refused = await c.post(
                f"{pair.b.url}/graphql",
                json={"query": "{ channels { handle } }"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert refused.status_code == 401
        msg = await recv(other)
        assert msg["type"] == "next" and msg["payload"]["data"]["inventoryChanged"], msg
    assert await gift_cards(pair) == cards  # nothing issued after the revocation


async def test_revoked_or_expired_key_is_dropped_without_redis(solo: Served) -> None:
    pk, token = await create_key(solo)
    expires = time.monotonic() + 6  # at the latest: the key is made after this
    _, short = await create_key(solo, "--expires-in", "6")
    async with legacy(solo.a, short) as expiring, transport(solo.a, token) as revoked:
        # The expiring key works until it expires.
        q = {
            "query": INVENTORY_CHANGED,
            "variables": {"variantIds": ["gid://hub/ProductVariant/2"]},
        }
        await expiring.send(orjson.dumps({"id": "1", "type": "start", "payload": q}).decode())
        await wait_subscribers(solo.a, 1)
        await run_hub_async(["apikey", "revoke", str(pk)], solo.env)
        start = time.monotonic()
        assert await closed_with(revoked, CACHE_SECONDS + 5) == 4403
        assert time.monotonic() - start < CACHE_SECONDS + 2
        # ... then its socket closes.
        left = expires - time.monotonic()
        assert await closed_with(expiring, left + CACHE_SECONDS + 3) == 4403
        assert time.monotonic() > expires - 3  # not (much) before it expired
    await wait_subscribers(solo.a, 0)
    # A new socket with either key is refused.
    for key in (token, short):
        async with websockets.connect(ws_url(solo.a), subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            init = {"type": "connection_init", "payload": {"authorization": f"Bearer {key}"}}
            await ws.send(orjson.dumps(init).decode())
            assert await closed_with(ws) == 4403


# ------------------------------------------------------------ the shared cost budget


async def test_two_processes_share_one_cost_budget(pair: Served) -> None:
    body = {"query": LISTING, "variables": {"first": 24}}  # costs 1,154 of 3,000
    headers = {"X-Request-Id": "budget"}
    async with httpx.AsyncClient(timeout=30) as c:
        statuses = []
        for p in (pair.a, pair.b, pair.a):
            resp = await c.post(f"{p.url}/graphql", json=body, headers=headers)
            statuses.append(resp.status_code)
        assert statuses == [200, 200, 429], statuses
        err = resp.json()
        assert err["errors"][0]["extensions"]["code"] == "THROTTLED"
        assert int(resp.headers["retry-after"]) >= 5  # restores at 50 points a second
        # Over a websocket the same budget refuses the operation with an error message.
        async with transport(pair.b) as ws:
            await ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": body}).decode())
            msg = await recv(ws)
            assert msg["type"] == "error" and msg["id"] == "1", msg
            assert msg["payload"][0]["extensions"]["code"] == "THROTTLED"


# -------------------------------------------------------------------- bounded requests


def _rss(p: Process) -> int:
    for line in Path(f"/proc/{p.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _raw_post(p: Process, total: int, *, chunked: bool, tag: int = 0) -> tuple[bytes, int]:
    """POST a body of ``total`` bytes (a distinct query text) over a raw socket, with
    Content-Length or chunked, 64 KB at a time, waiting a moment for an answer before
    each piece; (the response, how many body bytes were sent before it came)."""
    import select

    host, port = p.url.removeprefix("http://").split(":")
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % total
    sent, got = 0, b""
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(
            b"POST /graphql HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
            + framing
            + b"\r\n\r\n"
        )
        data = (b'{"query": "{ channels { handle } } # %d ' % tag).ljust(65536, b"x")
        piece = b"%x\r\n%s\r\n" % (len(data), data) if chunked else data
        while sent < total:
            ready, _, _ = select.select([s], [], [], 0.02 if sent else 1.0)
            if ready:
                break
            try:
                s.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(data)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # to the end: the hub closes after a 413
            try:
                more = s.recv(65536)
            except OSError:
                break
            if not more:
                break
            got += more
    return got, sent


async def test_big_bodies_are_refused_and_the_process_does_not_grow(solo: Served) -> None:
    p = solo.a
    async with httpx.AsyncClient(timeout=60) as c:
        warm = await c.post(f"{p.url}/graphql", json={"query": "{ channels { handle } }"})
        assert warm.status_code == 200
        before = _rss(p)
        for i in range(50):  # fifty distinct 10 MB queries, announced or chunked
            head, sent = await asyncio.to_thread(
                _raw_post, p, 10_000_000, chunked=bool(i % 2), tag=i
            )
            assert head.startswith(b"HTTP/1.1 413"), head[:300]
            assert b"PAYLOAD_TOO_LARGE" in head
            # Refused on the header, or (chunked) soon after the first megabyte.
            assert sent < (2_500_000 if i % 2 else 1), f"{sent} body bytes went out first"
        after_big = _rss(p)
        for i in range(50):  # fifty distinct valid documents near the length limit
            fields = " ".join(f"f{i}_{j}: handle" for j in range(40))
            q = f"query Big{i} {{ channels {{ {fields} }} }}" + " " * 95_000
            resp = await c.post(f"{p.url}/graphql", json={"query": q})
            assert resp.status_code == 200 and "errors" not in resp.json(), resp.text[:300]
        after_long = _rss(p)
    grew_big, grew_long = after_big - before, after_long - before
    assert grew_big < 64 * 1024 * 1024, f"grew {grew_big / 1e6:.0f} MB on refused bodies"
    assert grew_long < 160 * 1024 * 1024, f"grew {grew_long / 1e6:.0f} MB on long queries"


async def test_websocket_frames_over_the_limit_close_the_socket(solo: Served) -> None:
    async with transport(solo.a) as ws:
        big = {"id": "1", "type": "subscribe", "payload": {"query": "{ x }" + " " * 1_100_000}}
        with contextlib.suppress(websockets.ConnectionClosed):
            await ws.send(orjson.dumps(big).decode())
        assert await closed_with(ws) == 1009
    # Under the frame limit, a query over HUB_MAX_QUERY_LENGTH is refused for that
    # operation only.
    async with transport(solo.a) as ws:
        long = {"id": "2", "type": "subscribe", "payload": {"query": "{ x }" + " " * 200_000}}
        await ws.send(orjson.dumps(long).decode())
        msg = await recv(ws)
        assert (
            msg
            == {
                "id": "2",
                "type": "error",
                "payload": [msg["payload"][0]],
            }
            and msg["payload"][0]["extensions"]["code"] == "QUERY_TOO_LARGE"
        )
        ok = {"id": "3", "type": "subscribe", "payload": {"query": "{ channels { handle } }"}}
        await ws.send(orjson.dumps(ok).decode())
        assert (await recv(ws))["type"] == "next"


# ----------------------------------------------------------- malformed socket messages

TRANSPORT_BAD = [
    "not json",
    "[1, 2]",
    "null",
    '"subscribe"',
    '{"type": 5}',
    '{"type": "nonsense"}',
    '{"id": "1", "type": "subscribe", "payload": null}',
    '{"id": "1", "type": "subscribe", "payload": [1]}',
    '{"id": "1", "type": "subscribe", "payload": {"query": 5}}',
    '{"id": "1", "type": "subscribe", "payload": {"query": {"a": 1}}}',
    '{"id": "1", "type": "subscribe", "payload": {"query": "{ x }", "variables": [1]}}',
    '{"id": "1", "type": "subscribe", "payload": {"query": "{ x }", "operationName": 1}}',
    '{"id": 1, "type": "subscribe", "payload": {"query": "{ channels { handle } }"}}',
    '{"type": "complete"}',
]

LEGACY_BAD = [
    ("not json", "connection_error"),
    ("[1, 2]", "connection_error"),
    ("null", "connection_error"),
    ('{"type": "nonsense", "id": "1"}', "error"),
    ('{"id": "1", "type": "start", "payload": null}', "error"),
    ('{"id": "1", "type": "start", "payload": [1]}', "error"),
    ('{"id": "1", "type": "start", "payload": {"query": 5}}', "error"),
    (
        '{"id": "1", "type": "start", "payload": {"query": "{ x }", "variables": "x"}}',
        "error",
    ),
    (
        '{"id": 7, "type": "start", "payload": {"query": "{ channels { handle } }"}}',
        "connection_error",
    ),
]


async def test_malformed_websocket_messages(solo: Served) -> None:
    for raw in TRANSPORT_BAD:
        async with transport(solo.a) as ws:
            await ws.send(raw)
            assert await closed_with(ws) == 4400, raw
    # Before connection_init too, and a connection_init whose payload is not an object.
    async with websockets.connect(ws_url(solo.a), subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send('{"type": "connection_init", "payload": [1]}')
        assert await closed_with(ws) == 4400
    async with legacy(solo.a) as ws:
        for raw, answer in LEGACY_BAD:
            await ws.send(raw)
            msg = await recv(ws)
            assert msg["type"] == answer, (raw, msg)
            payload = msg["payload"]
            assert payload["message"] and payload["extensions"]["code"] == "BAD_REQUEST"
        # The socket is still usable after all that.
        q = {
            "query": "subscription($p: [ID!]!) { availabilityChanged(productIds: $p) "
            "{ occurredAt } }",
            "variables": {"p": ["gid://hub/Product/1"]},
        }
        await ws.send(orjson.dumps({"id": "ok", "type": "start", "payload": q}).decode())
        await wait_subscribers(solo.a, 1)
        await ws.send('{"id": "ok", "type": "stop"}')
        assert await recv(ws) == {"type": "complete", "id": "ok"}
    await wait_subscribers(solo.a, 0)
    log = solo.a.output()
    assert "Traceback" not in log and "Exception in" not in log, log
