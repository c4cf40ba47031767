"""Routing over GraphQL on SQLite and PostgreSQL: each strategy picks what it should on
a scenario built for it, in a channel of its own (so only its locations compete);
daily capacity and channel membership are respected; an order no single location can
fill splits and says so; the decision shows on the order (Order.routing) and on each
fulfillment order (routingReason); reroute moves the commitments through the ledger
or is refused with a code, writing nothing; the ledger verifies after each scenario."""

from __future__ import annotations

from tests.helpers.client import Hub
from tests.helpers.fulfillment import (
    channel_gid,
    codes,
    fo_action,
    gid,
    ledger_clean,
    levels,
    locations_of,
    make_channel,
    make_site,
    order,
    place,
    set_strategy,
    stocked,
)


async def test_default_is_checkouts_allocation_by_priority(hub: Hub) -> None:
    ch = await make_channel(hub)
    first = await make_site(hub, ch, priority=1)
    second = await make_site(hub, ch, priority=2)
    vid = await stocked(hub, ch, {first: 5, second: 50})
    o = await place(hub, ch, [(vid, 2)])
    assert locations_of(o) == [first]
    assert o["routing"]["strategy"] == "DEFAULT" and o["routing"]["split"] is False
    (decision,) = o["routing"]["decisions"]
    assert decision["locationId"] == gid("Location", first)
    assert decision["fulfillmentOrderId"] == o["fulfillmentOrders"][0]["id"]
    assert decision["lineIds"] == [o["lineItems"]["nodes"][0]["id"]]
    assert o["fulfillmentOrders"][0]["routingReason"].startswith("DEFAULT: fulfilment priority 1")
    assert await levels(hub, vid, first) == (5, 0, 2)
    await ledger_clean(hub)


CHICAGO = (41.8781, -87.6298)
NEWARK = (40.7357, -74.1724)


async def test_nearest_goes_by_the_destination(hub: Hub) -> None:
    ch = await make_channel(hub, "NEAREST")
    chicago = await make_site(hub, ch, lat=CHICAGO[0], lng=CHICAGO[1], priority=1)
    newark = await make_site(hub, ch, lat=NEWARK[0], lng=NEWARK[1], priority=2)
    vid = await stocked(hub, ch, {chicago: 10, newark: 10})
    east = await place(hub, ch, [(vid, 1)])  # ZIP 07105: the 0 area, New Jersey
    assert locations_of(east) == [newark]
    assert east["routing"]["strategy"] == "NEAREST"
    assert "postal area 0" in east["routing"]["destination"]
    assert east["fulfillmentOrders"][0]["routingReason"].startswith("NEAREST: ")
    west = {
        "address1": "1 Market St",
        "city": "San Francisco",
        "postalCode": "94105",
        "countryCode": "US",
    }
    far = await place(hub, ch, [(vid, 1)], address=west)
    assert locations_of(far) == [chicago]  # nearer to California than New Jersey
    await ledger_clean(hub)


async def test_lowest_cost_takes_the_cheapest_shipment(hub: Hub) -> None:
    ch = await make_channel(hub, "LOWEST_COST")
    dear = await make_site(hub, ch, priority=1, cost="9.00")
    cheap = await make_site(hub, ch, priority=2, cost="1.50")
    vid = await stocked(hub, ch, {dear: 10, cheap: 10})
    o = await place(hub, ch, [(vid, 3)])
    assert locations_of(o) == [cheap]
    assert "LOWEST_COST: 150 per shipment" in o["fulfillmentOrders"][0]["routingReason"]
    await ledger_clean(hub)


async def test_fewest_shipments_covers_the_order_with_fewer_locations(hub: Hub) -> None:
    ch = await make_channel(hub)
    s1 = await make_site(hub, ch, priority=1)
    s2 = await make_site(hub, ch, priority=2)
    s3 = await make_site(hub, ch, priority=3)
    a = await stocked(hub, ch, {s1: 5})
    b = await stocked(hub, ch, {s2: 5, s3: 5})
    c = await stocked(hub, ch, {s3: 5})
    lines = [(a, 1), (b, 1), (c, 1)]
    default = await place(hub, ch, lines)
    assert sorted(locations_of(default)) == sorted([s1, s2, s3])  # per line by priority
    out = await set_strategy(hub, channel_gid(ch), "FEWEST_SHIPMENTS")
    assert out["userErrors"] == [] and out["settings"]["routingStrategy"] == "FEWEST_SHIPMENTS"
    fewest = await place(hub, ch, lines)
    assert sorted(locations_of(fewest)) == sorted([s1, s3])
    assert fewest["routing"]["split"] is True
    for fo in fewest["fulfillmentOrders"]:
        assert fo["routingReason"].startswith("FEWEST_SHIPMENTS: 2 shipment(s)")
        assert "split: no single location could fill the order" in fo["routingReason"]
    await ledger_clean(hub)


async def test_balance_stock_prefers_the_most_cover(hub: Hub) -> None:
    ch = await make_channel(hub, "BALANCE_STOCK")
    thin = await make_site(hub, ch, priority=1)
    deep = await make_site(hub, ch, priority=2)
    vid = await stocked(hub, ch, {thin: 5, deep: 40})
    o = await place(hub, ch, [(vid, 2)])
    assert locations_of(o) == [deep]
    assert "40 available" in o["fulfillmentOrders"][0]["routingReason"]
    await ledger_clean(hub)


async def test_capacity_and_channel_membership_are_respected(hub: Hub) -> None:
    ch = await make_channel(hub)
    other = await make_channel(hub)
    outsider = await make_site(hub, other, priority=0)  # sells to another channel only
    small = await make_site(hub, ch, priority=1, capacity=1)
    big = await make_site(hub, ch, priority=2)
    vid = await stocked(hub, ch, {outsider: 50, small: 10, big: 10})
    only_small = await stocked(hub, ch, {small: 10})
    assert locations_of(await place(hub, ch, [(vid, 1)])) == [small]
    # small has taken its one fulfillment order today: the next goes to big.
    assert locations_of(await place(hub, ch, [(vid, 1)])) == [big]
    # Only small (at capacity) holds this one: it still ships, and the reason says so.
    over = await place(hub, ch, [(only_small, 1)])
    assert locations_of(over) == [small]
    assert "over capacity (1/1)" in over["fulfillmentOrders"][0]["routingReason"]
    assert await levels(hub, vid, outsider) == (50, 0, 0)
    await ledger_clean(hub)


async def test_an_order_no_location_can_fill_alone_splits_and_says_so(hub: Hub) -> None:
    ch = await make_channel(hub)
    s1 = await make_site(hub, ch, priority=1)
    s2 = await make_site(hub, ch, priority=2)
    vid = await stocked(hub, ch, {s1: 3, s2: 3})
    o = await place(hub, ch, [(vid, 5)])
    assert locations_of(o) == [s1, s2]
    assert o["routing"]["split"] is True
    assert [sum(ln["quantity"] for ln in fo["lines"]) for fo in o["fulfillmentOrders"]] == [3, 2]
    assert all("split" in fo["routingReason"] for fo in o["fulfillmentOrders"])
    assert await levels(hub, vid, s1) == (3, 0, 3)
    assert await levels(hub, vid, s2) == (3, 0, 2)
    await ledger_clean(hub)


async def test_reroute_moves_the_commitments_or_is_refused_writing_nothing(hub: Hub) -> None:
    ch = await make_channel(hub)
    other = await make_channel(hub)
    here = await make_site(hub, ch, priority=1)
    there = await make_site(hub, ch, priority=2)
    empty = await make_site(hub, ch, priority=3)
    full = await make_site(hub, ch, priority=4, capacity=0)
    foreign = await make_site(hub, other, priority=1)
    vid = await stocked(hub, ch, {here: 5, there: 5, full: 5, foreign: 5})
    o = await place(hub, ch, [(vid, 2)])
    fo = o["fulfillmentOrders"][0]
    before = await hub.scalar("SELECT COUNT(*) FROM inventory_movements")

    for target, code in (
        (empty, "INSUFFICIENT_STOCK"),
        (full, "LOCATION_AT_CAPACITY"),
        (foreign, "LOCATION_NOT_ELIGIBLE"),
        (here, "INVALID"),
    ):
        out = await fo_action(hub, "Reroute", fo["id"], locationId=gid("Location", target))
        assert codes(out) == [code], out
        assert out["userErrors"][0]["field"] == ["locationId"]
    assert await hub.scalar("SELECT COUNT(*) FROM inventory_movements") == before
    assert await levels(hub, vid, here) == (5, 0, 2)

    out = await fo_action(hub, "Reroute", fo["id"], locationId=gid("Location", there))
    assert out["userErrors"] == [], out
    assert out["fulfillmentOrder"]["location"]["id"] == gid("Location", there)
    assert "rerouted by" in out["fulfillmentOrder"]["routingReason"]
    assert await levels(hub, vid, here) == (5, 0, 0)
    assert await levels(hub, vid, there) == (5, 0, 2)
    again = await order(hub, o["id"])
    (decision,) = again["routing"]["decisions"]
    assert decision["locationId"] == gid("Location", there)
    assert decision["reroutedFrom"] == [gid("Location", here)]
    assert again["lineItems"]["nodes"][0]["locationIds"] == [gid("Location", there)]

    # Started: it no longer moves.
    assert (await fo_action(hub, "Start", fo["id"]))["userErrors"] == []
    out = await fo_action(hub, "Reroute", fo["id"], locationId=gid("Location", here))
    assert codes(out) == ["ILLEGAL_TRANSITION"]
    assert await levels(hub, vid, there) == (5, 0, 2)
    await ledger_clean(hub)
