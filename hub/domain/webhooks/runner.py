"""The loop that moves webhooks: fan the outbox out, claim due deliveries, send them.

Sends run as tasks of their own, at most ``HUB_WEBHOOK_CONCURRENCY`` at once and at
most ``HUB_WEBHOOK_CONCURRENCY_PER_SUBSCRIPTION`` per subscription claimed at a time,
each bounded by ``HUB_WEBHOOK_TIMEOUT_SECONDS``: the loop never waits for a send, so a
slow receiver holds its own slots and nothing else. A finished send wakes the loop,
which claims more at once; otherwise it looks every ``HUB_WEBHOOK_POLL_SECONDS``.

Every ``hub serve`` process runs it when no Redis is configured (they are safe side
by side: the fan-out's position is a compare-and-set, claims are leased); with Redis,
``hub worker`` does, and a serve process only while it runs the background jobs itself
(no worker seen, :class:`hub.background.EmbeddedJobs`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable

from connectors.base import WebhookRequest, WebhookResponse, WebhookTarget
from hub.db.database import Database
from hub.domain.webhooks.delivery import Claimed, FanOut, Policy, claim, settle
from hub.domain.webhooks.records import body, headers

log = logging.getLogger("hub.webhooks")


class WebhookRunner:
    stop_wait = 5.0  # seconds sends in flight get to finish when stopping

    def __init__(
        self,
        db: Database,
        target: WebhookTarget,
        policy: Policy,
        *,
        timeout: float,
        poll: float,
        concurrency: int,
        per_subscription: int,
        lease: float,
        should_run: Callable[[], bool] = lambda: True,
    ) -> None:
        self.db = db
        self.target = target
        self.policy = policy
        self.timeout = timeout
        self.poll = poll
        self.concurrency = concurrency
        self.per_subscription = per_subscription
        # A claim outlives the longest send by a margin (a lapsed lease means: resend).
        self.lease = max(lease, timeout + 5)
        self.should_run = should_run
        self.fanout = FanOut(db)
        self._inflight: Counter[int] = Counter()  # sends per subscription
        self._sends: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.failing: str | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="hub-webhooks")

    def kick(self) -> None:
        """Look for work now (a delivery was queued by hand)."""
        self._wake.set()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._sends:
            _, pending = await asyncio.wait(set(self._sends), timeout=self.stop_wait)
            for t in pending:
                t.cancel()  # its lease lapses and it is sent again: at least once
            if pending:
                await asyncio.wait(pending)

    async def run_once(self) -> int:
        """Fan out what is new, then start the sends that are due; how many started."""
        while await self.fanout.run_once() >= self.fanout.batch:
            pass
        free = self.concurrency - len(self._sends)
        busy = frozenset(k for k, n in self._inflight.items() if n >= self.per_subscription)
        got = await claim(
            self.db,
            limit=free,
            per_subscription=self.per_subscription,
            busy=busy,
            lease=self.lease,
        )
        for held in got:
            self._inflight[held.subscription_id] += 1
            task = asyncio.create_task(self._send(held), name="hub-webhooks-send")
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)
        return len(got)

    async def _send(self, held: Claimed) -> None:
        try:
            raw = body(held.event_id, held.topic, held.payload)
            sent_at = int(time.time())
            request = WebhookRequest(
                held.url, raw, headers(held.secret, sent_at, held.event_id, held.topic, raw)
            )
            try:
                response = await self.target.send(request, self.timeout)
            except Exception as exc:  # the transport's own bug: count it as a failed attempt
                log.exception("webhooks: sending delivery %d failed", held.id)
                response = WebhookResponse(None, 0, f"{type(exc).__name__}: {exc}")
            status = await settle(self.db, held, response, self.policy)
            if status == "DEAD":
                log.warning(
                    "webhooks: delivery %d of event %d to subscription %d is DEAD after %d "
                    "attempts (%s)",
                    held.id,
                    held.event_id,
                    held.subscription_id,
                    held.attempts,
                    response.error,
                )
        except Exception:
            log.exception("webhooks: recording delivery %d failed; its lease will lapse", held.id)
        finally:
            self._inflight[held.subscription_id] -= 1
            if self._inflight[held.subscription_id] <= 0:
                del self._inflight[held.subscription_id]
            self._wake.set()

    async def _run(self) -> None:
        while True:
            started = 0
            if self.should_run():
                try:
                    started = await self.run_once()
                    if self.failing is not None:
                        log.info("webhooks: delivering again")
                        self.failing = None
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    reason = (str(exc).splitlines() or [type(exc).__name__])[0]
                    if self.failing is None:
                        log.warning("webhooks: cannot deliver (%s); retrying", reason)
                    self.failing = reason
            if started and len(self._sends) < self.concurrency:
                continue  # more may be due right away
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll)
            self._wake.clear()
