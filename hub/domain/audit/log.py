"""Reading the audit log: events newest first, filtered by actor, operation, object
and time, a page at a time (keyset on the id)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select

from hub.db.database import Reader
from hub.db.tables import audit_events_t, audit_objects_t
from hub.domain.audit.scope import Actor
from hub.domain.paging import decode_cursor, encode_cursor

CURSOR_KIND = "AuditEvent"


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """``actor``: an actor's name, or ``kind:id`` (``api_key:12``, ``staff_user:3``);
    ``object_type``: a table (``products``); ``object_id``: its primary key."""

    actor: str | None = None
    operation: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class AuditEventRecord:
    pk: int
    occurred_at: datetime
    actor: Actor
    operation: str
    request_id: str | None
    client_address: str | None
    # (table, id) of every row the event changed, in order.
    objects: list[tuple[str, str]]
    changes: list[dict[str, Any]]


def _actor_condition(actor: str) -> Any:
    e = audit_events_t.c
    kind, sep, raw = actor.partition(":")
    if sep and raw.isdigit():
        return (e.actor_kind == kind) & (e.actor_id == int(raw))
    return e.actor_name == actor


async def events(
    reader: Reader, f: AuditFilter, first: int, after: str | None
) -> tuple[list[AuditEventRecord], list[str], bool]:
    """A page of events matching ``f``, newest first: (records, cursors, has_next). A
    bad ``after`` raises :class:`hub.domain.paging.InvalidCursor`."""
    e = audit_events_t.c
    stmt = select(audit_events_t)
    if after is not None:
        stmt = stmt.where(e.id < decode_cursor(after, CURSOR_KIND)[1])
    if f.actor:
        stmt = stmt.where(_actor_condition(f.actor))
    if f.operation:
        stmt = stmt.where(e.operation == f.operation)
    if f.since is not None:
        stmt = stmt.where(e.occurred_at >= f.since)
    if f.until is not None:
        stmt = stmt.where(e.occurred_at < f.until)
    if f.object_type or f.object_id:
        o = audit_objects_t.c
        cond = o.event_id == e.id
        if f.object_type:
            cond = cond & (o.object_type == f.object_type)
        if f.object_id:
            cond = cond & (o.object_id == f.object_id)
        stmt = stmt.where(exists().where(cond))
    rows = await reader.all(stmt.order_by(e.id.desc()).limit(first + 1))
    records = [
        AuditEventRecord(
            pk=r.id,
            occurred_at=r.occurred_at,
            actor=Actor(r.actor_kind, r.actor_id, r.actor_name, r.actor_role),
            operation=r.operation,
            request_id=r.request_id,
            client_address=r.client_address,
            objects=[(t, i) for t, i in r.objects or []],
            changes=list(r.changes or []),
        )
        for r in rows[:first]
    ]
    return records, [encode_cursor(CURSOR_KIND, None, r.pk) for r in records], len(rows) > first
