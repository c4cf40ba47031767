"""Codes, records and reads of connector instances and their runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import ids
from hub.db.database import Reader, fetch_all
from hub.db.tables import connector_runs_t as runs_t
from hub.db.tables import connectors_t

MAX_RUN_ERRORS = 50  # item errors kept per run (error_count counts them all)
NAME_MAX = 64


class ConnectorCode(StrEnum):
    """The userError codes of the connector admin API."""

    NOT_FOUND = "NOT_FOUND"
    TAKEN = "TAKEN"
    INVALID = "INVALID"
    BLANK = "BLANK"
    UNKNOWN_CONNECTOR_TYPE = "UNKNOWN_CONNECTOR_TYPE"
    INVALID_CONNECTOR_CONFIG = "INVALID_CONNECTOR_CONFIG"
    CONNECTOR_BUSY = "CONNECTOR_BUSY"
    CONNECTOR_DISABLED = "CONNECTOR_DISABLED"


TRIGGERS = ("SCHEDULE", "EVENT", "MANUAL")
STATUSES = ("RUNNING", "SUCCEEDED", "PARTIAL", "FAILED")


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SecretState:
    name: str
    is_set: bool


@dataclass(frozen=True, slots=True)
class ConnectorRecord:
    """One connector instance as staff see it: ``config`` never holds a secret, only
    ``secrets`` says which are set."""

    pk: int
    name: str
    type_name: str
    kind: str
    config: Mapping[str, Any]
    secrets: tuple[SecretState, ...]
    enabled: bool
    source: str
    schedule_seconds: int | None
    event_interval_seconds: int
    timeout_seconds: int
    cursor: str | None
    failures: int
    next_run_at: datetime | None
    events_after: datetime | None
    last_error: str | None
    lease_until: datetime | None
    created_at: datetime
    updated_at: datetime

    @property
    def id(self) -> str:
        return ids.encode("Connector", self.pk)

    @property
    def connector_id(self) -> str:
        return self.id

    @property
    def running(self) -> bool:
        return self.lease_until is not None and self.lease_until > now()


@dataclass(frozen=True, slots=True)
class RunError:
    item: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class RunRecord:
    pk: int
    connector_pk: int
    trigger: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    items_read: int
    items_written: int
    error_count: int
    errors: tuple[RunError, ...]
    message: str | None
    events: int
    runner: str | None

    @property
    def id(self) -> str:
        return ids.encode("ConnectorRun", self.pk)

    @property
    def connector_id(self) -> str:
        return ids.encode("Connector", self.connector_pk)


def record_of(row: Any, secret_fields: Sequence[str] = ()) -> ConnectorRecord:
    stored = row.secrets or {}
    names = sorted({*secret_fields, *stored})
    return ConnectorRecord(
        pk=row.id,
        name=row.name,
        type_name=row.type_name,
        kind=row.kind,
        config=dict(row.config or {}),
        secrets=tuple(SecretState(n, stored.get(n) is not None) for n in names),
        enabled=row.enabled,
        source=row.source,
        schedule_seconds=row.schedule_seconds,
        event_interval_seconds=row.event_interval_seconds,
        timeout_seconds=row.timeout_seconds,
        cursor=row.cursor,
        failures=row.failures,
        next_run_at=row.next_run_at,
        events_after=row.events_after,
        last_error=row.last_error,
        lease_until=row.lease_until,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def run_of(row: Any) -> RunRecord:
    return RunRecord(
        pk=row.id,
        connector_pk=row.connector_id,
        trigger=row.trigger,
        status=row.status,
        started_at=row.started_at,
        ended_at=row.ended_at,
        items_read=row.items_read,
        items_written=row.items_written,
        error_count=row.error_count,
        errors=tuple(
            RunError(str(e.get("item", "")), str(e.get("code", "")), str(e.get("message", "")))
            for e in (row.errors or [])
        ),
        message=row.message,
        events=row.events,
        runner=row.runner,
    )


# Everything but the secrets' values leaves the table through these columns.
_PUBLIC = [c for c in connectors_t.c if c.name != "secrets"]


def _select() -> Select[Any]:
    return select(*_PUBLIC, connectors_t.c.secrets)


async def connectors_by_ids(
    conn: Reader | AsyncConnection, pks: Sequence[int], secret_fields: Mapping[str, Sequence[str]]
) -> dict[int, ConnectorRecord]:
    """The instances with these ids (those that exist); ``secret_fields`` per type name."""
    rows = await fetch_all(conn, _select().where(connectors_t.c.id.in_(list(pks))))
    return {r.id: record_of(r, secret_fields.get(r.type_name, ())) for r in rows}


def connectors_page_stmt() -> Select[Any]:
    return _select()


def runs_stmt(connector_pk: int) -> Select[Any]:
    return select(runs_t).where(runs_t.c.connector_id == connector_pk)


async def runs_by_ids(conn: Reader | AsyncConnection, pks: Sequence[int]) -> dict[int, RunRecord]:
    rows = await fetch_all(conn, select(runs_t).where(runs_t.c.id.in_(list(pks))))
    return {r.id: run_of(r) for r in rows}


async def last_runs(
    conn: Reader | AsyncConnection, connector_pks: Sequence[int]
) -> dict[int, RunRecord]:
    """The newest run of each of these instances (one statement)."""
    newest = (
        select(func.max(runs_t.c.id))
        .where(runs_t.c.connector_id.in_(list(connector_pks)))
        .group_by(runs_t.c.connector_id)
    )
    rows = await fetch_all(conn, select(runs_t).where(runs_t.c.id.in_(newest)))
    return {r.connector_id: run_of(r) for r in rows}
