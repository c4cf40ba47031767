"""A webhook receiver stand-in (a real HTTP server in a thread on 127.0.0.1), the hub
of the webhook tests (its own database, fast retry settings), and the GraphQL
documents they send.

The receiver speaks the hub's documented wire format (README "Webhooks"): a POST of
``{"id", "topic", "data"}`` with ``Hub-Signature: t=<unix>,v1=<hex>``, ``Hub-Event-Id``,
``Hub-Topic`` and ``Idempotency-Key``. Each path behaves as the test sets it: answer
an error status for the first N attempts of each event id, always, or only after a
delay."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.app import create_app
from hub.auth import create_api_key
from hub.db.database import Database
from hub.db.migrate import upgrade
from hub.demo import seed_demo
from hub.settings import load_settings
from tests.helpers.client import Hub, _pg_server_url, pg_admin
from tests.helpers.race import _stocked_variant
from tests.helpers.serving import listening_socket, serve_on, url_of

SUBSCRIBE = """mutation($i: WebhookSubscriptionInput!) { webhookSubscriptionCreate(input: $i) {
  secret webhookSubscription { id topics url fields active }
  userErrors { field code message } } }"""
DELIVERIES = """query($s: ID, $st: WebhookDeliveryStatus, $f: Int, $a: String) {
  webhookDeliveries(subscriptionId: $s, status: $st, first: $f, after: $a) {
    nodes { id subscriptionId eventId topic status attempts nextAttemptAt lastStatusCode
            lastLatencyMs lastError deliveredAt }
    pageInfo { hasNextPage endCursor } } }"""
ADJUST = """mutation($i: InventoryAdjustInput!) { inventoryAdjust(input: $i) {
  level { onHand } userErrors { code } } }"""


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when it arrived
    status: int = 0  # what the stand-in answered (0: still answering)

    @property
    def event_id(self) -> str:
        return self.headers["hub-event-id"]

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Behaviour:
    fail_first: int = 0  # attempts per event id answered with `status_failing`
    always_fail: bool = False
    status_failing: int = 500
    delay: float = 0.0  # seconds before answering


@dataclass
class Receiver:
    url: str
    hits: list[Hit] = field(default_factory=list)
    paths: dict[str, Behaviour] = field(default_factory=dict)

    def endpoint(self, name: str, **behaviour: Any) -> str:
        self.paths[name] = Behaviour(**behaviour)
        return f"{self.url}/{name}"

    def at(self, name: str) -> list[Hit]:
        return [h for h in self.hits if h.path == name]

    async def wait(
        self, name: str, count: int, *, ok: bool = True, within: float = 20
    ) -> list[Hit]:
        """The hits of ``name`` once ``count`` of them (answered 2xx with ``ok``) came."""
        deadline = time.monotonic() + within
        while True:
            got = [h for h in self.at(name) if not ok or 200 <= h.status < 300]
            if len(got) >= count or time.monotonic() > deadline:
                return got
            await asyncio.sleep(0.05)


def _app(state: Receiver) -> Starlette:
    async def receive(request: Request) -> Response:
        name = request.path_params["name"]
        hit = Hit(name, dict(request.headers), await request.body(), time.monotonic())
        state.hits.append(hit)
        b = state.paths.get(name, Behaviour())
        if b.delay:
            await asyncio.sleep(b.delay)
        seen = sum(1 for h in state.hits if h.path == name and h.event_id == hit.event_id)
        hit.status = b.status_failing if b.always_fail or seen <= b.fail_first else 200
        return Response(status_code=hit.status)

    return Starlette(routes=[Route("/{name}", receive, methods=["POST"])])


@contextmanager
def receiver_server() -> Iterator[Receiver]:
    sock = listening_socket()
    state = Receiver(url=url_of(sock))
    with serve_on(
        sock, _app(state), name="receiver", join=5, log_level="warning", timeout_graceful_shutdown=1
    ):
        yield state


def verify(secret: str, hit: Hit, tolerance: int = 300) -> bool:
    """The receiver's check, as README "Webhooks" tells it."""
    parts = dict(p.split("=", 1) for p in hit.headers["hub-signature"].split(","))
    signed = parts["t"].encode() + b"." + hit.body
    want = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(parts["t"])) <= tolerance
    return fresh and hmac.compare_digest(want, parts["v1"])


def readme_verify() -> Any:
    """The ``verify`` function of README "Webhooks" (its python block, run as is)."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Webhooks", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    names: dict[str, Any] = {}
    exec(compile(code, "README.md (Webhooks)", "exec"), names)
    return names["verify"]


# Fast retries: attempts 0.2 s apart (doubling), three attempts, a one-second timeout.
FAST = {
    "webhook_allow_private": True,
    "webhook_poll_seconds": 0.1,
    "webhook_backoff_seconds": 0.2,
    "webhook_backoff_max_seconds": 1.0,
    "webhook_max_attempts": 3,
    "webhook_timeout_seconds": 1.0,
}


@asynccontextmanager
async def webhook_hub(backend: str, tmp: Path, **settings: Any) -> AsyncIterator[Hub]:
    """A hub on a database of its own (a small demo store), served by the real app."""
    drop: str | None = None
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp / 'hub.db'}"
    else:
        server = _pg_server_url()
        assert server is not None
        name = f"hub_wh_{time.time_ns() % 10**12}"
        await pg_admin(server, f'CREATE DATABASE "{name}"')
        url, drop = f"{server.rsplit('/', 1)[0]}/{name}", name
    db = Database(load_settings(database_url=url))
    app = None
    try:
        await upgrade(db.engine)
        await seed_demo(db, 10)
        _, admin = await create_api_key(db, "tests-admin", ["admin"])
        _, store = await create_api_key(db, "tests-storefront", ["storefront"])
        app = create_app(load_settings(database_url=url, **{**FAST, **settings}), db=db)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub")
        hub = Hub(backend, db, client, admin, store, app=app, lifespan=lifespan)
        try:
            yield hub
        finally:
            await client.aclose()
            await lifespan.__aexit__(None, None, None)
    finally:
        await db.dispose()
        if drop is not None:
            server = _pg_server_url()
            assert server is not None
            await pg_admin(server, f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)')


def admin_client(hub: Hub) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=hub.app),
        base_url="http://hub",
        headers={"Authorization": f"Bearer {hub.admin_token}"},
    )


async def stock(client: httpx.AsyncClient) -> tuple[str, str]:
    """A variant stocked at a location of its own (its events: ``inventory.changed``)."""
    return await _stocked_variant(client, 5)


async def adjust(client: httpx.AsyncClient, variant: str, location: str, delta: int = 1) -> None:
    """One ``inventory.changed`` event, committed when this returns."""
    resp = await client.post(
        "/graphql",
        json={
            "query": ADJUST,
            "variables": {
                "i": {
                    "variantId": variant,
                    "locationId": location,
                    "delta": delta,
                    "reason": "correction",
                }
            },
        },
    )
    assert resp.status_code == 200 and resp.json()["data"]["inventoryAdjust"]["userErrors"] == []
