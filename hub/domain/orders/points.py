"""Loyalty points follow an order's money: captures earn, refunds take back."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.domain import loyalty
from hub.events.outbox import Outbox


async def loyalty_follows(
    conn: AsyncConnection, outbox: Outbox | None, order_pk: int, kind: str, amount: int, key: str
) -> None:
    """Points follow the money: a capture earns the order's customer its points (once
    per order), a refund takes back its share (once per ``key``)."""
    if kind == "CAPTURE":
        await loyalty.earn_for_payment(conn, order_pk, amount, outbox=outbox)
    elif kind == "REFUND":
        await loyalty.reverse_for_refund(
            conn, order_pk, amount, key=f"refund:{key}"[:255], outbox=outbox
        )
