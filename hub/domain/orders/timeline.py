"""The order timeline: every change to an order appends one ``order_events`` row
(what, who, when, with its data) and, when it is news outside the hub, queues an
outbox event in the same transaction (published after the commit)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import ids
from hub.db.tables import order_events_t
from hub.events.outbox import Outbox


async def record_event(
    conn: AsyncConnection,
    order_pk: int,
    kind: str,
    *,
    actor: str = "system",
    message: str = "",
    data: dict[str, Any] | None = None,
    outbox: Outbox | None = None,
    topic: str | None = None,
) -> None:
    """Append ``kind`` (e.g. ``"order.paid"``, ``"fulfillment.created"``) to the order's
    timeline; with ``outbox``, also queue ``topic`` (default: ``kind``) carrying the
    order's global id and ``data``."""
    payload = dict(data or {})
    await conn.execute(
        insert(order_events_t).values(
            order_id=order_pk, kind=kind, actor=actor, message=message, data=payload
        )
    )
    if outbox is not None:
        outbox.add(topic or kind, {"orderId": ids.encode("Order", order_pk), **payload})
