"""Helpers shared by the tests (moved from tests.schema.test_checkout)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hub.db.models import OutboxEvent
from hub.demo import NEWARK
from tests.helpers.client import Hub

CHECKOUT = """mutation($c: ID!, $k: String!, $p: PaymentInput) {
  checkoutComplete(cartId: $c, idempotencyKey: $k, payment: $p) {
    order { id name status paymentStatus totalPrice { amount currencyCode }
            payments { provider status amount { amount } }
            lineItems(first: 10) { nodes { sku quantity locationIds } } }
    userErrors { field message code } } }"""


async def checkout(
    hub: Hub, cid: str, key: str, payment: dict | None, token: str | None = None
) -> dict[str, Any]:
    res = await hub.gql(CHECKOUT, {"c": cid, "k": key, "p": payment}, token=token)
    assert "errors" not in res, res
    return res["data"]["checkoutComplete"]


async def level(hub: Hub, vid: str, loc: int = NEWARK) -> tuple[int, int, int]:
    vpk = int(vid.rsplit("/", 1)[1])
    (row,) = await hub.rows(
        "SELECT on_hand, reserved, committed FROM inventory_levels "
        "WHERE variant_id = :v AND location_id = :l",
        v=vpk,
        l=loc,
    )
    return row.on_hand, row.reserved, row.committed


async def orders_of(hub: Hub, cid: str) -> int:
    token = cid.rsplit("/", 1)[1]
    return await hub.scalar(
        "SELECT COUNT(*) FROM orders o JOIN carts c ON c.id = o.cart_id WHERE c.token = :t", t=token
    )


async def outbox_payloads(hub: Hub, topic: str) -> list[Any]:
    """The payloads of every outbox event on ``topic``, oldest first (PostgreSQL returns
    rows in no set order once they were updated, e.g. marked published)."""
    async with hub.db.read() as conn:
        rows = (
            await conn.execute(
                select(OutboxEvent.__table__.c.payload)
                .where(OutboxEvent.__table__.c.topic == topic)
                .order_by(OutboxEvent.__table__.c.id)
            )
        ).all()
    return [r.payload for r in rows]
