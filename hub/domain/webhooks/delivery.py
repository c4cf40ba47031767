"""The two steps between the outbox and the receivers.

**Fan-out** (:class:`FanOut`): reads the outbox after the position kept in
``webhook_cursor`` (in commit order, :func:`hub.events.outbox.read_after`) and, in ONE
transaction, queues a delivery for every active subscription whose patterns match
each event and moves the position: a process killed at any point either did both or
neither, and the unique (subscription, event) key makes queueing again harmless. The
position moves with a compare-and-set, so processes fanning out side by side never
both advance it.

**Sending** (:func:`claim`, :func:`settle`): due deliveries are claimed with a lease
(``lease_until``, and ``claim`` bumped: the token the result is written with), at
most a few per subscription per claim so one subscription's backlog can't take every
slot; each claim counts as an attempt. A 2xx settles it SUCCEEDED; anything else
(an error status, a timeout, no connection, a refused address) schedules the next
attempt with exponential backoff and jitter, or makes it DEAD after
``HUB_WEBHOOK_MAX_ATTEMPTS``. A sender that dies mid-send leaves its lease to lapse
and the delivery is sent again: delivery is at least once, receivers dedupe on the
event id.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import WebhookResponse
from hub.db.database import Database
from hub.db.dialect import dialect_insert
from hub.db.tables import webhook_cursor_t as cur
from hub.db.tables import webhook_deliveries_t as d
from hub.db.tables import webhook_subscriptions_t as s
from hub.domain.paging import rank_within
from hub.domain.webhooks.admin import delivery_row
from hub.domain.webhooks.records import backoff, kept, matches
from hub.events.bus import Position
from hub.events.outbox import read_after

DUE = ("PENDING", "FAILED_RETRYING")


def _now() -> datetime:
    return datetime.now(UTC)


class FanOut:
    def __init__(self, db: Database, batch: int = 500) -> None:
        self.db = db
        self.batch = batch
        self.hi = 0  # the largest outbox id read (PostgreSQL's rows beyond the horizon)

    async def _position(self) -> Position:
        async with self.db.read() as conn:
            row = (await conn.execute(select(cur.c.txid, cur.c.event_id))).first()
        if row is not None:
            return row.txid, row.event_id
        # The migration writes the row; should it be gone, start from the beginning:
        # a subscription only gets events after its creation (``after_event_id``).
        async with self.db.transaction() as conn:
            stmt = dialect_insert(conn, cur).values(id=1, txid=0, event_id=0, updated_at=_now())
            await conn.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))
        return 0, 0

    async def run_once(self) -> int:
        """One batch: deliveries queued and the position moved together; how many
        events were read (a full batch means: call again)."""
        position = await self._position()
        got = await read_after(self.db, position, self.batch, self.hi)
        self.hi = max(self.hi, got.hi)
        events = [*got.events, *got.ahead]
        if not events:
            return 0
        async with self.db.transaction() as conn:
            moved = await conn.execute(
                update(cur)
                .where(cur.c.id == 1, cur.c.txid == position[0], cur.c.event_id == position[1])
                .values(txid=got.cursor[0], event_id=got.cursor[1], updated_at=_now())
            )
            if moved.rowcount != 1:
                return 0  # another process fanned this batch out
            subs = (
                await conn.execute(
                    select(s.c.id, s.c.topics, s.c.fields, s.c.after_event_id).where(
                        s.c.active.is_(True)
                    )
                )
            ).all()
            rows = [
                delivery_row(sub.id, e.id, e.topic, kept(e.payload, sub.fields))
                for e in events
                for sub in subs
                if e.id > sub.after_event_id and matches(sub.topics, e.topic)
            ]
            await _queue(conn, rows)
        return len(got.events)


async def _queue(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    for at in range(0, len(rows), 500):
        stmt = dialect_insert(conn, d).on_conflict_do_nothing(
            index_elements=["subscription_id", "event_id"]
        )
        await conn.execute(stmt, rows[at : at + 500])


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery this sender holds until its lease lapses."""

    id: int
    subscription_id: int
    event_id: int
    topic: str
    payload: dict[str, Any]
    attempts: int  # including this one
    claim: int
    url: str
    secret: str


async def claim(
    db: Database,
    *,
    limit: int,
    per_subscription: int,
    busy: frozenset[int],
    lease: float,
) -> list[Claimed]:
    """Up to ``limit`` due deliveries of active subscriptions, at most
    ``per_subscription`` of each, none of the ``busy`` subscriptions (their sends are
    all in flight here), oldest due first; leased for ``lease`` seconds."""
    if limit <= 0:
        return []
    now = _now()
    free = or_(d.c.lease_until.is_(None), d.c.lease_until < now)
    due = and_(d.c.status.in_(DUE), d.c.next_attempt_at <= now, free)
    ranked = (
        select(
            d.c.id,
            d.c.next_attempt_at,
            rank_within(d.c.subscription_id, d.c.next_attempt_at, d.c.id),
        )
        .join(s, s.c.id == d.c.subscription_id)
        .where(due, s.c.active.is_(True))
    )
    if busy:
        ranked = ranked.where(d.c.subscription_id.not_in(sorted(busy)))
    sub = ranked.subquery()
    picked = (
        select(sub.c.id)
        .where(sub.c.rn <= per_subscription)
        .order_by(sub.c.next_attempt_at, sub.c.id)
        .limit(limit)
    )
    async with db.read() as conn:  # a cheap look first: no write lock when idle
        if (await conn.execute(select(d.c.id).where(due).limit(1))).first() is None:
            return []
    async with db.transaction() as conn:
        # The due condition again: a concurrent claimer that got the row first (the row
        # lock makes PostgreSQL re-check it) leaves it out here.
        rows = (
            await conn.execute(
                update(d)
                .where(d.c.id.in_(picked.scalar_subquery()), due)
                .values(
                    lease_until=now + timedelta(seconds=lease),
                    claim=d.c.claim + 1,
                    attempts=d.c.attempts + 1,
                    updated_at=now,
                )
                .returning(
                    d.c.id,
                    d.c.subscription_id,
                    d.c.event_id,
                    d.c.topic,
                    d.c.payload,
                    d.c.attempts,
                    d.c.claim,
                )
            )
        ).all()
        if not rows:
            return []
        subs = {
            r.id: r
            for r in await conn.execute(
                select(s.c.id, s.c.url, s.c.secret).where(
                    s.c.id.in_({r.subscription_id for r in rows})
                )
            )
        }
    return [
        Claimed(
            r.id,
            r.subscription_id,
            r.event_id,
            r.topic,
            _json(r.payload),
            r.attempts,
            r.claim,
            subs[r.subscription_id].url,
            subs[r.subscription_id].secret,
        )
        for r in rows
        if r.subscription_id in subs
    ]


def _json(value: Any) -> dict[str, Any]:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


@dataclass(frozen=True, slots=True)
class Policy:
    max_attempts: int
    backoff: float
    backoff_max: float


async def settle(
    db: Database,
    held: Claimed,
    response: WebhookResponse,
    policy: Policy,
    rng: random.Random | None = None,
) -> str:
    """Write an attempt's outcome (only while the claim is still ours); the new status."""
    now = _now()
    values: dict[str, Any] = {
        "last_status_code": response.status_code,
        "last_latency_ms": response.latency_ms,
        "last_error": response.error[:500] if response.error else None,
        "lease_until": None,
        "updated_at": now,
    }
    if response.ok:
        status = "SUCCEEDED"
        values["delivered_at"] = now
    elif held.attempts >= policy.max_attempts:
        status = "DEAD"
    else:
        status = "FAILED_RETRYING"
        wait = backoff(held.attempts, policy.backoff, policy.backoff_max, rng)
        values["next_attempt_at"] = now + timedelta(seconds=wait)
    async with db.transaction() as conn:
        await conn.execute(
            update(d)
            .where(d.c.id == held.id, d.c.claim == held.claim)
            .values(status=status, **values)
        )
    return status
