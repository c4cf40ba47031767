"""``hub worker`` (arq on Redis) releases expired reservations and sweeps the outbox,
on SQLite and PostgreSQL, as a real process; SIGTERM stops it cleanly.

Redis is expected at 127.0.0.1:6379 (``HUB_TEST_REDIS_URL`` overrides it),
PostgreSQL at ``HUB_TEST_POSTGRES_URL``. Without them these tests skip locally and
fail under CI (``CI`` set). Each run uses its own ``HUB_REDIS_PREFIX``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from hub.db.database import Database
from hub.domain.inventory import Inventory
from tests.helpers.processes import Process
from tests.helpers.worker import (  # noqa: F401  (fixtures)
    WAIT,
    Events,
    WorkerSetup,
    _setup_stock,
    _state,
    database_url,
    prefix,
    redis_url,
    worker_setup,
)


async def _unpublished(db: Database) -> int:
    async with db.read() as conn:
        return (
            await conn.execute(text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
        ).scalar_one()


async def test_worker_releases_expired_reservations_and_sweeps_the_outbox(
    worker_setup: WorkerSetup,  # noqa: F811
    tmp_path: Path,
) -> None:
    env, db = await worker_setup.migrate(HUB_RESERVATION_SWEEP_SECONDS="1")
    variant, here, there = await _setup_stock(db)
    # No publisher: like a process that died between commit and publish, so these
    # events sit unpublished in the outbox until the worker's sweep finds them.
    inventory = Inventory(db)
    short = await inventory.reserve(variant, here, 2, ttl=timedelta(seconds=1))
    long = await inventory.reserve(variant, there, 1, ttl=timedelta(hours=1))
    token = short.result["reservation"]
    assert await _state(db, token, variant, here) == ("ACTIVE", 2)
    assert await _unpublished(db) > 0

    async with Events(worker_setup.redis_url, worker_setup.prefix) as events:
        worker = Process.start(["worker"], env, tmp_path / "worker.log")
        try:
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline:
                assert worker.proc.poll() is None, f"hub worker exited:\n{worker.output()}"
                done = await _state(db, token, variant, here) == ("EXPIRED", 0)
                if done and await _unpublished(db) == 0:
                    break
                await asyncio.sleep(0.25)
            else:
                state = await _state(db, token, variant, here)
                pytest.fail(
                    f"after {WAIT:g}s: reservation/level {state}, "
                    f"{await _unpublished(db)} outbox rows unpublished\n{worker.output()}"
                )
            await asyncio.sleep(0.5)  # let the last PUBLISH reach our subscriber
        finally:
            code = await asyncio.to_thread(worker.stop)

    output = worker.output()
    assert code == 0, output
    assert "hub: worker stopped" in output and "Traceback" not in output, output
    # The live reservation elsewhere was left alone.
    assert await _state(db, long.result["reservation"], variant, there) == ("ACTIVE", 1)
    reasons = [e["payload"].get("reason") for e in events.seen if e["topic"] == "inventory.changed"]
    assert "reservation_expired" in reasons  # published by the expiry job
    assert "reserved" in reasons and "received" in reasons  # swept from the outbox
    assert await inventory.release_expired() == 0


async def test_worker_deletes_abandoned_carts(
    worker_setup: WorkerSetup,  # noqa: F811
    tmp_path: Path,
) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from hub.db.models import Channel
    from hub.domain.carts import carts_t

    env, db = await worker_setup.migrate(
        HUB_CART_SWEEP_SECONDS="1",
        HUB_CART_RETENTION_SECONDS="60",
    )
    now = datetime.now(UTC)
    async with db.transaction() as conn:
        channel = (
            await conn.execute(
                insert(Channel.__table__)
                .values(
                    handle=f"w-{worker_setup.prefix}"[:64],
                    name="Worker",
                    currency="USD",
                    default_country="US",
                    tax_inclusive=False,
                    created_at=now,
                )
                .returning(Channel.__table__.c.id)
            )
        ).scalar_one()
        pks = {}
        for name, expired, status in (
            ("abandoned", timedelta(hours=1), "ACTIVE"),
            ("recent", timedelta(seconds=1), "ACTIVE"),
            ("completed", timedelta(hours=1), "COMPLETED"),
        ):
            pks[name] = (
                await conn.execute(
                    insert(carts_t)
                    .values(
                        token=f"{name}-{uuid.uuid4().hex}",
                        channel_id=channel,
                        currency="USD",
                        status=status,
                        version=1,
                        discount_codes=[],
                        attributes=[],
                        created_at=now - expired,
                        updated_at=now - expired,
                        expires_at=now - expired,
                    )
                    .returning(carts_t.c.id)
                )
            ).scalar_one()

    async def left() -> set[int]:
        async with db.read() as conn:
            got = await conn.execute(
                select(carts_t.c.id).where(carts_t.c.id.in_(list(pks.values())))
            )
            return set(got.scalars())

    worker = Process.start(["worker"], env, tmp_path / "worker.log")
    try:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and pks["abandoned"] in await left():
            assert worker.proc.poll() is None, f"hub worker exited:\n{worker.output()}"
            await asyncio.sleep(0.25)
    finally:
        code = await asyncio.to_thread(worker.stop)
    output = worker.output()
    assert code == 0, output
    assert await left() == {pks["recent"], pks["completed"]}, output
    assert "deleted 1 abandoned carts" in output, output
