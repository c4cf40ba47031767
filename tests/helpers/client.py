"""The test client of one running hub (``Hub``), and how the harness starts one."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Row, event, text
from sqlalchemy.ext.asyncio import create_async_engine

from hub import auth
from hub.app import create_app
from hub.auth import create_api_key
from hub.db.database import Database
from hub.db.migrate import upgrade
from hub.demo import seed_demo
from hub.settings import load_settings

CONTRACT = Path(__file__).resolve().parents[3] / "shared" / "contract"
# Set to a file to append every document the tests send through Hub.gql (JSON lines):
# tests/differential/ replays the queries among them (see its README).
RECORD_DOCUMENTS = os.environ.get("HUB_RECORD_DOCUMENTS")
DEMO_PRODUCTS = 600
BACKENDS = ["sqlite", "postgresql"]


def contract_operation(name: str) -> str:
    return (CONTRACT / "operations" / f"{name}.graphql").read_text()


def _pg_server_url() -> str | None:
    url = os.environ.get("HUB_TEST_POSTGRES_URL")
    if not url:
        return None
    return (
        url.replace("postgresql://", "postgresql+asyncpg://", 1)
        if url.startswith("postgresql://")
        else url
    )


@dataclass
class Hub:
    """One backend's running app, with helpers to call it."""

    name: str
    db: Database
    client: httpx.AsyncClient
    admin_token: str
    storefront_token: str
    statements: list[str] = field(default_factory=list)
    app: Any = None
    lifespan: Any = None

    async def gql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        operation: str | None = None,
    ) -> dict[str, Any]:
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        body: dict[str, Any] = {"query": query, "variables": variables or {}}
        if operation:
            body["operationName"] = operation
        if RECORD_DOCUMENTS:
            self._record(body, token, headers)
        resp = await self.client.post("/graphql", json=body, headers=h)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def _record(
        self, body: dict[str, Any], token: str | None, headers: dict[str, str] | None
    ) -> None:
        who = {self.admin_token: "admin", self.storefront_token: "storefront", None: None}
        line = {**body, "as": who.get(token, "other"), "headers": headers or None}
        with open(RECORD_DOCUMENTS, "a", encoding="utf-8") as out:
            out.write(json.dumps(line, default=str) + "\n")

    async def admin(
        self, query: str, variables: dict[str, Any] | None = None, **kw: Any
    ) -> dict[str, Any]:
        return await self.gql(query, variables, token=self.admin_token, **kw)

    @contextmanager
    def count_statements(self) -> Iterator[list[str]]:
        seen: list[str] = []

        def on_exec(conn, cursor, statement, params, context, executemany) -> None:
            # Only the request's own statements: the app's background tasks (outbox
            # dispatcher and marker, reservation expiry; all named "hub-...") may run
            # theirs at any moment.
            try:
                task = asyncio.current_task()
            except RuntimeError:
                task = None
            if task is not None and task.get_name().startswith("hub-"):
                return
            if statement == "BEGIN IMMEDIATE":
                return  # SQLite's BEGIN (hub.db.engine), as implicit as PostgreSQL's
            seen.append(statement)

        # A cached key lapses HUB_AUTH_CACHE_SECONDS (5 s) after it was read, and the
        # request that comes then reads it again, whatever it is: the keys this process
        # knows start a fresh lapse here, so a measured block (shorter than that) pays
        # only for the keys it uses first (a slow run made pinned counts flaky).
        for cache in list(auth._CACHES):
            for digest, (_until, principal) in list(cache._entries.items()):
                cache.put(digest, principal)
        event.listen(self.db.engine.sync_engine, "before_cursor_execute", on_exec)
        try:
            yield seen
        finally:
            event.remove(self.db.engine.sync_engine, "before_cursor_execute", on_exec)

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.db.read() as conn:
            return (await conn.execute(text(sql), params)).scalar()

    async def rows(self, sql: str, **params: Any) -> Sequence[Row[Any]]:
        """Every row ``sql`` returns (one autocommit read)."""
        async with self.db.read() as conn:
            return (await conn.execute(text(sql), params)).all()

    async def close(self) -> None:
        """Stop what ``_start`` started: the client, the app's lifespan, the database."""
        await self.client.aclose()
        await self.lifespan.__aexit__(None, None, None)
        await self.db.dispose()


@asynccontextmanager
async def served_again(hub: Hub, **settings: Any) -> AsyncIterator[Hub]:
    """The same database served by a second app started with these settings (its real
    lifespan): ``hub`` with that app and a client of it."""
    app = create_app(
        load_settings(
            database_url=str(hub.db.engine.url.render_as_string(hide_password=False)),
            **settings,
        ),
        db=hub.db,
    )
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub")
    try:
        yield replace(hub, client=client, app=app, lifespan=lifespan)
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


async def pg_admin(server: str, sql: str) -> None:
    """Run ``sql`` (CREATE/DROP DATABASE) on the PostgreSQL server ``server``."""
    eng = create_async_engine(server, isolation_level="AUTOCOMMIT")
    try:
        async with eng.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await eng.dispose()


async def _start(name: str, url: str) -> Hub:
    settings = load_settings(database_url=url)
    db = Database(settings)
    await upgrade(db.engine)
    await seed_demo(db, DEMO_PRODUCTS)
    _, admin = await create_api_key(db, "tests-admin", ["admin"])
    _, store = await create_api_key(db, "tests-storefront", ["storefront"])
    app = create_app(settings, db=db)
    lifespan = app.router.lifespan_context(app)  # the app's real start-up: bus, services
    await lifespan.__aenter__()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub")
    return Hub(name, db, client, admin, store, app=app, lifespan=lifespan)
