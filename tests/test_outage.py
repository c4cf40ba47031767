"""A database outage answers SERVICE_UNAVAILABLE with HTTP 503 as GraphQL JSON, never a
plain 500 or ``Internal error`` (issue 7 point 8, issue 8): an app on its own PostgreSQL
database whose connections are terminated and which is renamed away under it, then put
back; the hub recovers by itself."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from hub.app import create_app
from hub.auth import create_api_key
from hub.db.database import Database
from hub.db.migrate import upgrade
from hub.demo import seed_demo
from hub.settings import load_settings
from tests.helpers.edge import codes
from tests.helpers.processes import unavailable

LISTING = "{ products(first: 3) { nodes { handle variants(first: 2) { nodes { sku } } } } }"


async def _admin(server: str, *sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for s in sql:
            await conn.execute(s)
    finally:
        await conn.close()


@pytest.fixture
async def outage_db() -> AsyncIterator[tuple[str, str, str]]:
    server = os.environ.get("HUB_TEST_POSTGRES_URL")
    if not server:
        unavailable("PostgreSQL not configured (set HUB_TEST_POSTGRES_URL)")
    name = f"hub_outage_{uuid.uuid4().hex[:10]}"
    await _admin(server, f'CREATE DATABASE "{name}"')
    base = server.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0]
    try:
        yield server, name, f"{base}/{name}"
    finally:
        await _admin(
            server,
            f'DROP DATABASE IF EXISTS "{name}_away" WITH (FORCE)',
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
        )


async def test_database_outage_is_503_service_unavailable(
    outage_db: tuple[str, str, str],
) -> None:
    server, name, url = outage_db
    settings = load_settings(database_url=url, auth_cache_seconds=0)
    db = Database(settings)
    await upgrade(db.engine)
    await seed_demo(db, 20)
    _, token = await create_api_key(db, "outage", ["admin"])
    app = create_app(settings, db=db)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as c,
    ):
        keyed = {"Authorization": f"Bearer {token}"}
        ok = await c.post("/graphql", json={"query": LISTING}, headers=keyed)
        assert ok.status_code == 200 and ok.json()["data"]["products"]["nodes"]

        # The database goes away: connections cut, and renamed so none can be made.
        await _admin(
            server,
            f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false',
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",
            f'ALTER DATABASE "{name}" RENAME TO "{name}_away"',
        )
        try:
            for headers in (keyed, {}):  # the key look-up fails; a resolver fails
                for _ in range(3):
                    resp = await c.post("/graphql", json={"query": LISTING}, headers=headers)
                    assert resp.status_code == 503, resp.text
                    body = resp.json()
                    assert set(codes(body)) == {"SERVICE_UNAVAILABLE"}, body
                    assert "Internal error" not in resp.text
                    assert resp.headers["retry-after"]
            ready = await c.get("/readyz")
            assert ready.status_code == 503
        finally:
            await _admin(
                server,
                f'ALTER DATABASE "{name}_away" RENAME TO "{name}"',
                f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true',
            )
        # Back: the hub recovers without a restart (a stale pooled connection may cost
        # one more 503).
        for _ in range(20):
            resp = await c.post("/graphql", json={"query": LISTING}, headers=keyed)
            if resp.status_code == 200:
                break
            assert resp.status_code == 503, resp.text
            await asyncio.sleep(0.2)
        assert resp.status_code == 200 and resp.json()["data"]["products"]["nodes"]
    await db.dispose()
