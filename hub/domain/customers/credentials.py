"""Ending a profile's customer tokens (access, password reset, activation) when it is
merged away or erased: one UPDATE, and an ``auth.revoked`` event per access token so
every process forgets it and closes its websockets (as a sign-out does)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.auth import CUSTOMER_TOKEN, REVOKED_TOPIC
from hub.db.tables import customer_tokens_t as tokens_t
from hub.events.outbox import Outbox


async def end_customer_tokens(
    conn: AsyncConnection, outbox: Outbox, customer_pk: int, at: datetime
) -> int:
    """End every live token of the customer, of every kind; how many."""
    rows = (
        await conn.execute(
            update(tokens_t)
            .where(tokens_t.c.customer_id == customer_pk, tokens_t.c.ended_at.is_(None))
            .values(ended_at=at)
            .returning(tokens_t.c.id, tokens_t.c.kind)
        )
    ).all()
    for r in rows:
        if r.kind == "access":
            outbox.add(REVOKED_TOPIC, {"kind": CUSTOMER_TOKEN, "id": r.id})
    return len(rows)
