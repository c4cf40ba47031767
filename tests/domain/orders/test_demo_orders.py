"""The demo's orders (``hub serve --demo``), on a fresh SQLite and PostgreSQL database:
one in every state after checkout, built through the domain services, and the ledger
still adds up (``hub inventory verify`` is clean)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from hub.db.database import Database
from hub.db.migrate import upgrade
from hub.demo import seed_demo
from hub.demo.orders import STATES, seed_demo_orders
from hub.domain.inventory import verify
from hub.settings import load_settings
from tests.helpers.client import BACKENDS, _pg_server_url, pg_admin


@pytest.fixture(params=BACKENDS)
async def demo(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh database with the demo catalog (120 products) and its orders."""
    if request.param == "sqlite":
        url, server, name = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}", None, None
    else:
        server = _pg_server_url()
        if server is None:
            if os.environ.get("CI"):
                pytest.fail("HUB_TEST_POSTGRES_URL is not set: CI must test PostgreSQL")
            pytest.skip("PostgreSQL not configured (set HUB_TEST_POSTGRES_URL)")
        name = f"hub_demo_{uuid.uuid4().hex[:10]}"
        await pg_admin(server, f'CREATE DATABASE "{name}"')
        url = f"{server.rsplit('/', 1)[0]}/{name}"
    settings = load_settings(database_url=url)
    db = Database(settings)
    try:
        await upgrade(db.engine)
        await seed_demo(db, 120)
        db.demo_orders = await seed_demo_orders(db, settings)  # type: ignore[attr-defined]
        yield db
    finally:
        await db.dispose()
        if server is not None:
            await pg_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_an_order_in_every_state_and_the_ledger_adds_up(demo: Database) -> None:
    made = demo.demo_orders  # type: ignore[attr-defined]
    assert set(made) == set(STATES)
    async with demo.read() as conn:
        orders = {
            r.id: r
            for r in (
                await conn.execute(
                    text("SELECT id, status, payment_status, fulfillment_status FROM orders")
                )
            ).all()
        }
        fos = (
            await conn.execute(
                text("SELECT order_id, location_id, status, delivery_kind FROM fulfillment_orders")
            )
        ).all()
        returns = (await conn.execute(text("SELECT order_id, status FROM returns"))).all()

    def state(name: str) -> tuple[str, str, str]:
        r = orders[made[name]]
        return r.status, r.payment_status, r.fulfillment_status

    def fo_of(name: str) -> list[tuple[int, str]]:
        return sorted((f.location_id, f.status) for f in fos if f.order_id == made[name])

    assert state("paid_and_shipped")[1:] == ("PAID", "FULFILLED")
    assert state("split")[1:] == ("PAID", "FULFILLED")
    split = fo_of("split")
    assert len({loc for loc, _ in split}) == 2 and {s for _, s in split} == {"FULFILLED"}
    assert [s for _, s in fo_of("ready_for_pickup")] == ["READY_FOR_PICKUP"]
    assert [s for _, s in fo_of("picked_up")] == ["FULFILLED"]
    assert state("picked_up")[2] == "FULFILLED"
    assert state("partially_returned")[1:] == ("PARTIALLY_REFUNDED", "PARTIALLY_RETURNED")
    assert [(o, s) for o, s in returns] == [(made["partially_returned"], "CLOSED")]
    assert state("refunded")[1] == "REFUNDED"
    assert state("cancelled")[:2] == ("CANCELLED", "VOIDED")
    assert await verify(demo) == []
