"""The transactional outbox: events written with the change that caused them.

A write collects its events in an :class:`Outbox` and flushes them into the ``outbox``
table inside its transaction, so an event exists exactly when its change committed.
After the commit, :func:`publish_committed` hands them to the bus and marks them
published. If the process dies in between, :class:`OutboxDispatcher` finds the rows
still unpublished after a grace period and publishes them again.

The table is also the durable log every process follows (:mod:`hub.events.tail`), in
commit order: ``(txid, id)``. On PostgreSQL ``txid`` is the writing transaction's id,
set by the column's default (``pg_current_xact_id()``), so every writer gets it,
including raw SQL; a row is read only once every transaction with a smaller id has
ended (``txid < pg_snapshot_xmin(pg_current_snapshot())``), so a transaction that
commits late can never be skipped, whatever its sequence id. On SQLite, where one
writer at a time allocates ids and commits, ``txid`` is 0 and ids are commit order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import orjson
from sqlalchemy import Table, delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.background import cancel
from hub.db.database import Database
from hub.db.models.inventory import OutboxEvent
from hub.events.bus import BusUnavailable, Event, EventBus, Position

log = logging.getLogger(__name__)

outbox = cast(Table, OutboxEvent.__table__)
TOPIC_MAX = 64  # outbox.topic is String(64)


def _now() -> datetime:
    return datetime.now(UTC)


class Outbox:
    """Collects events inside a transaction; written to the outbox table in that transaction."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending: list[tuple[str, dict[str, Any]]] = []

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, topic: str, payload: dict[str, Any]) -> None:
        """Queue an event; ``payload`` must be JSON (checked and normalised here)."""
        if not topic or len(topic) > TOPIC_MAX:
            raise ValueError(f"event topic must be 1 to {TOPIC_MAX} characters: {topic!r}")
        # Round-trip through JSON now: a bad payload fails at the call site, and local
        # subscribers see exactly what Redis subscribers (and the sweeper) will see.
        self._pending.append((topic, orjson.loads(orjson.dumps(payload))))

    def extend(self, other: Outbox) -> None:
        """Queue ``other``'s events after these (and empty it)."""
        self._pending.extend(other._pending)
        other._pending.clear()

    async def flush(self, conn: AsyncConnection, *, bulk: bool = False) -> list[Event]:
        """INSERT the queued events on ``conn`` (one statement) and return them with ids.
        ``bulk`` (imports of thousands of events): on SQLite too, one statement."""
        if not self._pending:
            return []
        now = _now()
        rows = [{"topic": t, "payload": p, "created_at": now} for t, p in self._pending]
        if bulk and conn.dialect.name == "sqlite" and len(rows) > 1:
            # SQLite can't return the rows in parameter order (SQLAlchemy would send one
            # INSERT per event); its ids grow in insertion order (one writer at a time),
            # so sorting them restores it, and the INSERT goes out in one statement.
            stmt = insert(outbox).returning(outbox.c.id, outbox.c.txid)
            result = sorted((await conn.execute(stmt, rows)).all(), key=lambda r: int(r.id))
        else:
            stmt = insert(outbox).returning(
                outbox.c.id, outbox.c.txid, sort_by_parameter_order=True
            )
            result = list((await conn.execute(stmt, rows)).all())
        events = [
            Event(r.id, t, p, r.txid) for r, (t, p) in zip(result, self._pending, strict=True)
        ]
        self._pending.clear()
        return events


async def _mark_published(conn: AsyncConnection, ids: Sequence[int]) -> None:
    await conn.execute(
        update(outbox)
        .where(outbox.c.id.in_(ids), outbox.c.published_at.is_(None))
        .values(published_at=_now())
    )


async def publish_committed(
    db: Database,
    bus: EventBus,
    events: Sequence[Event],
    marker: PublishedMarker | None = None,
) -> None:
    """Publish events whose transaction committed, then mark them published: now, or
    through ``marker`` (in its next batch) when it runs.

    Never raises for a bus or database failure: the rows stay unpublished and the
    dispatcher publishes them later.
    """
    if not events:
        return
    try:
        await bus.publish(events)
    except BusUnavailable as exc:
        # Delivered here already; the other processes' tails read them from the table.
        log.debug("outbox: %d events left for the sweeper: %s", len(events), exc)
        return
    except Exception:
        log.exception("outbox: publishing %d events failed; the sweeper will retry", len(events))
        return
    if marker is not None and marker.running:
        marker.add([e.id for e in events])
        return
    try:
        async with db.transaction() as conn:
            await _mark_published(conn, [e.id for e in events])
    except Exception:
        log.exception("outbox: marking %d events published failed", len(events))


class PublishedMarker:
    """Marks published events in the outbox in batches, off the request path.

    A write that published its events hands their ids here instead of running a
    transaction of its own to mark them: under load, that transaction cost as much as
    the write. The ids are marked in one UPDATE per ``delay`` seconds. If marking fails
    (or the process dies first), the rows stay unpublished and the dispatcher publishes
    them again after its grace period: delivery stays at least once.
    """

    def __init__(self, db: Database, *, delay: float = 0.05, batch: int = 1000) -> None:
        self.db = db
        self.delay = delay
        self.batch = batch
        self._ids: list[int] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="hub-outbox-marker")

    def add(self, ids: Sequence[int]) -> None:
        self._ids.extend(ids)
        self._wake.set()

    async def flush(self) -> None:
        while self._ids:
            ids, self._ids = self._ids[: self.batch], self._ids[self.batch :]
            try:
                async with self.db.transaction() as conn:
                    await _mark_published(conn, ids)
            except Exception:
                log.exception("outbox: marking %d events published failed", len(ids))

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.delay)  # gather what arrives meanwhile
            self._wake.clear()
            await self.flush()

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel(task)
        await self.flush()


class OutboxDispatcher:
    """Background sweeper: re-publishes events committed but never marked published (a process
    died between commit and publish). Runs every ``interval`` seconds; only events older than
    ``grace`` seconds. Every ``prune_every`` seconds it also deletes rows published more than
    ``retention`` ago (``prune_every=None`` turns that off)."""

    stop_wait: float = 10.0

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        *,
        interval: float = 1.0,
        grace: float = 5.0,
        batch: int = 500,
        retention: timedelta = timedelta(days=7),
        prune_every: float | None = 3600.0,
    ) -> None:
        if interval <= 0 or grace < 0 or batch < 1:
            raise ValueError("interval must be > 0, grace >= 0 and batch >= 1")
        self.db = db
        self.bus = bus
        self.interval = interval
        self.grace = grace
        self.batch = batch
        self.retention = retention
        self.prune_every = prune_every
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name="hub-outbox-dispatcher")

    async def stop(self) -> None:
        """Let the current sweep finish (cancelled after ``stop_wait`` seconds) and stop."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        _, pending = await asyncio.wait([task], timeout=self.stop_wait)
        if pending:
            task.cancel()
            await asyncio.wait([task])

    async def sweep_once(self) -> int:
        """Publish one batch of stale unpublished events; returns how many.

        On PostgreSQL the rows are claimed with ``FOR UPDATE SKIP LOCKED`` in the
        transaction that marks them, so concurrent sweepers never publish the same row;
        if publishing fails the transaction rolls back and the rows stay unpublished.
        """
        cutoff = _now() - timedelta(seconds=self.grace)
        stmt = (
            select(outbox.c.id, outbox.c.topic, outbox.c.payload, outbox.c.txid)
            .where(outbox.c.published_at.is_(None), outbox.c.created_at <= cutoff)
            .order_by(outbox.c.id)
            .limit(self.batch)
        )
        if self.db.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        async with self.db.transaction() as conn:
            rows = (await conn.execute(stmt)).all()
            if not rows:
                return 0
            events = [Event(r.id, r.topic, r.payload, r.txid) for r in rows]
            await self.bus.publish(events)
            await _mark_published(conn, [e.id for e in events])
        log.info("outbox: swept %d unpublished events", len(events))
        return len(events)

    async def prune(self, older_than: timedelta = timedelta(days=7)) -> int:
        """Delete rows published more than ``older_than`` ago; returns how many. The
        newest row always stays: SQLite gives a new row the largest id plus one, and ids
        must never go back (they are the tails' positions there)."""
        newest = select(func.max(outbox.c.id)).scalar_subquery()
        async with self.db.transaction() as conn:
            result = await conn.execute(
                delete(outbox).where(
                    outbox.c.published_at.is_not(None),
                    outbox.c.published_at < _now() - older_than,
                    outbox.c.id < newest,
                )
            )
        return result.rowcount

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_prune = loop.time()
        while not self._stopping.is_set():
            swept = 0
            try:
                swept = await self.sweep_once()
                if self.prune_every is not None and loop.time() >= next_prune:
                    next_prune = loop.time() + self.prune_every
                    if pruned := await self.prune(self.retention):
                        log.info("outbox: pruned %d published events", pruned)
            except BusUnavailable as exc:
                log.debug("outbox: sweep waits for the bus: %s", exc)  # the bus logs outages
            except Exception:
                log.exception("outbox: sweep failed")
            if swept >= self.batch:
                continue  # a backlog: keep going without waiting
            try:
                await asyncio.wait_for(self._stopping.wait(), self.interval)
            except TimeoutError:
                pass


# ------------------------------------------------------------------- the log, read


_PG_XMIN = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
# One round trip, one snapshot: the rows behind the horizon after the cursor (in commit
# order), and the committed rows beyond it after ``hi`` (in id order, a best effort).
_PG_AFTER = text(
    f"""
    WITH s AS (SELECT {_PG_XMIN} AS xmin)
    SELECT s.xmin, o.id, o.topic, o.payload, o.txid, o.stable
      FROM s LEFT JOIN LATERAL (
           (SELECT id, topic, payload, txid, true AS stable FROM outbox
             WHERE (txid, id) > (:t, :i) AND txid < s.xmin
             ORDER BY txid, id
             LIMIT :n)
           UNION ALL
           (SELECT id, topic, payload, txid, false AS stable FROM outbox
             WHERE txid >= s.xmin AND id > :hi
             ORDER BY id
             LIMIT :n)) o ON true
    """
)
_LAST = 2**63 - 1


@dataclass(frozen=True, slots=True)
class LogRead:
    """What one read of the log found."""

    events: list[Event]  # after the cursor, in commit order
    cursor: Position  # where the next read starts
    ahead: list[Event]  # committed beyond the horizon (PostgreSQL), read again later
    hi: int  # the largest id read so far


async def log_head(db: Database) -> tuple[Position, int]:
    """Where a tail starts: everything committed before now is behind the cursor (and
    ``hi``, the largest id so far)."""
    async with db.read() as conn:
        last = int((await conn.execute(select(func.max(outbox.c.id)))).scalar_one() or 0)
        if conn.dialect.name == "postgresql":
            xmin = (await conn.execute(text(f"SELECT {_PG_XMIN}"))).scalar_one()
            return (int(xmin) - 1, _LAST), last
        return (0, last), last


async def read_after(db: Database, cursor: Position, limit: int, hi: int = 0) -> LogRead:
    """Up to ``limit`` events after ``cursor`` in commit order, and the new cursor.

    On PostgreSQL only rows of transactions older than every running one are behind
    the horizon; when fewer than ``limit`` of them come back the cursor moves up to it:
    nothing can commit behind it any more. A transaction left open anywhere on the
    server holds the horizon back, so the rows already committed beyond it (after
    ``hi``) come too, as ``ahead``: delivered now, and read again once behind it.
    """
    async with db.read() as conn:
        if conn.dialect.name == "postgresql":
            params = {"t": cursor[0], "i": cursor[1], "n": limit, "hi": hi}
            rows = (await conn.execute(_PG_AFTER, params)).all()
            events: list[Event] = []
            ahead: list[Event] = []
            for r in rows:
                if r.id is not None:
                    event = Event(r.id, r.topic, _payload(r.payload), r.txid)
                    (events if r.stable else ahead).append(event)
            hi = max([hi, *(e.id for e in events), *(e.id for e in ahead)])
            if len(events) < limit:
                horizon = (int(rows[0].xmin) - 1, _LAST)
                return LogRead(events, max(horizon, cursor), ahead, hi)
            return LogRead(events, (events[-1].txid or 0, events[-1].id), ahead, hi)
        result = await conn.execute(
            select(outbox.c.id, outbox.c.topic, outbox.c.payload, outbox.c.txid)
            .where(outbox.c.id > cursor[1])
            .order_by(outbox.c.id)
            .limit(limit)
        )
        events = [Event(r.id, r.topic, r.payload, r.txid) for r in result]
        if not events:
            return LogRead(events, cursor, [], hi)
        return LogRead(events, (0, events[-1].id), [], max(hi, events[-1].id))


async def events_by_ids(db: Database, ids: Sequence[int]) -> list[Event]:
    """The outbox events with these ids (those that exist), in id order."""
    async with db.read() as conn:
        rows = await conn.execute(
            select(outbox.c.id, outbox.c.topic, outbox.c.payload, outbox.c.txid)
            .where(outbox.c.id.in_(list(ids)))
            .order_by(outbox.c.id)
        )
        return [Event(r.id, r.topic, _payload(r.payload), r.txid) for r in rows]


def _payload(value: Any) -> dict[str, Any]:
    """A JSON column read through text(): asyncpg may hand it over undecoded."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value
