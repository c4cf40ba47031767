"""``Webhooks``: the container's ``hub.webhooks``: the admin operations (which kick
the runner when they queue something) and the runner of this process."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from connectors.base import WebhookTarget
from hub.db.database import Database
from hub.domain.webhooks import admin
from hub.domain.webhooks.delivery import Policy
from hub.domain.webhooks.records import DeliveryRecord, SubscriptionRecord
from hub.domain.webhooks.runner import WebhookRunner
from hub.settings import Settings


class Webhooks:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        target: WebhookTarget | None,
        *,
        should_run: Callable[[], bool] = lambda: True,
    ) -> None:
        self.db = db
        self.target = target
        s = settings
        self.runner: WebhookRunner | None = None
        if target is not None:
            self.runner = WebhookRunner(
                db,
                target,
                Policy(
                    s.webhook_max_attempts, s.webhook_backoff_seconds, s.webhook_backoff_max_seconds
                ),
                timeout=s.webhook_timeout_seconds,
                poll=s.webhook_poll_seconds,
                concurrency=s.webhook_concurrency,
                per_subscription=s.webhook_concurrency_per_subscription,
                lease=s.webhook_lease_seconds,
                should_run=should_run,
            )

    def runner_gate(self, should_run: Callable[[], bool]) -> None:
        """Who decides whether this process sends (``hub worker``: always)."""
        if self.runner is not None:
            self.runner.should_run = should_run

    def start(self) -> None:
        if self.runner is not None:
            self.runner.start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.stop()

    def _kick(self) -> None:
        if self.runner is not None:
            self.runner.kick()

    async def create(self, values: Mapping[str, Any]) -> tuple[SubscriptionRecord, str]:
        return await admin.create(self.db, self.target, values)

    async def update(self, pk: int, values: Mapping[str, Any]) -> SubscriptionRecord:
        return await admin.update_subscription(self.db, self.target, pk, values)

    async def delete(self, pk: int) -> int:
        return await admin.delete_subscription(self.db, pk)

    async def rotate_secret(self, pk: int) -> tuple[SubscriptionRecord, str]:
        return await admin.rotate_secret(self.db, pk)

    async def retry(self, pk: int) -> DeliveryRecord:
        got = await admin.retry(self.db, pk)
        self._kick()
        return got

    async def replay(self, start: datetime, end: datetime, subscription_pk: int | None) -> int:
        got = await admin.replay(self.db, start, end, subscription_pk)
        self._kick()
        return got
