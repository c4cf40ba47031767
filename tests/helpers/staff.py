"""Helpers of the staff tests: roles and users made over GraphQL (with the admin key),
staff access tokens from staffAccessTokenCreate, and API keys bound to a staff user."""

from __future__ import annotations

import uuid
from typing import Any

from hub.auth import create_api_key
from tests.helpers.client import Hub

PASSWORD = "staff password 1"
ERRORS = "userErrors { field message code }"
ROLE_CREATE = f"""mutation($i: StaffRoleInput!) {{ staffRoleCreate(input: $i) {{
  staffRole {{ id name permissions channelIds locationIds }} {ERRORS} }} }}"""
USER_CREATE = f"""mutation($i: StaffUserCreateInput!) {{ staffUserCreate(input: $i) {{
  staffUser {{ id email name active roles {{ id name }} }} {ERRORS} }} }}"""
SIGN_IN = """mutation($e: String!, $p: String!) {
  staffAccessTokenCreate(email: $e, password: $p) { staffAccessToken { accessToken expiresAt }
    userErrors { field message code retryAfter } } }"""
SIGN_OUT = f"""mutation($t: String!) {{ staffAccessTokenDelete(staffAccessToken: $t) {{
  deletedAccessToken {ERRORS} }} }}"""
ME = "{ staffMe { user { id email roles { name } } permissions } }"


def uid() -> str:
    return uuid.uuid4().hex[:8]


def email() -> str:
    return f"staff-{uid()}@example.com"


async def ok(hub: Hub, query: str, variables: dict[str, Any], field: str) -> dict[str, Any]:
    """Run ``query`` with the admin key; its ``field`` payload (no userErrors)."""
    res = await hub.admin(query, variables)
    assert "errors" not in res, res
    payload: dict[str, Any] = res["data"][field]
    assert payload.get("userErrors", []) == [], payload
    return payload


async def make_role(
    hub: Hub,
    permissions: list[str],
    *,
    locations: list[int] | None = None,
    channels: list[str] | None = None,
) -> str:
    """A new role (its id)."""
    i: dict[str, Any] = {"name": f"role-{uid()}", "permissions": permissions}
    if locations is not None:
        i["locationIds"] = [f"gid://hub/Location/{pk}" for pk in locations]
    if channels is not None:
        i["channelIds"] = channels
    got = await ok(hub, ROLE_CREATE, {"i": i}, "staffRoleCreate")
    role_id: str = got["staffRole"]["id"]
    return role_id


async def make_user(
    hub: Hub, roles: list[str], *, address: str | None = None, password: str | None = PASSWORD
) -> tuple[str, str]:
    """A new staff user with ``roles``: (its id, its email)."""
    address = address or email()
    i: dict[str, Any] = {"email": address, "name": "Sam Staff", "roleIds": roles}
    if password is not None:
        i["password"] = password
    got = await ok(hub, USER_CREATE, {"i": i}, "staffUserCreate")
    return got["staffUser"]["id"], address


async def sign_in(hub: Hub, address: str, password: str = PASSWORD) -> dict[str, Any]:
    res = await hub.gql(SIGN_IN, {"e": address, "p": password})
    assert "errors" not in res, res
    payload: dict[str, Any] = res["data"]["staffAccessTokenCreate"]
    return payload


async def staff_token(hub: Hub, address: str, password: str = PASSWORD) -> str:
    got = await sign_in(hub, address, password)
    assert got["userErrors"] == [], got
    token: str = got["staffAccessToken"]["accessToken"]
    return token


async def bound_key(hub: Hub, address: str) -> str:
    """An API key bound to the staff user of ``address`` (it acts with its roles)."""
    _, token = await create_api_key(hub.db, f"bound-{uid()}", ["storefront"], staff_user=address)
    return token


async def key_with_roles(
    hub: Hub,
    permissions: list[str],
    *,
    locations: list[int] | None = None,
    channels: list[str] | None = None,
) -> str:
    """A key bound to a new staff user holding one new role of ``permissions``."""
    role = await make_role(hub, permissions, locations=locations, channels=channels)
    _, address = await make_user(hub, [role], password=None)
    return await bound_key(hub, address)


def denied(res: dict[str, Any], field: str) -> str:
    """The ACCESS_DENIED message of ``field``'s error (asserts it is one)."""
    errs = [e for e in res.get("errors", []) if e.get("path", [None])[0] == field]
    assert errs, res
    assert errs[0]["extensions"]["code"] == "ACCESS_DENIED", res
    assert (res.get("data") or {}).get(field) is None, res
    message: str = errs[0]["message"]
    return message
