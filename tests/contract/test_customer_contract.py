"""The contract's customer documents do what their comments say, on SQLite and
PostgreSQL: ``CustomerAccount.graphql`` (sign-up, sign-in, renew, sign-out, recover, a
guest's orderByToken) and ``CustomerProfile.graphql`` (the signed-in shopper's one
profile: orders from every channel, loyalty). The documents are read from the contract
folder, not copied."""

from __future__ import annotations

from tests.helpers.accounts import activation, email, guest_order
from tests.helpers.client import Hub, contract_operation

ACCOUNT = contract_operation("CustomerAccount")
PROFILE = contract_operation("CustomerProfile")


async def _op(hub: Hub, name: str, variables: dict, token: str | None = None) -> dict:
    document = PROFILE if name == "CustomerProfile" else ACCOUNT
    res = await hub.gql(document, variables, token=token, operation=name)
    assert "errors" not in res, res
    return next(iter(res["data"].values()))


async def test_customer_account_document(hub: Hub) -> None:
    address = email()
    creds = {"email": address, "password": "contract password"}
    made = await _op(hub, "CustomerSignUp", {"input": {**creds, "firstName": "Con"}})
    assert made["userErrors"] == [] and made["customer"]["email"] == address
    assert made["customer"]["firstName"] == "Con" and made["customer"]["acceptsMarketing"] is False
    wrong = await _op(hub, "CustomerSignIn", {"input": {**creds, "password": "nope nope"}})
    assert wrong["customerAccessToken"] is None
    assert [e["code"] for e in wrong["userErrors"]] == ["UNIDENTIFIED_CUSTOMER"]
    signed = await _op(hub, "CustomerSignIn", {"input": creds})
    token = signed["customerAccessToken"]["accessToken"]
    renewed = await _op(hub, "CustomerTokenRenew", {"customerAccessToken": token})
    new = renewed["customerAccessToken"]["accessToken"]
    assert new != token and renewed["userErrors"] == []
    out = await _op(hub, "CustomerSignOut", {"customerAccessToken": new})
    assert out == {"deletedAccessToken": new, "userErrors": []}
    for who in (address, email()):
        assert await _op(hub, "CustomerRecover", {"email": who}) == {"userErrors": []}
    assert (await activation(hub, address)).data["customerId"] == made["customer"]["id"]

    placed, _, _ = await guest_order(hub, email())
    shown = await _op(hub, "OrderByToken", {"token": placed["statusToken"]})
    assert shown["id"] == placed["order"]["id"] and shown["name"] == placed["order"]["name"]
    assert shown["lineItems"]["nodes"][0]["quantity"] == 1
    assert await _op(hub, "OrderByToken", {"token": "hubos_" + "f" * 64}) is None


async def test_customer_profile_document(hub: Hub) -> None:
    """Needs ``Customer.loyalty { tier points }`` (the loyalty part of issue 11)."""
    buyer = email()
    web, _, _ = await guest_order(hub, buyer, "web")
    eu, _, _ = await guest_order(hub, buyer, "eu")
    creds = {"email": buyer, "password": "contract password"}
    made = await _op(hub, "CustomerSignUp", {"input": creds})
    link = await activation(hub, buyer)
    res = await hub.gql(
        """mutation($id: ID!, $t: String!) { customerActivate(id: $id,
        input: {activationToken: $t}) { customerAccessToken { accessToken } } }""",
        {"id": made["customer"]["id"], "t": link.data["token"]},
    )
    token = res["data"]["customerActivate"]["customerAccessToken"]["accessToken"]
    me = await _op(hub, "CustomerProfile", {}, token)
    assert me["email"] == buyer
    assert [o["id"] for o in me["orders"]["nodes"]] == [eu["order"]["id"], web["order"]["id"]]
    assert [o["channel"]["handle"] for o in me["orders"]["nodes"]] == ["eu", "web"]
    assert me["loyalty"]["points"] >= 0
