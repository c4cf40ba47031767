"""Helpers for the routing and fulfilment tests (and helper C's returns scenario): a
channel of its own with its own locations, variants stocked there, orders placed
through the real cart and checkout, and the fulfilment mutations."""

from __future__ import annotations

import uuid
from typing import Any

from hub.domain.inventory import verify
from tests.helpers.client import Hub
from tests.helpers.inventory import make_variant, op

LOC = "gid://hub/Location/"
ERRORS = "userErrors { field message code }"
FO_FIELDS = """id status deliveryKind routingReason holdReason acceptedAt readyAt pickupDeadline
  customerArrivedAt arrivalNote cancelReason orderId location { id name }
  lines { id sku quantity quantityFulfilled quantityCancelled remainingQuantity orderLineId }"""
F_FIELDS = """id kind status fulfillmentOrderId location { id }
  tracking { carrier number url }
  lines { sku quantity orderLineId fulfillmentOrderLineId serialNumbers }"""
ORDER = f"""query($id: ID!) {{ order(id: $id) {{
  id name fulfillmentStatus paymentStatus
  refunds {{ amount {{ amount }} note lines {{ quantity }} }}
  lineItems(first: 20) {{ nodes {{ id sku quantity locationIds }} }}
  routing {{ strategy split destination
    decisions {{ fulfillmentOrderId locationId deliveryKind lineIds reason reroutedFrom }} }}
  fulfillmentOrders {{ {FO_FIELDS} }}
  fulfillments {{ {F_FIELDS} }} }} }}"""
ADDRESS = {
    "firstName": "Ada",
    "lastName": "Lovelace",
    "address1": "1 Main St",
    "city": "Newark",
    "postalCode": "07105",
    "countryCode": "US",
}


def uid() -> str:
    return uuid.uuid4().hex[:8]


def gid(kind: str, pk: int) -> str:
    return f"gid://hub/{kind}/{pk}"


def pk_of(global_id: str) -> int:
    return int(global_id.rsplit("/", 1)[1])


async def admin(hub: Hub, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    res = await hub.admin(query, variables)
    assert "errors" not in res, res
    return res["data"]


CHANNEL_IDS: dict[str, str] = {}


def channel_gid(handle: str) -> str:
    """The global id of a channel ``make_channel`` made."""
    return CHANNEL_IDS[handle]


async def make_channel(hub: Hub, strategy: str | None = None) -> str:
    """A fresh USD channel (its handle), with ``strategy`` as its routing strategy."""
    handle = f"rt-{uid()}"
    out = await admin(
        hub,
        f"""mutation($i: ChannelInput!) {{ channelCreate(input: $i) {{
          channel {{ id }} {ERRORS} }} }}""",
        {"i": {"handle": handle, "name": handle, "currencyCode": "USD", "defaultCountry": "US"}},
    )
    assert out["channelCreate"]["userErrors"] == [], out
    CHANNEL_IDS[handle] = out["channelCreate"]["channel"]["id"]
    if strategy is not None:
        await set_strategy(hub, out["channelCreate"]["channel"]["id"], strategy)
    return handle


async def set_strategy(
    hub: Hub, channel_id: str, strategy: str | None, capture: str | None = None
) -> dict[str, Any]:
    out = await admin(
        hub,
        f"""mutation($c: ID!, $s: RoutingStrategy, $m: CaptureMode) {{
          channelOrderSettingsUpdate(channelId: $c, routingStrategy: $s, captureMode: $m) {{
            settings {{ channelId routingStrategy captureMode returnWindowDays }} {ERRORS} }} }}""",
        {"c": channel_id, "s": strategy, "m": capture},
    )
    return out["channelOrderSettingsUpdate"]


async def make_site(
    hub: Hub,
    channel: str,
    *,
    lat: float = 40.0,
    lng: float = -74.0,
    priority: int = 100,
    cost: str = "5.00",
    capacity: int | None = None,
    ships: bool = True,
    pickup: bool = False,
    kind: str = "WAREHOUSE",
    postal: str = "",
    country: str = "US",
    window_hours: int | None = None,
    name: str | None = None,
) -> int:
    """A location selling to ``channel`` only; its pk."""
    i: dict[str, Any] = {
        "handle": f"site-{uid()}",
        "name": name or f"Site {uid()}",
        "kind": kind,
        "countryCode": country,
        "postalCode": postal,
        "city": "Testville",
        "latitude": lat,
        "longitude": lng,
        "fulfillmentPriority": priority,
        "costPerShipment": cost,
        "shipsToCustomers": ships,
        "pickupEnabled": pickup,
        "pickupLeadMinutes": 60,
        "channels": [channel],
    }
    if capacity is not None:
        i["dailyCapacity"] = capacity
    if window_hours is not None:
        i["pickupWindowHours"] = window_hours
    out = await admin(
        hub,
        f"""mutation($i: LocationInput!) {{ locationCreate(input: $i) {{
          location {{ id pickupWindowHours }} {ERRORS} }} }}""",
        {"i": i},
    )
    assert out["locationCreate"]["userErrors"] == [], out
    return pk_of(out["locationCreate"]["location"]["id"])


async def stocked(hub: Hub, channel: str, stock: dict[int, int]) -> str:
    """A fresh variant priced 10 in ``channel`` with ``stock`` units per location pk."""
    vid = await make_variant(hub, channel=channel)
    for loc, qty in stock.items():
        out = await op(
            hub,
            "inventoryAdjust",
            {
                "variantId": vid,
                "locationId": gid("Location", loc),
                "delta": qty,
                "reason": "received",
            },
        )
        assert out["userErrors"] == [], out
    return vid


async def place(
    hub: Hub,
    channel: str,
    lines: list[tuple[str, int]],
    *,
    address: dict[str, Any] | None = None,
    pickup: int | None = None,
    payment: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An order placed through cartCreate, cartDeliveryUpdate and checkoutComplete (by
    default paid in cash at a till: no payment provider involved); the order as ORDER
    reads it."""
    headers = {"X-Hub-Channel": channel}
    cart = await hub.admin(
        f"""mutation($i: CartInput) {{ cartCreate(input: $i) {{ cart {{ id }} {ERRORS} }} }}""",
        {"i": {"lines": [{"merchandiseId": v, "quantity": q} for v, q in lines]}},
        headers=headers,
    )
    assert "errors" not in cart, cart
    assert cart["data"]["cartCreate"]["userErrors"] == [], cart
    cid = cart["data"]["cartCreate"]["cart"]["id"]
    group: dict[str, Any] = (
        {"pickupLocationId": gid("Location", pickup)}
        if pickup is not None
        else {"shippingAddress": address or ADDRESS}
    )
    upd = await hub.admin(
        f"""mutation($c: ID!, $g: [CartDeliveryGroupInput!]!) {{
          cartDeliveryUpdate(cartId: $c, deliveryGroups: $g) {{ cart {{ id }} {ERRORS} }} }}""",
        {"c": cid, "g": [group]},
        headers=headers,
    )
    assert "errors" not in upd and upd["data"]["cartDeliveryUpdate"]["userErrors"] == [], upd
    done = await hub.admin(
        f"""mutation($c: ID!, $k: String!, $p: PaymentInput) {{ checkoutComplete(cartId: $c,
          idempotencyKey: $k, payment: $p) {{ order {{ id }} {ERRORS} }} }}""",
        {"c": cid, "k": uid(), "p": payment or {"provider": "cash", "reference": "till-1"}},
        headers=headers,
    )
    assert "errors" not in done, done
    assert done["data"]["checkoutComplete"]["userErrors"] == [], done
    return await order(hub, done["data"]["checkoutComplete"]["order"]["id"])


async def order(hub: Hub, order_id: str) -> dict[str, Any]:
    got = (await admin(hub, ORDER, {"id": order_id}))["order"]
    assert got is not None
    return got


async def fo_action(hub: Hub, name: str, fo_id: str, **args: Any) -> dict[str, Any]:
    """Run ``fulfillmentOrder<Name>(id:, ...)``; its payload."""
    decl = "".join(f", ${k}: {_types[k]}" for k in args)
    call = "".join(f", {k}: ${k}" for k in args)
    field = "fulfillmentOrder" + name
    result = "fulfillment" if name == "PickedUp" else "fulfillmentOrder"
    body = F_FIELDS if name == "PickedUp" else FO_FIELDS
    out = await admin(
        hub,
        f"""mutation($id: ID!{decl}) {{ {field}(id: $id{call}) {{
          {result} {{ {body} }} {ERRORS} }} }}""",
        {"id": fo_id, **args},
    )
    return out[field]


_types = {"reason": "String", "note": "String", "locationId": "ID!"}


async def fulfil(
    hub: Hub,
    fo_id: str,
    lines: list[tuple[str, int]] | None = None,
    tracking: dict[str, Any] | None = None,
    serials: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """fulfillmentCreate: ``lines`` as (fulfillment order line id, quantity), with
    ``serials`` (fulfillment order line id -> serial numbers) on those lines."""
    out = await admin(
        hub,
        f"""mutation($f: ID!, $l: [FulfillmentLineInput!], $t: TrackingInput) {{
          fulfillmentCreate(fulfillmentOrderId: $f, lines: $l, tracking: $t) {{
            fulfillment {{ {F_FIELDS} }} {ERRORS} }} }}""",
        {
            "f": fo_id,
            "l": None
            if lines is None
            else [
                {
                    "fulfillmentOrderLineId": i,
                    "quantity": q,
                    "serialNumbers": (serials or {}).get(i),
                }
                for i, q in lines
            ],
            "t": tracking,
        },
    )
    return out["fulfillmentCreate"]


async def levels(hub: Hub, vid: str, loc: int) -> tuple[int, int, int]:
    """(onHand, reserved, committed) of ``vid`` at ``loc``."""
    rows = await hub.rows(
        "SELECT on_hand, reserved, committed FROM inventory_levels "
        "WHERE variant_id = :v AND location_id = :l",
        v=pk_of(vid),
        l=loc,
    )
    return (rows[0].on_hand, rows[0].reserved, rows[0].committed) if rows else (0, 0, 0)


async def ledger_clean(hub: Hub) -> None:
    """``hub inventory verify``: every level equals the sum of its ledger."""
    assert await verify(hub.db) == []


def codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


def locations_of(o: dict[str, Any]) -> list[int]:
    """The locations of an order's fulfillment orders, in order."""
    return [pk_of(f["location"]["id"]) for f in o["fulfillmentOrders"]]
