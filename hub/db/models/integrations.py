"""Connector instances and their runs (issue 12, :mod:`hub.domain.integrations`).

``connectors`` holds one row per configured instance of a connector type: its config
(``config``, without secrets) and its write-only secrets (``secrets``, never returned
by the API), its schedule, its sync cursor, its position in the outbox event feed
(``event_txid``, ``event_id``), its consecutive failures and the backoff gates, and the
lease one process holds while it runs the instance. ``connector_runs`` records every
run: trigger, status, times, counters and the item errors (bounded per run).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, utcnow


class ConnectorInstance(Base):
    __tablename__ = "connectors"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    type_name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    secrets: Mapped[dict[str, Any]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # "api" (connectorCreate) or "file" (HUB_CONNECTORS_FILE).
    source: Mapped[str] = mapped_column(String(8), default="api")
    # Scheduled syncs every schedule_seconds (NULL: no schedule); event runs at most
    # every event_interval_seconds (the coalescing interval); each run at most
    # timeout_seconds.
    schedule_seconds: Mapped[int | None] = mapped_column(Integer)
    event_interval_seconds: Mapped[int] = mapped_column(Integer, default=5)
    timeout_seconds: Mapped[int] = mapped_column(Integer, default=300)
    cursor: Mapped[str | None] = mapped_column(Text)
    # The instance's own position in the outbox (hub.events.outbox.read_after).
    event_txid: Mapped[int] = mapped_column(BigInteger, default=0)
    event_id: Mapped[int] = mapped_column(BigInteger, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    # The next scheduled sync, and the earliest next event run (both move on with
    # the backoff after a failure).
    next_run_at: Mapped[datetime | None] = mapped_column()
    events_after: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConnectorRun(Base):
    __tablename__ = "connector_runs"
    __table_args__ = (Index("ix_connector_runs_connector_id_id", "connector_id", "id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    connector_id: Mapped[int] = mapped_column(ForeignKey("connectors.id", ondelete="CASCADE"))
    # SCHEDULE, EVENT or MANUAL
    trigger: Mapped[str] = mapped_column(String(16))
    # RUNNING, SUCCEEDED, PARTIAL (done, with item errors) or FAILED
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()
    items_read: Mapped[int] = mapped_column(Integer, default=0)
    items_written: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    # [{"item", "code", "message"}], the first MAX_RUN_ERRORS of the run.
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # Why a FAILED run failed (the exception, the timeout).
    message: Mapped[str | None] = mapped_column(Text)
    events: Mapped[int] = mapped_column(Integer, default=0)
    # Which process ran it ("host:pid:nonce"; NULL for a tax connector's interval).
    runner: Mapped[str | None] = mapped_column(String(128))
