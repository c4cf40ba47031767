"""Roles restricted to a location, partner and connector keys, on SQLite and
PostgreSQL, over GraphQL.

A store associate's role (inventory and orders at store A only) adjusts stock, readies
and hands over a pickup, opens and receives a return at A; at store B each is
ACCESS_DENIED and nothing is written. It sees A's orders only (the list, order(id:)).
A partner key does what its declared permissions allow and nothing else; a connector
key writes the catalog (it could not before) but gives no refunds."""

from __future__ import annotations

from typing import Any

from hub.auth import create_api_key
from tests.helpers.client import Hub
from tests.helpers.fulfillment import (
    ERRORS,
    F_FIELDS,
    FO_FIELDS,
    channel_gid,
    gid,
    levels,
    make_channel,
    make_site,
    place,
    stocked,
    uid,
)
from tests.helpers.inventory import PAYLOAD
from tests.helpers.returns import RETURN_CREATE, RETURN_RECEIVE
from tests.helpers.staff import denied, key_with_roles

ADJUST = f"""mutation($i: InventoryAdjustInput!) {{ inventoryAdjust(input: $i) {PAYLOAD} }}"""
READY = f"""mutation($id: ID!) {{ fulfillmentOrderReadyForPickup(id: $id) {{
  fulfillmentOrder {{ {FO_FIELDS} }} {ERRORS} }} }}"""
PICKED_UP = f"""mutation($id: ID!) {{ fulfillmentOrderPickedUp(id: $id) {{
  fulfillment {{ {F_FIELDS} }} {ERRORS} }} }}"""
ORDERS = """query($ch: ID) { orders(first: 50, filter: {channel: $ch}) { nodes { id } } }"""
ORDER = "query($id: ID!) { order(id: $id) { id } }"
PRODUCT_CREATE = """mutation($i: ProductInput!) { productCreate(input: $i) {
  product { id } userErrors { code } } }"""
REFUND = """mutation($o: ID!) { refundCreate(orderId: $o, idempotencyKey: "k", amount: "1") {
  refund { id } userErrors { code } } }"""


def adjust(variant: str, location: int, delta: int) -> dict[str, Any]:
    return {
        "i": {
            "variantId": variant,
            "locationId": gid("Location", location),
            "delta": delta,
            "reason": "correction",
        }
    }


async def _fo_status(hub: Hub, fo_id: str) -> str:
    status: str = await hub.scalar(
        "SELECT status FROM fulfillment_orders WHERE id = :i", i=int(fo_id.rsplit("/", 1)[1])
    )
    return status


async def test_a_store_associate_works_at_its_store_only(hub: Hub) -> None:
    ch = await make_channel(hub)
    a = await make_site(hub, ch, kind="STORE", pickup=True, ships=False, name="Store A")
    b = await make_site(hub, ch, kind="STORE", pickup=True, ships=False, name="Store B")
    vid = await stocked(hub, ch, {a: 5, b: 5})
    at_a = await place(hub, ch, [(vid, 1)], pickup=a)
    at_b = await place(hub, ch, [(vid, 1)], pickup=b)
    associate = await key_with_roles(hub, ["inventory", "orders"], locations=[a])

    # Stock: B is refused and unchanged; A works.
    before_b = await levels(hub, vid, b)
    res = await hub.gql(ADJUST, adjust(vid, b, 3), token=associate)
    assert "location" in denied(res, "inventoryAdjust")
    assert await levels(hub, vid, b) == before_b
    res = await hub.gql(ADJUST, adjust(vid, a, 3), token=associate)
    assert res["data"]["inventoryAdjust"]["userErrors"] == [], res
    assert (await levels(hub, vid, a))[0] == 5 + 3

    # Orders: it sees A's, not B's.
    listed = (await hub.gql(ORDERS, {"ch": channel_gid(ch)}, token=associate))["data"]["orders"][
        "nodes"
    ]
    ids = {o["id"] for o in listed}
    assert at_a["id"] in ids and at_b["id"] not in ids
    assert (await hub.gql(ORDER, {"id": at_b["id"]}, token=associate))["data"]["order"] is None
    got = (await hub.gql(ORDER, {"id": at_a["id"]}, token=associate))["data"]["order"]
    assert got == {"id": at_a["id"]}

    # Fulfilment: B's pickup is refused and stays as it was; A's is readied and handed over.
    (fo_b,) = at_b["fulfillmentOrders"]
    (fo_a,) = at_a["fulfillmentOrders"]
    status_b = await _fo_status(hub, fo_b["id"])
    denied(
        await hub.gql(READY, {"id": fo_b["id"]}, token=associate), "fulfillmentOrderReadyForPickup"
    )
    denied(
        await hub.gql(PICKED_UP, {"id": fo_b["id"]}, token=associate), "fulfillmentOrderPickedUp"
    )
    assert await _fo_status(hub, fo_b["id"]) == status_b
    assert await levels(hub, vid, b) == before_b
    ready = await hub.gql(READY, {"id": fo_a["id"]}, token=associate)
    assert ready["data"]["fulfillmentOrderReadyForPickup"]["userErrors"] == [], ready
    picked = await hub.gql(PICKED_UP, {"id": fo_a["id"]}, token=associate)
    assert picked["data"]["fulfillmentOrderPickedUp"]["userErrors"] == [], picked
    assert await _fo_status(hub, fo_a["id"]) == "FULFILLED"

    # Returns: opened and received at A; at B refused, nothing written.
    line = at_a["lineItems"]["nodes"][0]["id"]
    opening = {
        "o": at_a["id"],
        "l": [{"orderLineId": line, "quantity": 1, "reason": "DAMAGED"}],
        "r": "REFUND",
    }
    returns_before = await hub.scalar("SELECT count(*) FROM returns")
    res = await hub.gql(RETURN_CREATE, {**opening, "loc": gid("Location", b)}, token=associate)
    denied(res, "returnCreate")
    assert await hub.scalar("SELECT count(*) FROM returns") == returns_before
    res = await hub.gql(RETURN_CREATE, {**opening, "loc": gid("Location", a)}, token=associate)
    assert res["data"]["returnCreate"]["userErrors"] == [], res
    ret = res["data"]["returnCreate"]["return"]
    receipt = {
        "id": ret["id"],
        "l": [{"returnLineId": ret["lines"][0]["id"], "quantity": 1, "disposition": "RESTOCK"}],
        "p": None,
    }
    res = await hub.gql(RETURN_RECEIVE, {**receipt, "loc": gid("Location", b)}, token=associate)
    denied(res, "returnReceive")
    assert await levels(hub, vid, b) == before_b
    assert (
        await hub.scalar(
            "SELECT received_location_id FROM returns WHERE id = :i",
            i=int(ret["id"].rsplit("/", 1)[1]),
        )
        is None
    )
    on_hand_a = (await levels(hub, vid, a))[0]
    res = await hub.gql(RETURN_RECEIVE, {**receipt, "loc": gid("Location", a)}, token=associate)
    assert res["data"]["returnReceive"]["userErrors"] == [], res
    assert res["data"]["returnReceive"]["return"]["receivedLocationId"] == gid("Location", a)
    assert (await levels(hub, vid, a))[0] == on_hand_a + 1

    # The same role without a location restriction reaches B.
    everywhere = await key_with_roles(hub, ["inventory", "orders"])
    res = await hub.gql(ADJUST, adjust(vid, b, 1), token=everywhere)
    assert res["data"]["inventoryAdjust"]["userErrors"] == [], res


async def test_partner_keys_do_what_they_declare_and_connectors_write_the_catalog(
    hub: Hub,
) -> None:
    ch = await make_channel(hub)
    site = await make_site(hub, ch)
    vid = await stocked(hub, ch, {site: 2})
    _, partner = await create_api_key(hub.db, "partner", ["partner"], permissions=["inventory"])
    _, bare_partner = await create_api_key(hub.db, "bare partner", ["partner"])
    _, connector = await create_api_key(hub.db, "connector", ["connector"])

    res = await hub.gql(ADJUST, adjust(vid, site, 1), token=partner)
    assert res["data"]["inventoryAdjust"]["userErrors"] == [], res
    denied(await hub.gql(ADJUST, adjust(vid, site, 1), token=bare_partner), "inventoryAdjust")
    assert (await levels(hub, vid, site))[0] == 3

    products_before = await hub.scalar("SELECT count(*) FROM products")
    product = {"i": {"handle": f"p-{uid()}", "title": "Partner made", "status": "ACTIVE"}}
    assert "catalog:write" in denied(
        await hub.gql(PRODUCT_CREATE, product, token=partner), "productCreate"
    )
    denied(await hub.gql(ORDERS, {"ch": None}, token=partner), "orders")
    assert await hub.scalar("SELECT count(*) FROM products") == products_before

    made = await hub.gql(PRODUCT_CREATE, product, token=connector)
    assert made["data"]["productCreate"]["userErrors"] == [], made
    assert made["data"]["productCreate"]["product"]["id"]
    assert await hub.scalar("SELECT count(*) FROM products") == products_before + 1
    o = await place(hub, ch, [(vid, 1)])
    refunds_before = await hub.scalar("SELECT count(*) FROM refunds")
    assert "refunds" in denied(
        await hub.gql(REFUND, {"o": o["id"]}, token=connector), "refundCreate"
    )
    assert await hub.scalar("SELECT count(*) FROM refunds") == refunds_before


PRICES_SET = """mutation($p: [VariantPriceInput!]!) { productVariantPricesSet(prices: $p) {
  userErrors { code } } }"""
CANCEL = """mutation($o: ID!) { orderCancel(orderId: $o, reason: "customer") {
  order { id status } userErrors { code } } }"""


async def test_a_channel_role_prices_and_sees_orders_of_its_channel_only(hub: Hub) -> None:
    mine, other = await make_channel(hub), await make_channel(hub)
    site_mine, site_other = await make_site(hub, mine), await make_site(hub, other)
    vid = await stocked(hub, mine, {site_mine: 3})
    vid_other = await stocked(hub, other, {site_other: 3})
    pricer = await key_with_roles(hub, ["catalog:write"], channels=[channel_gid(mine)])
    orders_clerk = await key_with_roles(hub, ["orders"], channels=[channel_gid(mine)])

    price_sql = (
        "SELECT count(*) FROM variant_prices p JOIN channels c ON c.id = p.channel_id "
        "WHERE p.variant_id = :v AND c.handle = :h"
    )
    v_pk = int(vid.rsplit("/", 1)[1])
    res = await hub.gql(
        PRICES_SET, {"p": [{"variantId": vid, "channel": other, "amount": "12"}]}, token=pricer
    )
    assert "channel" in denied(res, "productVariantPricesSet")
    assert await hub.scalar(price_sql, v=v_pk, h=other) == 0
    res = await hub.gql(
        PRICES_SET, {"p": [{"variantId": vid, "channel": mine, "amount": "12"}]}, token=pricer
    )
    assert res["data"]["productVariantPricesSet"]["userErrors"] == [], res

    o_mine = await place(hub, mine, [(vid, 1)])
    o_other = await place(hub, other, [(vid_other, 1)])
    assert (await hub.gql(ORDER, {"id": o_other["id"]}, token=orders_clerk))["data"][
        "order"
    ] is None
    assert (await hub.gql(ORDER, {"id": o_mine["id"]}, token=orders_clerk))["data"]["order"]
    listed = await hub.gql(ORDERS, {"ch": channel_gid(other)}, token=orders_clerk)
    assert listed["data"]["orders"]["nodes"] == []
    res = await hub.gql(CANCEL, {"o": o_other["id"]}, token=orders_clerk)
    denied(res, "orderCancel")
    status = "SELECT status FROM orders WHERE id = :i"
    assert await hub.scalar(status, i=int(o_other["id"].rsplit("/", 1)[1])) != "CANCELLED"
    res = await hub.gql(CANCEL, {"o": o_mine["id"]}, token=orders_clerk)
    assert res["data"]["orderCancel"]["userErrors"] == [], res
    assert res["data"]["orderCancel"]["order"]["status"] == "CANCELLED"
