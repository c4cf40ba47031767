"""The background jobs a ``hub serve`` process runs itself: reservation expiry (every
``HUB_RESERVATION_SWEEP_SECONDS``), the deletion of abandoned carts (every
``HUB_CART_SWEEP_SECONDS``), the reconciliation of crashed checkouts' payments
(every ``HUB_PAYMENT_RECONCILE_SECONDS``) and the expiry of pickups not collected in
their store's window (on the same schedule as the reconciliation).

Who runs the jobs: without Redis, every ``hub serve`` process (they are safe to run
side by side). With Redis, ``hub worker`` (:mod:`hub.jobs`) does and says so with a
heartbeat in Redis (:func:`worker_heartbeat_key`); a serve process that has not seen it
for ``HUB_WORKER_GRACE_SECONDS`` (worker down, or Redis down so no worker can run jobs)
runs them itself until the heartbeat is back, so reservations keep expiring and carts
keep being cleaned whatever is down. Each change of who runs them is logged once.

The jobs themselves are the container's (:class:`hub.container.Hub`); this module only
knows when to call them, so it imports neither the container nor the domain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

import redis.asyncio as aioredis

from hub.db.database import Database
from hub.settings import Settings

log = logging.getLogger("hub.services")

CART_BATCH = 500  # carts per delete_expired() call

Job = Callable[[], Awaitable[int]]


async def cancel(task: asyncio.Task[None] | None) -> None:
    """Cancel a background task (if any) and wait until it has stopped."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def worker_heartbeat_key(settings: Settings) -> str:
    """The Redis key ``hub worker`` keeps alive while it runs the background jobs."""
    return f"{settings.redis_prefix}:worker:heartbeat"


async def drain(step: Job, batch: int, budget: float) -> int:
    """Run ``step`` (one batch of a job, returning how many it handled) until a batch
    comes back short of ``batch`` or about ``budget`` seconds have passed; the total."""
    deadline = time.monotonic() + budget
    total = 0
    while True:
        done = await step()
        total += done
        if done < batch or time.monotonic() >= deadline:
            return total


async def delete_expired_carts(
    db: Database,
    settings: Settings,
    delete_expired: Callable[..., Awaitable[int]],
    budget: float = 60.0,
) -> int:
    """Delete abandoned carts past ``HUB_CART_RETENTION_SECONDS`` after expiry with
    ``delete_expired`` (:func:`hub.domain.carts.delete_expired`, which says what is
    kept), in batches, for at most about ``budget`` seconds."""
    older = timedelta(seconds=settings.cart_retention_seconds)

    async def batch() -> int:
        return await delete_expired(db, older_than=older, limit=CART_BATCH)

    total = await drain(batch, CART_BATCH, budget)
    if total:
        log.info("deleted %d abandoned carts", total)
    return total


class EmbeddedJobs:
    """The loop that runs the background jobs in this process while no worker does."""

    def __init__(
        self,
        settings: Settings,
        *,
        release_expired: Job,
        delete_carts: Callable[[float], Awaitable[int]],
        reconcile_payments: Job | None,
        expire_pickups: Job | None = None,
        purge_audit: Job | None = None,
    ) -> None:
        self.settings = settings
        self._release_expired = release_expired
        self._delete_carts = delete_carts
        # Gives back payments of checkouts that died before writing their order (None:
        # not in this process; tests switch it off to run it by hand).
        self.reconcile_payments = reconcile_payments
        # Cancels ready pickups past their window and releases their stock.
        self.expire_pickups = expire_pickups
        # Deletes audit events past their retention (on the carts' schedule).
        self.purge_audit = purge_audit
        self._task: asyncio.Task[None] | None = None
        self._redis: aioredis.Redis | None = None
        # Who runs the background jobs, as /readyz tells: "this process" or "worker".
        self.run_by = "this process" if settings.redis_url is None else "worker"
        self._payments_due = 0.0

    def start(self) -> None:
        if self.settings.redis_url is not None:
            self._redis = aioredis.Redis.from_url(
                self.settings.redis_url, socket_connect_timeout=2, socket_timeout=2
            )
        self._task = asyncio.create_task(self._loop(), name="hub-jobs")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel(task)
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def worker_seen(self) -> bool:
        """True if ``hub worker``'s heartbeat is in Redis (False if Redis can't say)."""
        if self._redis is None:
            return False
        try:
            return bool(await self._redis.exists(worker_heartbeat_key(self.settings)))
        except Exception:
            return False

    async def _should_run(self, last_seen: float) -> tuple[bool, float]:
        """Whether this process runs the jobs this round, and when a worker was last seen."""
        if self.settings.redis_url is None:
            return True, last_seen
        now = time.monotonic()
        if await self.worker_seen():
            if self.run_by != "worker":
                log.info("jobs: hub worker is back; leaving the background jobs to it")
                self.run_by = "worker"
            return False, now
        if now - last_seen < self.settings.worker_grace_seconds:
            return False, last_seen
        if self.run_by != "this process":
            log.warning(
                "jobs: no hub worker seen for %gs; this process expires reservations and "
                "deletes abandoned carts until one is back",
                self.settings.worker_grace_seconds,
            )
            self.run_by = "this process"
        return True, last_seen

    async def _loop(self) -> None:
        interval = self.settings.reservation_sweep_seconds
        carts_due = 0.0
        last_seen = time.monotonic()  # give a worker the grace period to show up
        while True:
            run, last_seen = await self._should_run(last_seen)
            if run:
                await self._run_once(interval, carts_due)
                if time.monotonic() >= carts_due:
                    carts_due = time.monotonic() + self.settings.cart_sweep_seconds
            await asyncio.sleep(min(interval, self.settings.cart_sweep_seconds))

    async def _run_once(self, interval: float, carts_due: float) -> None:
        try:
            released = await self._release_expired()
            if released:
                log.info("released %d expired reservations", released)
        except Exception:  # keep the loop alive; log and retry next round
            log.exception("reservation expiry failed")
        await self._reconcile_payments_when_due()
        if time.monotonic() >= carts_due:
            try:
                await self._delete_carts(interval)
            except Exception:
                log.exception("deleting abandoned carts failed")
            if self.purge_audit is not None:
                try:
                    purged = await self.purge_audit()
                    if purged:
                        log.info("deleted %d audit events past their retention", purged)
                except Exception:
                    log.exception("audit retention failed")

    async def _reconcile_payments_when_due(self) -> None:
        """The payment reconciliation (checkout's job), every
        ``HUB_PAYMENT_RECONCILE_SECONDS`` of the embedded loop, first on its first round."""
        if self.reconcile_payments is None or time.monotonic() < self._payments_due:
            return
        self._payments_due = time.monotonic() + self.settings.payment_reconcile_seconds
        try:
            settled = await self.reconcile_payments()
            if settled:
                log.info("gave back %d payments of checkouts that never wrote their order", settled)
        except Exception:
            log.exception("payment reconciliation failed")
        if self.expire_pickups is not None:
            try:
                expired = await self.expire_pickups()
                if expired:
                    log.info("released %d pickups not collected in their window", expired)
            except Exception:
                log.exception("pickup expiry failed")
