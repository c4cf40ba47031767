"""Customer accounts over GraphQL, on SQLite and PostgreSQL: sign-up, sign-in, renew,
sign-out, recovery and reset, activation of a staff-made customer, the signed-in
customer's profile and addresses. Tokens are stored hashed and expire; reset and
activation tokens work once and arrive only through the mailer hook."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from tests.helpers.accounts import (
    ACTIVATE,
    ME,
    PASSWORD,
    RECOVER,
    RESET,
    activation,
    email,
    error_codes,
    mailer,
    reset_mail,
    run,
    sign_in,
    sign_up,
    status_with,
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
CREATE = """mutation($i: CustomerCreateInput!) { customerCreate(input: $i) { customer { id }
  userErrors { field code } } }"""
STAFF_CREATE = """mutation($i: CustomerInput!) { staffCustomerCreate(input: $i) {
  customer { id accountState } } }"""
INVITE = "mutation($id: ID!) { customerInvite(id: $id) { userErrors { code } } }"
ADDRESS_CREATE = """mutation($a: MailingAddressInput!) { customerAddressCreate(address: $a) {
  customerAddress { id isDefault city countryCode } userErrors { field code } } }"""
ADDRESS_UPDATE = """mutation($id: ID!, $a: MailingAddressInput!) {
  customerAddressUpdate(id: $id, address: $a) {
    customerAddress { id city } userErrors { code } } }"""
ADDRESS_DELETE = """mutation($id: ID!) { customerAddressDelete(id: $id) {
  deletedCustomerAddressId userErrors { code } } }"""
DEFAULT = """mutation($id: ID!) { customerDefaultAddressUpdate(addressId: $id) {
  customer { defaultAddress { id } } userErrors { code } } }"""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def tokens_with(hub: Hub, value: str) -> int:
    return int(
        await hub.scalar("SELECT COUNT(*) FROM customer_tokens WHERE token_hash = :h", h=value)
    )


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
    assert await tokens_with(hub, digest(token)) == 1
    assert await tokens_with(hub, token) == 0

    me = (await hub.gql(ME, token=token))["data"]["customer"]
    assert me["id"] == created["id"] and me["firstName"] == "Ada"
    (consent,) = me["marketingConsents"]
    assert consent["topic"] == "EMAIL" and consent["granted"] is True
    assert consent["source"] == "storefront" and consent["recordedAt"]
    assert me["orders"]["nodes"] == []

    renewed = await run(hub, RENEW, {"t": token})
    new = renewed["customerAccessToken"]["accessToken"]
    assert renewed["userErrors"] == [] and new != token
    # The old token ended with the renewal: refused at the edge.
    assert await status_with(hub, token) == 401
    assert (await hub.gql(ME, token=new))["data"]["customer"]["id"] == created["id"]

    out = await run(hub, SIGN_OUT, {"t": new})
    assert out == {"deletedAccessToken": new, "userErrors": []}
    assert await status_with(hub, new) == 401
    again = await run(hub, SIGN_OUT, {"t": new})
    assert again["deletedAccessToken"] is None
    assert error_codes(again) == ["TOKEN_INVALID"]


async def test_wrong_password_and_unknown_email_answer_alike(hub: Hub) -> None:
    address = email()
    await sign_up(hub, address)
    wrong = await sign_in(hub, address, "not the password")
    unknown = await sign_in(hub, email(), PASSWORD)
    error = {
        "field": ["email"],
        "message": "unidentified customer",
        "code": "UNIDENTIFIED_CUSTOMER",
        "retryAfter": None,
    }
    assert wrong == unknown == {"customerAccessToken": None, "userErrors": [error]}
    taken = await run(hub, CREATE, {"i": {"email": address, "password": PASSWORD}})
    assert taken == {
        "customer": None,
        "userErrors": [{"field": ["email"], "code": "TAKEN"}],
    }
    short = await run(hub, CREATE, {"i": {"email": email(), "password": "short"}})
    assert short["userErrors"] == [{"field": ["password"], "code": "TOO_SHORT"}]


async def test_recover_and_reset_once(hub: Hub) -> None:
    address = email()
    created = await sign_up(hub, address)
    old_token = await token_for(hub, address)
    known = await run(hub, RECOVER, {"email": address})
    unknown = await run(hub, RECOVER, {"email": email()})
    assert known == unknown == {"userErrors": []}
    msg = await reset_mail(hub, address)
    assert msg.data["customerId"] == created["id"]
    token = msg.data["token"]
    # Stored hashed only; never in an answer.
    assert await tokens_with(hub, digest(token)) == 1

    def reset(token: str, password: str) -> dict:
        return {"id": created["id"], "input": {"resetToken": token, "password": password}}

    bad = await run(hub, RESET, reset("nope", "new password 1"))
    assert error_codes(bad) == ["TOKEN_INVALID"]
    ok = await run(hub, RESET, reset(token, "new password 1"))
    assert ok["userErrors"] == [] and ok["customer"]["emailVerified"] is True
    assert ok["customerAccessToken"]["accessToken"].startswith("hubca_")
    # Used once.
    assert error_codes(await run(hub, RESET, reset(token, "another pass 2"))) == ["TOKEN_INVALID"]
    # A new password ended the old sessions; the new password signs in, the old not.
    assert await status_with(hub, old_token) == 401
    assert (await sign_in(hub, address, PASSWORD))["customerAccessToken"] is None
    assert (await sign_in(hub, address, "new password 1"))["userErrors"] == []


async def test_expired_reset_token_is_refused(hub: Hub) -> None:
    address = email()
    created = await sign_up(hub, address)
    await hub.gql(RECOVER, {"email": address})
    token = (await reset_mail(hub, address)).data["token"]
    async with hub.db.transaction() as conn:
        await conn.execute(
            text("UPDATE customer_tokens SET expires_at = :t WHERE token_hash = :h"),
            {"t": datetime.now(UTC) - timedelta(seconds=1), "h": digest(token)},
        )
    variables = {"id": created["id"], "input": {"resetToken": token, "password": "new pass 1"}}
    assert error_codes(await run(hub, RESET, variables)) == ["TOKEN_INVALID"]


async def test_staff_made_customer_activates(hub: Hub) -> None:
    address = email()
    res = await hub.admin(STAFF_CREATE, {"i": {"email": address, "firstName": "Grace"}})
    customer = res["data"]["staffCustomerCreate"]["customer"]
    assert customer["accountState"] == "NONE"
    # No password yet: sign-in is refused like any wrong password.
    assert error_codes(await sign_in(hub, address)) == ["UNIDENTIFIED_CUSTOMER"]
    # Only staff send invitations.
    denied = await hub.gql(INVITE, {"id": customer["id"]}, token=hub.storefront_token)
    assert denied["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
    assert (await run(hub, INVITE, {"id": customer["id"]}, hub.admin_token))["userErrors"] == []
    token = (await activation(hub, address)).data["token"]
    no_pw = await run(hub, ACTIVATE, {"id": customer["id"], "input": {"activationToken": token}})
    assert error_codes(no_pw) == ["BLANK"]
    variables = {"id": customer["id"], "input": {"activationToken": token, "password": PASSWORD}}
    done = await run(hub, ACTIVATE, variables)
    assert done["userErrors"] == []
    assert done["customer"]["accountState"] == "ENABLED" and done["customer"]["emailVerified"]
    assert (await sign_in(hub, address))["userErrors"] == []
    again = await run(hub, INVITE, {"id": customer["id"]}, hub.admin_token)
    assert error_codes(again) == ["ALREADY_ENABLED"]


async def test_customer_update_and_addresses(hub: Hub) -> None:
    cid, _, token = await verified_customer(hub)
    change = {"firstName": "Lin", "phone": "+1 555 0100", "acceptsMarketing": False}
    res = await run(hub, UPDATE, {"c": change}, token)
    assert res["userErrors"] == [] and res["customer"]["firstName"] == "Lin"
    assert res["customer"]["acceptsMarketing"] is False
    assert res["customerAccessToken"] is None
    anon = await hub.gql(UPDATE, {"c": {"firstName": "X"}})
    assert anon["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"

    home = {"address1": "1 Main St", "city": "Newark", "countryCode": "us"}
    first = await run(hub, ADDRESS_CREATE, {"a": home}, token)
    assert first["userErrors"] == [] and first["customerAddress"]["isDefault"] is True
    assert first["customerAddress"]["countryCode"] == "US"
    work = {"address1": "2 Side St", "city": "Boston", "countryCode": "US"}
    second = await run(hub, ADDRESS_CREATE, {"a": work}, token)
    assert second["customerAddress"]["isDefault"] is False
    bad = await run(hub, ADDRESS_CREATE, {"a": {"city": "X", "countryCode": "ZZZ"}}, token)
    assert bad == {
        "customerAddress": None,
        "userErrors": [{"field": ["address", "countryCode"], "code": "INVALID"}],
    }

    sid = second["customerAddress"]["id"]
    moved = await run(hub, DEFAULT, {"id": sid}, token)
    assert moved["customer"]["defaultAddress"]["id"] == sid
    change_city = {"id": sid, "a": {"city": "Cambridge", "countryCode": "US"}}
    changed = await run(hub, ADDRESS_UPDATE, change_city, token)
    assert changed["customerAddress"]["city"] == "Cambridge"
    gone = await run(hub, ADDRESS_DELETE, {"id": sid}, token)
    assert gone == {"deletedCustomerAddressId": sid, "userErrors": []}
    me = (await hub.gql(ME, token=token))["data"]["customer"]
    assert [a["id"] for a in me["addresses"]] == [first["customerAddress"]["id"]]
    assert me["defaultAddress"]["id"] == first["customerAddress"]["id"]

    # A new password: the payload carries a new token, the old one ends.
    pw = await run(hub, UPDATE, {"c": {"password": "brand new secret"}}, token)
    assert pw["userErrors"] == [] and pw["customerAccessToken"]["accessToken"]
    assert await status_with(hub, token) == 401
    # A new email must be verified again.
    new_email = email()
    new_token = pw["customerAccessToken"]["accessToken"]
    em = await run(hub, UPDATE, {"c": {"email": new_email}}, new_token)
    assert em["customer"]["email"] == new_email and em["customer"]["emailVerified"] is False
    assert (await activation(hub, new_email)).data["customerId"] == cid
    assert len(mailer(hub).find(new_email, "customer.activation")) == 1
