"""Guest orders and order history, on SQLite and PostgreSQL: checkoutComplete gives a
guest a status token (kept hashed on the order), orderByToken shows the order without
an account; a guest who signs up with the same email sees those orders in
``customer.orders`` only once the email is verified; the history spans channels and
costs the same statements whatever its page size."""

from __future__ import annotations

import hashlib

from hub.demo import NEWARK
from tests.helpers.accounts import (
    ACTIVATE,
    CHECKOUT,
    ME,
    activation,
    email,
    guest_order,
    sign_up,
    token_for,
)
from tests.helpers.carts import create, mutate, stocked_variant, uid
from tests.helpers.client import Hub, contract_operation

BY_TOKEN = """query($t: String!) { orderByToken(token: $t) { id name status paymentStatus
  fulfillmentStatus email channel { handle } lineItems(first: 10) { nodes { sku quantity } } } }"""


async def test_guest_sees_order_by_token_and_replay_gives_it_again(hub: Hub) -> None:
    buyer = email()
    out, cid, key = await guest_order(hub, buyer)
    token = out["statusToken"]
    assert token and token.startswith("hubos_")
    stored = await hub.scalar(
        "SELECT status_token_hash FROM orders WHERE name = :n", n=out["order"]["name"]
    )
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    replay = (await hub.admin(CHECKOUT, {"c": cid, "k": key}))["data"]["checkoutComplete"]
    assert replay["order"]["id"] == out["order"]["id"] and replay["statusToken"] == token

    shown = (await hub.gql(BY_TOKEN, {"t": token}))["data"]["orderByToken"]
    assert shown["id"] == out["order"]["id"] and shown["email"] == buyer
    assert shown["status"] == "OPEN" and shown["paymentStatus"] == "PAID"
    assert shown["fulfillmentStatus"] == "UNFULFILLED"
    assert shown["channel"]["handle"] == "web"
    assert [n["quantity"] for n in shown["lineItems"]["nodes"]] == [1]
    # The contract's own document.
    contract = await hub.gql(
        contract_operation("CustomerAccount"), {"token": token}, operation="OrderByToken"
    )
    assert contract["data"]["orderByToken"]["name"] == out["order"]["name"]
    for other in ("hubos_" + "0" * 64, "", "nope", token[:-1]):
        assert (await hub.gql(BY_TOKEN, {"t": other}))["data"]["orderByToken"] is None


async def test_guest_orders_join_the_account_once_its_email_is_verified(hub: Hub) -> None:
    buyer = email()
    web, _, _ = await guest_order(hub, buyer, "web")
    eu, _, _ = await guest_order(hub, buyer, "eu")
    other, _, _ = await guest_order(hub, email(), "web")
    customer = await sign_up(hub, buyer)
    token = await token_for(hub, buyer)
    me = (await hub.gql(ME, token=token))["data"]["customer"]
    assert me["emailVerified"] is False and me["orders"]["nodes"] == []
    # A guest order is not the account's either while unverified.
    assert (
        await hub.gql(
            "query($id: ID!) { order(id: $id) { id } }", {"id": web["order"]["id"]}, token=token
        )
    )["data"]["order"] is None

    link = await activation(hub, buyer)
    done = await hub.gql(
        ACTIVATE, {"id": customer["id"], "input": {"activationToken": link.data["token"]}}
    )
    token = done["data"]["customerActivate"]["customerAccessToken"]["accessToken"]
    me = (await hub.gql(ME, token=token))["data"]["customer"]
    assert me["emailVerified"] is True
    got = me["orders"]["nodes"]
    assert [o["id"] for o in got] == [eu["order"]["id"], web["order"]["id"]]  # newest first
    assert [o["channel"]["handle"] for o in got] == ["eu", "web"]
    assert all(
        o["paymentStatus"] == "PAID" and o["fulfillmentStatus"] == "UNFULFILLED" for o in got
    )
    assert other["order"]["id"] not in {o["id"] for o in got}
    count = await hub.scalar("SELECT orders_count FROM customers WHERE email = :e", e=buyer)
    assert count == 2

    # A signed-in customer's own order: no status token, in its history at once.
    vid = await stocked_variant(hub, {NEWARK: 2})
    cart = await create(hub, {"lines": [{"merchandiseId": vid}]})
    bound = await mutate(
        hub,
        "cartBuyerIdentityUpdate",
        "",
        {"cartId": cart["cart"]["id"], "buyerIdentity": {"customerAccessToken": token}},
    )
    assert bound["userErrors"] == [], bound
    mine = (await hub.admin(CHECKOUT, {"c": cart["cart"]["id"], "k": uid()}))["data"][
        "checkoutComplete"
    ]
    assert mine["statusToken"] is None and mine["order"]["customerId"] == customer["id"]
    me = (await hub.gql(ME, token=token))["data"]["customer"]
    assert me["orders"]["nodes"][0]["id"] == mine["order"]["id"]


async def test_order_history_pages_without_n_plus_one(hub: Hub) -> None:
    buyer = email()
    for _ in range(4):
        await guest_order(hub, buyer)
    customer = await sign_up(hub, buyer)
    link = await activation(hub, buyer)
    done = await hub.gql(
        ACTIVATE, {"id": customer["id"], "input": {"activationToken": link.data["token"]}}
    )
    token = done["data"]["customerActivate"]["customerAccessToken"]["accessToken"]
    query = """query($n: Int!, $a: String) { customer { orders(first: $n, after: $a) {
      nodes { id name channel { handle } totalPrice { amount }
        lineItems(first: 5) { nodes { sku quantity } } }
      pageInfo { hasNextPage endCursor } } } }"""
    counts = {}
    for n in (1, 4, 1, 4):
        with hub.count_statements() as seen:
            res = await hub.gql(query, {"n": n}, token=token)
        assert len(res["data"]["customer"]["orders"]["nodes"]) == n
        counts[n] = len(seen)
    assert counts[1] == counts[4], counts
    first = (await hub.gql(query, {"n": 3}, token=token))["data"]["customer"]["orders"]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = (await hub.gql(query, {"n": 3, "a": first["pageInfo"]["endCursor"]}, token=token))[
        "data"
    ]["customer"]["orders"]
    assert len(rest["nodes"]) == 1 and rest["pageInfo"]["hasNextPage"] is False
