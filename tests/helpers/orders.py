"""Helpers of the order book's tests (payments after checkout, import, queries): place
an order through checkout, call the staff mutations, read an order's money and
timeline, and snapshot what a refused write must leave untouched."""

from __future__ import annotations

from typing import Any

from hub.demo import NEWARK
from hub.domain.inventory import verify
from tests.helpers.carts import create, stocked_variant, uid
from tests.helpers.checkout import checkout
from tests.helpers.client import Hub

STRIPE = {"provider": "stripe", "paymentMethodId": "pm_card_visa"}

ORDER = """id name status paymentStatus fulfillmentStatus cancelReason
  totalPrice { amount currencyCode }
  payments { provider status amount { amount } amountCaptured { amount }
             amountRefunded { amount } }
  transactions { kind status provider amount { amount } reference error }
  refunds { id status amount { amount } shipping { amount } note
            lines { lineItemId quantity amount { amount } } }
  events { kind actor message data createdAt }
  lineItems(first: 20) { nodes { id sku quantity locationIds } }"""

CAPTURE = f"""mutation($o: ID!, $k: String!, $a: Decimal) {{
  orderCapture(orderId: $o, idempotencyKey: $k, amount: $a) {{
    captured {{ amount }} order {{ {ORDER} }} userErrors {{ field message code }} }} }}"""

CANCEL = f"""mutation($o: ID!, $r: String!, $s: Boolean, $f: Boolean) {{
  orderCancel(orderId: $o, reason: $r, restock: $s, refund: $f) {{
    order {{ {ORDER} }} refund {{ id status amount {{ amount }} }}
    userErrors {{ field message code }} }} }}"""

REFUND = f"""mutation($o: ID!, $k: String!, $l: [RefundLineInput!], $s: Decimal,
                    $a: Decimal, $n: String) {{
  refundCreate(orderId: $o, idempotencyKey: $k, lines: $l, shipping: $s, amount: $a,
               note: $n) {{
    refund {{ id status amount {{ amount }} lines {{ lineItemId quantity amount {{ amount }} }} }}
    order {{ {ORDER} }} userErrors {{ field message code }} }} }}"""


async def place(
    hub: Hub,
    stock: dict[int, int] | None = None,
    quantity: int = 2,
    payment: dict[str, Any] | None = None,
    price: str = "10",
    token: str | None = None,
) -> tuple[dict[str, Any], str]:
    """An order of ``quantity`` units of a fresh variant (its stock per location),
    paid with ``payment`` (Stripe's test card by default): (order, variant id)."""
    vid = await stocked_variant(hub, stock or {NEWARK: 5}, price=price)
    cid = (await create(hub, {"lines": [{"merchandiseId": vid, "quantity": quantity}]}))["cart"][
        "id"
    ]
    out = await checkout(hub, cid, uid(), payment or STRIPE, token)
    assert out["userErrors"] == [], out
    got = await order(hub, out["order"]["id"])
    assert got is not None
    return got, vid


async def gql_ok(hub: Hub, query: str, variables: dict[str, Any], name: str) -> dict[str, Any]:
    res = await hub.admin(query, variables)
    assert "errors" not in res, res
    return res["data"][name]


async def capture(hub: Hub, oid: str, key: str, amount: str | None = None) -> dict[str, Any]:
    return await gql_ok(hub, CAPTURE, {"o": oid, "k": key, "a": amount}, "orderCapture")


async def cancel(
    hub: Hub, oid: str, reason: str = "customer asked", restock: bool = True, refund: bool = False
) -> dict[str, Any]:
    return await gql_ok(
        hub, CANCEL, {"o": oid, "r": reason, "s": restock, "f": refund}, "orderCancel"
    )


async def refund(
    hub: Hub,
    oid: str,
    key: str,
    *,
    lines: list[dict[str, Any]] | None = None,
    shipping: str | None = None,
    amount: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    v = {"o": oid, "k": key, "l": lines, "s": shipping, "a": amount, "n": note}
    return await gql_ok(hub, REFUND, v, "refundCreate")


async def order(hub: Hub, oid: str, token: str | None = None) -> dict[str, Any] | None:
    res = await hub.gql(
        f"query($id: ID!) {{ order(id: $id) {{ {ORDER} }} }}",
        {"id": oid},
        token=token or hub.admin_token,
    )
    assert "errors" not in res, res
    return res["data"]["order"]


def pk(gid: str) -> int:
    return int(gid.rsplit("/", 1)[1])


async def snapshot(hub: Hub, oid: str) -> dict[str, Any]:
    """Everything an order's refused write must leave as it was: its row, lines,
    payments, transactions, refunds, timeline, fulfillment orders, the outbox."""
    o = pk(oid)
    out: dict[str, Any] = {}
    for name, sql in (
        ("order", "SELECT status, payment_status, fulfillment_status, cancel_reason "
                  "FROM orders WHERE id = :o"),
        ("lines", "SELECT id, quantity_fulfilled, quantity_cancelled, quantity_refunded "
                  "FROM order_lines WHERE order_id = :o ORDER BY id"),
        ("payments", "SELECT id, status, amount_captured, amount_refunded FROM payments "
                     "WHERE order_id = :o ORDER BY id"),
        ("txns", "SELECT id, status FROM order_transactions WHERE order_id = :o ORDER BY id"),
        ("refunds", "SELECT id, status FROM refunds WHERE order_id = :o ORDER BY id"),
        ("events", "SELECT COUNT(*) FROM order_events WHERE order_id = :o"),
        ("fos", "SELECT id, status FROM fulfillment_orders WHERE order_id = :o ORDER BY id"),
        ("outbox", "SELECT COUNT(*) FROM outbox"),
        ("ledger", "SELECT COUNT(*) FROM inventory_movements"),
    ):  # fmt: skip
        out[name] = [tuple(r) for r in await hub.rows(sql, o=o)]
    return out


async def assert_ledger_clean(hub: Hub) -> None:
    """``hub inventory verify``: every level agrees with its ledger."""
    assert await verify(hub.db) == []


def kinds(o: dict[str, Any]) -> list[str]:
    return [e["kind"] for e in o["events"]]


def txns(o: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(t["kind"], t["status"], t["amount"]["amount"]) for t in o["transactions"]]
