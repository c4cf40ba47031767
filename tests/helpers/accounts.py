"""Customer accounts in tests: sign up, read the activation and reset links from the
hub's mailer (tokens never come back in API answers), sign in."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from hub.demo import NEWARK, ROTTERDAM
from hub.domain.accounts import ACTIVATION_MAIL, RESET_MAIL
from hub.emails import EmailMessage, MemoryMailer
from tests.helpers.carts import create, stocked_variant, uid
from tests.helpers.client import Hub

PASSWORD = "correct horse battery"

SIGN_UP = """mutation($input: CustomerCreateInput!) { customerCreate(input: $input) {
  customer { id email firstName lastName acceptsMarketing emailVerified accountState }
  userErrors { field message code retryAfter } } }"""
SIGN_IN = """mutation($input: CustomerAccessTokenCreateInput!) {
  customerAccessTokenCreate(input: $input) {
    customerAccessToken { accessToken expiresAt }
    userErrors { field message code retryAfter } } }"""
ACTIVATE = """mutation($id: ID!, $input: CustomerActivateInput!) {
  customerActivate(id: $id, input: $input) {
    customer { id emailVerified accountState } customerAccessToken { accessToken expiresAt }
    userErrors { field message code retryAfter } } }"""
RESET = """mutation($id: ID!, $input: CustomerResetInput!) {
  customerReset(id: $id, input: $input) {
    customer { id emailVerified } customerAccessToken { accessToken expiresAt }
    userErrors { field message code retryAfter } } }"""
RECOVER = """mutation($email: String!) { customerRecover(email: $email) {
  userErrors { field message code retryAfter } } }"""
ME = """query { customer { id email firstName lastName emailVerified acceptsMarketing
  marketingConsents { topic granted source recordedAt }
  addresses { id isDefault address1 city countryCode } defaultAddress { id }
  orders(first: 10) { nodes { id name status paymentStatus fulfillmentStatus
    channel { handle } lineItems(first: 10) { nodes { sku quantity } } } } } }"""


def email() -> str:
    return f"acct-{uuid.uuid4().hex[:12]}@example.com"


def mailer(hub: Hub) -> MemoryMailer:
    found = hub.app.state.hub.mailer
    assert isinstance(found, MemoryMailer)
    return found


async def mail(hub: Hub, to: str, template: str, after: int = 0) -> EmailMessage:
    """The latest ``template`` message to ``to`` (the ``after``-th or later)."""
    box = mailer(hub)
    async with asyncio.timeout(10):
        while True:
            found = box.find(to, template)
            if len(found) > after:
                return found[-1]
            await asyncio.sleep(0.02)


async def activation(hub: Hub, to: str, after: int = 0) -> EmailMessage:
    return await mail(hub, to, ACTIVATION_MAIL, after)


async def reset_mail(hub: Hub, to: str, after: int = 0) -> EmailMessage:
    return await mail(hub, to, RESET_MAIL, after)


async def sign_up(hub: Hub, address: str | None = None, **extra: Any) -> dict[str, Any]:
    address = address or email()
    res = await hub.gql(SIGN_UP, {"input": {"email": address, "password": PASSWORD, **extra}})
    assert "errors" not in res, res
    payload = res["data"]["customerCreate"]
    assert payload["userErrors"] == [], payload
    return payload["customer"]


async def sign_in(hub: Hub, address: str, password: str = PASSWORD) -> dict[str, Any]:
    res = await hub.gql(SIGN_IN, {"input": {"email": address, "password": password}})
    assert "errors" not in res, res
    return res["data"]["customerAccessTokenCreate"]


async def token_for(hub: Hub, address: str) -> str:
    got = await sign_in(hub, address)
    assert got["userErrors"] == [], got
    return str(got["customerAccessToken"]["accessToken"])


async def verified_customer(hub: Hub, address: str | None = None) -> tuple[str, str, str]:
    """A signed-up customer whose email is verified: (id, email, access token)."""
    address = address or email()
    customer = await sign_up(hub, address)
    msg = await activation(hub, address)
    variables = {"id": customer["id"], "input": {"activationToken": msg.data["token"]}}
    res = (await hub.gql(ACTIVATE, variables))["data"]["customerActivate"]
    assert res["userErrors"] == [], res
    return customer["id"], address, res["customerAccessToken"]["accessToken"]


async def run(
    hub: Hub, doc: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> Any:
    """The payload of a document's only root field (asserts no request error)."""
    res = await hub.gql(doc, variables or {}, token=token)
    assert "errors" not in res, res
    return next(iter(res["data"].values()))


async def status_with(hub: Hub, token: str) -> int:
    """The HTTP status of a request sending ``token`` as its bearer."""
    resp = await hub.client.post(
        "/graphql",
        json={"query": "{ customer { id } }"},
        headers={"Authorization": f"Bearer {token}"},
    )
    return resp.status_code


def error_codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


CHECKOUT = """mutation($c: ID!, $k: String!) { checkoutComplete(cartId: $c, idempotencyKey: $k,
  payment: {provider: "cash", reference: "till"}) {
  order { id name customerId } statusToken userErrors { field code } } }"""


async def guest_order(
    hub: Hub, buyer: str, channel: str = "web", key: str | None = None
) -> tuple[dict, str, str]:
    """A guest's order (a store sale at a till): (payload, cart id, idempotency key)."""
    if channel == "eu":
        vid = await stocked_variant(hub, {ROTTERDAM: 3})
        await hub.admin(
            """mutation($p: [VariantPriceInput!]!) { productVariantPricesSet(prices: $p) {
            userErrors { code } } }""",
            {"p": [{"variantId": vid, "channel": "eu", "amount": "12"}]},
        )
    else:
        vid = await stocked_variant(hub, {NEWARK: 3})
    headers = {"X-Hub-Channel": channel}
    cart = await create(
        hub,
        {"lines": [{"merchandiseId": vid}], "buyerIdentity": {"email": buyer}},
        headers=headers,
    )
    assert cart["userErrors"] == [], cart
    cid = cart["cart"]["id"]
    key = key or uid()
    res = await hub.admin(CHECKOUT, {"c": cid, "k": key}, headers=headers)
    out = res["data"]["checkoutComplete"]
    assert out["userErrors"] == [], res
    return out, cid, key
