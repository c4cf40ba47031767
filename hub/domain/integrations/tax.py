"""The tax engine a tax connector instance configures (``http_tax``), switched at run
time: :class:`ConnectedTax` is the container's ``hub.tax``. It answers with the engine
built from the enabled tax instance (the oldest, if several), else the default engine
(the settings': ``HUB_TAX_SERVICE_URL`` or the built-in rules). It reloads when an
instance changes (the ``connector.*`` events, from any process, and every
``RELOAD_SECONDS`` in case one was missed) and records each interval's calls as one
run of the instance (see ``connectors.tax.http_connector``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select

from connectors.base import EventBus, TaxEngine, TaxRequest, TaxResult
from hub.db.database import Database
from hub.db.tables import connectors_t
from hub.domain.integrations.records import MAX_RUN_ERRORS, now
from hub.domain.integrations.store import Outcome

log = logging.getLogger("hub.connectors.tax")

RELOAD_SECONDS = 30.0
TOPICS = ("connector.created", "connector.updated", "connector.deleted")


class ObservedEngine(TaxEngine, Protocol):
    observe: Callable[[str, str | None], None] | None

    async def aclose(self) -> None: ...


# Builds an instance's engine from its config (secrets included), or raises on a
# config it can't use; returns the engine and its reporting interval in seconds.
Build = Callable[[Mapping[str, Any]], tuple[ObservedEngine, float]]
Record = Callable[[int, str, datetime, Outcome], Any]


@dataclass
class _Tally:
    """The calls of one interval: answered by the service (or its cache), by the
    fallback, or not at all."""

    started: datetime = field(default_factory=now)
    service: int = 0
    fallback: int = 0
    unavailable: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return self.service + self.fallback + self.unavailable

    def add(self, outcome: str, message: str | None) -> None:
        if outcome in ("service", "cached"):
            self.service += 1
            return
        if outcome == "fallback":
            self.fallback += 1
        else:
            self.unavailable += 1
        if len(self.errors) < MAX_RUN_ERRORS:
            code = "FALLBACK" if outcome == "fallback" else "UNAVAILABLE"
            self.errors.append({"item": "call", "code": code, "message": (message or "")[:1000]})

    def outcome(self) -> Outcome:
        failed = self.fallback + self.unavailable
        status = "SUCCEEDED" if not failed else ("FAILED" if not self.service else "PARTIAL")
        return Outcome(
            status=status,
            items_read=self.service,
            items_written=self.service + self.fallback,
            error_count=failed,
            errors=self.errors,
            message=f"{failed} of {self.calls} calls failed" if failed else None,
        )


class ConnectedTax:
    def __init__(
        self,
        db: Database,
        default: TaxEngine,
        build: Build,
        record: Record,
        *,
        type_name: str = "http_tax",
    ) -> None:
        self.db = db
        self.default = default
        self.build = build
        self.record = record
        self.bus_subscriptions = 0  # its own listener on the event bus (not a client's)
        self.type_name = type_name
        self.instance: int | None = None
        self._version: datetime | None = None
        self._engine: ObservedEngine | None = None
        self._report_seconds = 60.0
        self._tally = _Tally()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing: set[asyncio.Task[None]] = set()

    async def calculate(self, req: TaxRequest) -> TaxResult:
        engine = self._engine
        return await (engine or self.default).calculate(req)

    def current_engine(self) -> TaxEngine:
        """The engine that computes the taxes now."""
        return self._engine or self.default

    def tax_classes(self) -> frozenset[str] | None:
        """The classes the engine in use knows (the built-in rules name theirs); None
        while an ``http_tax`` instance (an outside service) computes the taxes."""
        if self._engine is not None:
            return None
        known = getattr(self.default, "tax_classes", None)
        return known() if callable(known) else None

    def _observe(self, outcome: str, message: str | None) -> None:
        self._tally.add(outcome, message)

    async def reload(self) -> None:
        """Follow the enabled tax instance: build its engine when it changed."""
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(
                        connectors_t.c.id,
                        connectors_t.c.config,
                        connectors_t.c.secrets,
                        connectors_t.c.updated_at,
                    )
                    .where(
                        connectors_t.c.type_name == self.type_name,
                        connectors_t.c.enabled.is_(True),
                    )
                    .order_by(connectors_t.c.id)
                    .limit(1)
                )
            ).first()
        if row is None:
            if self._engine is not None:
                await self.flush(quiet=True)  # its instance may be gone
                self._retire(self._engine)
                self._engine, self.instance, self._version = None, None, None
            return
        if row.id == self.instance and row.updated_at == self._version:
            return
        try:
            engine, report = self.build({**(row.config or {}), **(row.secrets or {})})
        except Exception:
            log.exception("tax connector %d: its config can't build an engine", row.id)
            return
        await self.flush(quiet=True)
        engine.observe = self._observe
        old, self._engine = self._engine, engine
        self.instance, self._version, self._report_seconds = row.id, row.updated_at, report
        if old is not None:
            self._retire(old)
        log.info("tax: using connector %d (%s)", row.id, self.type_name)

    def _retire(self, engine: ObservedEngine) -> None:
        """Close an engine once the calls in flight on it are done."""

        async def later() -> None:
            await asyncio.sleep(30)
            await engine.aclose()

        task = asyncio.create_task(later(), name="hub-tax-retire")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def flush(self, *, quiet: bool = False) -> int | None:
        """Record the calls since the last flush as one run of the instance (``quiet``:
        the instance may have been deleted; then they are dropped)."""
        tally, self._tally = self._tally, _Tally()
        if self.instance is None or not tally.calls:
            return None
        try:
            run = await self.record(self.instance, "SCHEDULE", tally.started, tally.outcome())
            return int(run)
        except Exception as exc:  # deleted meanwhile (a foreign key), or the database
            if not quiet:
                log.warning("tax connector %s: recording its calls failed: %r", self.instance, exc)
            return None

    async def _follow(self, bus: EventBus) -> None:
        while True:
            sub = bus.subscribe(TOPICS)
            self.bus_subscriptions += 1
            try:
                async for _ in sub:
                    await self.reload()
            except Exception:
                log.warning("tax: following connector changes failed; again soon")
            finally:
                self.bus_subscriptions -= 1
                await sub.close()
            await asyncio.sleep(1)

    async def _periodic(self) -> None:
        loop = asyncio.get_running_loop()
        last_reload = last_flush = loop.time()
        while True:
            await asyncio.sleep(min(self._report_seconds, 1.0))
            if loop.time() - last_flush >= self._report_seconds:
                last_flush = loop.time()
                await self.flush()
            if loop.time() - last_reload >= RELOAD_SECONDS:
                last_reload = loop.time()
                with contextlib.suppress(Exception):
                    await self.reload()

    async def start(self, bus: EventBus) -> None:
        try:
            await self.reload()
        except Exception:
            log.exception("tax: loading the tax connector failed; using the default engine")
        self._tasks = [
            asyncio.create_task(self._follow(bus), name="hub-tax-follow"),
            asyncio.create_task(self._periodic(), name="hub-tax-report"),
        ]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await self.flush()

    async def aclose(self) -> None:
        await self.stop()
        for t in list(self._closing):
            t.cancel()
        for engine in (self._engine, self.default):
            close = getattr(engine, "aclose", None)
            if close is not None:
                await close()
        self._engine = None
