"""Health endpoints, migrations and settings."""

from __future__ import annotations

import os

import httpx

from hub.app import create_app
from hub.db.database import Database
from hub.db.migrate import pending_diff
from hub.settings import load_settings
from tests.helpers.client import Hub
from tests.helpers.processes import hub_exit


async def test_health_and_readiness(hub: Hub) -> None:
    assert (await hub.client.get("/healthz")).json() == {"status": "ok"}
    ready = await hub.client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["database"] == hub.db.dialect
    # SQLite: the in-process bus; PostgreSQL without Redis: LISTEN/NOTIFY.
    kind = "memory" if hub.db.dialect == "sqlite" else "postgresql"
    assert body["bus"] == {"kind": kind, "state": "up"}
    assert body["eventLog"]["state"] == "following"
    assert body["jobs"] == "this process"  # no Redis: no worker to leave them to


async def test_readiness_fails_when_the_database_is_unreachable() -> None:
    settings = load_settings(database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none")
    db = Database(settings)
    app = create_app(settings, db=db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://hub"
    ) as client:
        resp = await client.get("/readyz")
    await db.dispose()
    assert resp.status_code == 503
    assert resp.json()["database"] == "unreachable"


async def test_migrations_match_the_models(hub: Hub) -> None:
    assert await pending_diff(hub.db.engine) == []


def test_bus_settings_are_bounded() -> None:
    from hub.settings import SettingsError

    for name, bad in (("events_poll_seconds", 0), ("worker_grace_seconds", 1)):
        try:
            load_settings(**{name: bad})
        except SettingsError as exc:
            assert str(exc).startswith(f"invalid setting HUB_{name.upper()}: "), exc
        else:
            raise AssertionError(f"{name}={bad} was accepted")


def test_bad_setting_stops_with_one_line() -> None:
    env = {**os.environ, "HUB_DB_POOL_SIZE": "lots", "HUB_DATABASE_URL": "sqlite+aiosqlite://"}
    out = hub_exit(["migrate"], env, timeout=60)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert lines == [
        "hub: invalid setting HUB_DB_POOL_SIZE: Input should be a valid integer, "
        "unable to parse string as an integer"
    ]
    env["HUB_DB_POOL_SIZE"] = "5"
    env["HUB_DATABASE_URL"] = "mysql://db/x"
    out = hub_exit(["migrate"], env, timeout=60)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1
    assert "HUB_DATABASE_URL" in out.stderr and "Traceback" not in out.stderr
