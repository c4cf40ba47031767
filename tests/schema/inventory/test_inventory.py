"""Inventory over GraphQL, on SQLite and PostgreSQL: stock operations, the ledger,
no overselling, availability on the storefront."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from hub.domain.inventory import verify
from tests.helpers.app import hub_of
from tests.helpers.client import Hub, contract_operation
from tests.helpers.inventory import (
    PAYLOAD,
    _uid,
    make_location,
    make_variant,
    op,
)

ADJUST = contract_operation("AdminInventory")


async def stocked(hub: Hub, qty: int = 10, **loc) -> tuple[str, str]:
    vid, lid = await make_variant(hub), await make_location(hub, **loc)
    out = await op(
        hub,
        "inventoryAdjust",
        {"variantId": vid, "locationId": lid, "delta": qty, "reason": "received"},
    )
    assert out["userErrors"] == []
    return vid, lid


async def test_contract_adjust_and_levels(hub: Hub) -> None:
    vid, lid = await stocked(hub, 5)
    res = await hub.admin(
        ADJUST,
        {
            "input": {
                "variantId": vid,
                "locationId": lid,
                "delta": -2,
                "reason": "damaged",
                "idempotencyKey": _uid(),
            }
        },
        operation="InventoryAdjust",
    )
    assert res["data"]["inventoryAdjust"] == {
        "level": {"onHand": 3, "available": 3},
        "userErrors": [],
    }
    too_many = await hub.admin(
        ADJUST,
        {"input": {"variantId": vid, "locationId": lid, "delta": -4, "reason": "damaged"}},
        operation="InventoryAdjust",
    )
    out = too_many["data"]["inventoryAdjust"]
    assert out["level"] is None and out["userErrors"][0]["code"] == "NEGATIVE_STOCK"
    levels = await hub.admin(ADJUST, {"variantId": vid}, operation="InventoryLevels")
    nodes = levels["data"]["node"]["inventoryLevels"]["nodes"]
    assert len(nodes) == 1 and nodes[0]["onHand"] == 3 and nodes[0]["location"]["id"] == lid
    # Storefronts and storefront keys can't see or change stock levels.
    denied = await hub.gql(
        ADJUST,
        {"input": {"variantId": vid, "locationId": lid, "delta": 1, "reason": "received"}},
        token=hub.storefront_token,
        operation="InventoryAdjust",
    )
    assert denied["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
    hidden = await hub.gql(ADJUST, {"variantId": vid}, operation="InventoryLevels")
    assert hidden["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"


async def test_idempotency_key_applies_once(hub: Hub) -> None:
    vid, lid = await stocked(hub, 5)
    key = _uid()
    inp = {
        "variantId": vid,
        "locationId": lid,
        "delta": 3,
        "reason": "received",
        "idempotencyKey": key,
    }
    results = await asyncio.gather(*(op(hub, "inventoryAdjust", inp) for _ in range(5)))
    assert all(r["userErrors"] == [] for r in results)
    again = await op(hub, "inventoryAdjust", inp)
    assert again["level"]["onHand"] == 8
    moves = await hub.scalar(
        "SELECT count(*) FROM inventory_movements WHERE variant_id = :v",
        v=int(vid.rsplit("/", 1)[1]),
    )
    assert moves == 2  # the initial receipt and one adjustment


async def test_counted_quantity_compare_and_set(hub: Hub) -> None:
    vid, lid = await stocked(hub, 7)
    stale = await op(
        hub,
        "inventorySetOnHand",
        {"variantId": vid, "locationId": lid, "quantity": 4, "expectedQuantity": 6},
    )
    assert stale["userErrors"][0]["code"] == "STALE_QUANTITY"
    ok = await op(
        hub,
        "inventorySetOnHand",
        {"variantId": vid, "locationId": lid, "quantity": 4, "expectedQuantity": 7},
    )
    assert ok["level"]["onHand"] == 4
    # Two counters from the same old value: exactly one wins.
    both = await asyncio.gather(
        *(
            op(
                hub,
                "inventorySetOnHand",
                {"variantId": vid, "locationId": lid, "quantity": q, "expectedQuantity": 4},
            )
            for q in (9, 2)
        )
    )
    assert sorted(bool(b["userErrors"]) for b in both) == [False, True]


async def test_receive_transfer_quarantine_lots_and_serials(hub: Hub) -> None:
    vid, a = await stocked(hub, 10)
    b = await make_location(hub)
    exp = await op(
        hub,
        "inventoryAdjust",
        {
            "variantId": vid,
            "locationId": a,
            "delta": 4,
            "reason": "purchase_order",
            "state": "INCOMING",
        },
    )
    assert exp["level"]["incoming"] == 4
    got = await op(
        hub,
        "inventoryReceive",
        {
            "variantId": vid,
            "locationId": a,
            "quantity": 3,
            "lotNumber": "L-1",
            "expiresOn": "2027-03-01",
        },
    )
    assert (got["level"]["onHand"], got["level"]["incoming"]) == (13, 1)
    assert (
        await hub.scalar(
            "SELECT quantity FROM inventory_lots WHERE lot_number='L-1' AND variant_id = :v",
            v=int(vid.rsplit("/", 1)[1]),
        )
        == 3
    )

    t = await op(
        hub,
        "inventoryTransferCreate",
        {"fromLocationId": a, "toLocationId": b, "lines": [{"variantId": vid, "quantity": 5}]},
    )
    assert t["userErrors"] == [] and t["transferId"]
    assert [(lv["onHand"], lv["incoming"]) for lv in t["levels"]] == [(8, 1), (0, 5)]
    recv = await hub.admin(
        f"""mutation($id: ID!) {{ inventoryTransferReceive(id: $id)
        {PAYLOAD} }}""",
        {"id": t["transferId"]},
    )
    assert recv["data"]["inventoryTransferReceive"]["levels"][0] == {"onHand": 5, "incoming": 0}
    twice = await hub.admin(
        f"""mutation($id: ID!) {{ inventoryTransferReceive(id: $id)
        {PAYLOAD} }}""",
        {"id": t["transferId"]},
    )
    assert twice["data"]["inventoryTransferReceive"]["userErrors"][0]["code"] == "NOT_FOUND"
    short = await op(
        hub,
        "inventoryTransferCreate",
        {"fromLocationId": a, "toLocationId": b, "lines": [{"variantId": vid, "quantity": 99}]},
    )
    assert short["userErrors"][0]["code"] == "INSUFFICIENT_STOCK"

    q = await op(hub, "inventoryQuarantine", {"variantId": vid, "locationId": b, "quantity": 2})
    assert (q["level"]["onHand"], q["level"]["quarantined"], q["level"]["available"]) == (5, 2, 3)
    d = await op(
        hub,
        "inventoryQuarantine",
        {"variantId": vid, "locationId": b, "quantity": 1, "action": "DISPOSE"},
    )
    assert (d["level"]["onHand"], d["level"]["quarantined"]) == (4, 1)
    r = await op(
        hub,
        "inventoryQuarantine",
        {"variantId": vid, "locationId": b, "quantity": 1, "action": "RELEASE"},
    )
    assert (r["level"]["quarantined"], r["level"]["available"]) == (0, 4)

    s = await op(
        hub,
        "inventoryReceive",
        {"variantId": vid, "locationId": b, "quantity": 2, "serialNumbers": ["SN-1", "SN-2"]},
    )
    assert s["userErrors"] == []
    dup = await op(
        hub,
        "inventoryReceive",
        {"variantId": vid, "locationId": a, "quantity": 1, "serialNumbers": ["SN-1"]},
    )
    assert dup["userErrors"][0]["code"] == "INVALID_SERIAL"
    wrong = await op(
        hub,
        "inventorySell",
        {"variantId": vid, "locationId": a, "quantity": 1, "serialNumbers": ["SN-2"]},
    )
    assert wrong["userErrors"][0]["code"] == "INVALID_SERIAL"
    sold = await op(
        hub,
        "inventorySell",
        {"variantId": vid, "locationId": b, "quantity": 1, "serialNumbers": ["SN-2"]},
    )
    assert sold["userErrors"] == []
    back = await op(
        hub,
        "inventoryReturn",
        {
            "variantId": vid,
            "locationId": a,
            "quantity": 1,
            "serialNumbers": ["SN-2"],
            "restock": False,
        },
    )
    assert back["level"]["quarantined"] == 1
    assert await verify(hub.db) == []


async def test_reservations_commit_fulfil_and_expire(hub: Hub) -> None:
    vid, lid = await stocked(hub, 5)
    r = await op(
        hub,
        "inventoryReserve",
        {"variantId": vid, "locationId": lid, "quantity": 2, "reference": "cart:1"},
    )
    token = r["reservation"]["token"]
    assert r["level"]["reserved"] == 2 and r["level"]["available"] == 3
    assert datetime.fromisoformat(r["reservation"]["expiresAt"]) > datetime.now(UTC)
    c = await hub.admin(
        f"""mutation($t: String!) {{ inventoryReservationCommit(token: $t)
        {PAYLOAD} }}""",
        {"t": token},
    )
    lv = c["data"]["inventoryReservationCommit"]["level"]
    assert (lv["reserved"], lv["committed"], lv["onHand"]) == (0, 2, 5)
    f = await op(hub, "inventoryFulfill", {"variantId": vid, "locationId": lid, "quantity": 2})
    assert (f["level"]["committed"], f["level"]["onHand"]) == (0, 3)

    short = await op(
        hub,
        "inventoryReserve",
        {"variantId": vid, "locationId": lid, "quantity": 3, "ttlSeconds": 10},
    )
    assert short["userErrors"] == []
    # The background job releases it once it has expired.
    services = hub_of(hub.app)
    released = await services.inventory.release_expired(
        now=datetime.now(UTC) + timedelta(seconds=11)
    )
    assert released >= 1
    lv = await hub.admin(ADJUST, {"variantId": vid}, operation="InventoryLevels")
    level = lv["data"]["node"]["inventoryLevels"]["nodes"][0]
    assert (level["reserved"], level["available"]) == (0, 3)
    gone = await hub.admin(
        f"""mutation($t: String!) {{ inventoryReservationRelease(token: $t)
        {PAYLOAD} }}""",
        {"t": short["reservation"]["token"]},
    )
    assert gone["data"]["inventoryReservationRelease"]["userErrors"][0]["code"] == "NOT_FOUND"
    assert await verify(hub.db) == []


async def test_no_overselling_under_concurrency(hub: Hub) -> None:
    """50 buyers race for 10 units at one location, each request on its own connection."""
    vid, lid = await stocked(hub, 10)
    results = await asyncio.gather(
        *(
            op(
                hub,
                "inventoryReserve",
                {"variantId": vid, "locationId": lid, "quantity": 1, "reference": f"buyer:{i}"},
            )
            for i in range(50)
        )
    )
    won = [r for r in results if not r["userErrors"]]
    lost = [r for r in results if r["userErrors"]]
    assert len(won) == 10
    assert {r["userErrors"][0]["code"] for r in lost} == {"INSUFFICIENT_STOCK"}
    vpk = int(vid.rsplit("/", 1)[1])
    assert (
        await hub.scalar("SELECT reserved FROM inventory_levels WHERE variant_id = :v", v=vpk) == 10
    )
    assert (
        await hub.scalar(
            "SELECT count(*) FROM reservations WHERE variant_id = :v AND status = 'ACTIVE'", v=vpk
        )
        == 10
    )
    assert await verify(hub.db) == []


async def test_safety_stock_is_never_sold_online_but_a_store_may_use_it(hub: Hub) -> None:
    vid, lid = await stocked(hub, 5)
    t = await op(
        hub,
        "inventorySetThresholds",
        {"variantId": vid, "locationId": lid, "safetyStock": 3, "reorderPoint": 1},
    )
    assert t["level"]["available"] == 2
    online = await op(hub, "inventoryReserve", {"variantId": vid, "locationId": lid, "quantity": 3})
    assert online["userErrors"][0]["code"] == "INSUFFICIENT_STOCK"
    vpk = int(vid.rsplit("/", 1)[1])

    async def low_events() -> int:
        async with hub.db.read() as conn:
            from sqlalchemy import text

            rows = (
                (await conn.execute(text("SELECT payload FROM outbox WHERE topic = 'stock.low'")))
                .scalars()
                .all()
            )
        payloads = [json.loads(r) if isinstance(r, str) else r for r in rows]
        return sum(1 for p in payloads if p["variantId"] == vpk)

    assert await low_events() == 0  # available 2 > reorder point 1
    one = await op(hub, "inventorySell", {"variantId": vid, "locationId": lid, "quantity": 1})
    assert one["level"]["available"] == 1
    assert await low_events() == 1  # fell to the reorder point: LOW_STOCK
    store = await op(hub, "inventorySell", {"variantId": vid, "locationId": lid, "quantity": 3})
    assert store["level"]["onHand"] == 1
    assert await low_events() == 1  # already low: no second event


async def test_storefront_availability_by_location(hub: Hub) -> None:
    vid = await make_variant(hub)
    near = await make_location(hub, pickup=True, lat=40.72, lng=-74.00)
    far = await make_location(hub, pickup=True, lat=41.88, lng=-87.63)
    other = await make_location(hub, channels=["eu"], pickup=True, lat=40.73, lng=-74.01)
    for lid, qty in ((near, 2), (far, 7), (other, 50)):
        await op(
            hub,
            "inventoryAdjust",
            {"variantId": vid, "locationId": lid, "delta": qty, "reason": "received"},
        )
    q = """query($id: ID!, $near: GeoPointInput) { node(id: $id) { ... on ProductVariant {
        quantityAvailable availableForSale
        storeAvailability(first: 250, near: $near) { nodes { available quantityAvailable
          pickUpTime distanceKm location { id pickupEnabled } } } } } }"""
    res = await hub.gql(q, {"id": vid, "near": {"latitude": 40.71, "longitude": -74.0}})
    v = res["data"]["node"]
    assert v["quantityAvailable"] == 9 and v["availableForSale"] is True  # eu stock excluded
    ours = [n for n in v["storeAvailability"]["nodes"] if n["location"]["id"] in (near, far)]
    assert [n["location"]["id"] for n in ours] == [near, far]  # nearest first
    assert ours[0]["distanceKm"] < 2 < 1000 < ours[1]["distanceKm"] < 1300
    assert ours[0]["pickUpTime"] == "Usually ready in 2 hours"
    assert other not in {n["location"]["id"] for n in v["storeAvailability"]["nodes"]}
    dists = [n["distanceKm"] for n in v["storeAvailability"]["nodes"]]
    assert dists == sorted(dists)


async def test_untracked_variants_and_bundles(hub: Hub) -> None:
    digital = await make_variant(hub, tracked=False)
    q = """query($id: ID!) { node(id: $id) { ... on ProductVariant {
        quantityAvailable availableForSale isBundle } } }"""
    d = (await hub.gql(q, {"id": digital}))["data"]["node"]
    assert d == {"quantityAvailable": None, "availableForSale": True, "isBundle": False}
    lid = await make_location(hub)
    parts = [await make_variant(hub), await make_variant(hub)]
    for p, qty in zip(parts, (5, 9), strict=True):
        await op(
            hub,
            "inventoryAdjust",
            {"variantId": p, "locationId": lid, "delta": qty, "reason": "received"},
        )
    kit = await make_variant(hub)
    await hub.admin(
        """mutation($v: ID!, $c: [BundleComponentInput!]!) {
        productVariantBundleComponentsSet(variantId: $v, components: $c) {
            userErrors { code } } }""",
        {
            "v": kit,
            "c": [{"variantId": parts[0], "quantity": 1}, {"variantId": parts[1], "quantity": 3}],
        },
    )
    k = (await hub.gql(q, {"id": kit}))["data"]["node"]
    assert k == {"quantityAvailable": 3, "availableForSale": True, "isBundle": True}
    r = await op(hub, "inventoryReserve", {"variantId": kit, "locationId": lid, "quantity": 2})
    assert r["userErrors"] == [] and [lv["onHand"] for lv in r["levels"]] == [5, 9]
    k = (await hub.gql(q, {"id": kit}))["data"]["node"]
    assert k["quantityAvailable"] == 1
    over = await op(hub, "inventoryReserve", {"variantId": kit, "locationId": lid, "quantity": 2})
    assert over["userErrors"][0]["code"] == "INSUFFICIENT_STOCK"
    # All or nothing: the first component was not left half-reserved.
    levels = await hub.admin(ADJUST, {"variantId": parts[0]}, operation="InventoryLevels")
    assert levels["data"]["node"]["inventoryLevels"]["nodes"][0]["reserved"] == 2


async def test_movements_and_reorder_suggestions(hub: Hub) -> None:
    vid, lid = await stocked(hub, 40)
    await op(
        hub, "inventorySetThresholds", {"variantId": vid, "locationId": lid, "reorderPoint": 30}
    )
    for _ in range(3):
        await op(hub, "inventorySell", {"variantId": vid, "locationId": lid, "quantity": 5})
    res = await hub.admin(
        """query($v: ID!, $l: ID!) {
        inventoryMovements(first: 10, variantId: $v) { nodes { reason onHand location { id } } }
        reorderSuggestions(locationId: $l) { quantity dailyVelocity variant { id }
          level { available } } }""",
        {"v": vid, "l": lid},
    )
    moves = res["data"]["inventoryMovements"]["nodes"]
    assert [m["reason"] for m in moves][:3] == ["sold_in_store"] * 3
    assert moves[-1]["reason"] == "received" and moves[-1]["onHand"] == 40
    sugg = [s for s in res["data"]["reorderSuggestions"] if s["variant"]["id"] == vid]
    assert sugg and sugg[0]["quantity"] > 0 and sugg[0]["dailyVelocity"] == 0.5
    assert sugg[0]["level"]["available"] == 25


async def test_location_lifecycle(hub: Hub) -> None:
    fresh = await make_location(hub)
    bad = await hub.admin(
        """mutation($i: LocationInput!) { locationCreate(input: $i) {
        location { id } userErrors { field code } } }""",
        {
            "i": {
                "handle": "Bad Handle",
                "name": "x",
                "kind": "STORE",
                "countryCode": "usa",
                "latitude": 123.0,
                "channels": ["mars"],
            }
        },
    )
    fields = {e["field"][0] for e in bad["data"]["locationCreate"]["userErrors"]}
    assert fields == {"handle", "countryCode", "latitude"}
    upd = await hub.admin(
        """mutation($id: ID!) { locationUpdate(id: $id, input: {
        pickupEnabled: true, pickupLeadMinutes: 30, costPerShipment: "4.5", costCurrency: "EUR",
        channels: ["web", "eu"]}) { location { pickupEnabled pickUpTime
        costPerShipment { amount currencyCode } channels { handle } } userErrors { code } } }""",
        {"id": fresh},
    )
    loc = upd["data"]["locationUpdate"]["location"]
    assert loc["pickUpTime"] == "Usually ready in 30 minutes"
    assert loc["costPerShipment"] == {"amount": "4.50", "currencyCode": "EUR"}
    assert sorted(c["handle"] for c in loc["channels"]) == ["eu", "web"]
    _, used = await stocked(hub, 1)
    delete = """mutation($id: ID!) { locationDelete(id: $id) { deletedId userErrors { code } } }"""
    refused = await hub.admin(delete, {"id": used})
    assert refused["data"]["locationDelete"]["userErrors"][0]["code"] == "IN_USE"
    gone = await hub.admin(delete, {"id": fresh})
    assert gone["data"]["locationDelete"] == {"deletedId": fresh, "userErrors": []}
    again = await hub.admin(delete, {"id": fresh})
    assert again["data"]["locationDelete"]["userErrors"][0]["code"] == "NOT_FOUND"


async def test_inventory_input_errors(hub: Hub) -> None:
    vid, lid = await stocked(hub, 1)
    cases = [
        ({"variantId": "nope", "locationId": lid, "delta": 1, "reason": "x"}, "INVALID"),
        (
            {
                "variantId": vid,
                "locationId": "gid://hub/Location/99999999",
                "delta": 1,
                "reason": "received",
            },
            "NOT_FOUND",
        ),
        ({"variantId": vid, "locationId": lid, "delta": 1, "reason": "Bad Reason"}, "INVALID"),
        ({"variantId": vid, "locationId": lid, "delta": 0, "reason": "received"}, "INVALID"),
    ]
    for inp, code in cases:
        out = await op(hub, "inventoryAdjust", inp)
        assert out["userErrors"][0]["code"] == code, (inp, out)
    assert await verify(hub.db) == []


async def test_reservation_writes_the_same_books_and_events_on_every_database(hub: Hub) -> None:
    """On PostgreSQL a reservation is one statement; on SQLite the general path. Both
    must leave the same ledger line, reservation, events and idempotency behaviour."""
    vid, lid = await stocked(hub, 4)
    vpk, lpk = int(vid.rsplit("/", 1)[1]), int(lid.rsplit("/", 1)[1])
    await op(
        hub, "inventorySetThresholds", {"variantId": vid, "locationId": lid, "reorderPoint": 1}
    )
    key = _uid()
    inp = {
        "variantId": vid,
        "locationId": lid,
        "quantity": 3,
        "reference": "cart:abc",
        "idempotencyKey": key,
    }
    # The same key sent five times at once: one reservation, the same answer to all.
    results = await asyncio.gather(*(op(hub, "inventoryReserve", inp) for _ in range(5)))
    assert all(r["userErrors"] == [] for r in results), results
    assert {r["level"]["reserved"] for r in results} == {3}
    assert (
        await hub.scalar(
            "SELECT count(*) FROM reservations WHERE variant_id = :v AND status = 'ACTIVE'", v=vpk
        )
        == 1
    )
    moves = await hub.scalar(
        "SELECT count(*) FROM inventory_movements WHERE variant_id = :v AND d_reserved = 3 "
        "AND reason = 'reserved' AND reference = 'cart:abc'",
        v=vpk,
    )
    assert moves == 1
    async with hub.db.read() as conn:
        from sqlalchemy import text

        rows = (
            await conn.execute(text("SELECT topic, payload FROM outbox ORDER BY id DESC LIMIT 20"))
        ).all()
    payloads = [
        (t, json.loads(p) if isinstance(p, str) else p)
        for t, p in rows
        if (json.loads(p) if isinstance(p, str) else p).get("variantId") == vpk
    ]
    changed = [p for t, p in payloads if t == "inventory.changed" and p["reason"] == "reserved"]
    assert len(changed) == 1
    product_pk = await hub.scalar("SELECT product_id FROM variants WHERE id = :v", v=vpk)
    assert changed[0] == {
        "variantId": vpk,
        "locationId": lpk,
        "productId": product_pk,
        "reason": "reserved",
        "reference": "cart:abc",
        "occurredAt": changed[0]["occurredAt"],
        "level": {
            "onHand": 4,
            "committed": 0,
            "reserved": 3,
            "incoming": 0,
            "quarantined": 0,
            "safetyStock": 0,
            "reorderPoint": 1,
            "available": 1,
        },
    }
    datetime.fromisoformat(changed[0]["occurredAt"])
    low = [p for t, p in payloads if t == "stock.low"]
    assert low == [
        {
            "type": "LOW_STOCK",
            "variantId": vpk,
            "locationId": lpk,
            "productId": product_pk,
            "available": 1,
            "reorderPoint": 1,
        }
    ]
    # Not enough left: refused with the count, nothing written.
    more = await op(hub, "inventoryReserve", {"variantId": vid, "locationId": lid, "quantity": 2})
    assert more["userErrors"][0]["code"] == "INSUFFICIENT_STOCK"
    assert "only 1 available" in more["userErrors"][0]["message"]
    assert await hub.scalar("SELECT count(*) FROM reservations WHERE variant_id = :v", v=vpk) == 1
    assert await verify(hub.db) == []
