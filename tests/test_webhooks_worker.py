"""With Redis, ``hub worker`` sends the webhooks (a real process, on SQLite and
PostgreSQL): events committed by the domain reach a real receiver, signed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.webhooks import AddressPolicy, HttpWebhookTarget
from hub.domain.webhooks.service import Webhooks
from hub.settings import load_settings
from tests.helpers.processes import Process
from tests.helpers.webhooks import Receiver, receiver_server, verify
from tests.helpers.worker import (  # noqa: F401  (fixtures)
    WAIT,
    WorkerSetup,
    _setup_stock,
    database_url,
    prefix,
    redis_url,
    worker_setup,
)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with receiver_server() as r:
        yield r


async def test_hub_worker_sends_webhooks(
    worker_setup: WorkerSetup,  # noqa: F811
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    env, db = await worker_setup.migrate(
        HUB_WEBHOOK_ALLOW_PRIVATE="true", HUB_WEBHOOK_POLL_SECONDS="0.2"
    )
    path = f"worker-{time.time_ns()}"
    target = HttpWebhookTarget(AddressPolicy(allow_private=True))
    try:
        service = Webhooks(db, load_settings(database_url=worker_setup.database_url), target)
        _, secret = await service.create(
            {"url": receiver.endpoint(path), "topics": ["inventory.changed"]}
        )
    finally:
        await target.aclose()
    await _setup_stock(db)  # two receipts: two inventory.changed events
    worker = Process.start(["worker"], env, tmp_path / "worker.log")
    try:
        got = await receiver.wait(path, 2, within=WAIT)
        assert len(got) == 2, worker.output()
    finally:
        code = await asyncio.to_thread(worker.stop)
    assert code == 0, worker.output()
    assert all(verify(secret, h) for h in got)
    assert len({h.event_id for h in got}) == 2
