"""ProductDetail, PickupLocations and AdminInventory from shared/contract, on the demo
catalog, on SQLite and PostgreSQL."""

from __future__ import annotations

import math

from tests.helpers.client import Hub, contract_operation

DETAIL = contract_operation("ProductDetail")
PICKUP = contract_operation("PickupLocations")
ADMIN = contract_operation("AdminInventory")
SOHO = {"latitude": 40.7233, "longitude": -73.9985}
BERLIN = {"latitude": 52.52, "longitude": 13.405}


def km(a: dict, lat: float, lng: float) -> float:
    """Great-circle distance, written independently of the hub's."""
    r = 6371.0088
    p1, p2 = math.radians(a["latitude"]), math.radians(lat)
    h = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lng - a["longitude"]) / 2) ** 2
    )
    return 2 * r * math.asin(math.sqrt(h))


async def _locations(hub: Hub, channel: str) -> dict[str, dict]:
    res = await hub.gql(
        """{ locations(first: 50) { nodes { id name kind pickupEnabled
        address { city countryCode latitude longitude } } } }""",
        headers={"X-Hub-Channel": channel},
    )
    return {n["id"]: n for n in res["data"]["locations"]["nodes"]}


async def test_demo_has_locations_of_every_kind_in_two_countries(hub: Hub) -> None:
    web, eu = await _locations(hub, "web"), await _locations(hub, "eu")
    every = {**web, **eu}
    kinds = [n["kind"] for n in every.values()]
    assert kinds.count("WAREHOUSE") >= 2 and kinds.count("THIRD_PARTY") >= 1
    assert sum(1 for n in every.values() if n["pickupEnabled"]) >= 3
    assert len({n["address"]["countryCode"] for n in every.values()}) >= 2
    assert not set(web) & set(eu)  # each demo location sells to one channel


async def test_pickup_locations_nearest_first_in_the_channel(hub: Hub) -> None:
    for channel, point in (("web", SOHO), ("eu", BERLIN)):
        res = await hub.gql(PICKUP, {"near": point, "first": 5}, headers={"X-Hub-Channel": channel})
        nodes = res["data"]["locations"]["nodes"]
        assert nodes, channel
        assert all(n["pickupEnabled"] for n in nodes)
        channel_ids = set(await _locations(hub, channel))
        assert {n["id"] for n in nodes} <= channel_ids
        dists = [km(point, n["address"]["latitude"], n["address"]["longitude"]) for n in nodes]
        assert dists == sorted(dists)
    one = await hub.gql(PICKUP, {"near": SOHO, "first": 1})
    assert len(one["data"]["locations"]["nodes"]) == 1


async def test_product_detail_store_availability(hub: Hub) -> None:
    handle = await hub.scalar(
        "SELECT min(p.handle) FROM products p WHERE p.status = 'ACTIVE' AND NOT EXISTS "
        "(SELECT 1 FROM variants v WHERE v.product_id = p.id AND v.is_bundle)"
    )
    for channel, point, currency in (("web", SOHO, "USD"), ("eu", BERLIN, "EUR")):
        res = await hub.gql(DETAIL, {"handle": handle, "near": point, "channel": channel})
        assert "errors" not in res, res
        p = res["data"]["product"]
        assert p["title"] and p["options"] is not None
        locs = await _locations(hub, channel)
        for v in p["variants"]["nodes"]:
            assert v["price"]["currencyCode"] == currency
            sa = v["storeAvailability"]["nodes"]
            assert 0 < len(sa) <= 3
            assert [n["distanceKm"] for n in sa] == sorted(n["distanceKm"] for n in sa)
            for n in sa:
                loc = locs[n["location"]["id"]]
                want = km(point, loc["address"]["latitude"], loc["address"]["longitude"])
                assert abs(n["distanceKm"] - want) < 0.05
                assert n["available"] == (n["quantityAvailable"] > 0)
                ready = n["location"]["pickupEnabled"] and n["available"]
                assert (n["pickUpTime"] is not None) == ready
            everywhere = await hub.gql(
                """query($id: ID!) { node(id: $id) { ... on ProductVariant {
                    storeAvailability(first: 50) { nodes { quantityAvailable } } } } }""",
                {"id": v["id"]},
                headers={"X-Hub-Channel": channel},
            )
            per_loc = everywhere["data"]["node"]["storeAvailability"]["nodes"]
            assert v["quantityAvailable"] == sum(n["quantityAvailable"] for n in per_loc)


async def test_admin_inventory_levels_follow_the_vocabulary(hub: Hub) -> None:
    vid = await hub.scalar(
        "SELECT min(variant_id) FROM inventory_levels WHERE committed > 0 OR reserved > 0 "
        "OR quarantined > 0 OR safety_stock > 0"
    )
    res = await hub.admin(
        ADMIN, {"variantId": f"gid://hub/ProductVariant/{vid}"}, operation="InventoryLevels"
    )
    v = res["data"]["node"]
    assert v["sku"]
    levels = v["inventoryLevels"]["nodes"]
    assert levels
    for lv in levels:
        expect = (
            lv["onHand"] - lv["committed"] - lv["reserved"] - lv["quarantined"] - lv["safetyStock"]
        )
        assert lv["available"] == max(0, expect)
        assert (
            min(
                lv[k]
                for k in (
                    "onHand",
                    "committed",
                    "reserved",
                    "incoming",
                    "quarantined",
                    "safetyStock",
                    "reorderPoint",
                )
            )
            >= 0
        )
        assert lv["location"]["name"]
    for state in (
        "committed",
        "reserved",
        "incoming",
        "quarantined",
        "safety_stock",
        "reorder_point",
    ):
        assert await hub.scalar(f"SELECT count(*) FROM inventory_levels WHERE {state} > 0")
