"""node(id:) and nodes(ids:) for every Node type on SQLite and PostgreSQL: staff reach
them all, storefronts and customer keys only what their own queries would show
(a cart by its id, their own customer and orders), and nodes() loads each type in
one batch whatever the number of ids."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from hub.auth import create_api_key
from hub.demo import NEWARK
from hub.domain.carts import carts_t
from tests.helpers.carts import create, restock, stocked_variant, uid
from tests.helpers.client import Hub

NODES = """query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"""
NODE = """query($id: ID!) { node(id: $id) { __typename id } }"""
CHECKOUT = """mutation($c: ID!, $k: String!) { checkoutComplete(cartId: $c, idempotencyKey: $k,
  payment: {provider: "cash", reference: "drawer"}) { order { id } userErrors { code } } }"""


async def nodes(hub: Hub, gids: list[str], token: str | None = None) -> list[Any]:
    res = await hub.gql(NODES, {"ids": gids}, token=token)
    assert "errors" not in res, res
    return res["data"]["nodes"]


async def customer(hub: Hub) -> tuple[str, str]:
    """A new customer's id and a customer-scope key for it."""
    email = f"node-{uid()}@example.com"
    res = await hub.admin(
        """mutation($i: CustomerInput!) { staffCustomerCreate(input: $i) {
        customer { id } userErrors { code } } }""",
        {"i": {"email": email}},
    )
    _, token = await create_api_key(hub.db, "tests-node", ["customer"], customer=email)
    return res["data"]["staffCustomerCreate"]["customer"]["id"], token


async def staff_objects(hub: Hub) -> dict[str, str]:
    """One id of each staff-only type, from the demo data."""
    res = await hub.admin(
        """{ priceLists(first: 1) { nodes { id } }
             shippingZones { id rates { id } }
             promotions(first: 50) { nodes { id codes(first: 1) { nodes { id } } } } }"""
    )
    d = res["data"]
    promo = next(p for p in d["promotions"]["nodes"] if p["codes"]["nodes"])
    return {
        "PriceList": d["priceLists"]["nodes"][0]["id"],
        "ShippingZone": d["shippingZones"][0]["id"],
        "ShippingRate": d["shippingZones"][0]["rates"][0]["id"],
        "Promotion": promo["id"],
        "DiscountCode": promo["codes"]["nodes"][0]["id"],
    }


async def order_for(hub: Hub, token: str) -> tuple[str, str]:
    """A cart of the key's customer checked out at the till: (order id, cart id)."""
    vid = await stocked_variant(hub, {NEWARK: 5})
    cid = (await create(hub, {"lines": [{"merchandiseId": vid}]}, token=token))["cart"]["id"]
    res = await hub.admin(CHECKOUT, {"c": cid, "k": uid()})
    out = res["data"]["checkoutComplete"]
    assert out["userErrors"] == [], out
    await restock(hub, vid)
    return out["order"]["id"], cid


async def test_every_type_through_node_and_nodes(hub: Hub) -> None:
    cust_id, key = await customer(hub)
    order_id, done_cart = await order_for(hub, key)
    cart_id = (await create(hub, {}, token=key))["cart"]["id"]
    wanted = {
        **await staff_objects(hub),
        "Customer": cust_id,
        "Order": order_id,
        "Cart": cart_id,
        "Product": "gid://hub/Product/1",
        "ProductVariant": "gid://hub/ProductVariant/1",
        "Collection": "gid://hub/Collection/1",
        "Channel": "gid://hub/Channel/1",
        "Location": "gid://hub/Location/1",
    }
    got = await nodes(hub, list(wanted.values()), token=hub.admin_token)
    assert [(n["__typename"], n["id"]) for n in got] == list(wanted.items())
    for type_name, gid in wanted.items():
        res = await hub.admin(NODE, {"id": gid})
        assert res["data"]["node"] == {"__typename": type_name, "id": gid}, type_name
    # Fields of the concrete types resolve through node too.
    res = await hub.admin(
        """query($c: ID!, $o: ID!, $k: ID!) {
          c: node(id: $c) { ... on Cart { status cost { totalAmount { amount } } } }
          o: node(id: $o) { ... on Order { name lineItems(first: 1) { nodes { quantity } } } }
          k: node(id: $k) { ... on Cart { status orderId } } }""",
        {"c": cart_id, "o": order_id, "k": done_cart},
    )
    assert res["data"]["c"]["status"] == "ACTIVE"
    assert res["data"]["o"]["lineItems"]["nodes"] == [{"quantity": 1}]
    assert res["data"]["k"] == {"status": "COMPLETED", "orderId": order_id}


async def test_node_shows_no_more_than_the_types_own_queries(hub: Hub) -> None:
    staff_only = await staff_objects(hub)
    a_id, a_key = await customer(hub)
    b_id, b_key = await customer(hub)
    a_order, _ = await order_for(hub, a_key)
    a_cart = (await create(hub, {}, token=a_key))["cart"]["id"]
    guest_cart = (await create(hub, {}))["cart"]["id"]
    ids = [*staff_only.values(), a_id, b_id, a_order, a_cart, guest_cart]

    def seen(got: list[Any]) -> list[str]:
        return [n["id"] for n in got if n is not None]

    # A storefront (no key, or a storefront key): guest carts by their id, nothing else
    # (a customer's cart is that customer's alone).
    for token in (None, hub.storefront_token):
        assert seen(await nodes(hub, ids, token=token)) == [guest_cart]
    # A customer: its own customer, orders and carts, and anonymous carts.
    assert seen(await nodes(hub, ids, token=a_key)) == [a_id, a_order, a_cart, guest_cart]
    assert seen(await nodes(hub, ids, token=b_key)) == [b_id, guest_cart]
    for gid in (a_id, a_order, a_cart):
        res = await hub.gql(NODE, {"id": gid}, token=b_key)
        assert res["data"]["node"] is None, gid
    # Staff: everything.
    assert seen(await nodes(hub, ids, token=hub.admin_token)) == ids
    # An expired cart is null, as in cart(id:).
    async with hub.db.transaction() as conn:
        from datetime import UTC, datetime, timedelta

        await conn.execute(
            update(carts_t)
            .where(carts_t.c.token == guest_cart.rsplit("/", 1)[1])
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    assert (await hub.gql(NODE, {"id": guest_cart}))["data"]["node"] is None


async def test_malformed_and_unknown_ids(hub: Hub) -> None:
    for bad in ("gid://hub/Nope/1", "gid://hub/Customer/x", "gid://hub/Cart/short", "42"):
        res = await hub.gql(NODE, {"id": bad})
        assert res["errors"][0]["extensions"]["code"] == "INVALID_ID", bad
    res = await hub.admin(NODE, {"id": "gid://hub/Order/999999999"})
    assert res["data"]["node"] is None
    res = await hub.admin(NODE, {"id": "gid://hub/Cart/" + "A" * 32})
    assert res["data"]["node"] is None


async def test_nodes_loads_each_type_in_one_batch(hub: Hub) -> None:
    customers = [await customer(hub) for _ in range(4)]
    orders = [(await order_for(hub, key))[0] for _, key in customers[:4]]
    res = await hub.admin("{ promotions(first: 4) { nodes { id } } }")
    promos = [p["id"] for p in res["data"]["promotions"]["nodes"]]
    zones = (await hub.admin("{ shippingZones { id rates { id } } }"))["data"]["shippingZones"]
    rates = [r["id"] for z in zones for r in z["rates"]]

    def ids(n: int) -> list[str]:
        return [
            *[c for c, _ in customers[:n]],
            *orders[:n],
            *promos[:n],
            *[z["id"] for z in zones[:n]],
            *rates[:n],
            *[f"gid://hub/Product/{i}" for i in range(1, n + 1)],
            *[f"gid://hub/ProductVariant/{i}" for i in range(1, n + 1)],
        ]

    await nodes(hub, ids(1), token=hub.admin_token)  # warm up
    counts = []
    for n in (1, 2, 4):
        with hub.count_statements() as seen:
            got = await nodes(hub, ids(n), token=hub.admin_token)
        assert None not in got
        counts.append(len(seen))
    assert counts[0] == counts[1] == counts[2], counts
