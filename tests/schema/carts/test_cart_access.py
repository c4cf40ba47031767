"""No cart takeover, on SQLite and PostgreSQL, over GraphQL.

A cart bound to a customer is read and changed only with that customer's key (or
staff's). Customer B holding customer A's cart id can neither read it, change it,
check it out nor bind it to itself, whether B sends its own key, passes its token as
``customerAccessToken`` without a key, or both; every refusal writes nothing (the
cart's row, version and lines stay byte for byte). A guest cart can be bound to the
customer whose token a request holds, once: racing binds leave exactly one winner.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hub.auth import create_api_key
from hub.demo import NEWARK
from tests.helpers.carts import codes, create, get_cart, mutate, stocked_variant, uid
from tests.helpers.client import Hub

BIND = """mutation($c: ID!, $t: String) {
  cartBuyerIdentityUpdate(cartId: $c, buyerIdentity: {customerAccessToken: $t}) {
    cart { id buyerIdentity { email customerId } } userErrors { field code message } } }"""
CHECKOUT = """mutation($c: ID!, $k: String!) { checkoutComplete(cartId: $c, idempotencyKey: $k,
  payment: {provider: "gift_card", giftCardCode: "DEMO-GIFT-0000-0050"}) {
  order { id } userErrors { field code } } }"""
NODE = "query($id: ID!) { node(id: $id) { id } }"


async def customer(hub: Hub) -> tuple[str, str, str]:
    """A new customer: (id, email, customer-scope key)."""
    email = f"access-{uid()}@example.com"
    res = await hub.admin(
        """mutation($i: CustomerInput!) { staffCustomerCreate(input: $i) {
        customer { id } userErrors { code } } }""",
        {"i": {"email": email}},
    )
    assert res["data"]["staffCustomerCreate"]["userErrors"] == [], res
    _, key = await create_api_key(hub.db, f"access-{uid()}", ["customer"], customer=email)
    return res["data"]["staffCustomerCreate"]["customer"]["id"], email, key


async def snapshot(hub: Hub, cid: str) -> tuple[Any, ...]:
    """Everything a write could touch: the cart row and its lines."""
    token = cid.rsplit("/", 1)[1]
    async with hub.db.read() as conn:
        from sqlalchemy import text

        row = (
            await conn.execute(
                text(
                    "SELECT version, status, customer_id, email, phone, country_code, note, "
                    "discount_codes, attributes, updated_at, expires_at, locked_until "
                    "FROM carts WHERE token = :t"
                ),
                {"t": token},
            )
        ).one()
        lines = (
            await conn.execute(
                text(
                    "SELECT l.id, l.variant_id, l.quantity, l.delivery_group_id FROM cart_lines l "
                    "JOIN carts c ON c.id = l.cart_id WHERE c.token = :t ORDER BY l.id"
                ),
                {"t": token},
            )
        ).all()
    return (tuple(row), tuple(tuple(r) for r in lines))


async def bind(hub: Hub, cid: str, customer_token: str | None, key: str | None) -> dict:
    res = await hub.gql(BIND, {"c": cid, "t": customer_token}, token=key)
    assert "errors" not in res, res
    return res["data"]["cartBuyerIdentityUpdate"]


async def test_another_customer_can_neither_read_change_nor_rebind(hub: Hub) -> None:
    a_id, a_email, a = await customer(hub)
    _b_id, _b_email, b = await customer(hub)
    vid = await stocked_variant(hub, {NEWARK: 10})
    made = await create(hub, {"lines": [{"merchandiseId": vid, "quantity": 2}]}, token=a)
    cid = made["cart"]["id"]
    line = made["cart"]["lines"]["nodes"][0]["id"]
    assert made["cart"]["buyerIdentity"]["customerId"] == a_id
    before = await snapshot(hub, cid)

    # Reading: null for B, for a storefront and for no key at all; only A and staff see it.
    for key in (b, hub.storefront_token, None):
        assert await get_cart(hub, cid, token=key) is None
        assert (await hub.gql(NODE, {"id": cid}, token=key))["data"]["node"] is None
    assert (await get_cart(hub, cid, token=a))["id"] == cid  # type: ignore[index]
    assert (await get_cart(hub, cid, token=hub.admin_token))["id"] == cid  # type: ignore[index]

    # Changing: every mutation answers NOT_FOUND to B (and to keys without a customer).
    writes: list[tuple[str, dict[str, Any]]] = [
        ("cartLinesAdd", {"cartId": cid, "lines": [{"merchandiseId": vid}]}),
        ("cartLinesUpdate", {"cartId": cid, "lines": [{"id": line, "quantity": 1}]}),
        ("cartLinesRemove", {"cartId": cid, "lineIds": [line]}),
        ("cartDiscountCodesUpdate", {"cartId": cid, "discountCodes": ["DEMO10"]}),
        ("cartBuyerIdentityUpdate", {"cartId": cid, "buyerIdentity": {"email": "b@example.com"}}),
        ("cartAttributesUpdate", {"cartId": cid, "attributes": [{"key": "k", "value": "v"}]}),
        ("cartNoteUpdate", {"cartId": cid, "note": "mine now"}),
        (
            "cartDeliveryUpdate",
            {"cartId": cid, "deliveryGroups": [{"shippingAddress": {"countryCode": "US"}}]},
        ),
    ]
    for key in (b, hub.storefront_token, None):
        for name, variables in writes:
            got = await mutate(hub, name, "", variables, token=key)
            assert codes(got) == ["NOT_FOUND"] and got["cart"] is None, (name, got)
        out = (await hub.gql(CHECKOUT, {"c": cid, "k": uid()}, token=key))["data"]
        assert [e["code"] for e in out["checkoutComplete"]["userErrors"]] == ["NOT_FOUND"]

    # Re-binding, every way B could try: its own key and token; its token without a key
    # or with a storefront key; unbinding the cart. A's token in B's request is refused
    # outright (a customer puts only its own token on a cart).
    for token, key in ((b, b), (b, None), (b, hub.storefront_token), ("", b), ("", None)):
        got = await bind(hub, cid, token, key)
        assert codes(got) == ["NOT_FOUND"] and got["cart"] is None, (token == b, key, got)
    got = await bind(hub, cid, a, b)
    assert [(e["code"], e["field"]) for e in got["userErrors"]] == [
        ("INVALID", ["buyerIdentity", "customerAccessToken"])
    ]
    # Concurrent attempts change nothing either.
    outs = await asyncio.gather(*(bind(hub, cid, b, b) for _ in range(6)))
    assert all(codes(o) == ["NOT_FOUND"] for o in outs)

    assert await snapshot(hub, cid) == before  # nothing was written, not even the version

    # The owner still reads and changes it; the cart is still A's.
    got = await mutate(hub, "cartNoteUpdate", "", {"cartId": cid, "note": "still mine"}, token=a)
    assert got["userErrors"] == [] and got["cart"]["note"] == "still mine"
    assert got["cart"]["buyerIdentity"] == {
        "email": a_email,
        "phone": None,
        "countryCode": None,
        "customerId": a_id,
    }
    # A's own token passed as customerAccessToken (a storefront acting for A) works too.
    got = await bind(hub, cid, a, None)
    assert got["userErrors"] == [] and got["cart"]["buyerIdentity"]["customerId"] == a_id


async def test_binding_a_guest_cart(hub: Hub) -> None:
    a_id, a_email, a = await customer(hub)
    b_id, _b_email, b = await customer(hub)
    vid = await stocked_variant(hub, {NEWARK: 10})
    cid = (await create(hub, {"lines": [{"merchandiseId": vid}]}))["cart"]["id"]
    assert (await get_cart(hub, cid))["buyerIdentity"]["customerId"] is None  # type: ignore[index]

    # A storefront signs its shopper in: the cart becomes A's, and the answer shows it.
    got = await bind(hub, cid, a, hub.storefront_token)
    assert got["userErrors"] == []
    assert got["cart"]["buyerIdentity"] == {"email": a_email, "customerId": a_id}
    # From now on the cart is A's alone.
    assert await get_cart(hub, cid, token=hub.storefront_token) is None
    assert await get_cart(hub, cid) is None
    assert await get_cart(hub, cid, token=b) is None
    before = await snapshot(hub, cid)
    for token, key in ((b, None), (b, b)):
        assert codes(await bind(hub, cid, token, key)) == ["NOT_FOUND"]
    assert await snapshot(hub, cid) == before
    # A may unbind its own cart, which makes it a guest cart again.
    got = await bind(hub, cid, "", a)
    assert got["userErrors"] == [] and got["cart"]["buyerIdentity"]["customerId"] is None
    assert (await get_cart(hub, cid))["buyerIdentity"]["customerId"] is None  # type: ignore[index]

    # Two customers race to bind the same guest cart: exactly one wins, nothing mixes.
    cid = (await create(hub, {"lines": [{"merchandiseId": vid}]}))["cart"]["id"]
    outs = await asyncio.gather(bind(hub, cid, a, None), bind(hub, cid, b, None))
    won = [o for o in outs if not o["userErrors"]]
    lost = [o for o in outs if o["userErrors"]]
    assert len(won) == 1 and len(lost) == 1, outs
    assert codes(lost[0]) == ["NOT_FOUND"]
    owner = won[0]["cart"]["buyerIdentity"]["customerId"]
    assert owner in (a_id, b_id)
    winner_key = a if owner == a_id else b
    loser_key = b if owner == a_id else a
    assert (await get_cart(hub, cid, token=winner_key))["buyerIdentity"]["customerId"] == owner  # type: ignore[index]
    assert await get_cart(hub, cid, token=loser_key) is None

    # A customer key creating a cart for another customer's token is refused, and
    # writes no cart.
    count = await hub.scalar("SELECT COUNT(*) FROM carts")
    res = await hub.gql(
        """mutation($t: String) { cartCreate(input: {buyerIdentity: {customerAccessToken: $t}}) {
        cart { id } userErrors { field code } } }""",
        {"t": b},
        token=a,
    )
    assert res["data"]["cartCreate"] == {
        "cart": None,
        "userErrors": [{"field": ["buyerIdentity", "customerAccessToken"], "code": "INVALID"}],
    }
    assert await hub.scalar("SELECT COUNT(*) FROM carts") == count


async def test_unpublished_merchandise_is_named_by_its_id_never_its_sku(hub: Hub) -> None:
    """Adding a draft product's variant names the line and the merchandise id; a line
    whose product was unpublished since names it the same way, and hides its SKU."""
    draft = await hub.scalar(
        "SELECT v.id FROM variants v JOIN products p ON p.id = v.product_id "
        "JOIN variant_prices vp ON vp.variant_id = v.id AND vp.channel_id = 1 "
        "WHERE p.status = 'DRAFT' ORDER BY v.id LIMIT 1"
    )
    sku = await hub.scalar("SELECT sku FROM variants WHERE id = :v", v=draft)
    gid = f"gid://hub/ProductVariant/{draft}"
    vid = await stocked_variant(hub, {NEWARK: 5})
    cid = (await create(hub, {"lines": [{"merchandiseId": vid}]}))["cart"]["id"]
    got = await mutate(
        hub,
        "cartLinesAdd",
        "",
        {"cartId": cid, "lines": [{"merchandiseId": vid}, {"merchandiseId": gid}]},
    )
    assert [(e["code"], e["field"]) for e in got["userErrors"]] == [
        ("INVALID", ["lines", "1", "merchandiseId"])
    ]
    message = got["userErrors"][0]["message"]
    assert gid in message and "lines[1]" in message and sku not in message
    made = await create(hub, {"lines": [{"merchandiseId": gid}]})
    assert [e["code"] for e in made["userErrors"]] == ["INVALID"]
    assert sku not in made["userErrors"][0]["message"]

    # A product unpublished after it went into a cart: the warning, the line and
    # checkout's refusal name the line and its merchandise id, not the SKU.
    pid = await hub.scalar(
        "SELECT product_id FROM variants WHERE id = :v", v=int(vid.rsplit("/", 1)[1])
    )
    own_sku = await hub.scalar(
        "SELECT sku FROM variants WHERE id = :v", v=int(vid.rsplit("/", 1)[1])
    )
    res = await hub.admin(
        """mutation($id: ID!) { productUpdate(id: $id, input: {status: DRAFT}) {
        userErrors { code } } }""",
        {"id": f"gid://hub/Product/{pid}"},
    )
    assert res["data"]["productUpdate"]["userErrors"] == [], res
    cart = await get_cart(hub, cid)
    assert cart is not None
    line = cart["lines"]["nodes"][0]
    assert line["sku"] == ""
    warning = next(w for w in cart["warnings"] if w["code"] == "MERCHANDISE_NOT_AVAILABLE")
    assert warning["target"] == line["id"] and vid in warning["message"]
    assert own_sku not in warning["message"]
    out = (await hub.gql(CHECKOUT, {"c": cid, "k": uid()}))["data"]["checkoutComplete"]
    assert [(e["code"], e["field"]) for e in out["userErrors"]] == [
        ("INVALID", ["lines", line["id"]])
    ]
    res = await hub.admin(
        """mutation($id: ID!) { productUpdate(id: $id, input: {status: ACTIVE}) {
        userErrors { code } } }""",
        {"id": f"gid://hub/Product/{pid}"},
    )
    assert res["data"]["productUpdate"]["userErrors"] == []
