"""Fulfillment orders over GraphQL on SQLite and PostgreSQL: a split order fulfilled
from two locations (one a store shipping like a warehouse), in part then the rest,
with tracking; BOPIS ready -> customer arrived -> picked up; each transition's
preconditions (an illegal one is a userError with a stable code and writes nothing);
a pickup not collected within its window released by the job; the ledger verifies
after each scenario; Order.fulfillmentOrders costs the same statements whatever the
page size."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.helpers.checkout import outbox_payloads
from tests.helpers.client import Hub, served_again
from tests.helpers.fulfillment import (
    ERRORS,
    F_FIELDS,
    admin,
    channel_gid,
    codes,
    fo_action,
    fulfil,
    gid,
    ledger_clean,
    levels,
    make_channel,
    make_site,
    order,
    pk_of,
    place,
    set_strategy,
    stocked,
)


async def _written(hub: Hub) -> tuple[int, ...]:
    """Row counts a refused write must leave alone."""
    out = []
    for table in ("fulfillments", "fulfillment_lines", "order_events", "inventory_movements"):
        out.append(await hub.scalar(f"SELECT COUNT(*) FROM {table}"))
    return tuple(out)


async def _kinds(hub: Hub, order_id: str) -> list[str]:
    rows = await hub.rows(
        "SELECT kind FROM order_events WHERE order_id = :o ORDER BY id", o=pk_of(order_id)
    )
    return [r.kind for r in rows]


async def test_split_order_fulfilled_from_two_locations_in_parts(hub: Hub) -> None:
    ch = await make_channel(hub)
    warehouse = await make_site(hub, ch, priority=1, kind="WAREHOUSE")
    store = await make_site(hub, ch, priority=2, kind="STORE")  # ship-from-store
    vid = await stocked(hub, ch, {warehouse: 3, store: 3})
    o = await place(hub, ch, [(vid, 5)])
    assert o["routing"]["split"] is True
    wh_fo, st_fo = o["fulfillmentOrders"]
    assert [f["location"]["id"] for f in (wh_fo, st_fo)] == [
        gid("Location", warehouse),
        gid("Location", store),
    ]

    # The warehouse ships its 3 at once, with tracking.
    track = {"carrier": "UPS", "number": "1Z999", "url": "https://ups.example/1Z999"}
    out = await fulfil(hub, wh_fo["id"], [(wh_fo["lines"][0]["id"], 3)], track)
    assert out["userErrors"] == [], out
    assert out["fulfillment"]["tracking"] == track
    assert out["fulfillment"]["kind"] == "SHIPMENT"
    assert await levels(hub, vid, warehouse) == (0, 0, 0)
    now = await order(hub, o["id"])
    assert now["fulfillmentStatus"] == "PARTIALLY_FULFILLED"
    assert now["fulfillmentOrders"][0]["status"] == "FULFILLED"

    # The store ships 1 of its 2, then the rest (lines omitted: every remaining unit).
    line = st_fo["lines"][0]["id"]
    out = await fulfil(hub, st_fo["id"], [(line, 1)])
    assert out["userErrors"] == [], out
    assert await levels(hub, vid, store) == (2, 0, 1)
    now = await order(hub, o["id"])
    assert now["fulfillmentOrders"][1]["status"] == "IN_PROGRESS"
    assert now["fulfillmentOrders"][1]["lines"][0]["remainingQuantity"] == 1

    before = await _written(hub)
    too_many = await fulfil(hub, st_fo["id"], [(line, 2)])
    assert codes(too_many) == ["QUANTITY_EXCEEDS_REMAINING"]
    assert too_many["userErrors"][0]["field"] == ["lines", "0", "quantity"]
    assert await _written(hub) == before

    rest = await fulfil(hub, st_fo["id"])
    assert rest["userErrors"] == [], rest
    assert [ln["quantity"] for ln in rest["fulfillment"]["lines"]] == [1]
    now = await order(hub, o["id"])
    assert now["fulfillmentStatus"] == "FULFILLED"
    assert [f["status"] for f in now["fulfillmentOrders"]] == ["FULFILLED", "FULFILLED"]
    assert len(now["fulfillments"]) == 3
    assert await levels(hub, vid, store) == (1, 0, 0)

    assert now["paymentStatus"] == "PAID"  # cash: paid at the till, nothing to capture
    before = await _written(hub)
    again = await fulfil(hub, st_fo["id"])
    assert codes(again) == ["ALREADY_FULFILLED"]
    assert await _written(hub) == before

    # Tracking changes afterwards; a bad URL is refused.
    f_id = rest["fulfillment"]["id"]
    upd = await admin(
        hub,
        f"""mutation($f: ID!, $t: TrackingInput!) {{ fulfillmentTrackingUpdate(
          fulfillmentId: $f, tracking: $t) {{ fulfillment {{ {F_FIELDS} }} {ERRORS} }} }}""",
        {"f": f_id, "t": {"carrier": "DHL", "number": "JD0001"}},
    )
    got = upd["fulfillmentTrackingUpdate"]
    assert got["userErrors"] == [] and got["fulfillment"]["tracking"]["carrier"] == "DHL"
    bad = await admin(
        hub,
        f"""mutation($f: ID!, $t: TrackingInput!) {{ fulfillmentTrackingUpdate(
          fulfillmentId: $f, tracking: $t) {{ fulfillment {{ id }} {ERRORS} }} }}""",
        {"f": f_id, "t": {"url": "javascript:alert(1)"}},
    )
    assert codes(bad["fulfillmentTrackingUpdate"]) == ["INVALID"]

    kinds = await _kinds(hub, o["id"])
    assert kinds.count("fulfillment.created") == 3
    assert "fulfillment_order.routed" in kinds and "fulfillment.tracking_updated" in kinds
    created = [
        p for p in await outbox_payloads(hub, "fulfillment.created") if p["orderId"] == o["id"]
    ]
    assert [sum(ln["quantity"] for ln in p["lines"]) for p in created] == [3, 1, 1]
    await ledger_clean(hub)


async def test_a_channel_capturing_on_fulfillment_captures_when_units_ship(hub: Hub) -> None:
    async with served_again(hub, test_payments=True) as testpay:
        await _capture_on_fulfillment(testpay)


async def _capture_on_fulfillment(hub: Hub) -> None:
    ch = await make_channel(hub)
    settings = await set_strategy(hub, channel_gid(ch), None, "ON_FULFILLMENT")
    assert settings["settings"]["captureMode"] == "ON_FULFILLMENT"
    site = await make_site(hub, ch)
    vid = await stocked(hub, ch, {site: 5})
    card = {"provider": "test", "paymentMethodId": "pm_card_visa"}
    o = await place(hub, ch, [(vid, 2)], payment=card)
    assert o["paymentStatus"] == "AUTHORIZED"
    fo = o["fulfillmentOrders"][0]
    out = await fulfil(hub, fo["id"], [(fo["lines"][0]["id"], 1)])
    assert out["userErrors"] == [], out
    assert (await order(hub, o["id"]))["paymentStatus"] == "PAID"
    await ledger_clean(hub)


async def test_bopis_ready_then_arrived_then_picked_up(hub: Hub) -> None:
    ch = await make_channel(hub)
    store = await make_site(hub, ch, kind="STORE", pickup=True, ships=False, window_hours=48)
    vid = await stocked(hub, ch, {store: 4})
    o = await place(hub, ch, [(vid, 2)], pickup=store)
    (fo,) = o["fulfillmentOrders"]
    assert fo["deliveryKind"] == "PICKUP"
    assert fo["routingReason"].startswith("PICKUP")

    before = await _written(hub)
    early = await fo_action(hub, "CustomerArrived", fo["id"], note="Bay 3")
    assert codes(early) == ["NOT_READY_FOR_PICKUP"]
    assert codes(await fo_action(hub, "PickedUp", fo["id"])) == ["NOT_READY_FOR_PICKUP"]
    shipped = await fulfil(hub, fo["id"])
    assert codes(shipped) == ["DELIVERY_KIND_MISMATCH"]
    assert await _written(hub) == before

    ready = await fo_action(hub, "ReadyForPickup", fo["id"])
    assert ready["userErrors"] == [], ready
    deadline = datetime.fromisoformat(ready["fulfillmentOrder"]["pickupDeadline"])
    expected = datetime.now(UTC) + timedelta(hours=48)
    assert abs((deadline - expected).total_seconds()) < 120
    (event,) = [
        p
        for p in await outbox_payloads(hub, "fulfillment_order.ready_for_pickup")
        if p["orderId"] == o["id"]
    ]
    assert event["fulfillmentOrderId"] == fo["id"] and event["pickupDeadline"]

    arrived = await fo_action(hub, "CustomerArrived", fo["id"], note="Parking spot 7, red car")
    assert arrived["userErrors"] == [], arrived
    assert arrived["fulfillmentOrder"]["arrivalNote"] == "Parking spot 7, red car"
    assert arrived["fulfillmentOrder"]["customerArrivedAt"] is not None

    picked = await fo_action(hub, "PickedUp", fo["id"])
    assert picked["userErrors"] == [], picked
    assert picked["fulfillment"]["kind"] == "PICKUP"
    assert [ln["quantity"] for ln in picked["fulfillment"]["lines"]] == [2]
    assert await levels(hub, vid, store) == (2, 0, 0)
    now = await order(hub, o["id"])
    assert now["fulfillmentStatus"] == "FULFILLED"
    assert now["fulfillmentOrders"][0]["status"] == "FULFILLED"
    assert codes(await fo_action(hub, "PickedUp", fo["id"])) == ["ALREADY_FULFILLED"]
    kinds = await _kinds(hub, o["id"])
    for k in (
        "fulfillment_order.ready_for_pickup",
        "fulfillment_order.customer_arrived",
        "fulfillment.created",
        "fulfillment_order.picked_up",
    ):
        assert k in kinds, kinds
    await ledger_clean(hub)


async def test_transitions_and_illegal_ones_write_nothing(hub: Hub) -> None:
    ch = await make_channel(hub)
    site = await make_site(hub, ch)
    vid = await stocked(hub, ch, {site: 5})
    o = await place(hub, ch, [(vid, 1)])
    fo_id = o["fulfillmentOrders"][0]["id"]

    accepted = await fo_action(hub, "Accept", fo_id)
    assert accepted["userErrors"] == [] and accepted["fulfillmentOrder"]["acceptedAt"]
    held = await fo_action(hub, "Hold", fo_id, reason="address check")
    assert held["fulfillmentOrder"]["status"] == "ON_HOLD"
    assert held["fulfillmentOrder"]["holdReason"] == "address check"

    before = await _written(hub)
    for name, args in (
        ("Accept", {}),
        ("Start", {}),
        ("Hold", {"reason": "again"}),
        ("ReadyForPickup", {}),
    ):
        out = await fo_action(hub, name, fo_id, **args)
        assert codes(out) in (["ILLEGAL_TRANSITION"], ["DELIVERY_KIND_MISMATCH"]), (name, out)
        assert out["fulfillmentOrder"] is None
    assert codes(await fulfil(hub, fo_id)) == ["ILLEGAL_TRANSITION"]
    assert await _written(hub) == before
    assert (await order(hub, o["id"]))["fulfillmentOrders"][0]["status"] == "ON_HOLD"

    released = await fo_action(hub, "Release", fo_id)
    assert released["fulfillmentOrder"]["status"] == "OPEN"
    started = await fo_action(hub, "Start", fo_id)
    assert started["fulfillmentOrder"]["status"] == "IN_PROGRESS"
    assert (await fo_action(hub, "Hold", fo_id))["fulfillmentOrder"]["status"] == "ON_HOLD"
    back = await fo_action(hub, "Release", fo_id)
    assert back["fulfillmentOrder"]["status"] == "IN_PROGRESS"  # where the hold found it
    node = await admin(
        hub,
        "query($id: ID!) { node(id: $id) { id ... on FulfillmentOrder { status } } }",
        {"id": fo_id},
    )
    assert node["node"] == {"id": fo_id, "status": "IN_PROGRESS"}
    hidden = await hub.gql("query($id: ID!) { node(id: $id) { id } }", {"id": fo_id})
    assert hidden.get("data", {}).get("node") is None
    missing = await fo_action(hub, "Start", gid("FulfillmentOrder", 10**9))
    assert codes(missing) == ["NOT_FOUND"]
    kinds = await _kinds(hub, o["id"])
    assert [k for k in kinds if k.startswith("fulfillment_order.")] == [
        "fulfillment_order.routed",
        "fulfillment_order.accepted",
        "fulfillment_order.held",
        "fulfillment_order.released",
        "fulfillment_order.started",
        "fulfillment_order.held",
        "fulfillment_order.released",
    ]
    # Staff only.
    anon = await hub.gql(
        "mutation($id: ID!) { fulfillmentOrderStart(id: $id) { userErrors { code } } }",
        {"id": fo_id},
    )
    assert anon.get("errors"), anon
    await ledger_clean(hub)


async def test_a_pickup_not_collected_in_time_is_released_by_the_job(hub: Hub) -> None:
    ch = await make_channel(hub)
    store = await make_site(hub, ch, kind="STORE", pickup=True, ships=False, window_hours=2)
    vid = await stocked(hub, ch, {store: 5})
    o = await place(hub, ch, [(vid, 3)], pickup=store)
    fo_id = o["fulfillmentOrders"][0]["id"]
    ready = await fo_action(hub, "ReadyForPickup", fo_id)
    assert ready["userErrors"] == []
    assert await levels(hub, vid, store) == (5, 0, 3)
    svc: Any = hub.app.state.hub.fulfillments
    # Within the window: nothing expires.
    assert await svc.expire_pickups(now=datetime.now(UTC) + timedelta(hours=1)) == 0
    assert await levels(hub, vid, store) == (5, 0, 3)
    # Past it: the job cancels the pickup and gives its stock back.
    assert await svc.expire_pickups(now=datetime.now(UTC) + timedelta(hours=3)) >= 1
    assert await levels(hub, vid, store) == (5, 0, 0)
    now = await order(hub, o["id"])
    fo = now["fulfillmentOrders"][0]
    assert (fo["status"], fo["cancelReason"]) == ("CANCELLED", "EXPIRED")
    assert fo["lines"][0]["quantityCancelled"] == 3
    (event,) = [
        p
        for p in await outbox_payloads(hub, "fulfillment_order.expired")
        if p["orderId"] == o["id"]
    ]
    assert event["lines"] == [{"orderLineId": now["lineItems"]["nodes"][0]["id"], "quantity": 3}]
    cancelled = await hub.scalar(
        "SELECT quantity_cancelled FROM order_lines WHERE order_id = :o", o=pk_of(o["id"])
    )
    assert cancelled == 3
    # Its money came back through the order book's refund (cash: recorded at the till).
    (refund,) = now["refunds"]
    assert refund["amount"]["amount"] == "30.00" and [ln["quantity"] for ln in refund["lines"]] == [
        3
    ]
    assert "pickup" in refund["note"]
    assert now["paymentStatus"] == "REFUNDED"
    # Once: a second run finds nothing; a picked-up attempt is now illegal.
    assert await svc.expire_pickups(now=datetime.now(UTC) + timedelta(hours=3)) == 0
    assert codes(await fo_action(hub, "PickedUp", fo_id)) == ["ILLEGAL_TRANSITION"]
    await ledger_clean(hub)


PAGE = f"""query($n: Int!) {{ orders(first: $n) {{ nodes {{ id
  routing {{ strategy split decisions {{ locationId reason location {{ id name }} }} }}
  fulfillmentOrders {{ id status location {{ id name }}
    lines {{ id sku quantity remainingQuantity }} }}
  fulfillments {{ {F_FIELDS} }} }} }} }}"""


async def test_fulfillment_orders_of_a_page_of_orders_cost_constant_statements(hub: Hub) -> None:
    ch = await make_channel(hub)
    s1 = await make_site(hub, ch, priority=1)
    s2 = await make_site(hub, ch, priority=2)
    vid = await stocked(hub, ch, {s1: 12, s2: 30})
    placed = [await place(hub, ch, [(vid, 3)]) for _ in range(6)]  # the last two split
    for o in (placed[0], placed[-1]):  # both pages hold a fulfilment
        assert (await fulfil(hub, o["fulfillmentOrders"][0]["id"]))["userErrors"] == []
    await hub.admin(PAGE, {"n": 1})  # warm up (the key's lookup, compiled statements)
    counts, stmts = {}, {}
    for n in (2, 6):
        with hub.count_statements() as seen:
            res = await hub.admin(PAGE, {"n": n})
        assert "errors" not in res, res
        nodes = res["data"]["orders"]["nodes"]
        assert len(nodes) == n and all(o["fulfillmentOrders"] for o in nodes)
        counts[n], stmts[n] = len(seen), [s[:60] for s in seen]
    assert counts[2] == counts[6], stmts
    # orders, their fulfillment orders, their lines, the locations (2: rows and channels),
    # the fulfilments and their lines: 7 for a page of 2 or of 6.
    assert counts[6] == PINNED[hub.name], (counts, seen)
    await ledger_clean(hub)


PINNED = {"sqlite": 7, "postgresql": 7}


async def test_concurrent_fulfilments_of_the_same_units_ship_them_once(hub: Hub) -> None:
    ch = await make_channel(hub)
    site = await make_site(hub, ch)
    vid = await stocked(hub, ch, {site: 6})
    o = await place(hub, ch, [(vid, 4)])
    fo_id = o["fulfillmentOrders"][0]["id"]
    outs = await asyncio.gather(*(fulfil(hub, fo_id) for _ in range(4)))
    done = [x for x in outs if x["userErrors"] == []]
    assert len(done) == 1, outs
    # The row lock (PostgreSQL) finds it FULFILLED; without one (SQLite) the conditional
    # UPDATE of the running count refuses the late one; either way it writes nothing.
    late = {c for x in outs if x not in done for c in codes(x)}
    assert late <= {"ALREADY_FULFILLED", "QUANTITY_EXCEEDS_REMAINING"}, outs
    assert await levels(hub, vid, site) == (2, 0, 0)
    now = await order(hub, o["id"])
    assert len(now["fulfillments"]) == 1 and now["fulfillmentStatus"] == "FULFILLED"
    await ledger_clean(hub)
