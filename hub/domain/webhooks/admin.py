"""Managing subscriptions (create, update, delete, rotate the secret), reading them and
their deliveries, and the admin's two levers: retry one delivery, replay a time range
of the event log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import WebhookTarget
from hub.db.database import Database, Reader
from hub.db.dialect import dialect_insert, one_of
from hub.db.tables import webhook_deliveries_t as d
from hub.db.tables import webhook_subscriptions_t as s
from hub.domain.errors import Code, Errors, fail
from hub.domain.paging import PageRequest, id_page
from hub.domain.webhooks.records import (
    FIELD_RE,
    MAX_DESCRIPTION,
    MAX_FIELDS,
    MAX_TOPICS,
    MAX_URL,
    REFUSAL_CODES,
    TOPIC_RE,
    DeliveryRecord,
    SubscriptionRecord,
    WebhookCode,
    kept,
    matches,
    new_secret,
)
from hub.events.outbox import outbox

SETTLED = ("SUCCEEDED", "DEAD")
REPLAY_MAX = 1000  # events one replay may re-queue


def _now() -> datetime:
    return datetime.now(UTC)


def subscription_record(r: Row[Any]) -> SubscriptionRecord:
    return SubscriptionRecord(
        r.id, list(r.topics), r.url, r.fields, r.active, r.description, r.created_at, r.updated_at
    )


def delivery_record(r: Row[Any]) -> DeliveryRecord:
    return DeliveryRecord(
        id=r.id,
        subscription_id=r.subscription_id,
        event_id=r.event_id,
        topic=r.topic,
        status=r.status,
        attempts=r.attempts,
        next_attempt_at=None if r.status in SETTLED else r.next_attempt_at,
        last_status_code=r.last_status_code,
        last_latency_ms=r.last_latency_ms,
        last_error=r.last_error,
        created_at=r.created_at,
        updated_at=r.updated_at,
        delivered_at=r.delivered_at,
    )


_SUB_COLUMNS = [c for c in s.c if c.name not in ("secret", "after_event_id")]
_DELIVERY_COLUMNS = [c for c in d.c if c.name not in ("payload", "lease_until", "claim")]


async def _check(
    target: WebhookTarget | None, values: Mapping[str, Any], *, creating: bool
) -> dict[str, Any]:
    """The validated columns of ``values`` (those given), or the userErrors."""
    errors = Errors()
    out: dict[str, Any] = {}
    if "topics" in values or creating:
        topics = [t.strip() for t in (values.get("topics") or [])]
        if not topics:
            errors.add(Code.BLANK, "give at least one topic or pattern", "topics")
        elif len(topics) > MAX_TOPICS:
            errors.add(Code.LIMIT_EXCEEDED, f"at most {MAX_TOPICS} topics", "topics")
        for i, t in enumerate(topics[:MAX_TOPICS]):
            if not TOPIC_RE.match(t):
                errors.add(
                    WebhookCode.INVALID_TOPIC,
                    "a topic is 1 to 64 letters, digits, '.', '_', '-' or '*' (any run)",
                    "topics",
                    str(i),
                )
        out["topics"] = list(dict.fromkeys(topics))
    if "fields" in values:
        fields = values["fields"]
        if fields is not None:
            if len(fields) > MAX_FIELDS:
                errors.add(Code.LIMIT_EXCEEDED, f"at most {MAX_FIELDS} fields", "fields")
            for i, f in enumerate(fields[:MAX_FIELDS]):
                if not FIELD_RE.match(f):
                    errors.add(
                        WebhookCode.INVALID_FIELD,
                        "a field is a payload key: 1 to 64 letters, digits, '_' or '-'",
                        "fields",
                        str(i),
                    )
            fields = list(dict.fromkeys(fields))
        out["fields"] = fields
    if "description" in values:
        desc = values["description"]
        if desc is not None and len(desc) > MAX_DESCRIPTION:
            errors.add(Code.TOO_LONG, f"at most {MAX_DESCRIPTION} characters", "description")
        out["description"] = desc
    if "active" in values and values["active"] is not None:
        out["active"] = bool(values["active"])
    if "url" in values or creating:
        url = (values.get("url") or "").strip()
        if not url:
            errors.add(Code.BLANK, "the URL is required", "url")
        elif len(url) > MAX_URL:
            errors.add(Code.TOO_LONG, f"at most {MAX_URL} characters", "url")
        elif target is None:
            errors.add(WebhookCode.URL_REFUSED, "webhooks are not configured", "url")
        elif (refused := await target.refusal(url)) is not None:
            errors.add(REFUSAL_CODES.get(refused[0], WebhookCode.URL_REFUSED), refused[1], "url")
        out["url"] = url
    errors.raise_if_any()
    return out


async def create(
    db: Database, target: WebhookTarget | None, values: Mapping[str, Any]
) -> tuple[SubscriptionRecord, str]:
    """A new subscription and its secret (the only time it is answered)."""
    cols = await _check(target, values, creating=True)
    secret = new_secret()
    now = _now()
    row = {"fields": None, "active": True, "description": None, **cols}
    async with db.transaction() as conn:
        newest = (await conn.execute(select(func.max(outbox.c.id)))).scalar() or 0
        got = (
            await conn.execute(
                insert(s)
                .values(**row, secret=secret, after_event_id=newest, created_at=now, updated_at=now)
                .returning(*_SUB_COLUMNS)
            )
        ).one()
    return subscription_record(got), secret


async def update_subscription(
    db: Database, target: WebhookTarget | None, pk: int, values: Mapping[str, Any]
) -> SubscriptionRecord:
    cols = await _check(target, values, creating=False)
    async with db.transaction() as conn:
        got = (
            await conn.execute(
                update(s)
                .where(s.c.id == pk)
                .values(**cols, updated_at=_now())
                .returning(*_SUB_COLUMNS)
            )
        ).one_or_none()
    if got is None:
        raise fail(Code.NOT_FOUND, "no such webhook subscription", "id")
    return subscription_record(got)


async def delete_subscription(db: Database, pk: int) -> int:
    """Delete a subscription and its deliveries (pending ones are never sent)."""
    async with db.transaction() as conn:
        await conn.execute(delete(d).where(d.c.subscription_id == pk))
        gone = (await conn.execute(delete(s).where(s.c.id == pk))).rowcount
    if not gone:
        raise fail(Code.NOT_FOUND, "no such webhook subscription", "id")
    return pk


async def rotate_secret(db: Database, pk: int) -> tuple[SubscriptionRecord, str]:
    """A new secret (answered this once); deliveries sent from now on are signed with it."""
    secret = new_secret()
    async with db.transaction() as conn:
        got = (
            await conn.execute(
                update(s)
                .where(s.c.id == pk)
                .values(secret=secret, updated_at=_now())
                .returning(*_SUB_COLUMNS)
            )
        ).one_or_none()
    if got is None:
        raise fail(Code.NOT_FOUND, "no such webhook subscription", "id")
    return subscription_record(got), secret


async def retry(db: Database, pk: int) -> DeliveryRecord:
    """Send a delivery again now, with a fresh count of attempts (a DEAD one included).
    An attempt in flight loses its claim: its outcome is not written over this."""
    async with db.transaction() as conn:
        got = (
            await conn.execute(
                update(d)
                .where(d.c.id == pk)
                .values(
                    status="PENDING",
                    attempts=0,
                    next_attempt_at=_now(),
                    updated_at=_now(),
                    # An attempt in flight now can't write its outcome over this.
                    claim=d.c.claim + 1,
                    lease_until=None,
                )
                .returning(*_DELIVERY_COLUMNS)
            )
        ).one_or_none()
    if got is None:
        raise fail(Code.NOT_FOUND, "no such webhook delivery", "id")
    return delivery_record(got)


async def replay(
    db: Database,
    start: datetime,
    end: datetime,
    subscription_pk: int | None = None,
    limit: int = REPLAY_MAX,
) -> int:
    """Queue again, for each active subscription (or the one given) whose topics match,
    the events of the outbox committed in ``[start, end)``: a delivery already there is
    set PENDING with a fresh count of attempts. At most ``limit`` events (else
    ``REPLAY_TOO_LARGE``, nothing queued); how many deliveries were queued."""
    if end <= start:
        raise fail(WebhookCode.INVALID_RANGE, "`to` must be after `from`", "to")
    async with db.transaction() as conn:
        subs_q = select(s.c.id, s.c.topics, s.c.fields).where(s.c.active.is_(True))
        if subscription_pk is not None:
            subs_q = select(s.c.id, s.c.topics, s.c.fields).where(s.c.id == subscription_pk)
        subs = (await conn.execute(subs_q)).all()
        if subscription_pk is not None and not subs:
            raise fail(Code.NOT_FOUND, "no such webhook subscription", "subscriptionId")
        events = (
            await conn.execute(
                select(outbox.c.id, outbox.c.topic, outbox.c.payload)
                .where(outbox.c.created_at >= start, outbox.c.created_at < end)
                .order_by(outbox.c.id)
                .limit(limit + 1)
            )
        ).all()
        if len(events) > limit:
            raise fail(
                WebhookCode.REPLAY_TOO_LARGE,
                f"more than {limit} events in that range; replay a shorter one",
                "from",
            )
        rows = [
            delivery_row(sub.id, e.id, e.topic, kept(e.payload, sub.fields))
            for e in events
            for sub in subs
            if matches(sub.topics, e.topic)
        ]
        await _requeue(conn, rows)
    return len(rows)


def delivery_row(sub: int, event_id: int, topic: str, payload: dict[str, Any]) -> dict[str, Any]:
    now = _now()
    return {
        "subscription_id": sub,
        "event_id": event_id,
        "topic": topic,
        "payload": payload,
        "status": "PENDING",
        "attempts": 0,
        "claim": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }


async def _requeue(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    for at in range(0, len(rows), 500):
        stmt = dialect_insert(conn, d)
        stmt = stmt.on_conflict_do_update(
            index_elements=["subscription_id", "event_id"],
            set_={
                "status": "PENDING",
                "attempts": 0,
                "next_attempt_at": stmt.excluded.next_attempt_at,
                "updated_at": stmt.excluded.updated_at,
                # An attempt in flight now can't write its outcome over this.
                "claim": d.c.claim + 1,
                "lease_until": None,
            },
        )
        await conn.execute(stmt, list(rows[at : at + 500]))


# ------------------------------------------------------------------------- reads


async def subscriptions_page(
    reader: Reader, page: PageRequest
) -> tuple[list[SubscriptionRecord], list[str], bool, bool]:
    rows, cursors, more, prev = await id_page(
        reader, select(*_SUB_COLUMNS), s.c.id, page, "WebhookSubscription"
    )
    return [subscription_record(r) for r in rows], cursors, more, prev


async def subscriptions_by_pks(reader: Reader, pks: Sequence[int]) -> dict[int, SubscriptionRecord]:
    rows = await reader.all(select(*_SUB_COLUMNS).where(one_of(reader, s.c.id, pks)))
    return {r.id: subscription_record(r) for r in rows}


async def deliveries_page(
    reader: Reader, subscription_pk: int | None, status: str | None, page: PageRequest
) -> tuple[list[DeliveryRecord], list[str], bool, bool]:
    stmt = select(*_DELIVERY_COLUMNS)
    if subscription_pk is not None:
        stmt = stmt.where(d.c.subscription_id == subscription_pk)
    if status is not None:
        stmt = stmt.where(d.c.status == status)
    rows, cursors, more, prev = await id_page(reader, stmt, d.c.id, page, "WebhookDelivery")
    return [delivery_record(r) for r in rows], cursors, more, prev


async def deliveries_by_pks(reader: Reader, pks: Sequence[int]) -> dict[int, DeliveryRecord]:
    rows = await reader.all(select(*_DELIVERY_COLUMNS).where(one_of(reader, d.c.id, pks)))
    return {r.id: delivery_record(r) for r in rows}
