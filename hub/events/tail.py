"""Each process follows the outbox table, the durable log of events, so that its
subscribers get every event even when the transport lost some.

The transport (Redis pub/sub, PostgreSQL NOTIFY) is the fast path: most events reach a
process through it within milliseconds. But it keeps nothing for a reader that is away,
and Redis may come back empty. So every process also reads the outbox in commit order
from its own cursor (:func:`hub.events.outbox.read_after`), every ``interval`` seconds
and at once whenever the transport (re)connects, and hands the events to the bus's
:meth:`~hub.events.bus._LocalFanout.catch_up`, which delivers those that did not come
by the transport (the bus drops ids it has seen, so nothing arrives twice).

The cursor starts at the head of the log when the process starts (its subscribers
want what happens from now on) and only moves forward. If the database can't be read,
the tail logs one line, retries every interval, and resumes where it was: nothing is
skipped. An event reaches subscribers on every process at the latest about
``interval`` seconds after its commit. (On PostgreSQL the cursor only passes rows
whose transaction is older than every one still running; rows committed beyond a
transaction left open somewhere are delivered at once all the same, see
:func:`hub.events.outbox.read_after`.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from hub.background import cancel
from hub.db.database import Database
from hub.events.bus import EventBus, Position
from hub.events.outbox import log_head, read_after

log = logging.getLogger("hub.events.tail")


class OutboxTail:
    def __init__(
        self, db: Database, bus: EventBus, *, interval: float = 1.0, batch: int = 1000
    ) -> None:
        if interval <= 0 or batch < 1:
            raise ValueError("interval must be > 0 and batch >= 1")
        self.db = db
        self.bus = bus
        self.interval = interval
        self.batch = batch
        self.cursor: Position | None = None
        self.hi = 0  # the largest outbox id read
        self.caught_up = 0  # events this tail delivered that the transport had not
        self.failing: str | None = None  # why the last read failed, until one succeeds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._bridging: int | None = None  # events delivered since the bus missed some

    async def start(self) -> None:
        """Start from the head of the log (raises if the database can't be read)."""
        if self._task is not None:
            return
        self.cursor, self.hi = await log_head(self.db)
        self.bus.catch_up([], self.cursor)
        self.bus.on_connect = self.kick
        self._task = asyncio.create_task(self._run(), name="hub-events-tail")

    def kick(self) -> None:
        """Read the log now (the transport just reconnected)."""
        self._wake.set()

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel(task)
        if getattr(self.bus, "on_connect", None) == self.kick:
            self.bus.on_connect = None

    async def read_once(self) -> int:
        """Read the log up to now; returns how many events the transport had missed."""
        assert self.cursor is not None, "start() first"
        delivered = 0
        while True:
            got = await read_after(self.db, self.cursor, self.batch, self.hi)
            delivered += self.bus.catch_up(got.events, got.cursor, got.ahead)
            self.cursor, self.hi = got.cursor, got.hi
            if len(got.events) < self.batch and len(got.ahead) < self.batch:
                break
        if delivered:
            if self._bridging is None:
                log.info("event log: delivering events the bus did not bring")
                self._bridging = 0
            self._bridging += delivered
            self.caught_up += delivered
        elif self._bridging is not None:
            log.info(
                "event log: the bus is complete again (%d events came from the log)", self._bridging
            )
            self._bridging = None
        return delivered

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": "failing" if self.failing else "following"}
        if self.failing:
            out["reason"] = self.failing
        out["caughtUp"] = self.caught_up
        return out

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            try:
                await self.read_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                if self.failing is None:
                    log.warning("event log: cannot read the outbox (%s); retrying", reason)
                self.failing = reason
                continue
            if self.failing is not None:
                log.info("event log: reading the outbox again")
                self.failing = None
