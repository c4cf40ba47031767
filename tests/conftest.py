"""Test harness: the real app over httpx, on SQLite and on PostgreSQL.

Every test that takes the ``hub`` fixture runs once per backend. The PostgreSQL
database is created for this run from ``HUB_TEST_POSTGRES_URL`` (a server URL, e.g.
``postgresql://postgres@127.0.0.1:5432/postgres``) and dropped at the end. Without
that variable the PostgreSQL half is skipped locally, and fails under CI (``CI`` set).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.helpers.client import BACKENDS, Hub, _pg_server_url, _start, pg_admin


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str | None]:
    """A fresh PostgreSQL database for this run (dropped at the end), or None."""
    server = _pg_server_url()
    if server is None:
        yield None
        return

    name = f"hub_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(pg_admin(server, f'CREATE DATABASE "{name}"'))
    base = server.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(pg_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session", params=BACKENDS)
async def hub(
    request: pytest.FixtureRequest,
    pg_database: str | None,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Hub]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "hub.db"
        url = f"sqlite+aiosqlite:///{path}"
    else:
        if pg_database is None:
            if os.environ.get("CI"):
                pytest.fail("HUB_TEST_POSTGRES_URL is not set: CI must test PostgreSQL")
            pytest.skip("PostgreSQL not configured (set HUB_TEST_POSTGRES_URL)")
        url = pg_database
    h = await _start(request.param, url)
    try:
        yield h
    finally:
        await h.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``-n 2 --dist loadgroup``, as CI runs), every test on one
    backend goes to the same worker: the session's ``hub`` is set up once per backend
    and worker (a backend's hub seeds its database, so it can't be set up twice)."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("hub") if callspec is not None else None
        if backend is not None:
            item.add_marker(pytest.mark.xdist_group(f"hub-{backend}"))
