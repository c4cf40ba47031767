"""An in-process app on the session's database with other settings (limits, budgets)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from hub.app import create_app
from hub.settings import load_settings
from tests.helpers.client import Hub


@contextlib.asynccontextmanager
async def edge_app(hub: Hub, **overrides: Any) -> AsyncIterator[Any]:
    """A second app on ``hub``'s database with ``overrides`` applied to its settings,
    started (bus, services) and stopped around the block; yields the app."""
    settings = load_settings(database_url=hub.db.settings.database_url, **overrides)
    app = create_app(settings, db=hub.db)
    async with app.router.lifespan_context(app):
        yield app


def client(app: Any, address: str = "127.0.0.1") -> httpx.AsyncClient:
    """An HTTP client of ``app`` that the app sees coming from ``address``."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://hub", timeout=60)


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
