"""Background jobs for ``hub worker``: an arq worker on Redis.

With ``HUB_REDIS_URL`` set, this worker expires reservations every
``HUB_RESERVATION_SWEEP_SECONDS`` and deletes abandoned carts every
``HUB_CART_SWEEP_SECONDS`` and gives back payments of checkouts that died before
writing their order every ``HUB_PAYMENT_RECONCILE_SECONDS`` (:func:`reconcile_payments`),
on the same schedule expires pickups not collected in their window (:func:`expire_pickups`)
(``hub serve`` processes do so only when they have not seen
its heartbeat for ``HUB_WORKER_GRACE_SECONDS``, see :mod:`hub.background`). It
also runs the outbox sweeper, which marks events published (and publishes those whose
process died first). :class:`WorkerSupervisor` keeps it running across Redis outages.

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
import contextlib
import dataclasses
import logging
import os
import signal
import socket
from typing import Any

from arq.connections import RedisSettings
from arq.cron import cron
from arq.worker import Worker, create_worker, func

from hub.background import drain, worker_heartbeat_key
from hub.composition import build_hub
from hub.container import Hub
from hub.db.database import Database
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
    hub: Hub = ctx["hub"]
    lock: asyncio.Lock = ctx["release_lock"]
    if lock.locked():  # the previous tick is still draining
        return 0
    async with lock:

        async def batch() -> int:
            return await hub.inventory.release_expired(limit=RELEASE_BATCH)

        total = await drain(batch, RELEASE_BATCH, _budget(ctx))
    if total:
        log.info("released %d expired reservations", total)
    return total


async def sweep_outbox(ctx: dict[str, Any]) -> int:
    """Publish events committed but never published (their process died first)."""
    hub: Hub = ctx["hub"]
    lock: asyncio.Lock = ctx["outbox_lock"]
    if lock.locked():
        return 0
    async with lock:
        return await drain(hub.dispatcher.sweep_once, hub.dispatcher.batch, _budget(ctx))


async def delete_expired_carts(ctx: dict[str, Any]) -> int:
    """Delete abandoned carts long expired (never completed ones, never one a
    checkout runs on: :func:`hub.domain.carts.delete_expired`)."""
    hub: Hub = ctx["hub"]
    lock: asyncio.Lock = ctx["carts_lock"]
    if lock.locked():
        return 0
    async with lock:
        return await hub.delete_expired_carts(budget=JOB_TIMEOUT / 2)


async def reconcile_payments(ctx: dict[str, Any]) -> int:
    """Give back payments of checkouts that died before writing their order
    (:func:`hub.domain.checkout.reconcile`), every
    ``HUB_PAYMENT_RECONCILE_SECONDS``."""
    lock: asyncio.Lock = ctx.setdefault("payments_lock", asyncio.Lock())
    if lock.locked():
        return 0
    async with lock:
        hub: Hub = ctx["hub"]
        settled = await hub.reconcile_payments()
    if settled:
        log.info("gave back %d payments of checkouts that never wrote their order", settled)
    return settled


async def expire_pickups(ctx: dict[str, Any]) -> int:
    """Cancel ready pickups not collected within their location's pickup window,
    release their stock and refund them (retrying refunds an earlier run could not
    make), every ``HUB_PAYMENT_RECONCILE_SECONDS``."""
    lock: asyncio.Lock = ctx.setdefault("pickups_lock", asyncio.Lock())
    if lock.locked():
        return 0
    async with lock:
        hub: Hub = ctx["hub"]
        expired = await hub.expire_pickups()
    if expired:
        log.info("released %d pickups not collected in their window", expired)
    return expired


CONNECTOR_JOB_TIMEOUT = 6 * 3600 + 60.0  # above the longest run timeout (admin.MAX_TIMEOUT)


def connector_job_id(settings: Settings, pk: int) -> str:
    """One queued or running arq job per connector instance (arq refuses a second job
    with an id in use; results are not kept, so the id is free once it ended)."""
    return f"{settings.redis_prefix}:connector:{pk}"


async def connectors_tick(ctx: dict[str, Any]) -> int:
    """Every second: an arq job (:func:`connector_run`) for each connector instance due
    to run (its schedule, or new events its topics ask for)."""
    lock: asyncio.Lock = ctx.setdefault("connectors_lock", asyncio.Lock())
    if lock.locked():
        return 0
    async with lock:
        hub: Hub = ctx["hub"]
        settings: Settings = ctx["settings"]

        async def enqueue(pk: int, trigger: str) -> None:
            await ctx["redis"].enqueue_job(
                "connector_run",
                pk,
                trigger,
                _job_id=connector_job_id(settings, pk),
                _queue_name=queue_name(settings),
            )

        return await hub.integrations.tick(launch=enqueue)


async def connector_run(ctx: dict[str, Any], pk: int, trigger: str) -> int | None:
    """One run of a connector instance (the instance's lease keeps it single across
    workers and serve processes); the run's id, or None if it could not start."""
    hub: Hub = ctx["hub"]
    return await hub.integrations.run(pk, trigger)


async def setup(ctx: dict[str, Any]) -> None:
    """What the jobs need, made once per ``hub worker`` (kept across reconnections)."""
    settings: Settings = ctx["settings"]
    db = Database(settings)
    ctx["db"] = db
    # The bus is a RedisBus here (redis_url is set). We don't start the hub: the
    # dispatcher's own loop is replaced by the sweep_outbox cron job, publishing needs
    # no reader, and a worker has no subscribers to feed from the event log.
    ctx["hub"] = build_hub(settings, db)
    ctx["release_lock"] = asyncio.Lock()
    ctx["outbox_lock"] = asyncio.Lock()
    ctx["carts_lock"] = asyncio.Lock()


async def teardown(ctx: dict[str, Any]) -> None:
    hub: Hub | None = ctx.pop("hub", None)
    db: Database | None = ctx.pop("db", None)
    try:
        if hub is not None:
            await hub.aclose()
    finally:
        if db is not None:
            await db.dispose()


async def on_startup(ctx: dict[str, Any]) -> None:
    """arq's start-up hook, run each time the worker (re)connects to Redis."""
    if "hub" not in ctx:
        await setup(ctx)
    connected = ctx.get("connected")
    if connected is not None:
        connected.set()


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
    # One attempt per connection: the supervisor (run_worker) retries with backoff.
    redis = dataclasses.replace(RedisSettings.from_dsn(settings.redis_url), conn_retries=0)
    return {
        "redis_settings": redis,
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
                expire_pickups,
                name=f"cron:{prefix}:expire_pickups",
                **common,
                **sweep_schedule(settings.payment_reconcile_seconds),
            ),
            cron(
                delete_expired_carts,
                name=f"cron:{prefix}:delete_expired_carts",
                **common,
                **sweep_schedule(settings.cart_sweep_seconds),
            ),
            cron(
                connectors_tick,
                name=f"cron:{prefix}:connectors_tick",
                **common,
                second=set(range(60)),
            ),
        ],
        "functions": [
            func(
                connector_run,
                name="connector_run",
                timeout=CONNECTOR_JOB_TIMEOUT,
                keep_result=0,
                max_tries=1,
            )
        ],
        "on_startup": on_startup,
        "ctx": {"settings": settings},
        "job_timeout": JOB_TIMEOUT,
        "max_jobs": 4,
        "poll_delay": 0.5,
        "health_check_interval": 60,
        "log_results": False,
        "handle_signals": False,  # the supervisor's
    }


class WorkerSupervisor:
    """Runs the arq worker and keeps it running across Redis outages.

    arq's worker gives up when Redis can't be reached (at start, after a few tries) or
    is lost while it runs (its main loop raises). The supervisor starts a fresh arq
    worker after each such end, with exponential backoff, until SIGINT/SIGTERM; the
    database and the jobs' state are kept across. It logs one line per change of state
    (connected, Redis lost), not one per attempt.

    While connected it keeps :func:`hub.background.worker_heartbeat_key` alive in Redis
    (expiring after ``HUB_WORKER_GRACE_SECONDS``); a heartbeat that can't be written
    counts as Redis lost. Serve processes that don't see it run the jobs themselves.
    """

    def __init__(self, settings: Settings, *, backoff: tuple[float, float] = (0.5, 10.0)) -> None:
        self.settings = settings
        self.backoff = backoff
        self.grace = settings.worker_grace_seconds
        self.beat = max(0.5, min(self.grace / 3, 5.0))
        self.stopping = asyncio.Event()
        self.state: str | None = None  # "connected" | "down"
        self.where = _where(settings.redis_url or "")

    def stop(self) -> None:
        self.stopping.set()

    async def run(self) -> None:
        ctx: dict[str, Any] = {"settings": self.settings}
        await setup(ctx)
        low, high = self.backoff
        delay = low
        try:
            while not self.stopping.is_set():
                error = await self._run_once(ctx)
                if self.stopping.is_set():
                    break
                if self.state == "connected":
                    delay = low
                if self.state != "down":
                    log.warning(
                        "worker: Redis at %s unreachable (%s); retrying with backoff up to "
                        "%gs (serve processes run the jobs after %gs without a worker)",
                        self.where,
                        error,
                        high,
                        self.grace,
                    )
                    self.state = "down"
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), delay)
                delay = min(delay * 2, high)
        finally:
            await teardown(ctx)

    async def _run_once(self, ctx: dict[str, Any]) -> str:
        """One arq worker, until it fails (returns why) or we are stopping."""
        connected = ctx["connected"] = asyncio.Event()
        worker = create_worker(worker_settings(self.settings), ctx=ctx)
        main = asyncio.create_task(worker.main(), name="hub-worker-main")
        beat = asyncio.create_task(self._heartbeat(worker, connected), name="hub-worker-beat")
        stop = asyncio.create_task(self.stopping.wait(), name="hub-worker-stop")
        try:
            await asyncio.wait({main, beat, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            error = _failure(main) or _failure(beat) or "stopped"
            await self._dispose(worker, [main, beat, stop])
        return error

    async def _heartbeat(self, worker: Worker, connected: asyncio.Event) -> None:
        await connected.wait()
        if self.state != "connected":
            log.info("worker: connected to Redis at %s; running the background jobs", self.where)
            self.state = "connected"
        key = worker_heartbeat_key(self.settings)
        me = f"{socket.gethostname()}:{os.getpid()}"
        while True:
            await asyncio.wait_for(
                worker.pool.set(key, me, px=int(self.grace * 1000)), timeout=self.beat + 2
            )
            await asyncio.sleep(self.beat)

    async def _dispose(self, worker: Worker, tasks: list[asyncio.Task[Any]]) -> None:
        """Stop an arq worker whose Redis may be gone: cancel its jobs and loops, close
        its connections without waiting on Redis."""
        running = [t for t in (*tasks, *worker.tasks.values(), *worker.job_tasks.values())]
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)
        pool = worker._pool
        worker._pool = None
        if pool is not None:
            if self.stopping.is_set():
                with contextlib.suppress(Exception):  # leave promptly: forget our heartbeat
                    await asyncio.wait_for(pool.delete(worker_heartbeat_key(self.settings)), 2)
            with contextlib.suppress(Exception):
                await pool.close(close_connection_pool=True)


def _failure(task: asyncio.Task[Any]) -> str | None:
    if not task.done() or task.cancelled():
        return None
    exc = task.exception()
    if exc is None:
        return None
    return (str(exc).splitlines() or [type(exc).__name__])[0] or type(exc).__name__


def _where(url: str) -> str:
    """host:port of a Redis URL, without credentials."""
    rest = url.split("://", 1)[-1].rsplit("@", 1)[-1]
    return rest.split("/", 1)[0] or url


def run_worker(settings: Settings) -> None:
    """Run the worker until SIGINT/SIGTERM, reconnecting to Redis whenever it is lost."""
    supervisor = WorkerSupervisor(settings)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, supervisor.stop)
        await supervisor.run()

    asyncio.run(main())
