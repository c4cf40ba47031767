"""The backorders service: staff set a variant's policy, and read the queue."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from hub.db.database import Database, Reader
from hub.db.tables import backorders_t
from hub.domain.backorders.codes import InventoryPolicy
from hub.domain.backorders.policy import PolicyRecord, set_policy
from hub.events.bus import Event
from hub.events.outbox import Outbox

Publish = Callable[[Sequence[Event]], Awaitable[None]]
MAX_PAGE = 100


@dataclass(slots=True)
class BackorderRecord:
    pk: int
    variant_pk: int
    location_pk: int
    order_pk: int
    fulfillment_order_pk: int | None
    policy: str
    quantity: int
    quantity_allocated: int
    status: str
    created_at: datetime
    allocated_at: datetime | None


def _record(r: Any) -> BackorderRecord:
    return BackorderRecord(
        r.id,
        r.variant_id,
        r.location_id,
        r.order_id,
        r.fulfillment_order_id,
        r.policy,
        r.quantity,
        r.quantity_allocated,
        r.status,
        r.created_at,
        r.allocated_at,
    )


class Backorders:
    def __init__(self, db: Database, publish: Publish | None = None) -> None:
        self.db = db
        self._publish = publish

    async def set_policy(
        self,
        variant_pk: int,
        policy: InventoryPolicy,
        expected_on: date | None,
        backorder_limit: int | None,
    ) -> PolicyRecord:
        outbox = Outbox()
        async with self.db.transaction() as conn:
            rec = await set_policy(conn, outbox, variant_pk, policy, expected_on, backorder_limit)
            events = await outbox.flush(conn)
        if self._publish is not None:
            await self._publish(events)
        return rec


async def queue(
    reader: Reader,
    *,
    variant_pk: int | None,
    order_pk: int | None,
    limit: int,
    after: int | None = None,
) -> list[BackorderRecord]:
    """Backorders, oldest first (the order they are allocated in), at most ``limit``."""
    q = select(backorders_t).order_by(backorders_t.c.id).limit(min(limit, MAX_PAGE))
    if variant_pk is not None:
        q = q.where(backorders_t.c.variant_id == variant_pk)
    if order_pk is not None:
        q = q.where(backorders_t.c.order_id == order_pk)
    if after is not None:
        q = q.where(backorders_t.c.id > after)
    return [_record(r) for r in await reader.all(q)]
