"""The marketplace connector end to end on SQLite and PostgreSQL: configured over
GraphQL (connectorCreate), run (connectorRunNow and the runtime's event runs), its
effects seen on a real stand-in marketplace (``connectors.marketplace.standin`` on a
127.0.0.1 port, speaking docs/marketplace-api.md) and through GraphQL (orders,
connectorRuns).

- a run publishes the channel's active products: listings and offers with the
  channel's prices and the units the locations can sell; a second run sends nothing;
  a product taken off sale has its listing ended;
- a stock change reaches the offer's quantity; five quick changes of one variant are
  one push with the last level;
- an order placed on the marketplace is imported once (its source and external id on
  the order), however often the run is repeated, and acknowledged there;
- a fulfillment with tracking becomes a shipment of the marketplace's lines, a tracking
  change updates it, a cancellation cancels the order there;
- the marketplace failing (500) fails the run (recorded with its error), a later run
  does the work, and nothing is imported twice;
- a bad config is a userError (INVALID_CONNECTOR_CONFIG) and the token is never read
  back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from itertools import pairwise
from typing import Any

import pytest

from connectors.marketplace.standin import MarketplaceStandIn
from tests.helpers.client import Hub
from tests.helpers.connectors import delete_connector, runs
from tests.helpers.fulfillment import ERRORS, admin, fulfil, order
from tests.helpers.marketplace import (
    TOKEN,
    Shop,
    adjust,
    create_connector,
    make_product,
    make_shop,
    run_ended,
    serving,
)

ORDERS = """query($c: ID!) { orders(first: 20, filter: {channel: $c}) {
  nodes { id name source externalId status fulfillmentStatus totalPrice { amount }
          lineItems(first: 10) { nodes { id sku quantity } } } } }"""


@pytest.fixture
def market() -> Iterator[tuple[MarketplaceStandIn, str]]:
    standin = MarketplaceStandIn(token=TOKEN)
    with serving(standin) as url:
        yield standin, url


async def until(check: Callable[[], Awaitable[Any]], what: str, limit: float = 20) -> Any:
    """Poll ``check`` until it answers something truthy (the event runs are async)."""
    deadline = time.monotonic() + limit
    while True:
        got = await check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def hub_orders(hub: Hub, shop: Shop) -> list[dict[str, Any]]:
    return list((await admin(hub, ORDERS, {"c": shop.channel_id}))["orders"]["nodes"])


async def _connector(hub: Hub, shop: Shop, url: str, **kw: Any) -> str:
    made = await create_connector(hub, shop, url, **kw)
    assert made["userErrors"] == [], made
    return str(made["connector"]["id"])


async def test_config_is_validated_and_the_token_never_read_back(
    hub: Hub, market: tuple[MarketplaceStandIn, str]
) -> None:
    _, url = market
    shop = await make_shop(hub)
    made = await create_connector(hub, shop, url)
    assert made["userErrors"] == []
    c = made["connector"]
    assert c["typeName"] == "marketplace" and "token" not in c["config"]
    assert TOKEN not in str(c)
    assert {"name": "token", "isSet": True} in c["secrets"]
    await delete_connector(hub, c["id"])
    for bad in ({"base_url": "ftp://x"}, {"channel": ""}, {"source": "Has Spaces"}):
        res = await hub.admin(
            f"""mutation($i: ConnectorCreateInput!) {{ connectorCreate(input: $i) {{
              connector {{ id }} {ERRORS} }} }}""",
            {"i": {"name": "bad-market", "typeName": "marketplace",
                   "config": {"base_url": url, "token": TOKEN, "channel": shop.channel,
                              **bad}}},
        )  # fmt: skip
        out = res["data"]["connectorCreate"]
        assert out["connector"] is None
        assert {e["code"] for e in out["userErrors"]} == {"INVALID_CONNECTOR_CONFIG"}, out
        key = next(iter(bad)).replace("_", "")
        assert any(e["field"][-1].lower() == key for e in out["userErrors"]), out


async def test_publishes_imports_once_and_pushes_back(
    hub: Hub, market: tuple[MarketplaceStandIn, str]
) -> None:
    standin, url = market
    shop = await make_shop(hub)
    a, b = shop.locations
    s, m = await make_product(hub, shop, price="19.99", stock={a: 5, b: 3}, sizes=("S", "M"))
    other = await make_product(hub, shop, price="5.00", stock={a: 1})
    await make_product(hub, shop, status="DRAFT", stock={a: 9})
    cid = await _connector(hub, shop, url)
    try:
        run = await run_ended(hub, cid)
        assert run["status"] == "SUCCEEDED", run
        assert run["itemsWritten"] == 6 and run["errorCount"] == 0  # 3 listings, 3 offers
        assert set(standin.listings) == {s, m, *other}
        assert standin.listings[s]["title"].endswith(" - S")
        assert standin.listings[s]["attributes"]["size"] == "S"
        assert standin.offers[s]["price"] == {"amount": 1999, "currency": "USD"}
        assert (standin.offers[s]["quantity"], standin.offers[other[0]]["quantity"]) == (8, 1)

        before = len(standin.requests)
        again = await run_ended(hub, cid)
        assert again["status"] == "SUCCEEDED" and again["itemsWritten"] == 0, again
        sent = [r for r in standin.requests[before:] if r[0] in ("POST", "PUT", "DELETE")]
        assert sent == [], "nothing changed: nothing is sent"

        # an order on the marketplace: imported once, however often the run repeats
        placed = standin.place_order([(s, 2)], shipping=499)
        first = await run_ended(hub, cid)
        assert first["status"] == "SUCCEEDED", first
        await run_ended(hub, cid)
        await run_ended(hub, cid)
        got = [o for o in await hub_orders(hub, shop) if o["externalId"] == placed["id"]]
        assert len(got) == 1, got
        o = got[0]
        source = o["source"]
        assert source.startswith("mk-") and o["totalPrice"]["amount"] == "44.97"
        assert [(n["sku"], n["quantity"]) for n in o["lineItems"]["nodes"]] == [(s, 2)]
        assert standin.orders[placed["id"]]["acknowledged"]["merchant_order_id"].startswith("hub-")

        # a stock change reaches the offer (the order committed 2 of S: 6 left)
        await adjust(hub, shop.variants[m], a, 4)
        await until(lambda: _offer_is(standin, m, 12), "M's offer at 12")
        assert standin.offers[s]["quantity"] == 6

        # a fulfillment with tracking: a shipment of the marketplace's line
        full = await order(hub, o["id"])
        fo = full["fulfillmentOrders"][0]
        shipped = await fulfil(
            hub,
            fo["id"],
            tracking={"carrier": "UPS", "number": "1Z999", "url": "https://t.example/1Z999"},
        )
        assert shipped["userErrors"] == [], shipped
        mo = standin.orders[placed["id"]]
        await until(lambda: _shipments(mo), "the shipment")
        (shipment,) = mo["shipments"]
        assert (shipment["carrier"], shipment["tracking_number"]) == ("UPS", "1Z999")
        assert shipment["lines"] == [{"line_id": placed["lines"][0]["id"], "quantity": 2}]
        assert mo["status"] == "shipped"
        fid = shipped["fulfillment"]["id"]
        upd = await admin(
            hub,
            f"""mutation($f: ID!, $t: TrackingInput!) {{ fulfillmentTrackingUpdate(
              fulfillmentId: $f, tracking: $t) {{ fulfillment {{ id }} {ERRORS} }} }}""",
            {"f": fid, "t": {"number": "1Z-NEW"}},
        )
        assert upd["fulfillmentTrackingUpdate"]["userErrors"] == [], upd
        await until(lambda: _tracking_is(mo, "1Z-NEW"), "the new tracking number")

        # a cancellation in the hub cancels the order there
        second = standin.place_order([(m, 1)])
        await run_ended(hub, cid)
        (imported,) = [o for o in await hub_orders(hub, shop) if o["externalId"] == second["id"]]
        cancel = await admin(
            hub,
            f"""mutation($o: ID!) {{ orderCancel(orderId: $o, reason: "out of stock") {{
              order {{ id status }} {ERRORS} }} }}""",
            {"o": imported["id"]},
        )
        assert cancel["orderCancel"]["userErrors"] == [], cancel
        await until(lambda: _status_is(standin, second["id"], "cancelled"), "the cancellation")
        assert standin.orders[second["id"]]["cancellation"]["reason"] == "out of stock"

        # a product taken off sale: its listing ends on the next run
        pid = await hub.scalar("SELECT product_id FROM variants WHERE sku = :s", s=other[0])
        off = await admin(
            hub,
            f"""mutation($id: ID!) {{ productUpdate(id: $id, input: {{status: DRAFT}}) {{
              product {{ id }} {ERRORS} }} }}""",
            {"id": f"gid://hub/Product/{pid}"},
        )
        assert off["productUpdate"]["userErrors"] == [], off
        ended = await run_ended(hub, cid)
        assert ended["status"] == "SUCCEEDED", ended
        assert standin.listings[other[0]]["status"] == "ended"
        assert standin.offers[other[0]]["quantity"] == 0
        assert [o["externalId"] for o in await hub_orders(hub, shop)].count(placed["id"]) == 1
    finally:
        await delete_connector(hub, cid)


async def _offer_is(standin: MarketplaceStandIn, sku: str, qty: int) -> bool:
    return standin.offers.get(sku, {}).get("quantity") == qty


async def _shipments(mo: dict[str, Any]) -> bool:
    return bool(mo["shipments"])


async def _tracking_is(mo: dict[str, Any], number: str) -> bool:
    return mo["shipments"][0]["tracking_number"] == number


async def _status_is(standin: MarketplaceStandIn, oid: str, status: str) -> bool:
    return standin.orders[oid]["status"] == status


async def test_stock_changes_are_coalesced_to_one_push_with_the_last_level(
    hub: Hub, market: tuple[MarketplaceStandIn, str]
) -> None:
    standin, url = market
    shop = await make_shop(hub)
    a, b = shop.locations
    (sku,) = await make_product(hub, shop, stock={a: 10, b: 5})
    # the offer counts the configured location only (b's 5 units are not offered)
    cid = await _connector(
        hub, shop, url, locations=[shop.location_handles[0]], eventIntervalSeconds=3
    )
    try:
        assert (await run_ended(hub, cid))["status"] == "SUCCEEDED"
        assert standin.offers[sku]["quantity"] == 10
        pushed = len(standin.offer_writes)
        for delta in (1, 1, -3, 2, 1):  # 10 -> 11 -> 12 -> 9 -> 11 -> 12
            await adjust(hub, shop.variants[sku], a, delta)
        await adjust(hub, shop.variants[sku], b, 7)  # not offered: no change there
        await until(lambda: _offer_is(standin, sku, 12), "the last level", limit=15)
        await asyncio.sleep(1)  # nothing more comes
        writes = [w for w in standin.offer_writes[pushed:] if w["sku"] == sku]
        assert writes == [{"sku": sku, "quantity": 12}], writes
    finally:
        await delete_connector(hub, cid)


async def test_an_outage_fails_the_run_and_a_later_run_imports_once(
    hub: Hub, market: tuple[MarketplaceStandIn, str]
) -> None:
    standin, url = market
    shop = await make_shop(hub)
    a, _ = shop.locations
    (sku,) = await make_product(hub, shop, stock={a: 10})
    cid = await _connector(hub, shop, url)
    try:
        assert (await run_ended(hub, cid))["status"] == "SUCCEEDED"
        placed = standin.place_order([(sku, 1)])
        standin.fail_next(1000, 500)
        failed = await run_ended(hub, cid)
        assert failed["status"] == "FAILED", failed
        assert failed["errorCount"] >= 1 and "500" in (failed["message"] or ""), failed
        assert await hub_orders(hub, shop) == []
        with standin.lock:
            standin.failures.clear()
        ok = await run_ended(hub, cid)
        assert ok["status"] == "SUCCEEDED", ok
        await run_ended(hub, cid)
        got = [o["externalId"] for o in await hub_orders(hub, shop)]
        assert got == [placed["id"]]
        history = [r for r in await runs(hub, cid) if r["trigger"] == "MANUAL"]
        assert [r["status"] for r in history[:3]] == ["SUCCEEDED", "SUCCEEDED", "FAILED"]
        assert history[2]["errors"][0]["code"] == "FAILED"

        # an order the hub can't take (a SKU it doesn't know): the run's item error,
        # tried again on the next runs, never imported half
        standin.listings["GHOST"] = {**standin.listings[sku], "sku": "GHOST"}
        standin.offers["GHOST"] = {**standin.offers[sku], "sku": "GHOST", "quantity": 5}
        ghost = standin.place_order([("GHOST", 1)])
        partial = await run_ended(hub, cid)
        assert partial["status"] == "PARTIAL", partial
        assert [(e["code"], ghost["id"] in e["item"]) for e in partial["errors"]] == [
            ("NOT_FOUND", True)
        ]
        again = await run_ended(hub, cid)
        assert again["status"] == "PARTIAL" and again["errorCount"] == 1, again
        assert [o["externalId"] for o in await hub_orders(hub, shop)] == [placed["id"]]
    finally:
        await delete_connector(hub, cid)


async def test_a_failed_scheduled_run_is_retried_by_the_runtime_with_backoff(
    hub: Hub, market: tuple[MarketplaceStandIn, str]
) -> None:
    standin, url = market
    shop = await make_shop(hub)
    a, _ = shop.locations
    (sku,) = await make_product(hub, shop, stock={a: 10})
    standin.listings[sku] = {"sku": sku, "product_ref": "x", "title": "t", "description": "",
                             "attributes": {}, "status": "active"}  # fmt: skip
    standin.offers[sku] = {"sku": sku, "price": {"amount": 1, "currency": "USD"}, "quantity": 3}
    placed = standin.place_order([(sku, 1)])
    standin.fail_next(2, 500)  # the first two runs fail on their first request
    cid = await _connector(hub, shop, url, scheduleSeconds=3600)
    try:
        done = await until(lambda: _ended(hub, cid, "SUCCEEDED"), "a run that succeeds")
        scheduled = [r for r in reversed(await runs(hub, cid)) if r["trigger"] == "SCHEDULE"]
        assert [r["status"] for r in scheduled] == ["FAILED", "FAILED", "SUCCEEDED"], scheduled
        assert all("500" in (r["message"] or "") for r in scheduled[:2]), scheduled
        # retried after a backoff (at least 1 s; the schedule alone would be an hour)
        gaps = [
            datetime.fromisoformat(b["startedAt"]) - datetime.fromisoformat(a["endedAt"])
            for a, b in pairwise(scheduled)
        ]
        assert all(0.9 <= g.total_seconds() < 60 for g in gaps), gaps
        assert done["itemsWritten"] >= 2
        got = [o["externalId"] for o in await hub_orders(hub, shop)]
        assert got == [placed["id"]]
        assert standin.offers[sku]["price"] == {"amount": 1999, "currency": "USD"}
    finally:
        await delete_connector(hub, cid)


async def _ended(hub: Hub, cid: str, status: str) -> dict[str, Any] | None:
    """The connector's scheduled run that ended with ``status``, if there is one (event
    runs may come between them: the products' stock events)."""
    got = await runs(hub, cid)
    return next((r for r in got if r["status"] == status and r["trigger"] == "SCHEDULE"), None)


async def test_a_failed_push_is_retried_and_ships_once(
    hub: Hub, market: tuple[MarketplaceStandIn, str]
) -> None:
    standin, url = market
    shop = await make_shop(hub)
    a, _ = shop.locations
    (sku,) = await make_product(hub, shop, stock={a: 10})
    cid = await _connector(hub, shop, url)
    try:
        assert (await run_ended(hub, cid))["status"] == "SUCCEEDED"
        placed = standin.place_order([(sku, 3)])
        assert (await run_ended(hub, cid))["status"] == "SUCCEEDED"
        (o,) = await hub_orders(hub, shop)
        fo = (await order(hub, o["id"]))["fulfillmentOrders"][0]
        standin.fail_next(1, 503)  # the event run's first request fails
        shipped = await fulfil(hub, fo["id"], tracking={"carrier": "DHL", "number": "JD01"})
        assert shipped["userErrors"] == [], shipped
        mo = standin.orders[placed["id"]]
        await until(lambda: _shipments(mo), "the shipment, after a retry")
        await asyncio.sleep(1.5)  # any further event run would have come by now
        assert [s["tracking_number"] for s in mo["shipments"]] == ["JD01"]
        assert mo["lines"][0]["quantity_shipped"] == 3
        events = [r for r in reversed(await runs(hub, cid)) if r["trigger"] == "EVENT"]
        statuses = [r["status"] for r in events]
        assert "FAILED" in statuses and statuses[-1] == "SUCCEEDED", events
        failed = events[statuses.index("FAILED")]
        assert "503" in (failed["message"] or ""), failed
    finally:
        await delete_connector(hub, cid)
