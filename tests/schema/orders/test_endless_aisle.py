"""Endless aisle over GraphQL on SQLite and PostgreSQL (issue 14, item 6): a till (a
staff key holding `orders` at store A only) sells what store A lacks, shipped to the
customer from the warehouse, or picked up at store A: routed to the warehouse,
transferred to the store (fulfillmentOrderTransfer), ready for pickup when the store
receives the transfer, then picked up; the stock moves through the ledger without
going negative, and the refusals have codes and write nothing."""

from __future__ import annotations

from typing import Any

from tests.helpers.checkout import outbox_payloads
from tests.helpers.client import Hub
from tests.helpers.fulfillment import (
    ADDRESS,
    ERRORS,
    FO_FIELDS,
    admin,
    fo_action,
    gid,
    ledger_clean,
    levels,
    make_channel,
    make_site,
    order,
    stocked,
    uid,
)
from tests.helpers.inventory import op
from tests.helpers.staff import key_with_roles

TRANSFER = f"""mutation($id: ID!) {{ fulfillmentOrderTransfer(id: $id) {{
  fulfillmentOrder {{ {FO_FIELDS} }} transferId {ERRORS} }} }}"""


async def till_sale(
    hub: Hub, token: str, channel: str, lines: list[tuple[str, int]], group: dict[str, Any]
) -> dict[str, Any]:
    """A sale at the till: cartCreate, cartDeliveryUpdate with ``group``,
    checkoutComplete paid in cash, all with the till's ``token``; checkout's payload."""
    h = {"X-Hub-Channel": channel}
    res = await hub.gql(
        f"mutation($i: CartInput) {{ cartCreate(input: $i) {{ cart {{ id }} {ERRORS} }} }}",
        {"i": {"lines": [{"merchandiseId": v, "quantity": q} for v, q in lines]}},
        token=token,
        headers=h,
    )
    assert "errors" not in res and res["data"]["cartCreate"]["userErrors"] == [], res
    cid = res["data"]["cartCreate"]["cart"]["id"]
    upd = await hub.gql(
        f"""mutation($c: ID!, $g: [CartDeliveryGroupInput!]!) {{
          cartDeliveryUpdate(cartId: $c, deliveryGroups: $g) {{
            cart {{ deliveryGroups {{ deliveryType pickupByTransfer }} }} {ERRORS} }} }}""",
        {"c": cid, "g": [group]},
        token=token,
        headers=h,
    )
    assert "errors" not in upd, upd
    if upd["data"]["cartDeliveryUpdate"]["userErrors"]:
        return upd["data"]["cartDeliveryUpdate"]
    done = await hub.gql(
        f"""mutation($c: ID!, $k: String!, $p: PaymentInput) {{ checkoutComplete(cartId: $c,
          idempotencyKey: $k, payment: $p) {{ order {{ id }} {ERRORS} }} }}""",
        {"c": cid, "k": uid(), "p": {"provider": "cash", "reference": "till-7"}},
        token=token,
        headers=h,
    )
    assert "errors" not in done, done
    return done["data"]["checkoutComplete"]


async def shop(hub: Hub) -> tuple[str, int, int, str]:
    """A channel with store A (lacks the item, takes pickups, doesn't ship) and a
    warehouse (has 5); the channel, A, the warehouse and the variant."""
    ch = await make_channel(hub)
    store = await make_site(hub, ch, priority=1, kind="STORE", pickup=True, ships=False)
    warehouse = await make_site(hub, ch, priority=2)
    vid = await stocked(hub, ch, {warehouse: 5})
    return ch, store, warehouse, vid


async def test_a_till_sells_what_the_store_lacks_shipped_from_the_warehouse(hub: Hub) -> None:
    ch, store, warehouse, vid = await shop(hub)
    till = await key_with_roles(hub, ["orders"], locations=[store])
    done = await till_sale(hub, till, ch, [(vid, 2)], {"shippingAddress": ADDRESS})
    assert done["userErrors"] == [], done
    o = await order(hub, done["order"]["id"])
    (fo,) = o["fulfillmentOrders"]
    assert fo["location"]["id"] == gid("Location", warehouse)
    assert fo["deliveryKind"] == "SHIPPING" and fo["status"] == "OPEN"
    assert await levels(hub, vid, warehouse) == (5, 0, 2)
    assert await levels(hub, vid, store) == (0, 0, 0)
    await ledger_clean(hub)


async def test_pickup_at_the_store_by_transfer(hub: Hub) -> None:
    ch, store, warehouse, vid = await shop(hub)
    till = await key_with_roles(hub, ["orders"], locations=[store])
    # Without pickupByTransfer the store's pickup is refused as before: nothing taken.
    plain = await till_sale(hub, till, ch, [(vid, 2)], {"pickupLocationId": gid("Location", store)})
    assert [e["code"] for e in plain["userErrors"]] == ["INSUFFICIENT_STOCK"]
    assert await levels(hub, vid, warehouse) == (5, 0, 0)

    group = {"pickupLocationId": gid("Location", store), "pickupByTransfer": True}
    done = await till_sale(hub, till, ch, [(vid, 2)], group)
    assert done["userErrors"] == [], done
    o = await order(hub, done["order"]["id"])
    (fo,) = o["fulfillmentOrders"]
    assert fo["location"]["id"] == gid("Location", warehouse)
    assert (fo["deliveryKind"], fo["status"]) == ("PICKUP", "OPEN")
    assert fo["routingReason"].startswith("ENDLESS_AISLE: ")
    assert await levels(hub, vid, warehouse) == (5, 0, 2)
    # Not ready before the units are at the store.
    early = await fo_action(hub, "ReadyForPickup", fo["id"])
    assert [e["code"] for e in early["userErrors"]] == ["AWAITING_TRANSFER"]

    # The warehouse (an admin here) sends them: out of the warehouse, incoming at the
    # store and committed there to this order.
    sent = (await admin(hub, TRANSFER, {"id": fo["id"]}))["fulfillmentOrderTransfer"]
    assert sent["userErrors"] == [], sent
    assert sent["fulfillmentOrder"]["status"] == "IN_PROGRESS"
    assert sent["fulfillmentOrder"]["location"]["id"] == gid("Location", store)
    assert await levels(hub, vid, warehouse) == (3, 0, 0)
    assert await levels(hub, vid, store) == (0, 0, 2)
    incoming = await hub.scalar(
        "SELECT incoming FROM inventory_levels WHERE variant_id = :v AND location_id = :l",
        v=int(vid.rsplit("/", 1)[1]),
        l=store,
    )
    assert incoming == 2
    again = (await admin(hub, TRANSFER, {"id": fo["id"]}))["fulfillmentOrderTransfer"]
    assert [e["code"] for e in again["userErrors"]] == ["NOT_TRANSFERABLE"]

    # The store receives the transfer: ready for pickup, the customer is told.
    got = await hub.gql(
        f"""mutation($id: ID!) {{ inventoryTransferReceive(id: $id) {{ {ERRORS} }} }}""",
        {"id": sent["transferId"]},
        token=await key_with_roles(hub, ["inventory"], locations=[store]),
    )
    assert got["data"]["inventoryTransferReceive"]["userErrors"] == [], got
    (fo,) = (await order(hub, o["id"]))["fulfillmentOrders"]
    assert fo["status"] == "READY_FOR_PICKUP" and fo["readyAt"] is not None
    assert await levels(hub, vid, store) == (2, 0, 2)
    ready = [
        p
        for p in await outbox_payloads(hub, "fulfillment_order.ready_for_pickup")
        if p.get("fulfillmentOrderId") == fo["id"]
    ]
    assert len(ready) == 1
    moved = [
        p
        for p in await outbox_payloads(hub, "fulfillment_order.transferring")
        if p.get("fulfillmentOrderId") == fo["id"]
    ]
    assert moved and moved[0]["transferId"] == sent["transferId"]

    # The till at the store hands them over.
    picked = await hub.gql(
        f"""mutation($id: ID!) {{ fulfillmentOrderPickedUp(id: $id) {{ fulfillment {{ kind }}
          {ERRORS} }} }}""",
        {"id": fo["id"]},
        token=till,
    )
    assert picked["data"]["fulfillmentOrderPickedUp"]["userErrors"] == [], picked
    assert await levels(hub, vid, store) == (0, 0, 0)
    await ledger_clean(hub)


async def test_cancelled_in_transit_the_units_arrive_as_stock(hub: Hub) -> None:
    ch, store, _, vid = await shop(hub)
    group = {"pickupLocationId": gid("Location", store), "pickupByTransfer": True}
    done = await till_sale(hub, hub.admin_token, ch, [(vid, 1)], group)
    assert done["userErrors"] == [], done
    (fo,) = (await order(hub, done["order"]["id"]))["fulfillmentOrders"]
    sent = (await admin(hub, TRANSFER, {"id": fo["id"]}))["fulfillmentOrderTransfer"]
    cancel = await admin(
        hub,
        f"""mutation($id: ID!) {{ orderCancel(orderId: $id, reason: "customer") {{
          {ERRORS} }} }}""",
        {"id": done["order"]["id"]},
    )
    assert cancel["orderCancel"]["userErrors"] == [], cancel
    assert await levels(hub, vid, store) == (0, 0, 0)
    await admin(
        hub,
        f"""mutation($id: ID!) {{ inventoryTransferReceive(id: $id) {{ {ERRORS} }} }}""",
        {"id": sent["transferId"]},
    )
    (fo,) = (await order(hub, done["order"]["id"]))["fulfillmentOrders"]
    assert fo["status"] == "CANCELLED"
    assert await levels(hub, vid, store) == (1, 0, 0)
    await ledger_clean(hub)


async def test_refusals_have_codes(hub: Hub) -> None:
    ch, store, _, vid = await shop(hub)
    # Only a pickup takes its lines by transfer.
    bad = await till_sale(
        hub, hub.admin_token, ch, [(vid, 1)], {"shippingAddress": ADDRESS, "pickupByTransfer": True}
    )
    assert [e["code"] for e in bad["userErrors"]] == ["INVALID"]
    # An ordinary fulfillment order can't be "transferred".
    done = await till_sale(hub, hub.admin_token, ch, [(vid, 1)], {"shippingAddress": ADDRESS})
    (fo,) = (await order(hub, done["order"]["id"]))["fulfillmentOrders"]
    no = (await admin(hub, TRANSFER, {"id": fo["id"]}))["fulfillmentOrderTransfer"]
    assert [e["code"] for e in no["userErrors"]] == ["NOT_TRANSFERABLE"]
    sent = await hub.scalar(
        "SELECT COUNT(*) FROM transfers WHERE fulfillment_order_id = :f",
        f=int(fo["id"].rsplit("/", 1)[1]),
    )
    assert sent == 0
    # No other location holds the whole line (4 and 3 of 6): refused, nothing taken.
    other = await make_site(hub, ch, priority=3)
    await op(
        hub,
        "inventoryAdjust",
        {"variantId": vid, "locationId": gid("Location", other), "delta": 3, "reason": "x"},
    )
    group = {"pickupLocationId": gid("Location", store), "pickupByTransfer": True}
    short = await till_sale(hub, hub.admin_token, ch, [(vid, 6)], group)
    assert [e["code"] for e in short["userErrors"]] == ["INSUFFICIENT_STOCK"]
    assert await levels(hub, vid, other) == (3, 0, 0)
