"""Accounts across processes, on SQLite and PostgreSQL: two ``hub serve`` processes
sharing one Redis share the sign-in buckets (attempts alternating between them are
counted together); a token signed out on one process is refused by the other at once,
and a websocket opened with it (``connection_init``) there is closed with 4403."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
import websockets

from tests.helpers.processes import (
    BACKENDS,
    Process,
    database,
    hub_env,
    reachable_redis,
    run_hub,
    serve,
    wait_ready,
)
from tests.helpers.subscriptions import AVAILABILITY, bearer, transport_ws

SIGN_UP = """mutation($i: CustomerCreateInput!) { customerCreate(input: $i) {
  customer { id } userErrors { code } } }"""
SIGN_IN = """mutation($i: CustomerAccessTokenCreateInput!) { customerAccessTokenCreate(input: $i) {
  customerAccessToken { accessToken } userErrors { code retryAfter } } }"""
SIGN_OUT = """mutation($t: String!) { customerAccessTokenDelete(customerAccessToken: $t) {
  deletedAccessToken userErrors { code } } }"""


@dataclass
class Pair:
    urls: list[str]


@pytest.fixture(params=BACKENDS)
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    redis_url = reachable_redis()
    with database(request.param, tmp_path, "accounts") as url:
        env = hub_env(
            url,
            HUB_REDIS_URL=redis_url,
            HUB_REDIS_PREFIX=f"acct{uuid.uuid4().hex[:8]}",
            HUB_RATE_LIMIT_SIGN_IN_ACCOUNT="4/15m",
            HUB_AUTH_CACHE_SECONDS="30",
        )
        run_hub(["seed", "--demo", "--products", "10"], env)
        procs: list[Process] = []
        try:
            for i in range(2):
                procs.append(serve(env, tmp_path / f"serve-{i}.log"))
            wait_ready(procs)
            yield Pair([p.url for p in procs])
        finally:
            for p in procs:
                p.stop()


async def _gql(url: str, query: str, variables: dict, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        return await c.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )


async def _sign_in(url: str, address: str, password: str) -> dict:
    got = (await _gql(url, SIGN_IN, {"i": {"email": address, "password": password}})).json()
    return got["data"]["customerAccessTokenCreate"]


async def test_two_processes_share_the_sign_in_buckets(pair: Pair) -> None:
    a, b = pair.urls
    address = f"two-{uuid.uuid4().hex[:8]}@example.com"
    made = (await _gql(a, SIGN_UP, {"i": {"email": address, "password": "right password"}})).json()
    assert made["data"]["customerCreate"]["userErrors"] == [], made

    access = (await _sign_in(b, address, "right password"))["customerAccessToken"]["accessToken"]
    # Seen (and cached) by both processes.
    for url in (a, b):
        assert (await _gql(url, "{ customer { email } }", {}, access)).json()["data"]["customer"][
            "email"
        ] == address
    out = (await _gql(a, SIGN_OUT, {"t": access})).json()["data"]["customerAccessTokenDelete"]
    assert out["deletedAccessToken"] == access
    # The other process drops it at once (the auth.revoked event), not after its 30 s cache.
    for _ in range(100):
        if (await _gql(b, "{ customer { email } }", {}, access)).status_code == 401:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the signed-out token still works on the other process")

    # 1 attempt above; 3 more alternate between the processes; then both refuse.
    got = []
    for i in range(5):
        res = await _gql(
            pair.urls[i % 2], SIGN_IN, {"i": {"email": address, "password": f"wrong {i}"}}
        )
        got.append(res.json()["data"]["customerAccessTokenCreate"]["userErrors"][0]["code"])
    assert got == ["UNIDENTIFIED_CUSTOMER"] * 3 + ["THROTTLED"] * 2
    for url in (a, b):
        right = (
            await _gql(url, SIGN_IN, {"i": {"email": address, "password": "right password"}})
        ).json()
        errs = right["data"]["customerAccessTokenCreate"]["userErrors"]
        assert errs[0]["code"] == "THROTTLED" and errs[0]["retryAfter"] > 0


async def test_a_websocket_opened_with_a_customer_token_closes_on_sign_out(pair: Pair) -> None:
    a, b = pair.urls
    address = f"ws-{uuid.uuid4().hex[:8]}@example.com"
    await _gql(a, SIGN_UP, {"i": {"email": address, "password": "right password"}})
    access = (await _sign_in(a, address, "right password"))["customerAccessToken"]["accessToken"]
    ws_url = b.replace("http://", "ws://") + "/graphql"
    # A bad customer token is refused on connection_init.
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        init = {"type": "connection_init", "payload": bearer("hubca_nope")}
        await ws.send(orjson.dumps(init).decode())
        with pytest.raises(websockets.ConnectionClosed) as refused:
            await asyncio.wait_for(ws.recv(), 10)
    assert refused.value.rcvd is not None and refused.value.rcvd.code == 4403

    async with transport_ws(ws_url, bearer(access)) as client:
        await client.subscribe("1", AVAILABILITY, {"productIds": ["gid://hub/Product/1"]})
        await client.nothing_for("1", 0.5)
        out = (await _gql(a, SIGN_OUT, {"t": access})).json()["data"]["customerAccessTokenDelete"]
        assert out["deletedAccessToken"] == access
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with asyncio.timeout(10):
                while True:
                    await client.ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
