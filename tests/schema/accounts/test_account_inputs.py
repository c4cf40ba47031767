"""Whatever a client sends to the account operations, on SQLite and PostgreSQL, the
answer is a userError with a stable code or a request error with one, never an
internal error, and nothing is written."""

from __future__ import annotations

import json
from typing import Any

from tests.helpers.accounts import email, sign_up, token_for
from tests.helpers.client import Hub

ODD = [
    "",
    " ",
    "x" * 300,
    "ünïcødé",
    "a@b",
    "@example.com",
    "a" * 250 + "@example.com",
    "😀" * 10,
    "hubca_" + "x" * 300,
    "hubos_" + "0" * 64,
    "line\nbreak",
    "tab\there",
    "nul\x00byte",
    "'; DROP TABLE customers; --",
]


def _no_internal(res: dict[str, Any]) -> None:
    text = json.dumps(res)
    assert "Internal error" not in text and "INTERNAL" not in text, res
    for e in res.get("errors", []):
        assert e.get("extensions", {}).get("code"), res


async def test_odd_inputs_never_fail_internally(hub: Hub) -> None:
    known = email()
    await sign_up(hub, known)
    token = await token_for(hub, known)
    customers = await hub.scalar("SELECT COUNT(*) FROM customers")
    docs = [
        (
            "mutation($v: String!) { customerCreate(input: {email: $v, password: $v}) "
            "{ customer { id } userErrors { field code } } }",
            None,
        ),
        (
            "mutation($v: String!) { customerAccessTokenCreate(input: {email: $v, password: $v}) "
            "{ customerAccessToken { accessToken } userErrors { field code } } }",
            None,
        ),
        (
            "mutation($v: String!) { customerAccessTokenRenew(customerAccessToken: $v) "
            "{ customerAccessToken { accessToken } userErrors { code } } }",
            None,
        ),
        (
            "mutation($v: String!) { customerAccessTokenDelete(customerAccessToken: $v) "
            "{ deletedAccessToken userErrors { code } } }",
            None,
        ),
        (
            "mutation($v: String!) { customerRecover(email: $v) { userErrors { field code } } }",
            None,
        ),
        (
            "mutation($v: String!) { customerReset(id: $v, input: {resetToken: $v, password: $v}) "
            "{ customer { id } userErrors { field code } } }",
            None,
        ),
        (
            "mutation($v: String!) { customerActivate(id: $v, input: {activationToken: $v}) "
            "{ customer { id } userErrors { field code } } }",
            None,
        ),
        ("query($v: String!) { orderByToken(token: $v) { id } }", None),
        (
            "mutation($v: String!) { customerUpdate(customer: {email: $v, firstName: $v, "
            "phone: $v, password: $v}) { customer { id } userErrors { field code } } }",
            token,
        ),
        (
            "mutation($v: String!) { customerAddressCreate(address: {address1: $v, city: $v, "
            "countryCode: $v}) { customerAddress { id } userErrors { field code } } }",
            token,
        ),
        (
            "mutation($v: ID!) { customerAddressDelete(id: $v) { userErrors { field code } } }",
            token,
        ),
    ]
    for doc, who in docs:
        for value in ODD:
            resp = await hub.client.post(
                "/graphql",
                json={"query": doc, "variables": {"v": value}},
                headers={"Authorization": f"Bearer {who}"} if who else {},
            )
            assert resp.status_code in (200, 400), (doc, value, resp.text)
            _no_internal(resp.json())
    # The odd sign-ups wrote nothing (no value is both a valid email and a password).
    assert await hub.scalar("SELECT COUNT(*) FROM customers") == customers
    assert (await hub.gql("{ customer { email } }", token=token))["data"]["customer"][
        "email"
    ] == known
