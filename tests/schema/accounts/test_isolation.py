"""Isolation, on SQLite and PostgreSQL: customer A's access token gets nothing of
customer B's through any id-taking field. Every root query field that takes ids (found
by introspection: node, nodes, customer, order, cart, ...) is asked for each of B's
ids (customer, order, cart, address) and answers null or ACCESS_DENIED; every mutation
a customer can send that takes one of B's ids (addresses, carts, checkout, reset,
activation) changes nothing and returns none of B's data."""

from __future__ import annotations

import json
from typing import Any

from hub.demo import NEWARK
from tests.helpers.accounts import ME, run, verified_customer
from tests.helpers.carts import create, stocked_variant, uid
from tests.helpers.client import Hub

ROOTS = """{ __schema { queryType { fields { name args { name type { kind name
  ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }"""
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
        {"lines": [{"merchandiseId": vid}], "buyerIdentity": {"customerAccessToken": b_token}},
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
    return b_ids, b_token, [b_email, secret_city, done["order"]["name"]]


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
    before = (await hub.gql(ME, token=b_token))["data"]["customer"]

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

    assert len(asked) == len(fields) * len(b_ids) >= 5 * 4, asked

    # The node interface with fields: still nothing.
    res = await hub.gql(
        """query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Customer { email }
        ... on MailingAddress { city } ... on Order { name } } }""",
        {"ids": list(b_ids.values())},
        token=a,
    )
    assert res["data"]["nodes"] == [None] * 4 and "errors" not in res
    assert (await hub.gql("{ customer { id } }", token=a))["data"]["customer"]["id"] != b_ids[
        "customer"
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
        assert {e["code"] for e in payload["userErrors"]} <= {"NOT_FOUND", "TOKEN_INVALID"}, res
        for key, value in payload.items():
            assert key == "userErrors" or value is None, res

    after = (await hub.gql(ME, token=b_token))["data"]["customer"]
    assert after == before
    cart = await hub.gql(
        "query($id: ID!) { cart(id: $id) { totalQuantity buyerIdentity { email } } }",
        {"id": b_ids["cart"]},
        token=b_token,
    )
    assert cart["data"]["cart"]["totalQuantity"] == 1
