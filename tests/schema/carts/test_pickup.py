"""Pickup stock in the cart, over GraphQL on SQLite and PostgreSQL: choosing a pickup
location whose stock does not cover a line warns (MERCHANDISE_NOT_AVAILABLE_AT_PICKUP_LOCATION)
naming the line and the nearest pickup locations that have it, nearest first from the
chosen one's coordinates; checkoutComplete's INSUFFICIENT_STOCK names the location; a
location that has the goods checks out from there; the statements of cart mutations
do not grow with the number of lines."""

from __future__ import annotations

from typing import Any

from hub.demo import BROOKLYN, NEWARK, SOHO
from tests.helpers.carts import create, restock, stocked_variant, uid
from tests.helpers.client import Hub
from tests.helpers.inventory import make_location

WARNINGS = """warnings { code message target locations { id name } }"""
DELIVERY = f"""mutation($c: ID!, $g: [CartDeliveryGroupInput!]!) {{
  cartDeliveryUpdate(cartId: $c, deliveryGroups: $g) {{
    cart {{ id lines(first: 50) {{ nodes {{ id }} }} {WARNINGS} }}
    userErrors {{ field code message }} {WARNINGS} }} }}"""
CART = f"""query($c: ID!) {{ cart(id: $c) {{ {WARNINGS} }} }}"""
CHECKOUT = """mutation($c: ID!, $k: String!) { checkoutComplete(cartId: $c, idempotencyKey: $k,
  payment: {provider: "cash", reference: "till-9"}) {
  order { id lineItems(first: 10) { nodes { sku locationIds } } }
  userErrors { field code message } } }"""
LOC = "gid://hub/Location/"
JERSEY_CITY = (40.7178, -74.0431)  # about 3.8 km from SoHo
PHILADELPHIA = (39.9526, -75.1652)  # about 130 km
BOSTON = (42.3601, -71.0589)  # about 300 km


async def pick_up(hub: Hub, cid: str, location: int | str, **kw: Any) -> dict[str, Any]:
    gid = location if isinstance(location, str) else f"{LOC}{location}"
    res = await hub.gql(DELIVERY, {"c": cid, "g": [{"pickupLocationId": gid}]}, **kw)
    assert "errors" not in res, res
    out = res["data"]["cartDeliveryUpdate"]
    assert out["userErrors"] == [], out
    return out


def pickup_warnings(cart: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        w for w in cart["warnings"] if w["code"] == "MERCHANDISE_NOT_AVAILABLE_AT_PICKUP_LOCATION"
    ]


async def test_a_pickup_location_without_the_goods_warns_and_names_the_nearest(hub: Hub) -> None:
    vid = await stocked_variant(hub, {SOHO: 1, BROOKLYN: 4, NEWARK: 6})
    cid = (await create(hub, {"lines": [{"merchandiseId": vid, "quantity": 2}]}))["cart"]["id"]
    out = await pick_up(hub, cid, SOHO)
    line = out["cart"]["lines"]["nodes"][0]["id"]
    (warning,) = pickup_warnings(out["cart"])
    assert warning["target"] == line
    assert [loc["id"] for loc in warning["locations"]] == [f"{LOC}{BROOKLYN}"]
    assert "SoHo Flagship" in warning["message"] and "Brooklyn Store" in warning["message"]
    assert "only 1 of" in warning["message"]
    # The payload's own warnings and a later read of the cart say the same.
    assert pickup_warnings(out) == [warning]
    cart = (await hub.gql(CART, {"c": cid}))["data"]["cart"]
    assert pickup_warnings(cart) == [warning]

    # checkoutComplete refuses it, naming the line and the location; nothing is taken.
    done = (await hub.admin(CHECKOUT, {"c": cid, "k": uid()}))["data"]["checkoutComplete"]
    assert [(e["code"], e["field"]) for e in done["userErrors"]] == [
        ("INSUFFICIENT_STOCK", ["lines", line])
    ]
    assert "SoHo Flagship" in done["userErrors"][0]["message"]
    assert f"{LOC}{SOHO}" in done["userErrors"][0]["message"]

    # Choosing the store that has the goods: no warning, and the order takes them there.
    out = await pick_up(hub, cid, BROOKLYN)
    assert pickup_warnings(out["cart"]) == []
    done = (await hub.admin(CHECKOUT, {"c": cid, "k": uid()}))["data"]["checkoutComplete"]
    assert done["userErrors"] == [], done
    assert done["order"]["lineItems"]["nodes"][0]["locationIds"] == [f"{LOC}{BROOKLYN}"]
    await restock(hub, vid)


async def test_nearest_pickup_locations_first_and_no_others_when_none_has_it(hub: Hub) -> None:
    stores = {
        name: await make_location(hub, pickup=True, lat=lat, lng=lng)
        for name, (lat, lng) in (
            ("jersey", JERSEY_CITY),
            ("philly", PHILADELPHIA),
            ("boston", BOSTON),
        )
    }
    pks = {name: int(gid.rsplit("/", 1)[1]) for name, gid in stores.items()}
    try:
        vid = await stocked_variant(
            hub,
            {BROOKLYN: 3, pks["jersey"]: 3, pks["philly"]: 5, pks["boston"]: 9},
        )
        cid = (await create(hub, {"lines": [{"merchandiseId": vid, "quantity": 3}]}))["cart"]["id"]
        (warning,) = pickup_warnings((await pick_up(hub, cid, SOHO))["cart"])
        # Nearest first from SoHo, three at most: Jersey City, Brooklyn, Philadelphia.
        assert [loc["id"] for loc in warning["locations"]] == [
            stores["jersey"],
            f"{LOC}{BROOKLYN}",
            stores["philly"],
        ]
        assert "only 0 of" in warning["message"] and "km away" in warning["message"]
        # A location holding fewer than the line is not offered: four of them now.
        cid4 = (await create(hub, {"lines": [{"merchandiseId": vid, "quantity": 4}]}))["cart"]["id"]
        (warning,) = pickup_warnings((await pick_up(hub, cid4, BROOKLYN))["cart"])
        assert [loc["id"] for loc in warning["locations"]] == [stores["philly"], stores["boston"]]
        # Nothing anywhere for pickup: the warning says to ship it, and lists none.
        far = await stocked_variant(hub, {NEWARK: 5})
        cid = (await create(hub, {"lines": [{"merchandiseId": far}]}))["cart"]["id"]
        (warning,) = pickup_warnings((await pick_up(hub, cid, SOHO))["cart"])
        assert warning["locations"] == [] and "ship it instead" in warning["message"]
        # Two lines of the same variant count together at the location.
        both = await create(
            hub,
            {
                "lines": [
                    {"merchandiseId": vid, "quantity": 2},
                    {
                        "merchandiseId": vid,
                        "quantity": 2,
                        "attributes": [{"key": "gift", "value": "yes"}],
                    },
                ]
            },
        )
        out = await pick_up(hub, both["cart"]["id"], stores["jersey"])
        lines = [n["id"] for n in out["cart"]["lines"]["nodes"]]
        assert [w["target"] for w in pickup_warnings(out["cart"])] == [lines[1]]
    finally:
        for gid in stores.values():
            res = await hub.admin(
                """mutation($id: ID!) { locationUpdate(id: $id, input: {active: false,
                pickupEnabled: false}) { userErrors { code } } }""",
                {"id": gid},
            )
            assert res["data"]["locationUpdate"]["userErrors"] == [], res


async def test_cart_mutation_statements_do_not_grow_with_lines(hub: Hub) -> None:
    """Every cart mutation, on a cart of 2 lines and of 8 (with a pickup group, and
    changing every line where the mutation takes lines), runs as many statements."""
    variants = [await stocked_variant(hub, {NEWARK: 40, SOHO: 1}) for _ in range(8)]

    async def counts(n: int) -> dict[str, int]:
        made = await create(hub, {"lines": [{"merchandiseId": v} for v in variants[:n]]})
        cid = made["cart"]["id"]
        lines = [ln["id"] for ln in made["cart"]["lines"]["nodes"]]
        calls: list[tuple[str, str, dict[str, Any]]] = [
            (
                "cartDeliveryUpdate",
                "$c: ID!, $x: [CartDeliveryGroupInput!]!",
                {"x": [{"pickupLocationId": f"{LOC}{SOHO}"}]},
            ),
            (
                "cartLinesAdd",
                "$c: ID!, $x: [CartLineInput!]!",
                {"x": [{"merchandiseId": v, "quantity": 1} for v in variants[:n]]},
            ),
            (
                "cartLinesUpdate",
                "$c: ID!, $x: [CartLineUpdateInput!]!",
                {
                    "x": [
                        {"id": ln, "quantity": 3, "attributes": [{"key": "k", "value": "v"}]}
                        for ln in lines
                    ]
                },
            ),
            ("cartNoteUpdate", "$c: ID!, $x: String", {"x": "note"}),
            ("cartDiscountCodesUpdate", "$c: ID!, $x: [String!]!", {"x": ["DEMO10"]}),
            (
                "cartBuyerIdentityUpdate",
                "$c: ID!, $x: CartBuyerIdentityInput!",
                {"x": {"email": "pickup@example.com"}},
            ),
            (
                "cartAttributesUpdate",
                "$c: ID!, $x: [AttributeInput!]!",
                {"x": [{"key": "a", "value": "b"}]},
            ),
            (
                "cartLinesUpdate",
                "$c: ID!, $x: [CartLineUpdateInput!]!",
                {"x": [{"id": ln, "quantity": 0} for ln in lines[1:]]},
            ),
        ]
        arg = {
            "cartDeliveryUpdate": "deliveryGroups",
            "cartLinesAdd": "lines",
            "cartLinesUpdate": "lines",
            "cartNoteUpdate": "note",
            "cartDiscountCodesUpdate": "discountCodes",
            "cartBuyerIdentityUpdate": "buyerIdentity",
            "cartAttributesUpdate": "attributes",
        }
        got: dict[str, int] = {}
        for i, (name, decl, variables) in enumerate(calls):
            q = (
                f"mutation({decl}) {{ {name}(cartId: $c, {arg[name]}: $x) {{ cart {{ id "
                f"totalQuantity lines(first: 50) {{ nodes {{ id quantity }} }} "
                f"{WARNINGS} }} userErrors {{ code message }} }} }}"
            )
            with hub.count_statements() as seen:
                res = await hub.gql(q, {"c": cid, **variables})
            assert "errors" not in res and res["data"][name]["userErrors"] == [], res
            got[f"{i}:{name}"] = len(seen)
        # What the batched writes wrote: every line's quantity and attributes, then
        # all lines but the first removed.
        res = await hub.gql(
            "query($c: ID!) { cart(id: $c) { lines(first: 50) { nodes { id quantity "
            "attributes { key value } } } } }",
            {"c": cid},
        )
        assert res["data"]["cart"]["lines"]["nodes"] == [
            {"id": lines[0], "quantity": 3, "attributes": [{"key": "k", "value": "v"}]}
        ]
        return got

    await counts(2)  # warm caches
    small, big = await counts(2), await counts(8)
    assert small == big, (small, big)
    for v in variants:
        await restock(hub, v)
