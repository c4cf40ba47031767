"""Staff on a served hub (``hub serve``), on SQLite and PostgreSQL: an installation
bootstraps its first staff user with ``hub staff create --owner`` (every permission),
who signs in and makes a store clerk's role and user over GraphQL; ``hub apikey create
--staff-user`` binds a key to the clerk. The clerk's websocket, opened with its staff
access token, receives stock changes at its store only and is closed with 4403 when the
token is signed out."""

from __future__ import annotations

import asyncio
import subprocess
import uuid

import pytest
import websockets

from hub.auth import PERMISSIONS
from tests.helpers.processes import HUB, hub_exit, hub_run
from tests.helpers.subscriptions import (
    INVENTORY_CHANGED,
    Deployment,
    adjust,
    bearer,
    gql,
    make_location,
    make_variant,
    served_fixture,
    transport_ws,
    wait_subscribers,
)

served = served_fixture("staff")

SIGN_IN = """mutation($e: String!, $p: String!) { staffAccessTokenCreate(email: $e, password: $p) {
  staffAccessToken { accessToken } userErrors { code } } }"""
SIGN_OUT = """mutation($t: String!) { staffAccessTokenDelete(staffAccessToken: $t) {
  deletedAccessToken userErrors { code } } }"""
ME = "{ staffMe { user { email } permissions } }"
OWNER_PASSWORD = "owner password 1"


def _staff_create(d: Deployment, address: str, password: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HUB, "staff", "create", "--email", address, "--name", "Owner", "--owner",
         "--password-stdin"],
        env=d.env, input=password + "\n", capture_output=True, text=True, timeout=120,
    )  # fmt: skip


async def _token(d: Deployment, address: str, password: str) -> str:
    got = (await gql(d.a, SIGN_IN, {"e": address, "p": password}))["staffAccessTokenCreate"]
    assert got["userErrors"] == [], got
    token: str = got["staffAccessToken"]["accessToken"]
    return token


async def test_bootstrap_owner_clerk_and_a_socket_closed_on_sign_out(served: Deployment) -> None:
    owner = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    made = _staff_create(served, owner, OWNER_PASSWORD)
    assert made.returncode == 0, made.stderr
    assert "staff user" in made.stderr and owner in made.stderr
    again = _staff_create(served, owner, OWNER_PASSWORD)
    assert again.returncode == 1 and "exists" in again.stderr
    owner_token = await _token(served, owner, OWNER_PASSWORD)
    me = (await gql(served.a, ME, token=owner_token))["staffMe"]
    assert me == {"user": {"email": owner}, "permissions": sorted(PERMISSIONS)}

    store_a, _ = await make_location(served)
    store_b, _ = await make_location(served)
    _, variant, _ = await make_variant(served)
    role = await gql(
        served.a,
        """mutation($i: StaffRoleInput!) { staffRoleCreate(input: $i) {
        staffRole { id } userErrors { code } } }""",
        {"i": {"name": f"clerk-{uuid.uuid4().hex[:6]}", "permissions": ["inventory"],
               "locationIds": [store_a]}},
        owner_token,
    )  # fmt: skip
    clerk = f"clerk-{uuid.uuid4().hex[:8]}@example.com"
    user = await gql(
        served.a,
        """mutation($i: StaffUserCreateInput!) { staffUserCreate(input: $i) {
        staffUser { id } userErrors { code } } }""",
        {"i": {"email": clerk, "name": "Clerk", "password": "clerk password 1",
               "roleIds": [role["staffRoleCreate"]["staffRole"]["id"]]}},
        owner_token,
    )  # fmt: skip
    assert user["staffUserCreate"]["userErrors"] == []

    key = hub_run(["apikey", "create", "--scope", "storefront", "--staff-user", clerk], served.env)
    assert f"bound to staff user {clerk}" in key.stderr
    bound = (await gql(served.a, ME, token=key.stdout.strip()))["staffMe"]
    assert bound == {"user": {"email": clerk}, "permissions": ["inventory"]}
    unknown = hub_exit(
        ["apikey", "create", "--scope", "storefront", "--staff-user", "nobody@example.com"],
        served.env,
    )
    assert unknown.returncode == 1 and "no staff user" in unknown.stderr

    token = await _token(served, clerk, "clerk password 1")
    async with transport_ws(served.a.ws, bearer(token)) as client:
        await client.subscribe("1", INVENTORY_CHANGED, {"variantIds": [variant]})
        await wait_subscribers(served.a, 1)
        await adjust(served.a, served.admin_token, variant, store_b, 4)
        await client.nothing_for("1", 0.5)  # store B is not the clerk's
        await adjust(served.a, served.admin_token, variant, store_a, 2)
        got = (await client.next("1"))["inventoryChanged"]
        assert got["location"]["id"] == store_a and got["level"]["onHand"] == 2

        out = (await gql(served.a, SIGN_OUT, {"t": token}))["staffAccessTokenDelete"]
        assert out == {"deletedAccessToken": token, "userErrors": []}
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with asyncio.timeout(10):
                while True:
                    await client.ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
