"""Isolation, on SQLite and PostgreSQL: customer A's access token gets nothing of
customer B's through any id-taking field. Every root query field that takes ids (found
by introspection: node, nodes, customer, order, cart, ...) is asked for each of B's
ids (customer, order, cart, address, return, substitution) and answers null or
ACCESS_DENIED; B's loyalty (points, history) shows through no node; every mutation a
customer can send that takes one of B's ids (addresses, carts, checkout, loyalty
redemption, reset, activation, return requests, substitution decisions) changes
nothing and returns none of B's data."""

from __future__ import annotations

import json
from typing import Any

from hub.demo import NEWARK
from tests.helpers.accounts import ME, run, verified_customer
from tests.helpers.carts import create, stocked_variant, uid
from tests.helpers.client import Hub
from tests.helpers.fulfillment import order as fulfilment_view
from tests.helpers.loyalty import adjust, loyalty_of
from tests.helpers.returns import ORDER as RETURNS_ORDER
from tests.helpers.returns import RETURN as RETURN_FIELDS
from tests.helpers.returns import RETURN_REQUEST, ship_all

ROOTS = """{ __schema { queryType { fields { name args { name type { kind name
  ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }"""
SUBSTITUTE = """mutation($l: ID!, $v: ID!) {
  fulfillmentOrderLineSubstitute(fulfillmentOrderLineId: $l, variantId: $v, quantity: 1) {
    substitution { id status } userErrors { field message code } } }"""
ADDRESS = """mutation($a: MailingAddressInput!) { customerAddressCreate(address: $a) {
  customerAddress { id } userErrors { code } } }"""


def _named(t: dict[str, Any]) -> str:
    while t.get("ofType"):
        t = t["ofType"]
    return str(t["name"])


def _id_fields(schema: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(field, argument, is a list) of root query fields whose required arguments are
    ids (other arguments optional)."""
    out = []
    for f in schema["__schema"]["queryType"]["fields"]:
        ids = [a for a in f["args"] if _named(a["type"]) == "ID"]
        required = [a for a in f["args"] if a["type"]["kind"] == "NON_NULL"]
        if len(ids) == 1 and all(a in ids for a in required):
            arg = ids[0]
            is_list = "LIST" in json.dumps(arg["type"])
            out.append((f["name"], arg["name"], is_list))
    return out


async def _b_with_everything(hub: Hub) -> tuple[dict[str, str], str, list[str]]:
    """Customer B with an address, a bound cart and an order: (its ids, its token, strings
    of its data that must not show up in A's answers)."""
    b_id, b_email, b_token = await verified_customer(hub)
    secret_city = f"Secretville-{uid()}"
    made = await run(
        hub,
        ADDRESS,
        {"a": {"address1": "9 Hidden Ln", "city": secret_city, "countryCode": "US"}},
        b_token,
    )
    address = made["customerAddress"]["id"]
    vid = await stocked_variant(hub, {NEWARK: 5})
    cart = await create(
        hub,
        {"lines": [{"merchandiseId": vid}], "buyerIdentity": {"customerAccessToken": b_token}},
    )
    assert cart["userErrors"] == [], cart
    order_cart = await create(
        hub,
        {
            "lines": [{"merchandiseId": vid, "quantity": 2}],
            "buyerIdentity": {"customerAccessToken": b_token},
        },
    )
    done = await run(
        hub,
        """mutation($c: ID!, $k: String!) { checkoutComplete(cartId: $c, idempotencyKey: $k,
        payment: {provider: "cash", reference: "till"}) {
          order { id name } userErrors { code } } }""",
        {"c": order_cart["cart"]["id"], "k": uid()},
        hub.admin_token,
    )
    assert done["userErrors"] == [], done
    b_ids = {
        "customer": b_id,
        "address": address,
        "cart": cart["cart"]["id"],
        "order": done["order"]["id"],
    }
    b_ids.update(await _b_after_sale(hub, b_token, done["order"]["id"]))
    await adjust(hub, b_id, 300, n="isolation")
    return b_ids, b_token, [b_email, secret_city, done["order"]["name"]]


async def _b_after_sale(hub: Hub, b_token: str, order_id: str) -> dict[str, str]:
    """B's order shipped and one unit of it asked back by B (``returnRequest`` with
    B's token); another order of B's with a substitution proposed: their ids."""
    await ship_all(hub, order_id)
    line = (await hub.admin(RETURNS_ORDER, {"id": order_id}))["data"]["order"]["lineItems"]
    lines = [{"orderLineId": line["nodes"][0]["id"], "quantity": 1, "reason": "WRONG_ITEM"}]
    asked = await run(hub, RETURN_REQUEST, {"o": order_id, "l": lines, "r": "REFUND"}, b_token)
    assert asked["userErrors"] == [], asked
    vid = await stocked_variant(hub, {NEWARK: 5})
    cart = await create(
        hub,
        {"lines": [{"merchandiseId": vid}], "buyerIdentity": {"customerAccessToken": b_token}},
    )
    done = await run(
        hub,
        """mutation($c: ID!, $k: String!) { checkoutComplete(cartId: $c, idempotencyKey: $k,
        payment: {provider: "cash", reference: "till"}) { order { id } userErrors { code } } }""",
        {"c": cart["cart"]["id"], "k": uid()},
        hub.admin_token,
    )
    assert done["userErrors"] == [], done
    fo = (await fulfilment_view(hub, done["order"]["id"]))["fulfillmentOrders"][0]
    other = await stocked_variant(hub, {NEWARK: 5})
    sub = await run(hub, SUBSTITUTE, {"l": fo["lines"][0]["id"], "v": other}, hub.admin_token)
    assert sub["userErrors"] == [] and sub["substitution"]["status"] == "PROPOSED", sub
    return {"return": asked["return"]["id"], "substitution": sub["substitution"]["id"]}


async def _b_state(hub: Hub, b_ids: dict[str, str], b_token: str) -> dict[str, Any]:
    """What A must not change of B's: profile, orders, loyalty, return, substitution,
    cart."""
    order = await hub.admin(RETURNS_ORDER, {"id": b_ids["order"]})
    sub_pk = int(b_ids["substitution"].rsplit("/", 1)[1])
    cart = await hub.gql(
        """query($id: ID!) { cart(id: $id) { totalQuantity buyerIdentity { email }
        loyaltyRedemption { points } } }""",
        {"id": b_ids["cart"]},
        token=b_token,
    )
    return {
        "me": (await hub.gql(ME, token=b_token))["data"]["customer"],
        "loyalty": await loyalty_of(hub, b_ids["customer"]),
        "returns": [(r["id"], r["status"]) for r in order["data"]["order"]["returns"]],
        "substitution": await hub.scalar(
            "SELECT status FROM substitutions WHERE id = :s", s=sub_pk
        ),
        "cart": cart["data"]["cart"],
    }


def _nothing(res: dict[str, Any], field: str, secrets: list[str]) -> None:
    """null (or a list of nulls) or ACCESS_DENIED / INVALID_ID, and none of B's data."""
    text = json.dumps(res)
    for s in secrets:
        assert s not in text, (field, res)
    value = (res.get("data") or {}).get(field)
    if value is None or value == [] or (isinstance(value, list) and all(v is None for v in value)):
        codes = {e["extensions"]["code"] for e in res.get("errors", [])}
        assert codes <= {"ACCESS_DENIED", "INVALID_ID", "NOT_FOUND"}, (field, res)
        return
    raise AssertionError(f"{field} answered {value!r} for another customer's id")


async def test_customer_a_gets_nothing_of_customer_b(hub: Hub) -> None:
    b_ids, b_token, secrets = await _b_with_everything(hub)
    _, _, a = await verified_customer(hub)
    before = await _b_state(hub, b_ids, b_token)
    # (300 adjusted, plus what its orders earned)
    assert before["loyalty"]["points"] > 300 and before["substitution"] == "PROPOSED"
    assert before["returns"] == [(b_ids["return"], "REQUESTED")]

    fields = _id_fields((await hub.gql(ROOTS, token=a))["data"])
    names = {f for f, _, _ in fields}
    assert {"node", "nodes", "customer", "order", "cart"} <= names, names
    asked: list[tuple[str, str]] = []
    for field, arg, is_list in fields:
        for kind, gid in b_ids.items():
            value: Any = [gid] if is_list else gid
            kind_of = "[ID!]!" if is_list else "ID!"
            doc = f"query($v: {kind_of}) {{ {field}({arg}: $v) {{ __typename }} }}"
            res = await hub.gql(doc, {"v": value}, token=a)
            _nothing(res, field, secrets)
            asked.append((field, kind))

    assert len(asked) == len(fields) * len(b_ids) >= 5 * 6, asked

    # The node interface with fields (B's loyalty and its history too): still nothing.
    res = await hub.gql(
        """query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Customer { email
          loyalty { points cardId history(first: 5) { nodes { kind points } } } }
        ... on MailingAddress { city } ... on Order { name } ... on Return { status } } }""",
        {"ids": list(b_ids.values())},
        token=a,
    )
    assert before["loyalty"]["cardId"] not in json.dumps(res)
    assert res["data"] is None or res["data"]["nodes"] == [None] * len(b_ids), res
    assert {e["extensions"]["code"] for e in res.get("errors", [])} <= {"INVALID_ID"}, res
    for gid in (b_ids["customer"], b_ids["order"]):
        res = await hub.gql(
            """query($id: ID!) { node(id: $id) { ... on Customer {
              loyalty { points history(first: 5) { nodes { kind } } } } } }""",
            {"id": gid},
            token=a,
        )
        assert res["data"] == {"node": None} and "errors" not in res, res
    assert (await hub.gql("{ customer { id } }", token=a))["data"]["customer"]["id"] != b_ids[
        "customer"
    ]

    b_order = (await hub.admin(RETURNS_ORDER, {"id": b_ids["order"]}))["data"]["order"]
    b_lines = [
        {
            "orderLineId": b_order["lineItems"]["nodes"][0]["id"],
            "quantity": 1,
            "reason": "WRONG_ITEM",
        }
    ]
    mutations = [
        (
            """mutation($id: ID!) { customerAddressUpdate(id: $id,
              address: {city: "Pwned", countryCode: "US"}) {
          customerAddress { id city } userErrors { code } } }""",
            {"id": b_ids["address"]},
        ),
        (
            """mutation($id: ID!) { customerAddressDelete(id: $id) {
          deletedCustomerAddressId userErrors { code } } }""",
            {"id": b_ids["address"]},
        ),
        (
            """mutation($id: ID!) { customerDefaultAddressUpdate(addressId: $id) {
          customer { id defaultAddress { city } } userErrors { code } } }""",
            {"id": b_ids["address"]},
        ),
        (
            """mutation($id: ID!) { cartLinesAdd(cartId: $id,
              lines: [{merchandiseId: "gid://hub/ProductVariant/1"}]) {
          cart { id } userErrors { code } } }""",
            {"id": b_ids["cart"]},
        ),
        (
            """mutation($id: ID!) { cartBuyerIdentityUpdate(cartId: $id,
              buyerIdentity: {email: "x@example.com"}) {
          cart { id } userErrors { code } } }""",
            {"id": b_ids["cart"]},
        ),
        (
            """mutation($id: ID!) { checkoutComplete(cartId: $id, idempotencyKey: "iso") {
          order { id } userErrors { code } } }""",
            {"id": b_ids["cart"]},
        ),
        (
            """mutation($id: ID!) { cartLoyaltyRedeem(cartId: $id, points: 10) {
          cart { id } userErrors { code } } }""",
            {"id": b_ids["cart"]},
        ),
        (
            RETURN_REQUEST.replace(f"return {{ {RETURN_FIELDS} }}", "return { id }"),
            {"o": b_ids["order"], "l": b_lines, "r": "REFUND"},
        ),
        (
            """mutation($id: ID!) { substitutionApprove(substitutionId: $id) {
          substitution { id status } userErrors { code } } }""",
            {"id": b_ids["substitution"]},
        ),
        (
            """mutation($id: ID!) { substitutionDecline(substitutionId: $id) {
          substitution { id status } userErrors { code } } }""",
            {"id": b_ids["substitution"]},
        ),
        (
            """mutation($id: ID!) { customerReset(id: $id,
              input: {resetToken: "x", password: "long enough 1"}) {
          customer { id } customerAccessToken { accessToken } userErrors { code } } }""",
            {"id": b_ids["customer"]},
        ),
        (
            """mutation($id: ID!) { customerActivate(id: $id,
              input: {activationToken: "x", password: "long enough 1"}) {
          customer { id } customerAccessToken { accessToken } userErrors { code } } }""",
            {"id": b_ids["customer"]},
        ),
        (
            """mutation($id: ID!) { customerInvite(id: $id) { userErrors { code } } }""",
            {"id": b_ids["customer"]},
        ),
        (
            """mutation($id: ID!) { staffCustomerUpdate(id: $id, input: {firstName: "Pwned"}) {
          customer { id } userErrors { code } } }""",
            {"id": b_ids["customer"]},
        ),
    ]
    for doc, variables in mutations:
        res = await hub.gql(doc, variables, token=a)
        text = json.dumps(res)
        for s in secrets:
            assert s not in text, res
        if "errors" in res:
            assert {e["extensions"]["code"] for e in res["errors"]} == {"ACCESS_DENIED"}, res
            continue
        (payload,) = res["data"].values()
        assert payload["userErrors"], res
        codes = {e["code"] for e in payload["userErrors"]}
        assert codes <= {"NOT_FOUND", "TOKEN_INVALID", "ACCESS_DENIED"}, res
        for key, value in payload.items():
            assert key == "userErrors" or value is None, res

    after = await _b_state(hub, b_ids, b_token)
    assert after == before
    assert after["cart"]["totalQuantity"] == 1 and after["cart"]["loyaltyRedemption"] is None
