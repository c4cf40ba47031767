"""The run bookkeeping on the database: the lease that keeps one run per instance at a
time across processes, the run rows, the outcome (cursor, event position, failures
and backoff), and which instances are due."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, or_, select, update

from connectors.base import Position
from hub.db.database import Database
from hub.db.tables import connector_runs_t as runs_t
from hub.db.tables import connectors_t
from hub.domain.integrations.records import MAX_RUN_ERRORS, now

BACKOFF_BASE = 1.0  # seconds after the first failure, doubled after each
BACKOFF_MAX = 900.0


def backoff(failures: int) -> float:
    """Seconds to wait after ``failures`` consecutive failures (with +-10% jitter)."""
    delay = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** max(0, failures - 1))
    return delay * (0.9 + random.random() * 0.2)


@dataclass(frozen=True, slots=True)
class Leased:
    """An instance this process holds the lease of, with its new run."""

    pk: int
    run_pk: int
    type_name: str
    config: dict[str, Any]
    cursor: str | None
    position: Position
    schedule_seconds: int | None
    event_interval_seconds: int
    timeout_seconds: int
    failures: int


@dataclass
class Outcome:
    status: str  # SUCCEEDED, PARTIAL or FAILED
    items_read: int = 0
    items_written: int = 0
    error_count: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    message: str | None = None
    events: int = 0
    cursor: str | None = None
    cursor_set: bool = False
    position: Position | None = None  # the event feed's new position (event runs)


def _free(at: datetime) -> Any:
    return or_(connectors_t.c.lease_until.is_(None), connectors_t.c.lease_until < at)


async def acquire(
    db: Database, pk: int, owner: str, ttl: float, trigger: str, *, manual: bool = False
) -> Leased | None:
    """Take the instance's lease and open a RUNNING run, or None when another run holds
    it (or, unless ``manual``, the instance is disabled). A run left RUNNING by a
    process whose lease expired is closed as FAILED first."""
    at = now()
    async with db.transaction() as conn:
        cond = and_(connectors_t.c.id == pk, _free(at))
        if not manual:
            cond = and_(cond, connectors_t.c.enabled.is_(True))
        row = (
            await conn.execute(
                update(connectors_t)
                .where(cond)
                .values(lease_owner=owner, lease_until=at + timedelta(seconds=ttl))
                .returning(*connectors_t.c)
            )
        ).first()
        if row is None:
            return None
        await conn.execute(
            update(runs_t)
            .where(runs_t.c.connector_id == pk, runs_t.c.status == "RUNNING")
            .values(
                status="FAILED",
                ended_at=at,
                error_count=1,
                errors=[{"item": "", "code": "ABANDONED", "message": "its process died"}],
                message="abandoned: the process running it stopped (its lease expired)",
            )
        )
        run_pk: int = (
            await conn.execute(
                insert(runs_t)
                .values(
                    connector_id=pk,
                    trigger=trigger,
                    status="RUNNING",
                    started_at=at,
                    items_read=0,
                    items_written=0,
                    error_count=0,
                    errors=[],
                    events=0,
                    runner=owner,
                )
                .returning(runs_t.c.id)
            )
        ).scalar_one()
    return Leased(
        pk=pk,
        run_pk=run_pk,
        type_name=row.type_name,
        config={**(row.config or {}), **(row.secrets or {})},
        cursor=row.cursor,
        position=(row.event_txid, row.event_id),
        schedule_seconds=row.schedule_seconds,
        event_interval_seconds=row.event_interval_seconds,
        timeout_seconds=row.timeout_seconds,
        failures=row.failures,
    )


async def renew(db: Database, pk: int, owner: str, ttl: float) -> bool:
    """Extend a held lease; False when it was lost (taken over after expiring)."""
    async with db.transaction() as conn:
        done = await conn.execute(
            update(connectors_t)
            .where(connectors_t.c.id == pk, connectors_t.c.lease_owner == owner)
            .values(lease_until=now() + timedelta(seconds=ttl))
        )
    return bool(done.rowcount)


async def finish(db: Database, leased: Leased, owner: str, trigger: str, out: Outcome) -> None:
    """Close the run and the lease in one transaction: the cursor and the event
    position move only with a run that did not fail; failures and the backoff gates
    follow the status."""
    at = now()
    failed = out.status == "FAILED"
    values: dict[str, Any] = {"lease_owner": None, "lease_until": None}
    if failed:
        failures = leased.failures + 1
        wait = timedelta(seconds=backoff(failures))
        values.update(failures=failures, last_error=out.message)
        if trigger == "EVENT":
            values["events_after"] = at + wait
        elif leased.schedule_seconds:
            values["next_run_at"] = at + wait
    else:
        values.update(failures=0, last_error=None)
        if out.cursor_set:
            values["cursor"] = out.cursor
        if out.position is not None:
            values.update(event_txid=out.position[0], event_id=out.position[1])
        if trigger == "EVENT":
            values["events_after"] = at + timedelta(seconds=leased.event_interval_seconds)
        if trigger != "EVENT" and leased.schedule_seconds:
            values["next_run_at"] = at + timedelta(seconds=leased.schedule_seconds)
    # The connector's row first, then its run's: the order lease() and connectorDelete
    # (the connector, then its runs by cascade) lock them in. The other way round, a
    # delete racing the end of a run deadlocked (PostgreSQL aborted the delete: an
    # internal error for the client; seen in CI).
    async with db.transaction() as conn:
        await conn.execute(
            update(connectors_t)
            .where(connectors_t.c.id == leased.pk, connectors_t.c.lease_owner == owner)
            .values(values)
        )
        await conn.execute(
            update(runs_t)
            .where(runs_t.c.id == leased.run_pk)
            .values(
                status=out.status,
                ended_at=at,
                items_read=out.items_read,
                items_written=out.items_written,
                error_count=out.error_count,
                errors=out.errors[:MAX_RUN_ERRORS],
                message=out.message,
                events=out.events,
            )
        )


@dataclass(frozen=True, slots=True)
class Due:
    pk: int
    type_name: str
    sync_due: bool
    position: Position
    events_ok: bool  # may run on events now (outside the interval and the backoff)
    config: dict[str, Any] | None = None  # the public config (for a type's topics_for)


async def due(db: Database) -> list[Due]:
    """Enabled instances not running, with whether their schedule is due and whether
    an event run may start now."""
    at = now()
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(
                    connectors_t.c.id,
                    connectors_t.c.type_name,
                    connectors_t.c.next_run_at,
                    connectors_t.c.events_after,
                    connectors_t.c.event_txid,
                    connectors_t.c.event_id,
                    connectors_t.c.config,
                ).where(connectors_t.c.enabled.is_(True), _free(at))
            )
        ).all()
    return [
        Due(
            pk=r.id,
            type_name=r.type_name,
            sync_due=r.next_run_at is not None and r.next_run_at <= at,
            position=(r.event_txid, r.event_id),
            events_ok=r.events_after is None or r.events_after <= at,
            config=r.config,
        )
        for r in rows
    ]


async def skip_events(db: Database, pk: int, old: Position, new: Position) -> None:
    """Move an idle instance's position past events none of its topics match (only if
    no run holds it and nobody moved it meanwhile)."""
    async with db.transaction() as conn:
        await conn.execute(
            update(connectors_t)
            .where(
                connectors_t.c.id == pk,
                connectors_t.c.event_txid == old[0],
                connectors_t.c.event_id == old[1],
                _free(now()),
            )
            .values(event_txid=new[0], event_id=new[1])
        )


async def set_position(db: Database, pks: Sequence[int], position: Position) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            update(connectors_t)
            .where(connectors_t.c.id.in_(list(pks)))
            .values(event_txid=position[0], event_id=position[1])
        )


async def record_run(db: Database, pk: int, trigger: str, started: datetime, out: Outcome) -> int:
    """A run recorded after the fact (no lease): what a passive connector (the HTTP
    tax engine) did over an interval."""
    async with db.transaction() as conn:
        run_pk: int = (
            await conn.execute(
                insert(runs_t)
                .values(
                    connector_id=pk,
                    trigger=trigger,
                    status=out.status,
                    started_at=started,
                    ended_at=now(),
                    items_read=out.items_read,
                    items_written=out.items_written,
                    error_count=out.error_count,
                    errors=out.errors[:MAX_RUN_ERRORS],
                    message=out.message,
                    events=out.events,
                )
                .returning(runs_t.c.id)
            )
        ).scalar_one()
    return run_pk
