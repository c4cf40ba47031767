"""Helpers shared by the tests (moved from tests.test_worker)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from sqlalchemy import select, text

from hub.db.database import Database
from hub.domain.catalog import ProductInput, VariantInput, create_product
from hub.domain.inventory import Inventory, create_location, reservations_t
from hub.settings import load_settings
from tests.helpers.processes import BACKENDS, database, hub_env, reachable_redis, run_hub_async

WAIT = 30.0  # seconds for the worker to do its job


@pytest.fixture(scope="module")
def redis_url() -> str:
    return reachable_redis()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path, tag="worker") as url:
        yield url


@pytest.fixture
async def prefix(redis_url: str) -> AsyncIterator[str]:
    """A Redis namespace of this test; its keys are deleted afterwards."""
    name = f"hubtest-{uuid.uuid4().hex[:10]}"
    yield name
    client = aioredis.Redis.from_url(redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=f"*{name}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@dataclass
class WorkerSetup:
    """What a ``hub worker`` test runs on: its database, Redis and Redis prefix."""

    database_url: str
    redis_url: str
    prefix: str
    databases: list[Database] = field(default_factory=list)

    async def migrate(self, **extra: str) -> tuple[dict[str, str], Database]:
        """The worker's environment (this Redis prefix, INFO logs, ``extra``), after
        ``hub migrate`` has run in it, and the test's own ``Database`` (disposed of
        after the test)."""
        env = hub_env(
            self.database_url,
            HUB_REDIS_URL=self.redis_url,
            HUB_REDIS_PREFIX=self.prefix,
            **extra,
            HUB_LOG_LEVEL="INFO",
        )
        await run_hub_async(["migrate"], env)
        db = Database(load_settings(database_url=self.database_url))
        self.databases.append(db)
        return env, db


@pytest.fixture
async def worker_setup(
    database_url: str, redis_url: str, prefix: str
) -> AsyncIterator[WorkerSetup]:
    setup = WorkerSetup(database_url, redis_url, prefix)
    try:
        yield setup
    finally:
        for db in setup.databases:
            await db.dispose()


class Events:
    """Every event published on Redis under a prefix, as it arrives."""

    def __init__(self, url: str, prefix: str) -> None:
        self.client = aioredis.Redis.from_url(url)
        self.pattern = f"{prefix}:events:*"
        self.seen: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Events:
        pubsub = self.client.pubsub()
        await pubsub.psubscribe(self.pattern)
        self._task = asyncio.create_task(self._read(pubsub))
        return self

    async def _read(self, pubsub: Any) -> None:
        try:
            while True:
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if msg is not None and msg["type"] == "pmessage":
                    self.seen.append(orjson.loads(msg["data"]))
        finally:
            await pubsub.aclose()

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.aclose()


async def _setup_stock(db: Database) -> tuple[int, int, int]:
    """A variant with 5 units at each of two locations."""
    tag = uuid.uuid4().hex[:8]
    product = await create_product(
        db,
        ProductInput(
            handle=f"worker-{tag}",
            title=f"Worker {tag}",
            status="ACTIVE",
            variants=[VariantInput(sku=f"WORKER-{tag}".upper())],
        ),
    )
    async with db.read() as conn:
        sql = text("SELECT id FROM variants WHERE product_id = :p")
        variant = (await conn.execute(sql, {"p": product})).scalar_one()
    locations = []
    for n in (1, 2):
        locations.append(
            await create_location(
                db,
                {
                    "handle": f"worker-{tag}-{n}",
                    "name": f"Worker location {n}",
                    "kind": "WAREHOUSE",
                    "country_code": "US",
                },
            )
        )
    inventory = Inventory(db)
    for loc in locations:
        await inventory.adjust(variant, loc, 5, "received")
    return variant, locations[0], locations[1]


async def _state(db: Database, token: str, variant: int, location: int) -> tuple[str, int]:
    async with db.read() as conn:
        status = (
            await conn.execute(
                select(reservations_t.c.status).where(reservations_t.c.token == token)
            )
        ).scalar_one()
        reserved = (
            await conn.execute(
                text(
                    "SELECT reserved FROM inventory_levels "
                    "WHERE variant_id = :v AND location_id = :l"
                ),
                {"v": variant, "l": location},
            )
        ).scalar_one()
    return status, reserved
