from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, utcnow


class AuditEvent(Base):
    """One audited write (see ``hub.domain.audit``): who, what, when, from where and the
    changed rows. Append-only: the database refuses UPDATE, and DELETE of rows newer
    than ``audit_retention.purge_before`` (migration 0017_audit's triggers)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_actor", "actor_kind", "actor_id", "id"),
        Index("ix_audit_events_operation", "operation", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # "api_key", "staff_user", "connector", "job"...: whose id actor_id is.
    actor_kind: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    actor_name: Mapped[str] = mapped_column(String(255))
    # The scope the actor wrote with: admin, staff, connector, partner, system.
    actor_role: Mapped[str] = mapped_column(String(32))
    # The GraphQL mutation field, or the job's or connector's operation.
    operation: Mapped[str] = mapped_column(String(128))
    request_id: Mapped[str | None] = mapped_column(String(64))
    client_address: Mapped[str | None] = mapped_column(String(64))
    # [[table, id], ...]: the rows it changed; a trigger copies them to audit_objects.
    objects: Mapped[list[list[str]]] = mapped_column(JSON)
    # [{"table", "pk", "op": insert|update|delete, "before", "after"}], secrets redacted.
    changes: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class AuditObject(Base):
    """An object an audit event touched (table and primary key), for the filters;
    written by the database (a trigger on audit_events), never by the hub."""

    __tablename__ = "audit_objects"
    __table_args__ = (Index("ix_audit_objects_object", "object_type", "object_id", "event_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("audit_events.id"), index=True)
    # The event's time again: the append-only trigger compares it with purge_before.
    occurred_at: Mapped[datetime] = mapped_column()
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(128))


class AuditRetention(Base):
    """One row: audit rows older than ``purge_before`` may be deleted (only the
    retention job moves it, forward)."""

    __tablename__ = "audit_retention"
    id: Mapped[int] = mapped_column(primary_key=True)
    purge_before: Mapped[datetime] = mapped_column()
