"""FirstOrder promotions (the demo's WELCOME15) for guests and customers on SQLite and
PostgreSQL: a guest whose email never ordered (whatever its case) gets it, a guest
whose email did doesn't, a guest without an email doesn't; a customer by its
orders count."""

from __future__ import annotations

from typing import Any

from hub.auth import create_api_key
from hub.demo import NEWARK
from tests.helpers.carts import create, restock, stocked_variant, uid
from tests.helpers.client import Hub

CHECKOUT = """mutation($c: ID!, $k: String!) { checkoutComplete(cartId: $c, idempotencyKey: $k,
  payment: {provider: "cash", reference: "d"}) { order { id email } userErrors { code } } }"""


async def welcome(hub: Hub, vid: str, email: str | None, token: str | None = None) -> dict:
    buyer: dict[str, Any] = {"countryCode": "US"}
    if email is not None:
        buyer["email"] = email
    out = await create(
        hub,
        {"lines": [{"merchandiseId": vid}], "discountCodes": ["WELCOME15"], "buyerIdentity": buyer},
        token=token,
    )
    assert out["userErrors"] == [], out
    return out["cart"]


def code(cart: dict) -> dict:
    (c,) = [c for c in cart["discountCodes"] if c["code"] == "WELCOME15"]
    return c


async def order(hub: Hub, vid: str, email: str | None, token: str | None = None) -> dict:
    cart = await create(
        hub,
        {
            "lines": [{"merchandiseId": vid}],
            **({"buyerIdentity": {"email": email}} if email else {}),
        },
        token=token,
    )
    res = await hub.admin(CHECKOUT, {"c": cart["cart"]["id"], "k": uid()})
    out = res["data"]["checkoutComplete"]
    assert out["userErrors"] == [], out
    return out["order"]


async def test_guest_first_order_by_email(hub: Hub) -> None:
    vid = await stocked_variant(hub, {NEWARK: 10}, price="40")
    new = f"First.{uid()}@Example.com"
    got = code(await welcome(hub, vid, new))
    assert got["applicable"] is True, got
    # No email: we can't tell, so it's not a first order.
    got = code(await welcome(hub, vid, None))
    assert got == {"code": "WELCOME15", "applicable": False, "reason": "FIRST_ORDER_ONLY"}
    # Once that email ordered (without the code), it isn't, in any case.
    placed = await order(hub, vid, new)
    assert placed["email"] == new.lower()
    for variant in (new, new.upper(), new.lower()):
        got = code(await welcome(hub, vid, variant))
        assert got == {"code": "WELCOME15", "applicable": False, "reason": "FIRST_ORDER_ONLY"}
    await restock(hub, vid)


async def test_customer_first_order_by_orders_count(hub: Hub) -> None:
    vid = await stocked_variant(hub, {NEWARK: 10}, price="40")
    email = f"cust-{uid()}@example.com"
    await hub.admin(
        "mutation($i: CustomerInput!) { staffCustomerCreate(input: $i) { userErrors { code } } }",
        {"i": {"email": email}},
    )
    _, key = await create_api_key(hub.db, "first-order", ["customer"], customer=email)
    assert code(await welcome(hub, vid, None, token=key))["applicable"] is True
    await order(hub, vid, None, token=key)
    got = code(await welcome(hub, vid, None, token=key))
    assert got == {"code": "WELCOME15", "applicable": False, "reason": "FIRST_ORDER_ONLY"}
    await restock(hub, vid)
