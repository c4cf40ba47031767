"""Receipts, on SQLite and PostgreSQL, over GraphQL: ``Order.receipt`` (the payload a
till prints) for staff whose orders permission reaches the order and for the customer
who owns it; ``orderReceiptSend`` writes ``order.receipt_requested`` and hands the
receipt to the mailer."""

from __future__ import annotations

from hub.demo import NEWARK
from tests.helpers.accounts import mail, mailer, verified_customer
from tests.helpers.carts import create, stocked_variant
from tests.helpers.checkout import checkout, outbox_payloads
from tests.helpers.client import Hub
from tests.helpers.orders import place
from tests.helpers.staff import key_with_roles, uid
from tests.helpers.till import OPEN, codes, make_till, minor, pk, till_staff, till_token

RECEIPT = "query($id: ID!) { order(id: $id) { id name receipt } }"
CASH = {"provider": "cash", "reference": "front desk"}
SEND = """mutation($o: ID!, $e: String!) { orderReceiptSend(orderId: $o, email: $e) {
  orderId userErrors { field message code } } }"""


async def test_receipt_of_a_cash_sale_at_a_till(hub: Hub) -> None:
    till, code, location = await make_till(hub)
    user, address = await till_staff(hub, [location])
    token = await till_token(hub, till, address)
    await hub.gql(OPEN, {"t": till, "f": 2000}, token=token)
    vid = await stocked_variant(hub, {pk(location): 5}, price="12.50")
    cid = (await create(hub, {"lines": [{"merchandiseId": vid, "quantity": 2}]}))["cart"]["id"]
    out = await checkout(hub, cid, uid(), {"provider": "cash", "reference": "drawer"}, token)
    assert out["userErrors"] == [], out
    order = out["order"]
    paid = minor(order["totalPrice"]["amount"])

    res = await hub.gql(RECEIPT, {"id": order["id"]}, token=token)
    receipt = res["data"]["order"]["receipt"]
    assert receipt["orderNumber"] == order["name"] == res["data"]["order"]["name"]
    assert receipt["till"] == {"id": till, "code": code, "name": "Till"}
    assert receipt["staff"] == {"id": user, "name": "Sam Staff"}
    assert receipt["store"]["location"]["id"] == location
    assert receipt["store"]["channel"]
    [line] = receipt["lines"]
    assert line["quantity"] == 2 and line["unitPrice"] == 1250 and line["subtotal"] == 2500
    assert receipt["totals"]["total"] == paid
    assert receipt["totals"]["subtotal"] == 2500
    assert receipt["totals"]["tax"] == sum(ln["tax"] for ln in receipt["lines"])
    assert [p["provider"] for p in receipt["payments"]] == ["cash"]
    assert receipt["payments"][0]["amount"] == paid
    assert receipt["cash"] == {"tendered": paid, "changeDue": 0}
    assert receipt["barcode"] == {"format": "CODE128", "content": order["name"]}
    assert receipt["qr"] == {"content": order["name"]}
    assert receipt["currency"] == order["totalPrice"]["currencyCode"]

    # Staff whose orders permission does not reach the store see no order at all.
    far = await key_with_roles(hub, ["orders"], locations=[NEWARK])
    res = await hub.gql(RECEIPT, {"id": order["id"]}, token=far)
    assert res["data"]["order"] is None, res

    # E-mailed: the event, then the mailer.
    to = f"buyer-{uid()}@example.com"
    sent = await hub.gql(SEND, {"o": order["id"], "e": to}, token=token)
    assert sent["data"]["orderReceiptSend"] == {"orderId": order["id"], "userErrors": []}, sent
    message = await mail(hub, to, "order.receipt")
    assert message.data["receipt"]["orderNumber"] == order["name"]
    assert message.data["receipt"]["totals"]["total"] == paid
    payloads = await outbox_payloads(hub, "order.receipt_requested")
    assert {"order_id": pk(order["id"]), "order_number": order["name"], "email": to} in payloads


async def test_receipt_send_refuses_bad_input(hub: Hub) -> None:
    order, _vid = await place(hub, payment=CASH, token=hub.admin_token)
    before = len(mailer(hub).sent)
    events = len(await outbox_payloads(hub, "order.receipt_requested"))
    res = await hub.admin(SEND, {"o": order["id"], "e": "not an email"})
    assert codes(res["data"]["orderReceiptSend"]) == ["INVALID"], res
    res = await hub.admin(SEND, {"o": "gid://hub/Order/99999999", "e": "a@example.com"})
    assert codes(res["data"]["orderReceiptSend"]) == ["NOT_FOUND"], res
    res = await hub.gql(SEND, {"o": order["id"], "e": "a@example.com"})
    assert res["errors"][0]["extensions"]["code"] == "ACCESS_DENIED", res
    assert len(mailer(hub).sent) == before
    assert len(await outbox_payloads(hub, "order.receipt_requested")) == events


async def test_the_customer_reads_the_receipt_of_its_order(hub: Hub) -> None:
    _cid, address, token = await verified_customer(hub)
    vid = await stocked_variant(hub, {NEWARK: 5})
    # A store sale to the customer (matched by email at the till).
    cart = await create(
        hub, {"lines": [{"merchandiseId": vid}], "buyerIdentity": {"email": address}}
    )
    out = await checkout(hub, cart["cart"]["id"], uid(), CASH, hub.admin_token)
    assert out["userErrors"] == [], out
    res = await hub.gql(RECEIPT, {"id": out["order"]["id"]}, token=token)
    receipt = res["data"]["order"]["receipt"]
    assert receipt["orderNumber"] == out["order"]["name"]
    assert receipt["till"] is None and receipt["staff"] is None
    assert [p["provider"] for p in receipt["payments"]] == ["cash"]
    # Another customer sees nothing.
    _other, _a, other_token = await verified_customer(hub)
    res = await hub.gql(RECEIPT, {"id": out["order"]["id"]}, token=other_token)
    assert res["data"]["order"] is None, res
