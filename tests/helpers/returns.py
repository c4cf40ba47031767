"""Helpers of the returns and substitutions tests: orders placed through checkout,
their units shipped, returns opened and received over GraphQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from hub.auth import create_api_key
from hub.db.tables import (
    fo_lines_t,
    fulfillment_lines_t,
    fulfillment_orders_t,
    fulfillments_t,
    order_lines_t,
)
from hub.domain.inventory import verify
from hub.domain.inventory.operations import leave
from hub.domain.orders.returns import refresh_fulfillment_status
from hub.events.outbox import Outbox
from tests.helpers.carts import create, stocked_variant, uid
from tests.helpers.checkout import checkout
from tests.helpers.client import Hub

RETURN = """id status source resolution amount { amount currencyCode } note orderId
  locationId receivedLocationId refundId exchangeLines
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
        """mutation($i: CustomerInput!) { customerCreate(input: $i) {
        customer { id } userErrors { code } } }""",
        {"i": {"email": email}},
    )
    assert res["data"]["customerCreate"]["userErrors"] == [], res
    _, key = await create_api_key(hub.db, f"returns-{uid()}", ["customer"], customer=email)
    return res["data"]["customerCreate"]["customer"]["id"], key


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
    """Ship every open unit of the order from its fulfillment orders' locations.

    A stand-in for fulfillmentCreate until the fulfillment branch is merged: the same
    domain steps (inventory ``leave``, committed -> shipped through the ledger, the
    fulfillment rows and the running counts) in one transaction. The locations."""
    order_pk = pk_of(order_gid)
    outbox = Outbox()
    shipped: list[int] = []
    async with hub.db.transaction() as conn:
        fos = (
            await conn.execute(
                select(fulfillment_orders_t).where(
                    fulfillment_orders_t.c.order_id == order_pk,
                    fulfillment_orders_t.c.status.not_in(["FULFILLED", "CANCELLED"]),
                )
            )
        ).all()
        for fo in fos:
            lines = (
                await conn.execute(
                    select(fo_lines_t).where(fo_lines_t.c.fulfillment_order_id == fo.id)
                )
            ).all()
            f_pk = (
                await conn.execute(
                    fulfillments_t.insert()
                    .values(
                        order_id=order_pk,
                        fulfillment_order_id=fo.id,
                        location_id=fo.location_id,
                        kind="SHIPMENT",
                        status="SUCCESS",
                    )
                    .returning(fulfillments_t.c.id)
                )
            ).scalar_one()
            for ln in lines:
                due = ln.quantity - ln.quantity_fulfilled - ln.quantity_cancelled
                if due <= 0:
                    continue
                sold = (serials or {}).get(f"gid://hub/ProductVariant/{ln.variant_id}", [])
                await leave(
                    conn, outbox, ln.variant_id, fo.location_id, due, in_store=False, serials=sold
                )
                await conn.execute(
                    fulfillment_lines_t.insert().values(
                        fulfillment_id=f_pk,
                        fulfillment_order_line_id=ln.id,
                        order_line_id=ln.order_line_id,
                        quantity=due,
                    )
                )
                await conn.execute(
                    update(fo_lines_t)
                    .where(fo_lines_t.c.id == ln.id)
                    .values(quantity_fulfilled=fo_lines_t.c.quantity_fulfilled + due)
                )
                await conn.execute(
                    update(order_lines_t)
                    .where(order_lines_t.c.id == ln.order_line_id)
                    .values(quantity_fulfilled=order_lines_t.c.quantity_fulfilled + due)
                )
            await conn.execute(
                update(fulfillment_orders_t)
                .where(fulfillment_orders_t.c.id == fo.id)
                .values(status="FULFILLED")
            )
            shipped.append(int(fo.location_id))
        await refresh_fulfillment_status(conn, order_pk)
        await outbox.flush(conn)
    return shipped


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
