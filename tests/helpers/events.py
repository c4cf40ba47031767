"""Event tests' helpers: events committed through the outbox, and reading a
subscription."""

from __future__ import annotations

import asyncio
from typing import Any

from hub.db.database import Database
from hub.events.bus import Event, QueueSubscription
from hub.events.outbox import Outbox


async def committed(db: Database, topic: str, *payloads: dict[str, Any]) -> list[Event]:
    """Events on ``topic`` with these payloads, committed in one transaction and never
    published."""
    box = Outbox()
    for p in payloads:
        box.add(topic, p)
    async with db.transaction() as conn:
        return await box.flush(conn)


async def take(sub: QueueSubscription, n: int, within: float) -> list[Event]:
    """Up to the next ``n`` events of ``sub`` (raises TimeoutError after ``within`` s)."""
    out: list[Event] = []
    async with asyncio.timeout(within):
        async for event in sub:
            out.append(event)
            if len(out) == n:
                break
    return out
