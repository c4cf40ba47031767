"""The connector runtime: :class:`Integrations` (the container's ``hub.integrations``).

A run is one call of an instance's ``sync`` (trigger SCHEDULE, on its schedule) or
``handle`` (trigger EVENT, on the outbox events its type's ``topics`` ask for), or
both (trigger MANUAL, ``connectorRunNow``), in an asyncio task of its own with the
instance's timeout, holding the instance's lease (a row lease in the database, renewed
while the run goes on, so one run per instance at a time across processes, and a dead
process's lease expires). Every run is recorded (:mod:`store`). A failed run counts a
failure and pushes the instance's next automatic run back exponentially; it never
touches another instance, and nothing on the checkout path waits for a run.

Who runs the automatic runs: without Redis, the scheduler loop of every ``hub serve``
process (the lease keeps them from running an instance twice); with Redis, ``hub
worker`` (:mod:`hub.jobs`: a tick every second enqueues an arq job per due instance),
and a serve process only while no worker is seen (``runs_here``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from connectors.base import Connector, Event, Position, Publish
from hub.db.database import Database, Reader
from hub.domain.audit import Actor, audit_scope
from hub.domain.errors import fail
from hub.domain.integrations import admin, store
from hub.domain.integrations.context import RunCtx
from hub.domain.integrations.feed import coalesce, select_events, topics_of
from hub.domain.integrations.gateway import Gateway
from hub.domain.integrations.records import (
    ConnectorCode,
    ConnectorRecord,
    RunRecord,
    connectors_by_ids,
    now,
    runs_by_ids,
)
from hub.events.outbox import Outbox, log_head, read_after

log = logging.getLogger("hub.connectors")

EVENT_BATCH = 500  # events read per step of an event run
EVENT_STEPS = 20  # steps per run at most (the rest in the next run)
WAIT_MAX = 60.0  # connectorRunNow(wait: true) answers after this long at the latest

Launch = Callable[[int, str], Awaitable[None]]


class Integrations:
    def __init__(
        self,
        db: Database,
        types: Mapping[str, type[Connector]],
        publish: Publish,
        *,
        tick_seconds: float = 0.5,
        lease_seconds: float = 30.0,
        runs_here: Callable[[], bool] = lambda: True,
    ) -> None:
        self.db = db
        self.types = dict(types)
        self.publish = publish
        self.tick_seconds = tick_seconds
        self.lease_seconds = lease_seconds
        self.runs_here = runs_here
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self._loop: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        # Called with the changed instance's type name after each admin write in this
        # process (the HTTP tax engine reloads its config on it).
        self.on_change: list[Callable[[], Awaitable[None]]] = []

    # ------------------------------------------------------------------ types

    def register(self, cls: type[Connector]) -> None:
        """Add a connector type (``hub.composition.connector_types`` registers the
        built-in ones; a plugin or a test may add its own)."""
        self.types[cls.type_name] = cls

    def secret_fields(self) -> dict[str, Sequence[str]]:
        return {name: sorted(cls.secret_fields) for name, cls in self.types.items()}

    # ------------------------------------------------------------------ admin

    async def create(self, inp: admin.ConnectorInput, *, source: str = "api") -> int:
        position, _ = await log_head(self.db)
        outbox = Outbox()
        async with self.db.transaction() as conn:
            pk = await admin.create(conn, self.types, inp, position=position, source=source)
            outbox.add("connector.created", {"connectorId": pk, "typeName": inp.type_name})
            events = await outbox.flush(conn)
        await self._changed(events)
        return pk

    async def update(self, pk: int, inp: admin.ConnectorInput) -> int:
        outbox = Outbox()
        async with self.db.transaction() as conn:
            await admin.update_instance(conn, self.types, pk, inp)
            outbox.add("connector.updated", {"connectorId": pk})
            events = await outbox.flush(conn)
        await self._changed(events)
        return pk

    async def delete(self, pk: int) -> int:
        """Delete an instance and its runs; a run of it in this process is stopped."""
        outbox = Outbox()
        async with self.db.transaction() as conn:
            await admin.delete_instance(conn, pk)
            outbox.add("connector.deleted", {"connectorId": pk})
            events = await outbox.flush(conn)
        running = self.tasks.get(pk)
        if running is not None:
            running.cancel()
        await self._changed(events)
        return pk

    async def _changed(self, events: list[Event]) -> None:
        await self.publish(events)
        for call in self.on_change:
            try:
                await call()
            except Exception:
                log.exception("connectors: a change listener failed")
        self.wake()

    async def get(self, reader: Reader, pks: Sequence[int]) -> dict[int, ConnectorRecord]:
        return await connectors_by_ids(reader, pks, self.secret_fields())

    # ------------------------------------------------------------------ runs

    async def run_now(self, pk: int, *, wait: bool = False) -> int:
        """Start a MANUAL run (``sync``, then the pending events if the type has
        topics) in the background; its run id. ``wait``: return once it ended."""
        async with self.db.read() as conn:
            found = await connectors_by_ids(conn, [pk], {})
        rec = found.get(pk)
        if rec is None:
            raise fail(ConnectorCode.NOT_FOUND, "no such connector", "id")
        if not rec.enabled:
            raise fail(ConnectorCode.CONNECTOR_DISABLED, "the connector is disabled", "id")
        if rec.type_name not in self.types:
            raise fail(ConnectorCode.UNKNOWN_CONNECTOR_TYPE, "its type is not installed", "id")
        leased = await store.acquire(self.db, pk, self.owner, self.lease_seconds, "MANUAL")
        if leased is None:
            raise fail(ConnectorCode.CONNECTOR_BUSY, "a run of this connector is going on", "id")
        task = self._spawn(leased, "MANUAL")
        if wait:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), WAIT_MAX)
        return leased.run_pk

    async def run(self, pk: int, trigger: str) -> int | None:
        """An automatic run (SCHEDULE or EVENT) of ``pk`` here, to its end; its run id,
        or None when it could not start (running elsewhere, disabled)."""
        leased = await store.acquire(self.db, pk, self.owner, self.lease_seconds, trigger)
        if leased is None:
            return None
        await asyncio.shield(self._spawn(leased, trigger))
        return leased.run_pk

    def _spawn(self, leased: store.Leased, trigger: str) -> asyncio.Task[None]:
        name = f"hub-connector-{leased.pk}"
        task = asyncio.create_task(self._execute(leased, trigger), name=name)
        self.tasks[leased.pk] = task
        task.add_done_callback(lambda t: self._forget(leased.pk, t))
        return task

    def _forget(self, pk: int, task: asyncio.Task[None]) -> None:
        if self.tasks.get(pk) is task:
            del self.tasks[pk]

    async def _execute(self, leased: store.Leased, trigger: str) -> None:
        cls = self.types.get(leased.type_name)
        gateway = Gateway(self.db, self.publish)
        ctx = RunCtx(leased.pk, leased.config, leased.cursor, gateway, trigger)
        gateway.run = ctx
        out = ctx.out
        # Named as the process's other background tasks ("hub-..."), whose statements
        # are not a request's (the tests' statement counter leaves them out).
        keeper = asyncio.create_task(
            self._keep_lease(leased.pk, asyncio.current_task()),
            name=f"hub-connector-{leased.pk}-lease",
        )
        try:
            if cls is None:
                raise LookupError(f"connector type {leased.type_name!r} is not installed")
            # What the connector writes to the hub is audited as the connector's.
            who = Actor("connector", leased.pk, f"{leased.type_name}#{leased.pk}", "connector")
            operation = f"connector.{leased.type_name}.{trigger.lower()}"
            async with asyncio.timeout(leased.timeout_seconds):
                with audit_scope(who, operation):
                    await self._call(cls, ctx, leased, trigger)
            out.status = "PARTIAL" if out.error_count else "SUCCEEDED"
        except TimeoutError:
            out.status = "FAILED"
            out.message = f"timed out after {leased.timeout_seconds}s"
            ctx.error("", "TIMEOUT", out.message)
        except asyncio.CancelledError:
            out.status = "FAILED"
            out.message = "stopped: the lease was lost or the process is stopping"
            ctx.error("", "CANCELLED", out.message)
        except Exception as exc:
            log.warning("connector %d (%s) failed: %r", leased.pk, leased.type_name, exc)
            out.status = "FAILED"
            out.message = f"{type(exc).__name__}: {exc}"[:1000]
            ctx.error("", "FAILED", out.message)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            try:
                await asyncio.shield(store.finish(self.db, leased, self.owner, trigger, out))
            except Exception:
                log.exception("connector %d: recording its run failed", leased.pk)

    async def _call(
        self, cls: type[Connector], ctx: RunCtx, leased: store.Leased, trigger: str
    ) -> None:
        conn = cls()
        try:
            if trigger in ("SCHEDULE", "MANUAL"):
                await conn.sync(ctx)
            topics = topics_of(cls, leased.config)
            if trigger in ("EVENT", "MANUAL") and topics:
                await self._events(conn, topics, ctx, leased.position)
        finally:
            close = getattr(conn, "aclose", None)
            if close is not None:
                await close()

    async def _events(
        self, conn: Connector, topics: Sequence[str], ctx: RunCtx, position: Position
    ) -> None:
        """Hand the instance its events after ``position`` (stock events coalesced),
        batch by batch; the position moves on with the run's success."""
        for _ in range(EVENT_STEPS):
            got = await read_after(self.db, position, EVENT_BATCH)
            chosen = select_events(got.events, topics)
            if chosen:
                await conn.handle(ctx, coalesce(chosen))
                ctx.out.events += len(chosen)
            position = got.cursor
            ctx.out.position = position
            if len(got.events) < EVENT_BATCH:
                return

    async def _keep_lease(self, pk: int, run: asyncio.Task[Any] | None) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                kept = await store.renew(self.db, pk, self.owner, self.lease_seconds)
            except Exception:
                log.warning("connector %d: renewing its lease failed; trying again", pk)
                continue
            if not kept and run is not None:
                log.warning("connector %d: lease lost; stopping its run", pk)
                run.cancel()
                return

    # ------------------------------------------------------------------ scheduling

    async def due(self) -> list[tuple[int, str]]:
        """(instance, trigger) of every run due now: scheduled syncs, and event runs of
        instances with new events their topics match (an instance without any has its
        position moved past the others)."""
        found: list[tuple[int, str]] = []
        for d in await store.due(self.db):
            if d.pk in self.tasks:
                continue
            cls = self.types.get(d.type_name)
            if cls is None:
                continue
            if d.sync_due:
                found.append((d.pk, "SCHEDULE"))
            elif (topics := topics_of(cls, d.config)) and d.events_ok:
                got = await read_after(self.db, d.position, EVENT_BATCH)
                if select_events(got.events, topics):
                    found.append((d.pk, "EVENT"))
                elif got.events and got.cursor != d.position:
                    # Only past events it does not want (not every move of the
                    # PostgreSQL horizon: that would be a write per instance per tick).
                    await store.skip_events(self.db, d.pk, d.position, got.cursor)
        return found

    async def tick(self, launch: Launch | None = None) -> int:
        """Start every due run (``launch``: how; by default a task in this process);
        how many were started."""
        started = 0
        for pk, trigger in await self.due():
            if launch is not None:
                await launch(pk, trigger)
            else:
                leased = await store.acquire(self.db, pk, self.owner, self.lease_seconds, trigger)
                if leased is None:
                    continue
                self._spawn(leased, trigger)
            started += 1
        return started

    def wake(self) -> None:
        self._wake.set()

    async def _scheduler(self) -> None:
        while True:
            if self.runs_here():
                try:
                    await self.tick()
                except Exception:
                    log.exception("connectors: the scheduler's tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.tick_seconds)
            self._wake.clear()

    def start(self) -> None:
        if self._loop is None:
            self._loop = asyncio.create_task(self._scheduler(), name="hub-connectors")

    async def stop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        running = list(self.tasks.values())
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)

    # ------------------------------------------------------------------ reads

    async def runs(self, reader: Reader, pks: Sequence[int]) -> dict[int, RunRecord]:
        return await runs_by_ids(reader, pks)

    async def record(self, pk: int, trigger: str, started: datetime, out: store.Outcome) -> int:
        """Record a run after the fact (a passive connector's interval, no lease)."""
        return await store.record_run(self.db, pk, trigger, started, out)

    def clock(self) -> datetime:
        return now()
