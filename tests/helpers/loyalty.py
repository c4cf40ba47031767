"""Helpers of the loyalty and customer-profile tests: customers with their own keys,
carts and checkouts, and reading a customer's loyalty over GraphQL."""

from __future__ import annotations

from typing import Any

from hub.auth import create_api_key
from hub.demo import NEWARK
from tests.helpers.carts import create, stocked_variant, uid
from tests.helpers.client import Hub

LOYALTY = """query($id: ID!) { customer(id: $id) { id email loyalty { tier points cardId
  history(first: 50) { nodes { kind points balanceAfter orderId note amount { amount } } } } } }"""

CHECKOUT = """mutation($c: ID!, $k: String!, $p: PaymentInput) {
  checkoutComplete(cartId: $c, idempotencyKey: $k, payment: $p) {
    order { id name source customerId paymentStatus loyaltyPointsRedeemed
            totalPrice { amount } totalDiscounts { amount } }
    userErrors { field message code } } }"""

REDEEM = """mutation($c: ID!, $p: Int!) { cartLoyaltyRedeem(cartId: $c, points: $p) {
  cart { id cost { totalAmount { amount } totalDiscountAmount { amount } }
         loyaltyRedemption { points pointsRequested discountAmount { amount } } }
  userErrors { field code message } warnings { code message } } }"""

ADJUST = """mutation($c: ID!, $p: Int!, $n: String, $k: String) {
  loyaltyAdjust(customerId: $c, points: $p, note: $n, idempotencyKey: $k) {
    customer { id loyalty { points } } userErrors { field code message } } }"""

CASH = {"provider": "cash", "reference": "till-1"}


class Shopper:
    """A customer made for one test, with a customer-scope API key of its own."""

    def __init__(self, gid: str, email: str, token: str) -> None:
        self.gid, self.email, self.token = gid, email, token

    @property
    def pk(self) -> int:
        return int(self.gid.rsplit("/", 1)[1])


async def shopper(hub: Hub, **fields: Any) -> Shopper:
    email = f"loyal-{uid()}@example.com"
    res = await hub.admin(
        """mutation($i: CustomerInput!) { staffCustomerCreate(input: $i) {
        customer { id } userErrors { field code } } }""",
        {"i": {"email": email, "firstName": "Lea", "lastName": f"Loyal{uid()}", **fields}},
    )
    assert res["data"]["staffCustomerCreate"]["userErrors"] == [], res
    _, token = await create_api_key(hub.db, f"shopper-{email}", ["customer"], customer=email)
    return Shopper(res["data"]["staffCustomerCreate"]["customer"]["id"], email, token)


async def loyalty_of(hub: Hub, gid: str, token: str | None = None) -> dict[str, Any]:
    res = await hub.gql(LOYALTY, {"id": gid}, token=token or hub.admin_token)
    assert "errors" not in res, res
    return res["data"]["customer"]["loyalty"]


async def cart_for(hub: Hub, who: Shopper, quantity: int = 1, price: str = "10") -> str:
    """A cart of ``who`` (made with its key) with one fresh in-stock variant."""
    vid = await stocked_variant(hub, {NEWARK: 50}, price=price)
    made = await create(
        hub, {"lines": [{"merchandiseId": vid, "quantity": quantity}]}, token=who.token
    )
    assert made["userErrors"] == [], made
    return str(made["cart"]["id"])


async def till_checkout(hub: Hub, cart: str, key: str | None = None) -> dict[str, Any]:
    """Check a cart out at a till: an admin (point-of-sale) key paying cash (PAID)."""
    res = await hub.admin(CHECKOUT, {"c": cart, "k": key or uid(), "p": CASH})
    assert "errors" not in res, res
    return dict(res["data"]["checkoutComplete"])


async def adjust(hub: Hub, gid: str, points: int, **kw: Any) -> dict[str, Any]:
    res = await hub.admin(ADJUST, {"c": gid, "p": points, **kw})
    assert "errors" not in res, res
    return dict(res["data"]["loyaltyAdjust"])


async def redeem(hub: Hub, cart: str, points: int, token: str | None) -> dict[str, Any]:
    res = await hub.gql(REDEEM, {"c": cart, "p": points}, token=token)
    assert "errors" not in res, res
    return dict(res["data"]["cartLoyaltyRedeem"])
