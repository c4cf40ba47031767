"""Helpers of the returns and substitutions tests: orders placed through checkout,
their units shipped, returns opened and received over GraphQL."""

from __future__ import annotations

from typing import Any

from hub.auth import create_api_key
from hub.domain.inventory import verify
from tests.helpers.carts import create, stocked_variant, uid
from tests.helpers.checkout import checkout
from tests.helpers.client import Hub
from tests.helpers.fulfillment import fo_action, fulfil
from tests.helpers.fulfillment import order as fulfilment_view

RETURN = """id status source resolution amount { amount currencyCode } note orderId
  locationId receivedLocationId refundId exchangeLines
  refund { id amount { amount } status }
  flags { code message data }
  lines { id orderLineItemId quantity reason note serialNumber
          quantityRestocked quantityQuarantined quantityDisposed quantityReceived }
  exchangeOrder { id name totalPrice { amount } paymentStatus
                  lineItems(first: 10) { nodes { sku quantity } } }
  giftCard { id balance { amount } initialValue { amount } }"""
ERRORS = "userErrors { field message code }"

RETURN_CREATE = f"""mutation($o: ID!, $l: [ReturnLineInput!]!, $r: ReturnResolution!,
  $loc: ID, $x: [ExchangeLineInput!], $n: String) {{
  returnCreate(orderId: $o, lines: $l, resolution: $r, locationId: $loc, exchangeLines: $x,
    note: $n) {{ return {{ {RETURN} }} {ERRORS} }} }}"""
RETURN_REQUEST = f"""mutation($o: ID!, $l: [ReturnLineInput!]!, $r: ReturnResolution!) {{
  returnRequest(orderId: $o, lines: $l, resolution: $r) {{ return {{ {RETURN} }} {ERRORS} }} }}"""
RETURN_RECEIVE = f"""mutation($id: ID!, $loc: ID!, $l: [ReturnReceiveLineInput!]!,
  $p: PaymentInput) {{
  returnReceive(returnId: $id, locationId: $loc, lines: $l, exchangePayment: $p) {{
    return {{ {RETURN} }} giftCardCode {ERRORS} }} }}"""
ORDER = f"""query($id: ID!) {{ order(id: $id) {{ id fulfillmentStatus paymentStatus
  totalPrice {{ amount }}
  lineItems(first: 10) {{ nodes {{ id sku quantity }} }}
  returns {{ {RETURN} }}
  substitutions {{ id status quantity unitPrice {{ amount }} variantId originalVariantId
                   fulfillmentOrderLineId }} }} }}"""


def loc(pk: int) -> str:
    return f"gid://hub/Location/{pk}"


def pk_of(gid: str) -> int:
    return int(gid.rsplit("/", 1)[1])


async def customer_key(hub: Hub) -> tuple[str, str]:
    """A new customer and its customer-scope key: (customer id, key)."""
    email = f"returns-{uid()}@example.com"
    res = await hub.admin(
        """mutation($i: CustomerInput!) { staffCustomerCreate(input: $i) {
        customer { id } userErrors { code } } }""",
        {"i": {"email": email}},
    )
    assert res["data"]["staffCustomerCreate"]["userErrors"] == [], res
    _, key = await create_api_key(hub.db, f"returns-{uid()}", ["customer"], customer=email)
    return res["data"]["staffCustomerCreate"]["customer"]["id"], key


async def place(
    hub: Hub,
    items: list[tuple[str, int]],
    payment: dict[str, Any],
    *,
    token: str | None = None,
    pickup: int | None = None,
) -> dict[str, Any]:
    """An order of ``items`` ((variant id, quantity)) through cartCreate and
    checkoutComplete (with ``token``: the customer's own cart; with ``pickup``: picked
    up at that location)."""
    lines = [{"merchandiseId": v, "quantity": q} for v, q in items]
    cart = await create(hub, {"lines": lines}, token=token)
    assert cart["userErrors"] == [], cart
    if pickup is not None:
        res = await hub.gql(
            """mutation($c: ID!, $g: [CartDeliveryGroupInput!]!) {
            cartDeliveryUpdate(cartId: $c, deliveryGroups: $g) { userErrors { code } } }""",
            {"c": cart["cart"]["id"], "g": [{"pickupLocationId": loc(pickup)}]},
            token=token,
        )
        assert res["data"]["cartDeliveryUpdate"]["userErrors"] == [], res
    out = await checkout(hub, cart["cart"]["id"], uid(), payment, token=token)
    assert out["userErrors"] == [], out
    order = out["order"]
    got = await hub.admin(ORDER, {"id": order["id"]})
    order["lines"] = got["data"]["order"]["lineItems"]["nodes"]
    return order


async def new_variant(hub: Hub, stock: dict[int, int], price: str = "10") -> str:
    return await stocked_variant(hub, stock, price)


async def ship_all(
    hub: Hub, order_gid: str, serials: dict[str, list[str]] | None = None
) -> list[int]:
    """Every open fulfillment order of the order done through the fulfilment API:
    shipped (fulfillmentCreate) or, for a pickup, made ready and picked up. The
    locations they left from.

    ``serials`` (variant id -> serial numbers): the serials of that variant's units,
    given to fulfillmentCreate (or fulfillmentOrderPickedUp) line by line."""
    view = await fulfilment_view(hub, order_gid)
    shipped: list[int] = []
    by_variant = {pk_of(v): list(sns) for v, sns in (serials or {}).items()}
    for fo in view["fulfillmentOrders"]:
        if fo["status"] in ("FULFILLED", "CANCELLED"):
            continue
        line_serials: dict[str, list[str]] = {}
        for ln in fo["lines"]:
            variant = await hub.scalar(
                "SELECT variant_id FROM fulfillment_order_lines WHERE id = :i", i=pk_of(ln["id"])
            )
            if variant in by_variant:
                q = ln["remainingQuantity"]
                line_serials[ln["id"]] = by_variant[variant][:q]
                by_variant[variant] = by_variant[variant][q:]
        if fo["deliveryKind"] == "PICKUP":
            ready = await fo_action(hub, "ReadyForPickup", fo["id"])
            assert ready["userErrors"] == [], ready
            done = await picked_up(hub, fo["id"], line_serials)
        elif line_serials:
            lines = [(ln["id"], ln["remainingQuantity"]) for ln in fo["lines"]]
            done = await fulfil(hub, fo["id"], lines, serials=line_serials)
        else:
            done = await fulfil(hub, fo["id"])
        assert done["userErrors"] == [], done
        shipped.append(pk_of(fo["location"]["id"]))
    return shipped


async def picked_up(hub: Hub, fo_id: str, serials: dict[str, list[str]]) -> dict[str, Any]:
    """fulfillmentOrderPickedUp with the serials of its lines' units."""
    res = await hub.admin(
        """mutation($id: ID!, $s: [FulfillmentLineSerialsInput!]) {
        fulfillmentOrderPickedUp(id: $id, serials: $s) {
          fulfillment { id lines { serialNumbers } } userErrors { field message code } } }""",
        {
            "id": fo_id,
            "s": [{"fulfillmentOrderLineId": i, "serialNumbers": sns} for i, sns in serials.items()]
            or None,
        },
    )
    assert "errors" not in res, res
    payload: dict[str, Any] = res["data"]["fulfillmentOrderPickedUp"]
    return payload


async def open_return(hub: Hub, variables: dict[str, Any], **kw: Any) -> dict[str, Any]:
    res = await hub.gql(RETURN_CREATE, variables, token=kw.pop("token", hub.admin_token), **kw)
    assert "errors" not in res, res
    payload: dict[str, Any] = res["data"]["returnCreate"]
    return payload


async def receive(
    hub: Hub,
    return_id: str,
    location: int,
    lines: list[tuple[str, int, str]],
    payment: dict[str, Any] | None = None,
) -> dict[str, Any]:
    res = await hub.admin(
        RETURN_RECEIVE,
        {
            "id": return_id,
            "loc": loc(location),
            "l": [{"returnLineId": rl, "quantity": q, "disposition": d} for rl, q, d in lines],
            "p": payment,
        },
    )
    assert "errors" not in res, res
    payload: dict[str, Any] = res["data"]["returnReceive"]
    return payload


async def order_view(hub: Hub, order_gid: str) -> dict[str, Any]:
    res = await hub.admin(ORDER, {"id": order_gid})
    assert "errors" not in res, res
    got: dict[str, Any] = res["data"]["order"]
    return got


async def assert_ledger_clean(hub: Hub) -> None:
    """``hub inventory verify``: every level equals the sum of its ledger rows."""
    assert await verify(hub.db) == []


async def level_of(hub: Hub, variant_gid: str, location: int) -> dict[str, int]:
    rows = await hub.rows(
        "SELECT on_hand, committed, reserved, quarantined FROM inventory_levels "
        "WHERE variant_id = :v AND location_id = :l",
        v=pk_of(variant_gid),
        l=location,
    )
    if not rows:
        return {"on_hand": 0, "committed": 0, "reserved": 0, "quarantined": 0}
    r = rows[0]
    return {
        "on_hand": r.on_hand,
        "committed": r.committed,
        "reserved": r.reserved,
        "quarantined": r.quarantined,
    }
