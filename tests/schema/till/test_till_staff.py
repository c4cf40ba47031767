"""Tills and staff at a till, on SQLite and PostgreSQL, over GraphQL.

Tills are created and listed with the settings permission (bad input: userErrors with
codes, nothing written). A staff user's PIN (4-8 digits, argon2id, bound to locations)
signs in at a till: five wrong PINs in a row lock it (PIN_LOCKED, even with the right
PIN then); a PIN not valid at the till's location is refused. The till's token reaches
the till's location only and stops working when the till is deactivated."""

from __future__ import annotations

from tests.helpers.client import Hub
from tests.helpers.inventory import make_location
from tests.helpers.staff import ME, denied, uid
from tests.helpers.till import (
    OPEN,
    PIN,
    PIN_SET,
    TILL_CREATE,
    TILL_UPDATE,
    TILLS,
    admin_ok,
    codes,
    make_till,
    pk,
    sign_in,
    till_staff,
    till_token,
)


async def test_tills_are_created_listed_and_refused_bad_input(hub: Hub) -> None:
    till, code, location = await make_till(hub)
    listed = await hub.admin(TILLS, {"l": location})
    assert listed["data"]["tills"] == [{"id": till, "code": code, "name": "Till", "active": True}]
    before = await hub.scalar("SELECT COUNT(*) FROM tills")
    for i, want in (
        ({"locationId": location, "code": code, "name": "Again"}, "TAKEN"),
        ({"locationId": location, "code": "  ", "name": "Blank"}, "BLANK"),
        ({"locationId": location, "code": "has space", "name": "Bad"}, "INVALID"),
        ({"locationId": "gid://hub/Location/999999", "code": "X1", "name": "Nowhere"}, "NOT_FOUND"),
    ):
        res = await hub.admin(TILL_CREATE, {"i": i})
        assert codes(res["data"]["tillCreate"]) == [want], res
    assert await hub.scalar("SELECT COUNT(*) FROM tills") == before
    renamed = await admin_ok(hub, TILL_UPDATE, {"id": till, "i": {"name": "Front"}}, "tillUpdate")
    assert renamed["till"]["name"] == "Front"
    # The storefront may not create tills.
    res = await hub.gql(TILL_CREATE, {"i": {"locationId": location, "code": "Z", "name": "Z"}})
    assert "settings" in denied(res, "tillCreate")


async def test_pin_rules_and_own_pin(hub: Hub) -> None:
    till, _code, location = await make_till(hub)
    user, address = await till_staff(hub, [location])
    for bad in ("123", "123456789", "12a4", "١٢٣٤"):
        res = await hub.admin(PIN_SET, {"p": bad, "l": [location], "u": user})
        assert codes(res["data"]["staffPinSet"]) == ["PIN_INVALID"], (bad, res)
    res = await hub.admin(PIN_SET, {"p": "1234", "l": [], "u": user})
    assert codes(res["data"]["staffPinSet"]) == ["BLANK"]
    # The old PIN still stands after the refusals, and it is stored hashed.
    stored = await hub.scalar("SELECT pin_hash FROM staff_pins WHERE user_id = :u", u=pk(user))
    assert stored.startswith("$argon2id$") and PIN not in stored
    token = await till_token(hub, till, address)
    # At a till one can't set a PIN (not even one's own); without a sign-in, no one can.
    res = await hub.gql(PIN_SET, {"p": "2468", "l": [location]}, token=token)
    assert denied(res, "staffPinSet")
    res = await hub.gql(PIN_SET, {"p": "2468", "l": [location]})
    assert denied(res, "staffPinSet")


async def test_wrong_pins_lock_the_pin(hub: Hub) -> None:
    till, _code, location = await make_till(hub)
    _user, address = await till_staff(hub, [location])
    for _ in range(4):
        got = await sign_in(hub, till, address, "000000")
        assert codes(got) == ["PIN_REJECTED"] and got["staffAccessToken"] is None, got
    got = await sign_in(hub, till, address, "000000")
    assert codes(got) == ["PIN_LOCKED"], got
    # Locked: the right PIN is refused too, and no token was issued at all.
    got = await sign_in(hub, till, address)
    assert codes(got) == ["PIN_LOCKED"], got
    assert await hub.scalar("SELECT COUNT(*) FROM staff_tokens WHERE till_id = :t", t=pk(till)) == 0
    # An unknown email gets the same answer as a wrong PIN.
    got = await sign_in(hub, till, f"nobody-{uid()}@example.com")
    assert codes(got) == ["PIN_REJECTED"], got


async def test_a_right_pin_resets_the_count(hub: Hub) -> None:
    till, _code, location = await make_till(hub)
    user, address = await till_staff(hub, [location])
    for _ in range(3):
        assert codes(await sign_in(hub, till, address, "999999")) == ["PIN_REJECTED"]
    await till_token(hub, till, address)
    assert (
        await hub.scalar("SELECT failed_attempts FROM staff_pins WHERE user_id = :u", u=pk(user))
        == 0
    )


async def test_pin_only_at_its_locations(hub: Hub) -> None:
    till, _code, _location = await make_till(hub)
    elsewhere = await make_location(hub)
    _user, address = await till_staff(hub, [elsewhere])
    got = await sign_in(hub, till, address)
    assert codes(got) == ["PIN_REJECTED"] and got["staffAccessToken"] is None, got


async def test_till_token_reaches_its_location_only(hub: Hub) -> None:
    till, _code, location = await make_till(hub)
    other_till, _c, _other = await make_till(hub)
    # The user's role reaches every location; at the till, its token reaches one.
    _user, address = await till_staff(hub, [location])
    token = await till_token(hub, till, address)
    me = await hub.gql(ME, token=token)
    assert me["data"]["staffMe"]["user"]["email"] == address
    assert "settings" not in me["data"]["staffMe"]["permissions"]
    opened = await hub.gql(OPEN, {"t": till, "f": 0}, token=token)
    assert opened["data"]["tillSessionOpen"]["userErrors"] == [], opened
    res = await hub.gql(OPEN, {"t": other_till, "f": 0}, token=token)
    assert "location" in denied(res, "tillSessionOpen")
    assert (
        await hub.scalar("SELECT COUNT(*) FROM till_sessions WHERE till_id = :t", t=pk(other_till))
        == 0
    )
    # Settings are beyond a till token, though the user's role holds them.
    res = await hub.gql(TILLS, {"l": location}, token=token)
    assert denied(res, "tills")
    # Deactivating the till ends its tokens.
    await admin_ok(hub, TILL_UPDATE, {"id": till, "i": {"active": False}}, "tillUpdate")
    resp = await hub.client.post(
        "/graphql",
        json={"query": OPEN, "variables": {"t": till, "f": 0}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 401, resp.text
    assert resp.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    got = await sign_in(hub, till, address)
    assert codes(got) == ["TILL_INACTIVE"], got


async def test_role_restricted_elsewhere_gets_nothing_at_the_till(hub: Hub) -> None:
    till, _code, location = await make_till(hub)
    elsewhere = await make_location(hub)
    _user, address = await till_staff(hub, [location], role_locations=[pk(elsewhere)])
    token = await till_token(hub, till, address)
    res = await hub.gql(OPEN, {"t": till, "f": 0}, token=token)
    assert "location" in denied(res, "tillSessionOpen")
