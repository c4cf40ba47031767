"""Accounts meet merge and privacy, over GraphQL on SQLite and PostgreSQL:
``customerMerge`` moves the duplicate's saved addresses (one default: the kept one's)
and consent history (the consent in force stays ``acceptsMarketing``, merged as
either), ends the duplicate's tokens and refuses its sign-in with CUSTOMER_MERGED;
``customerDataExport`` holds the account, tokens, addresses and consents (never a
hash); ``customerErase`` deletes addresses, ends every token, drops the password and
records it, with orders and ledgers whole."""

from __future__ import annotations

import json
from typing import Any

from hub.demo import NEWARK
from hub.domain.inventory import verify
from tests.helpers.accounts import (
    ACTIVATE,
    ME,
    PASSWORD,
    RECOVER,
    RESET,
    activation,
    email,
    reset_mail,
    run,
    sign_in,
    sign_up,
    status_with,
)
from tests.helpers.carts import create, stocked_variant, uid
from tests.helpers.client import Hub

ADDRESS = """mutation($a: MailingAddressInput!) { customerAddressCreate(address: $a) {
  customerAddress { id } userErrors { code } } }"""
MERGE = """mutation($k: ID!, $m: ID!) { customerMerge(keepId: $k, mergeId: $m) {
  customer { id acceptsMarketing timeline { kind data } }
  mergedCustomerId userErrors { field code message } } }"""
EXPORT = """mutation($id: ID!) { customerDataExport(id: $id) { data userErrors { field code } } }"""
ERASE = """mutation($id: ID!) { customerErase(id: $id) {
  customer { id email timeline { kind data } } userErrors { field code } } }"""
ORDER = """query($id: ID!) { order(id: $id) { id email customerId totalPrice { amount }
  lineItems(first: 10) { nodes { sku quantity } } } }"""


async def _account(hub: Hub, marketing: bool) -> tuple[str, str, str]:
    """A signed-up, activated customer: (id, email, access token)."""
    address = email()
    customer = await sign_up(hub, address, acceptsMarketing=marketing)
    msg = await activation(hub, address)
    got = await run(
        hub, ACTIVATE, {"id": customer["id"], "input": {"activationToken": msg.data["token"]}}
    )
    assert got["userErrors"] == [], got
    return customer["id"], address, got["customerAccessToken"]["accessToken"]


async def _address(hub: Hub, token: str, city: str) -> str:
    made = await run(
        hub, ADDRESS, {"a": {"address1": "1 Main St", "city": city, "countryCode": "US"}}, token
    )
    assert made["userErrors"] == [], made
    return str(made["customerAddress"]["id"])


def _pk(gid: str) -> int:
    return int(gid.rsplit("/", 1)[1])


async def test_merge_moves_addresses_and_consents_and_ends_the_duplicate_sign_in(
    hub: Hub,
) -> None:
    keep_id, _, keep_token = await _account(hub, marketing=True)
    # The duplicate withdrew its consent after the kept profile gave its own.
    dup_id, dup_email, dup_token = await _account(hub, marketing=False)
    kept_home = await _address(hub, keep_token, f"Keepton-{uid()}")
    dup_home = await _address(hub, dup_token, f"Dupville-{uid()}")
    dup_work = await _address(hub, dup_token, f"Dupwork-{uid()}")
    assert await status_with(hub, dup_token) == 200

    first = await hub.admin(MERGE, {"k": keep_id, "m": dup_id})
    assert "errors" not in first, first
    got = first["data"]["customerMerge"]
    assert got["userErrors"] == [] and got["mergedCustomerId"] == dup_id
    assert got["customer"]["acceptsMarketing"] is True  # either consented
    (merged,) = got["customer"]["timeline"]
    moved = merged["data"]["moved"]
    assert (moved["addresses"], moved["consents"]) == (2, 1), moved
    assert moved["tokensEnded"] >= 1, moved

    me = (await hub.gql(ME, token=keep_token))["data"]["customer"]
    assert [a["id"] for a in me["addresses"]] == [kept_home, dup_home, dup_work]
    assert [a["id"] for a in me["addresses"] if a["isDefault"]] == [kept_home]
    assert me["defaultAddress"] == {"id": kept_home}
    # The consent in force (granted) is what the history's latest row says now.
    (mail_consent,) = [c for c in me["marketingConsents"] if c["topic"] == "EMAIL"]
    assert mail_consent["granted"] is True and mail_consent["source"] == "merge"
    history = await hub.rows(
        "SELECT granted, source FROM customer_consents WHERE customer_id = :c ORDER BY id",
        c=_pk(keep_id),
    )
    assert [(bool(g), s) for g, s in history] == [
        (True, "storefront"),
        (False, "storefront"),
        (True, "merge"),
    ]
    assert (
        await hub.scalar(
            "SELECT COUNT(*) FROM customer_addresses WHERE customer_id = :c", c=_pk(dup_id)
        )
        == 0
    )
    # The duplicate's token is dead; its email and password sign in to nothing.
    assert await status_with(hub, dup_token) == 401
    refused = await sign_in(hub, dup_email)
    assert refused["customerAccessToken"] is None
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [
        (["email"], "CUSTOMER_MERGED")
    ], refused
    wrong = await sign_in(hub, dup_email, "not the password at all")
    assert [e["code"] for e in wrong["userErrors"]] == ["UNIDENTIFIED_CUSTOMER"]
    assert (
        await hub.scalar(
            "SELECT COUNT(*) FROM customer_tokens WHERE customer_id = :c AND ended_at IS NULL",
            c=_pk(dup_id),
        )
        == 0
    )
    # A recovery for the duplicate's email sends nothing.
    assert (await run(hub, RECOVER, {"email": dup_email}))["userErrors"] == []
    await hub.app.state.hub.accounts.drain()
    assert (
        await hub.scalar(
            "SELECT COUNT(*) FROM customer_tokens WHERE customer_id = :c AND ended_at IS NULL",
            c=_pk(dup_id),
        )
        == 0
    )
    # Again: the same answer, nothing moves twice.
    again = await hub.admin(MERGE, {"k": keep_id, "m": dup_id})
    assert again == first
    me_again = (await hub.gql(ME, token=keep_token))["data"]["customer"]
    assert me_again == me


async def test_export_holds_the_account_and_erase_ends_it(hub: Hub) -> None:
    mia_id, mia_email, mia_token = await _account(hub, marketing=True)
    city = f"Privacyville-{uid()}"
    await _address(hub, mia_token, city)
    # A reset link is out (its token alive), and an order placed with the account.
    assert (await run(hub, RECOVER, {"email": mia_email}))["userErrors"] == []
    reset = await reset_mail(hub, mia_email)
    vid = await stocked_variant(hub, {NEWARK: 5}, price="12")
    cart = await create(
        hub,
        {"lines": [{"merchandiseId": vid}], "buyerIdentity": {"customerAccessToken": mia_token}},
    )
    done = await run(
        hub,
        """mutation($c: ID!, $k: String!) { checkoutComplete(cartId: $c, idempotencyKey: $k,
        payment: {provider: "cash", reference: "till"}) { order { id } userErrors { code } } }""",
        {"c": cart["cart"]["id"], "k": uid()},
        hub.admin_token,
    )
    assert done["userErrors"] == [], done
    order_id = done["order"]["id"]

    res = await hub.gql(EXPORT, {"id": mia_id}, token=mia_token)
    assert res["data"]["customerDataExport"]["userErrors"] == [], res
    data: dict[str, Any] = res["data"]["customerDataExport"]["data"]
    text = json.dumps(data)
    assert "hash" not in text and "$argon2" not in text and reset.data["token"] not in text
    assert mia_token not in text
    account = data["account"]
    assert account["state"] == "ENABLED" and account["has_password"] is True
    assert account["email_verified_at"] is not None
    kinds = {t["kind"] for t in account["tokens"]}
    assert {"access", "activation", "reset"} <= kinds, account["tokens"]
    assert all(t["created_at"] and t["expires_at"] for t in account["tokens"])
    (address,) = data["addresses"]
    assert address["address"]["city"] == city and address["is_default"] is True
    (consent,) = data["consents"]
    assert (consent["topic"], consent["granted"], consent["source"]) == (
        "EMAIL",
        True,
        "storefront",
    )
    assert consent["recorded_at"]
    assert [o["id"] for o in data["orders"]] == [_pk(order_id)]

    before = await hub.admin(ORDER, {"id": order_id})
    erased = await hub.admin(ERASE, {"id": mia_id})
    payload = erased["data"]["customerErase"]
    assert payload["userErrors"] == [], erased
    (event,) = [t for t in payload["customer"]["timeline"] if t["kind"] == "ERASED"]
    assert event["data"]["addresses"] == 1 and event["data"]["tokens"] >= 2, event
    assert event["data"]["consentsWithdrawn"] == 1
    assert city not in json.dumps(erased)
    pk = _pk(mia_id)
    assert (
        await hub.scalar("SELECT COUNT(*) FROM customer_addresses WHERE customer_id = :c", c=pk)
        == 0
    )
    assert (
        await hub.scalar(
            "SELECT COUNT(*) FROM customer_tokens WHERE customer_id = :c AND ended_at IS NULL",
            c=pk,
        )
        == 0
    )
    state = await hub.rows(
        "SELECT state, password_hash FROM customer_accounts WHERE customer_id = :c", c=pk
    )
    assert [tuple(r) for r in state] == [("DISABLED", None)]
    # Every token is dead: access, the reset link; the old email and password sign nobody in.
    assert await status_with(hub, mia_token) == 401
    used = await hub.gql(
        RESET, {"id": mia_id, "input": {"resetToken": reset.data["token"], "password": PASSWORD}}
    )
    assert [e["code"] for e in used["data"]["customerReset"]["userErrors"]] == ["TOKEN_INVALID"]
    assert [e["code"] for e in (await sign_in(hub, mia_email))["userErrors"]] == [
        "UNIDENTIFIED_CUSTOMER"
    ]
    # Erasing again changes nothing.
    assert await hub.admin(ERASE, {"id": mia_id}) == erased
    # The export after: no address, the consent withdrawn, the account disabled.
    after = (await hub.admin(EXPORT, {"id": mia_id}))["data"]["customerDataExport"]["data"]
    assert after["addresses"] == [] and after["account"]["state"] == "DISABLED"
    assert after["account"]["has_password"] is False
    assert [(c["granted"], c["source"]) for c in after["consents"]] == [
        (True, "storefront"),
        (False, "erasure"),
    ]
    # Orders and ledgers whole.
    order_after = await hub.admin(ORDER, {"id": order_id})
    assert order_after["data"]["order"]["email"] is None
    assert order_after["data"]["order"]["customerId"] == mia_id
    assert order_after["data"]["order"]["totalPrice"] == before["data"]["order"]["totalPrice"]
    assert order_after["data"]["order"]["lineItems"] == before["data"]["order"]["lineItems"]
    assert await verify(hub.db) == []
