"""Customer accounts over GraphQL, on SQLite and PostgreSQL: sign-up, sign-in, renew,
sign-out, recovery and reset, activation of a staff-made customer, the signed-in
customer's profile and addresses. Tokens are stored hashed and expire; reset and
activation tokens work once and arrive only through the mailer hook."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from tests.helpers.accounts import (
    ACTIVATE,
    ME,
    PASSWORD,
    RECOVER,
    RESET,
    SIGN_IN,
    activation,
    email,
    mailer,
    reset_mail,
    sign_in,
    sign_up,
    token_for,
    verified_customer,
)
from tests.helpers.client import Hub

RENEW = """mutation($t: String!) { customerAccessTokenRenew(customerAccessToken: $t) {
  customerAccessToken { accessToken expiresAt } userErrors { field code } } }"""
SIGN_OUT = """mutation($t: String!) { customerAccessTokenDelete(customerAccessToken: $t) {
  deletedAccessToken userErrors { field code } } }"""
UPDATE = """mutation($c: CustomerUpdateInput!) { customerUpdate(customer: $c) {
  customer { id email firstName phone acceptsMarketing emailVerified
    marketingConsents { topic granted source recordedAt } }
  customerAccessToken { accessToken } userErrors { field code message } } }"""


async def test_sign_up_sign_in_profile_renew_sign_out(hub: Hub) -> None:
    address = email()
    created = await sign_up(
        hub, address.upper(), firstName="Ada", lastName="Lovelace", acceptsMarketing=True
    )
    assert created["email"] == address
    assert created["acceptsMarketing"] is True
    assert created["emailVerified"] is False and created["accountState"] == "ENABLED"
    # The password is stored as an argon2id hash, never as given.
    stored = await hub.scalar(
        "SELECT password_hash FROM customer_accounts a JOIN customers c ON c.id = a.customer_id "
        "WHERE c.email = :e",
        e=address,
    )
    assert stored.startswith("$argon2id$") and PASSWORD not in stored

    got = await sign_in(hub, address)
    assert got["userErrors"] == []
    token = got["customerAccessToken"]["accessToken"]
    expires = datetime.fromisoformat(got["customerAccessToken"]["expiresAt"])
    assert timedelta(days=13) < expires - datetime.now(UTC) <= timedelta(days=14)
    # Only the token's SHA-256 is kept.
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert await hub.scalar("SELECT COUNT(*) FROM customer_tokens WHERE token_hash = :h", h=digest) == 1
    assert await hub.scalar("SELECT COUNT(*) FROM customer_tokens WHERE token_hash = :h", h=token) == 0

    me = (await hub.gql(ME, token=token))["data"]["customer"]
    assert me["id"] == created["id"] and me["firstName"] == "Ada"
    (consent,) = me["marketingConsents"]
    assert consent["topic"] == "EMAIL" and consent["granted"] is True
    assert consent["source"] == "storefront" and consent["recordedAt"]
    assert me["orders"]["nodes"] == []

    renewed = (await hub.gql(RENEW, {"t": token}))["data"]["customerAccessTokenRenew"]
    new = renewed["customerAccessToken"]["accessToken"]
    assert renewed["userErrors"] == [] and new != token
    # The old token ended with the renewal: refused at the edge.
    resp = await hub.client.post(
        "/graphql", json={"query": "{ customer { id } }"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 401
    assert (await hub.gql(ME, token=new))["data"]["customer"]["id"] == created["id"]

    out = (await hub.gql(SIGN_OUT, {"t": new}))["data"]["customerAccessTokenDelete"]
    assert out == {"deletedAccessToken": new, "userErrors": []}
    resp = await hub.client.post(
        "/graphql", json={"query": "{ customer { id } }"}, headers={"Authorization": f"Bearer {new}"}
    )
    assert resp.status_code == 401
    again = (await hub.gql(SIGN_OUT, {"t": new}))["data"]["customerAccessTokenDelete"]
    assert again["deletedAccessToken"] is None
    assert [e["code"] for e in again["userErrors"]] == ["TOKEN_INVALID"]


async def test_wrong_password_and_unknown_email_answer_alike(hub: Hub) -> None:
    address = email()
    await sign_up(hub, address)
    wrong = await sign_in(hub, address, "not the password")
    unknown = await sign_in(hub, email(), PASSWORD)
    assert wrong == unknown == {
        "customerAccessToken": None,
        "userErrors": [
            {"field": ["input", "email"], "message": "unidentified customer",
             "code": "UNIDENTIFIED_CUSTOMER", "retryAfter": None}
        ],
    }
    res = await hub.gql(
        "mutation($i: CustomerCreateInput!) { customerCreate(input: $i) { customer { id } "
        "userErrors { field code } } }",
        {"i": {"email": address, "password": PASSWORD}},
    )
    assert res["data"]["customerCreate"] == {
        "customer": None, "userErrors": [{"field": ["input", "email"], "code": "TAKEN"}]
    }
    short = await hub.gql(
        "mutation($i: CustomerCreateInput!) { customerCreate(input: $i) { customer { id } "
        "userErrors { field code } } }",
        {"i": {"email": email(), "password": "short"}},
    )
    assert short["data"]["customerCreate"]["userErrors"] == [
        {"field": ["input", "password"], "code": "TOO_SHORT"}
    ]


async def test_recover_and_reset_once(hub: Hub) -> None:
    address = email()
    created = await sign_up(hub, address)
    old_token = await token_for(hub, address)
    known = (await hub.gql(RECOVER, {"email": address}))["data"]["customerRecover"]
    unknown = (await hub.gql(RECOVER, {"email": email()}))["data"]["customerRecover"]
    assert known == unknown == {"userErrors": []}
    msg = await reset_mail(hub, address)
    assert msg.data["customerId"] == created["id"]
    token = msg.data["token"]
    # Stored hashed only; never in an answer.
    assert await hub.scalar(
        "SELECT COUNT(*) FROM customer_tokens WHERE kind = 'reset' AND token_hash = :h",
        h=hashlib.sha256(token.encode()).hexdigest(),
    ) == 1

    bad = await hub.gql(RESET, {"id": created["id"], "input": {"resetToken": "nope", "password": "new password 1"}})
    assert [e["code"] for e in bad["data"]["customerReset"]["userErrors"]] == ["TOKEN_INVALID"]
    ok = (await hub.gql(RESET, {"id": created["id"], "input": {"resetToken": token, "password": "new password 1"}}))["data"]["customerReset"]
    assert ok["userErrors"] == [] and ok["customer"]["emailVerified"] is True
    assert ok["customerAccessToken"]["accessToken"].startswith("hubca_")
    # Used once.
    twice = (await hub.gql(RESET, {"id": created["id"], "input": {"resetToken": token, "password": "another pass 2"}}))["data"]["customerReset"]
    assert [e["code"] for e in twice["userErrors"]] == ["TOKEN_INVALID"]
    # A new password ended the old sessions; the new password signs in, the old not.
    resp = await hub.client.post(
        "/graphql", json={"query": "{ customer { id } }"}, headers={"Authorization": f"Bearer {old_token}"}
    )
    assert resp.status_code == 401
    assert (await sign_in(hub, address, PASSWORD))["customerAccessToken"] is None
    assert (await sign_in(hub, address, "new password 1"))["userErrors"] == []


async def test_expired_reset_token_is_refused(hub: Hub) -> None:
    address = email()
    created = await sign_up(hub, address)
    await hub.gql(RECOVER, {"email": address})
    token = (await reset_mail(hub, address)).data["token"]
    async with hub.db.transaction() as conn:
        from sqlalchemy import text

        await conn.execute(
            text("UPDATE customer_tokens SET expires_at = :t WHERE token_hash = :h"),
            {"t": datetime.now(UTC) - timedelta(seconds=1), "h": hashlib.sha256(token.encode()).hexdigest()},
        )
    res = (await hub.gql(RESET, {"id": created["id"], "input": {"resetToken": token, "password": "new password 1"}}))["data"]["customerReset"]
    assert [e["code"] for e in res["userErrors"]] == ["TOKEN_INVALID"]


async def test_staff_made_customer_activates(hub: Hub) -> None:
    address = email()
    res = await hub.admin(
        """mutation($i: CustomerInput!) { staffCustomerCreate(input: $i) { customer { id accountState } } }""",
        {"i": {"email": address, "firstName": "Grace"}},
    )
    customer = res["data"]["staffCustomerCreate"]["customer"]
    assert customer["accountState"] == "NONE"
    # No password yet: sign-in is refused like any wrong password.
    assert (await sign_in(hub, address))["userErrors"][0]["code"] == "UNIDENTIFIED_CUSTOMER"
    # Only staff send invitations.
    denied = await hub.gql(
        "mutation($id: ID!) { customerInvite(id: $id) { userErrors { code } } }",
        {"id": customer["id"]}, token=hub.storefront_token,
    )
    assert denied["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
    sent = await hub.admin(
        "mutation($id: ID!) { customerInvite(id: $id) { userErrors { code } } }", {"id": customer["id"]}
    )
    assert sent["data"]["customerInvite"]["userErrors"] == []
    token = (await activation(hub, address)).data["token"]
    no_pw = (await hub.gql(ACTIVATE, {"id": customer["id"], "input": {"activationToken": token}}))["data"]["customerActivate"]
    assert [e["code"] for e in no_pw["userErrors"]] == ["BLANK"]
    done = (await hub.gql(ACTIVATE, {"id": customer["id"], "input": {"activationToken": token, "password": PASSWORD}}))["data"]["customerActivate"]
    assert done["userErrors"] == []
    assert done["customer"]["accountState"] == "ENABLED" and done["customer"]["emailVerified"]
    assert (await sign_in(hub, address))["userErrors"] == []
    again = await hub.admin(
        "mutation($id: ID!) { customerInvite(id: $id) { userErrors { code } } }", {"id": customer["id"]}
    )
    assert [e["code"] for e in again["data"]["customerInvite"]["userErrors"]] == ["ALREADY_ENABLED"]


async def test_customer_update_and_addresses(hub: Hub) -> None:
    cid, address, token = await verified_customer(hub)
    res = (await hub.gql(UPDATE, {"c": {"firstName": "Lin", "phone": "+1 555 0100", "acceptsMarketing": False}}, token=token))["data"]["customerUpdate"]
    assert res["userErrors"] == [] and res["customer"]["firstName"] == "Lin"
    assert res["customer"]["acceptsMarketing"] is False
    assert res["customerAccessToken"] is None
    anon = await hub.gql(UPDATE, {"c": {"firstName": "X"}})
    assert anon["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"

    create = """mutation($a: MailingAddressInput!) { customerAddressCreate(address: $a) {
      customerAddress { id isDefault city countryCode } userErrors { field code } } }"""
    first = (await hub.gql(create, {"a": {"address1": "1 Main St", "city": "Newark", "countryCode": "us"}}, token=token))["data"]["customerAddressCreate"]
    assert first["userErrors"] == [] and first["customerAddress"]["isDefault"] is True
    assert first["customerAddress"]["countryCode"] == "US"
    second = (await hub.gql(create, {"a": {"address1": "2 Side St", "city": "Boston", "countryCode": "US"}}, token=token))["data"]["customerAddressCreate"]
    assert second["customerAddress"]["isDefault"] is False
    bad = (await hub.gql(create, {"a": {"city": "Nowhere", "countryCode": "ZZZ"}}, token=token))["data"]["customerAddressCreate"]
    assert bad == {"customerAddress": None, "userErrors": [{"field": ["address", "countryCode"], "code": "INVALID"}]}

    default = """mutation($id: ID!) { customerDefaultAddressUpdate(addressId: $id) {
      customer { defaultAddress { id } } userErrors { code } } }"""
    sid = second["customerAddress"]["id"]
    moved = (await hub.gql(default, {"id": sid}, token=token))["data"]["customerDefaultAddressUpdate"]
    assert moved["customer"]["defaultAddress"]["id"] == sid
    upd = """mutation($id: ID!, $a: MailingAddressInput!) { customerAddressUpdate(id: $id, address: $a) {
      customerAddress { id city } userErrors { code } } }"""
    changed = (await hub.gql(upd, {"id": sid, "a": {"city": "Cambridge", "countryCode": "US"}}, token=token))["data"]["customerAddressUpdate"]
    assert changed["customerAddress"]["city"] == "Cambridge"
    delete = """mutation($id: ID!) { customerAddressDelete(id: $id) { deletedCustomerAddressId userErrors { code } } }"""
    gone = (await hub.gql(delete, {"id": sid}, token=token))["data"]["customerAddressDelete"]
    assert gone == {"deletedCustomerAddressId": sid, "userErrors": []}
    me = (await hub.gql(ME, token=token))["data"]["customer"]
    assert [a["id"] for a in me["addresses"]] == [first["customerAddress"]["id"]]
    assert me["defaultAddress"]["id"] == first["customerAddress"]["id"]

    # A new password: the payload carries a new token, the old one ends.
    pw = (await hub.gql(UPDATE, {"c": {"password": "brand new secret"}}, token=token))["data"]["customerUpdate"]
    assert pw["userErrors"] == [] and pw["customerAccessToken"]["accessToken"]
    resp = await hub.client.post(
        "/graphql", json={"query": "{ customer { id } }"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 401
    # A new email must be verified again.
    new_email = email()
    em = (await hub.gql(UPDATE, {"c": {"email": new_email}}, token=pw["customerAccessToken"]["accessToken"]))["data"]["customerUpdate"]
    assert em["customer"]["email"] == new_email and em["customer"]["emailVerified"] is False
    assert (await activation(hub, new_email)).data["customerId"] == cid
    assert len(mailer(hub).find(new_email, "customer.activation")) == 1
    assert SIGN_IN  # the sign-in document is shared with the helpers
