"""Background jobs for ``hub worker``: an arq worker on Redis.

With ``HUB_REDIS_URL`` set, ``hub serve`` processes do not expire reservations
themselves (see :class:`hub.services.Services`); this worker does, every
``HUB_RESERVATION_SWEEP_SECONDS``, deletes abandoned carts every
``HUB_CART_SWEEP_SECONDS`` and gives back payments of checkouts that died before
writing their order every ``HUB_PAYMENT_RECONCILE_SECONDS``
(:func:`reconcile_payments`). It also runs the outbox sweeper, so events
committed by a process that died before publishing them still reach the bus even
when no ``hub serve`` process is up.

Scheduling uses arq ``cron`` jobs rather than self-rescheduling jobs:

* cron ticks are enqueued with a job id per tick (``unique=True``), so several
  worker replicas on one Redis run each tick once, and a crashed job never breaks
  a rescheduling chain (the next tick is enqueued by whichever worker is alive);
* cron has one-second granularity: the sweep runs at the seconds of each minute
  that are multiples of the interval (rounded to whole seconds, at least 1), so an
  interval that does not divide 60 gets one shorter gap per minute; intervals of a
  minute or more use whole minutes (see :func:`sweep_schedule`).

Everything the worker puts in Redis is namespaced with ``HUB_REDIS_PREFIX``: the
queue (``<prefix>:arq:queue``), its health-check key, and the cron job names (arq's
per-job keys are ``arq:job:<job id>`` and the job id starts with the name), so
several hubs can share one Redis without running or swallowing each other's jobs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from arq.connections import RedisSettings
from arq.cron import cron
from arq.worker import create_worker

from hub.db.database import Database
from hub.services import Services
from hub.settings import Settings

log = logging.getLogger("hub.jobs")

RELEASE_BATCH = 500  # reservations per release_expired() call
JOB_TIMEOUT = 120.0  # seconds; arq cancels a job that runs longer


def queue_name(settings: Settings) -> str:
    return f"{settings.redis_prefix}:arq:queue"


def sweep_schedule(interval: float) -> dict[str, Any]:
    """arq ``cron`` fields that fire about every ``interval`` seconds."""
    seconds = max(1, round(interval))
    if seconds < 60:
        return {"second": set(range(0, 60, seconds))}
    minutes = min(60, max(1, round(seconds / 60)))
    return {"minute": set(range(0, 60, minutes)), "second": 0}


def _budget(ctx: dict[str, Any]) -> float:
    """How long one run may keep draining a backlog: about one interval."""
    return max(1.0, ctx["settings"].reservation_sweep_seconds)


async def release_expired_reservations(ctx: dict[str, Any]) -> int:
    """Release reservations past their expiry; keeps going while a backlog remains."""
    services: Services = ctx["services"]
    lock: asyncio.Lock = ctx["release_lock"]
    if lock.locked():  # the previous tick is still draining
        return 0
    async with lock:
        deadline = time.monotonic() + _budget(ctx)
        total = 0
        while True:
            released = await services.inventory.release_expired(limit=RELEASE_BATCH)
            total += released
            if released < RELEASE_BATCH or time.monotonic() >= deadline:
                break
    if total:
        log.info("released %d expired reservations", total)
    return total


async def sweep_outbox(ctx: dict[str, Any]) -> int:
    """Publish events committed but never published (their process died first)."""
    services: Services = ctx["services"]
    lock: asyncio.Lock = ctx["outbox_lock"]
    if lock.locked():
        return 0
    async with lock:
        deadline = time.monotonic() + _budget(ctx)
        total = 0
        while True:
            swept = await services.dispatcher.sweep_once()
            total += swept
            if swept < services.dispatcher.batch or time.monotonic() >= deadline:
                break
    return total


async def delete_expired_carts(ctx: dict[str, Any]) -> int:
    """Delete abandoned carts long expired (never completed ones, never one a
    checkout runs on: :func:`hub.domain.carts.delete_expired`)."""
    services: Services = ctx["services"]
    lock: asyncio.Lock = ctx["carts_lock"]
    if lock.locked():
        return 0
    async with lock:
        return await services.delete_expired_carts(budget=JOB_TIMEOUT / 2)


async def reconcile_payments(ctx: dict[str, Any]) -> int:
    """Give back payments of checkouts that died before writing their order
    (:func:`hub.domain.checkout_payments.reconcile`), every
    ``HUB_PAYMENT_RECONCILE_SECONDS``. Its payment providers are made on first use."""
    lock: asyncio.Lock = ctx.setdefault("payments_lock", asyncio.Lock())
    if lock.locked():
        return 0
    async with lock:
        commerce = ctx.get("commerce")
        if commerce is None:
            from hub.commerce import Commerce

            services: Services = ctx["services"]
            commerce = ctx["commerce"] = Commerce(ctx["settings"], ctx["db"], services.publish)
        settled: int = await commerce.reconcile_payments()
    if settled:
        log.info("gave back %d payments of checkouts that never wrote their order", settled)
    return settled


async def _close_payments(ctx: dict[str, Any]) -> None:
    commerce = ctx.pop("commerce", None)
    if commerce is not None:
        await commerce.aclose()


async def on_startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx["settings"]
    db = Database(settings)
    ctx["db"] = db
    # The bus is a RedisBus here (redis_url is set), so Services does not start its
    # in-process expiry loop; we don't call start() at all: the dispatcher's own
    # loop is replaced by the sweep_outbox cron job, and publishing needs no reader.
    ctx["services"] = Services(settings, db)
    ctx["release_lock"] = asyncio.Lock()
    ctx["outbox_lock"] = asyncio.Lock()
    ctx["carts_lock"] = asyncio.Lock()
    log.info(
        "worker ready on queue %s: reservation expiry and outbox sweep every %gs, "
        "abandoned carts every %gs",
        queue_name(settings),
        settings.reservation_sweep_seconds,
        settings.cart_sweep_seconds,
    )


async def on_shutdown(ctx: dict[str, Any]) -> None:
    services: Services | None = ctx.pop("services", None)
    db: Database | None = ctx.pop("db", None)
    await _close_payments(ctx)
    try:
        if services is not None:
            await services.stop()
    finally:
        if db is not None:
            await db.dispose()


def worker_settings(settings: Settings) -> dict[str, Any]:
    """The arq WorkerSettings for ``settings`` (a mapping, which arq accepts like a class)."""
    if settings.redis_url is None:
        raise ValueError("the arq worker needs HUB_REDIS_URL")
    prefix = settings.redis_prefix
    when = sweep_schedule(settings.reservation_sweep_seconds)
    common: dict[str, Any] = {
        "run_at_startup": True,
        "unique": True,
        "timeout": JOB_TIMEOUT,
        "max_tries": 1,
    }
    return {
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "queue_name": queue_name(settings),
        "cron_jobs": [
            cron(
                release_expired_reservations,
                name=f"cron:{prefix}:release_expired_reservations",
                **common,
                **when,
            ),
            cron(sweep_outbox, name=f"cron:{prefix}:sweep_outbox", **common, **when),
            cron(
                reconcile_payments,
                name=f"cron:{prefix}:reconcile_payments",
                **common,
                **sweep_schedule(settings.payment_reconcile_seconds),
            ),
            cron(
                delete_expired_carts,
                name=f"cron:{prefix}:delete_expired_carts",
                **common,
                **sweep_schedule(settings.cart_sweep_seconds),
            ),
        ],
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
        "ctx": {"settings": settings},
        "job_timeout": JOB_TIMEOUT,
        "max_jobs": 4,
        "poll_delay": 0.5,
        "health_check_interval": 60,
        "log_results": False,
    }


def run_worker(settings: Settings) -> None:
    """Run the worker until SIGINT/SIGTERM; raises if Redis can't be reached."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        worker = create_worker(worker_settings(settings))
        worker.run()
    finally:
        asyncio.set_event_loop(None)
        loop.close()
