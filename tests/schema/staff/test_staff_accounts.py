"""Staff users over GraphQL, on SQLite and PostgreSQL: sign-in with argon2id passwords
(the customers' hasher), staffMe, one answer for a wrong password, an unknown email or
a deactivated user; the sign-in limits of customers (per account, then THROTTLED even
for the right password); tokens stored hashed, signed out (refused at once, an open
socket on them closed with 4403) and ended by deactivation with the user's bound keys;
the staff admin API itself needs the staff permission."""

from __future__ import annotations

import asyncio

from hub.auth import (
    API_KEY,
    CREDENTIAL_CHECKS,
    STAFF_TOKEN,
    authenticate,
    token_digest,
)
from hub.db.database import Reader
from hub.sessions import CLOSE_FORBIDDEN, OpenSockets
from tests.helpers.client import Hub, served_again
from tests.helpers.staff import (
    ME,
    PASSWORD,
    SIGN_OUT,
    bound_key,
    denied,
    email,
    make_role,
    make_user,
    ok,
    sign_in,
    staff_token,
)

DEACTIVATE = """mutation($id: ID!) { staffUserDeactivate(id: $id) {
  staffUser { id active } userErrors { code } } }"""
USERS = """query($a: String) { staffUsers(first: 2, after: $a) {
  nodes { email roles { name } } pageInfo { hasNextPage endCursor } } }"""


async def _status(hub: Hub, token: str) -> int:
    resp = await hub.client.post(
        "/graphql", json={"query": ME}, headers={"Authorization": f"Bearer {token}"}
    )
    return resp.status_code


async def test_sign_in_me_and_one_answer_for_every_failure(hub: Hub) -> None:
    role = await make_role(hub, ["orders", "inventory"])
    user_id, address = await make_user(hub, [role])
    token = await staff_token(hub, address)
    assert token.startswith("hubst_")
    # Stored as its SHA-256 only.
    stored_tokens = "SELECT count(*) FROM staff_tokens WHERE token_hash = :h"
    assert await hub.scalar(stored_tokens, h=token_digest(token)) == 1
    stored = await hub.scalar("SELECT password_hash FROM staff_users WHERE email = :e", e=address)
    assert stored.startswith("$argon2id$") and PASSWORD not in stored

    me = (await hub.gql(ME, token=token))["data"]["staffMe"]
    assert me["user"]["id"] == user_id and me["user"]["email"] == address
    assert me["permissions"] == ["inventory", "orders"]
    # The admin key is no staff user; a storefront caller neither.
    assert (await hub.admin(ME))["data"]["staffMe"] is None
    assert (await hub.gql(ME))["data"]["staffMe"] is None

    for who, password in ((address, "wrong password"), (email(), PASSWORD)):
        got = await sign_in(hub, who, password)
        assert got["staffAccessToken"] is None
        assert [e["code"] for e in got["userErrors"]] == ["UNIDENTIFIED_STAFF"], got

    # Without the staff permission the admin API is refused, and nothing is made.
    before = await hub.scalar("SELECT count(*) FROM staff_users")
    res = await hub.gql(
        """mutation { staffUserCreate(input: {email: "x@example.com", name: "X"}) {
        staffUser { id } } }""",
        token=token,
    )
    assert "staff" in denied(res, "staffUserCreate")
    assert await hub.scalar("SELECT count(*) FROM staff_users") == before


async def test_users_page_and_bad_input(hub: Hub) -> None:
    role = await make_role(hub, ["catalog:read"])
    for _ in range(3):
        await make_user(hub, [role], password=None)
    first = (await hub.admin(USERS))["data"]["staffUsers"]
    assert len(first["nodes"]) == 2 and first["pageInfo"]["hasNextPage"] is True
    nxt = (await hub.admin(USERS, {"a": first["pageInfo"]["endCursor"]}))["data"]["staffUsers"]
    assert nxt["nodes"] and nxt["nodes"][0]["email"] not in {n["email"] for n in first["nodes"]}

    # Unknown permission, taken email, short password: userErrors, nothing written.
    before = await hub.scalar("SELECT count(*) FROM staff_roles")
    res = await hub.admin(
        """mutation { staffRoleCreate(input: {name: "bad", permissions: ["catalog:delete"]}) {
        staffRole { id } userErrors { field code } } }"""
    )
    assert res["data"]["staffRoleCreate"]["userErrors"] == [
        {"field": ["permissions"], "code": "UNKNOWN_PERMISSION"}
    ]
    assert await hub.scalar("SELECT count(*) FROM staff_roles") == before
    _, address = await make_user(hub, [role])
    for i, code in (
        ({"email": address, "name": "Again"}, "TAKEN"),
        ({"email": email(), "name": "Short", "password": "short"}, "TOO_SHORT"),
    ):
        got = await hub.admin(
            """mutation($i: StaffUserCreateInput!) { staffUserCreate(input: $i) {
            staffUser { id } userErrors { code } } }""",
            {"i": i},
        )
        assert got["data"]["staffUserCreate"]["userErrors"] == [{"code": code}], got


async def test_sign_in_is_throttled_like_customers(hub: Hub) -> None:
    role = await make_role(hub, ["orders"])
    _, address = await make_user(hub, [role])
    async with served_again(
        hub, rate_limit_sign_in_account="3/15m", rate_limit_sign_in_address="50/15m"
    ) as again:
        codes = []
        for i in range(3):
            got = await sign_in(again, address, f"wrong {i}")
            codes.append(got["userErrors"][0]["code"])
        assert codes == ["UNIDENTIFIED_STAFF"] * 3
        right = await sign_in(again, address)  # locked: even the right password
        assert right["staffAccessToken"] is None
        assert right["userErrors"][0]["code"] == "THROTTLED"
        assert right["userErrors"][0]["retryAfter"] > 0
        assert (
            await hub.scalar(
                "SELECT count(*) FROM staff_tokens t JOIN staff_users u ON u.id = t.user_id "
                "WHERE u.email = :e",
                e=address,
            )
            == 0
        )


async def _socket(hub: Hub, sockets: OpenSockets, token: str, kind: str) -> list[int]:
    reader = Reader(hub.db)
    try:
        principal = await authenticate(reader, token)
    finally:
        await reader.close()
    assert principal is not None and principal.kind == kind
    closed: list[int] = []

    async def close(code: int, reason: str) -> None:
        closed.append(code)

    sockets.add(principal, close)
    return closed


async def _closed(closes: list[int]) -> None:
    for _ in range(100):
        if closes:
            return
        await asyncio.sleep(0.02)


async def test_sign_out_and_deactivation_end_tokens_keys_and_sockets(hub: Hub) -> None:
    assert STAFF_TOKEN in CREDENTIAL_CHECKS
    role = await make_role(hub, ["orders"])
    user_id, address = await make_user(hub, [role])
    sockets = OpenSockets(hub.db, 1)
    signed_out = await staff_token(hub, address)
    other = await staff_token(hub, address)
    key = await bound_key(hub, address)
    closes = {
        signed_out: await _socket(hub, sockets, signed_out, STAFF_TOKEN),
        other: await _socket(hub, sockets, other, STAFF_TOKEN),
        key: await _socket(hub, sockets, key, API_KEY),
    }
    assert await _status(hub, key) == 200

    out = (await hub.gql(SIGN_OUT, {"t": signed_out}))["data"]["staffAccessTokenDelete"]
    assert out == {"deletedAccessToken": signed_out, "userErrors": []}
    await _closed(closes[signed_out])
    assert closes[signed_out] == [CLOSE_FORBIDDEN]
    assert await _status(hub, signed_out) == 401
    assert closes[other] == [] and closes[key] == []
    again = (await hub.gql(SIGN_OUT, {"t": signed_out}))["data"]["staffAccessTokenDelete"]
    assert again["deletedAccessToken"] is None and again["userErrors"][0]["code"] == "INVALID"

    got = await ok(hub, DEACTIVATE, {"id": user_id}, "staffUserDeactivate")
    assert got["staffUser"]["active"] is False
    await _closed(closes[other])
    await _closed(closes[key])
    assert closes[other] == [CLOSE_FORBIDDEN] and closes[key] == [CLOSE_FORBIDDEN]
    assert await _status(hub, other) == 401
    assert await _status(hub, key) == 401
    refused = await sign_in(hub, address)
    assert [e["code"] for e in refused["userErrors"]] == ["UNIDENTIFIED_STAFF"]
    await sockets.stop()
