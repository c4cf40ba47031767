"""Webhooks out: subscriptions, their deliveries, and the fan-out's position in the
event log (see :mod:`hub.domain.webhooks`).

A subscription names topic patterns (``order.*``), an http(s) URL, optionally the
payload keys to send, and the secret the hub signs with (kept so it can sign; shown
to the API once, by create and rotate). A delivery is one event for one subscription
(unique: an event is queued once per subscription), with its state, attempts, when it
is due and what the last attempt got. ``webhook_cursor`` holds one row: how far the
fan-out has read the outbox, moved in the transaction that queues the deliveries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, utcnow

DELIVERY_STATUSES = ("PENDING", "SUCCEEDED", "FAILED_RETRYING", "DEAD")


class WebhookSubscription(Base):
    __tablename__ = "webhook_subscriptions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Topic patterns, ``*`` matching any run of characters (``order.*``, ``*``).
    topics: Mapped[list[str]] = mapped_column(JSON)
    url: Mapped[str] = mapped_column(String(2048))
    # The payload keys sent (None: the whole payload).
    fields: Mapped[list[str] | None] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str | None] = mapped_column(String(255))
    # The newest outbox id when it was created: the fan-out sends it later events only
    # (a replay may send earlier ones).
    after_event_id: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),
        CheckConstraint(
            "status IN ('PENDING','SUCCEEDED','FAILED_RETRYING','DEAD')", name="status"
        ),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_event", "event_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    event_id: Mapped[int] = mapped_column(BigInteger)
    topic: Mapped[str] = mapped_column(String(64))
    # The payload as sent (the subscription's fields kept): independent of the outbox's
    # retention.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="PENDING")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A sender's claim: until when it is being sent, and a counter each claim bumps
    # (the fencing token the result is written with).
    lease_until: Mapped[datetime | None] = mapped_column()
    claim: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_latency_ms: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()


class WebhookCursor(Base):
    """One row (id 1): the fan-out's position in the outbox, ``(txid, event_id)``."""

    __tablename__ = "webhook_cursor"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    txid: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
