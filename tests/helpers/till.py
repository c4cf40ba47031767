"""Helpers of the till tests: tills, PINs, till sign-in and sessions over GraphQL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.helpers.client import Hub
from tests.helpers.inventory import make_location
from tests.helpers.staff import make_role, make_user, uid

ERRORS = "userErrors { field message code }"
TILL = "till { id locationId code name active }"
SESSION = """tillSession { id tillId status openingFloat expectedCash countedCash overShort
  openedById closedById totals { kind amount } }"""
TILL_CREATE = f"""mutation($i: TillCreateInput!) {{ tillCreate(input: $i) {{
  {TILL} {ERRORS} }} }}"""
TILL_UPDATE = f"""mutation($id: ID!, $i: TillUpdateInput!) {{ tillUpdate(id: $id, input: $i) {{
  {TILL} {ERRORS} }} }}"""
TILLS = "query($l: ID!) { tills(locationId: $l) { id code name active } }"
PIN_SET = f"""mutation($p: String!, $l: [ID!]!, $u: ID) {{
  staffPinSet(pin: $p, locationIds: $l, staffUserId: $u) {{ staffUserId {ERRORS} }} }}"""
SIGN_IN = """mutation($t: ID!, $p: String!, $e: String, $u: ID) {
  tillSignIn(tillId: $t, pin: $p, staffEmail: $e, staffUserId: $u) {
    staffAccessToken { accessToken expiresAt } till { id code }
    userErrors { field message code retryAfter } } }"""
OPEN = f"""mutation($t: ID!, $f: Int!) {{ tillSessionOpen(tillId: $t, float: $f) {{
  {SESSION} {ERRORS} }} }}"""
MOVE = f"""mutation($s: ID!, $k: TillCashMovementKind!, $a: Int!, $r: String) {{
  tillCashMovement(sessionId: $s, kind: $k, amount: $a, reason: $r) {{ {SESSION} {ERRORS} }} }}"""
CLOSE = f"""mutation($s: ID!, $c: Int!) {{ tillSessionClose(sessionId: $s, countedCash: $c) {{
  {SESSION} {ERRORS} }} }}"""
GET_SESSION = """query($id: ID!) { tillSession(id: $id) { id status expectedCash overShort } }"""
SESSIONS = """query($t: ID!, $n: Int, $a: String) { tillSessions(tillId: $t, first: $n, after: $a) {
  nodes { id status } pageInfo { hasNextPage endCursor } } }"""
PIN = "482913"


def pk(gid: str) -> int:
    return int(gid.rsplit("/", 1)[1])


def minor(amount: str) -> int:
    return int(Decimal(amount) * 100)


async def admin_ok(hub: Hub, query: str, variables: dict[str, Any], field: str) -> dict[str, Any]:
    res = await hub.admin(query, variables)
    assert "errors" not in res, res
    payload: dict[str, Any] = res["data"][field]
    assert payload["userErrors"] == [], payload
    return payload


async def make_till(hub: Hub, location: str | None = None) -> tuple[str, str, str]:
    """A new till at ``location`` (a new store by default): (till id, code, location id)."""
    location = location or await make_location(hub)
    code = f"T-{uid()}"
    got = await admin_ok(
        hub, TILL_CREATE, {"i": {"locationId": location, "code": code, "name": "Till"}},
        "tillCreate",
    )  # fmt: skip
    return got["till"]["id"], code, location


async def till_staff(
    hub: Hub, locations: list[str], *, role_locations: list[int] | None = None
) -> tuple[str, str]:
    """A staff user (orders, refunds, inventory, settings; restricted to
    ``role_locations`` if given) with the PIN :data:`PIN` at ``locations``: (id, email)."""
    role = await make_role(
        hub, ["orders", "refunds", "inventory", "settings"], locations=role_locations
    )
    user, address = await make_user(hub, [role])
    await admin_ok(hub, PIN_SET, {"p": PIN, "l": locations, "u": user}, "staffPinSet")
    return user, address


async def sign_in(hub: Hub, till: str, email: str, pin: str = PIN) -> dict[str, Any]:
    res = await hub.gql(SIGN_IN, {"t": till, "p": pin, "e": email})
    assert "errors" not in res, res
    payload: dict[str, Any] = res["data"]["tillSignIn"]
    return payload


async def till_token(hub: Hub, till: str, email: str) -> str:
    got = await sign_in(hub, till, email)
    assert got["userErrors"] == [], got
    token: str = got["staffAccessToken"]["accessToken"]
    return token


def codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]
