"""Retention: audit rows older than ``HUB_AUDIT_RETENTION_DAYS`` are deleted (0 keeps
them forever). The database refuses to delete any row newer than the mark in
``audit_retention``; this job is the only writer of that mark, and it only moves it
forward (a trigger refuses anything else)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from hub.db.database import Database
from hub.db.models.base import utcnow
from hub.db.tables import audit_events_t, audit_objects_t, audit_retention_t

PURGE_BATCH = 5000


async def purge(db: Database, days: int, *, now: datetime | None = None) -> int:
    """Delete the audit events older than ``days`` days (and their objects), up to
    ``PURGE_BATCH`` of them; returns how many. ``days`` 0: nothing."""
    if days <= 0:
        return 0
    cutoff = (now or utcnow()) - timedelta(days=days)
    async with db.transaction() as conn:
        mark = await conn.scalar(
            select(audit_retention_t.c.purge_before).where(audit_retention_t.c.id == 1)
        )
        if mark is None or mark < cutoff:
            await conn.execute(
                update(audit_retention_t)
                .where(audit_retention_t.c.id == 1)
                .values(purge_before=cutoff)
            )
        ids = (
            await conn.scalars(
                select(audit_events_t.c.id)
                .where(audit_events_t.c.occurred_at < cutoff)
                .order_by(audit_events_t.c.id)
                .limit(PURGE_BATCH)
            )
        ).all()
        if not ids:
            return 0
        await conn.execute(delete(audit_objects_t).where(audit_objects_t.c.event_id.in_(ids)))
        await conn.execute(delete(audit_events_t).where(audit_events_t.c.id.in_(ids)))
        return len(ids)
