"""orderImport over GraphQL on SQLite and PostgreSQL: an order placed elsewhere is
written once per (source, external id), with its prices and taxes as given, its stock
committed at the given location (or routed by the default allocation), its customer
attached by email, its fulfillment orders written as checkout writes them, and
``order.imported`` + ``order.created`` emitted; bad input writes nothing."""

from __future__ import annotations

import asyncio

from hub.demo import CHICAGO, NEWARK
from tests.helpers.carts import stocked_variant, uid
from tests.helpers.checkout import level, outbox_payloads
from tests.helpers.client import Hub
from tests.helpers.orders import assert_ledger_clean, kinds, pk, refund, txns

IMPORT = """mutation($i: OrderImportInput!, $k: String!) {
  orderImport(input: $i, idempotencyKey: $k) {
    created
    order { id name source externalId customerId paymentStatus status
            totalPrice { amount } totalTax { amount } subtotalPrice { amount }
            totalShippingPrice { amount }
            lineItems(first: 10) { nodes { id sku quantity locationIds
              originalUnitPrice { amount } totalPrice { amount } } }
            events { kind } transactions { kind status amount { amount } } }
    userErrors { field message code } } }"""

CUSTOMER = """mutation($i: CustomerInput!) { staffCustomerCreate(input: $i) {
  customer { id email } userErrors { code } } }"""


async def _import(hub: Hub, input_: dict, key: str | None = None) -> dict:
    res = await hub.admin(IMPORT, {"i": input_, "k": key or uid()})
    assert "errors" not in res, res
    return res["data"]["orderImport"]


def _input(vid: str, external: str, **extra: object) -> dict:
    return {
        "source": "marketplace-x",
        "externalId": external,
        "channelId": "gid://hub/Channel/1",
        "lines": [{"variantId": vid, "quantity": 2, "unitPrice": "7.50", "totalTax": "1.20"}],
        "shippingPrice": "3.00",
        **extra,
    }


async def test_import_commits_stock_keeps_prices_and_is_idempotent(hub: Hub) -> None:
    email = f"imp-{uid()}@example.com"
    made = await hub.admin(CUSTOMER, {"i": {"email": email}})
    customer = made["data"]["staffCustomerCreate"]["customer"]["id"]
    vid = await stocked_variant(hub, {NEWARK: 1, CHICAGO: 4})
    external = f"MX-{uid()}"
    before = await level(hub, vid, CHICAGO)
    out = await _import(
        hub, _input(vid, external, locationId=f"gid://hub/Location/{CHICAGO}", email=email.upper())
    )
    assert out["userErrors"] == [] and out["created"] is True, out
    o = out["order"]
    assert (o["source"], o["externalId"], o["customerId"]) == ("marketplace-x", external, customer)
    # As given: 2 x 7.50 + 1.20 tax + 3.00 shipping, no re-pricing.
    assert o["subtotalPrice"]["amount"] == "15.00"
    assert o["totalTax"]["amount"] == "1.20"
    assert o["totalPrice"]["amount"] == "19.20"
    line = o["lineItems"]["nodes"][0]
    assert line["originalUnitPrice"]["amount"] == "7.50"
    assert line["locationIds"] == [f"gid://hub/Location/{CHICAGO}"]
    assert await level(hub, vid, CHICAGO) == (before[0], before[1], before[2] + 2)
    assert o["paymentStatus"] == "PAID"
    assert txns(o) == [("SALE", "SUCCESS", "19.20")]  # taken elsewhere, recorded
    assert "order.imported" in kinds(o)
    fos = await hub.rows(
        "SELECT location_id, status FROM fulfillment_orders WHERE order_id = :o", o=pk(o["id"])
    )
    assert [tuple(r) for r in fos] == [(CHICAGO, "OPEN")]
    assert [p["orderId"] for p in await outbox_payloads(hub, "order.imported")].count(o["id"]) == 1
    created = [
        p for p in await outbox_payloads(hub, "order.created") if p["orderId"] == pk(o["id"])
    ]
    assert len(created) == 1

    # Again, and twice at once: the same order, nothing committed twice.
    again = await asyncio.gather(*(_import(hub, _input(vid, external)) for _ in range(3)))
    assert {a["order"]["id"] for a in again} == {o["id"]}
    assert all(a["created"] is False and a["userErrors"] == [] for a in again)
    assert await level(hub, vid, CHICAGO) == (before[0], before[1], before[2] + 2)

    # Its money was taken elsewhere: a refund of it is recorded, not sent anywhere.
    r = await refund(hub, o["id"], uid(), amount="5")
    assert r["userErrors"] == [], r
    assert txns(r["order"])[-1] == ("REFUND", "SUCCESS", "5.00")
    await assert_ledger_clean(hub)


async def test_import_routes_without_a_location_and_refuses_what_it_cannot_fill(
    hub: Hub,
) -> None:
    vid = await stocked_variant(hub, {NEWARK: 1, CHICAGO: 1})
    out = await _import(hub, _input(vid, f"MX-{uid()}", financialStatus="PENDING"))
    assert out["userErrors"] == [], out
    o = out["order"]
    assert o["paymentStatus"] == "PENDING"
    # Neither location holds both units: the default allocation splits the line.
    assert sorted(o["lineItems"]["nodes"][0]["locationIds"]) == sorted(
        [f"gid://hub/Location/{NEWARK}", f"gid://hub/Location/{CHICAGO}"]
    )
    fos = await hub.rows(
        "SELECT location_id FROM fulfillment_orders WHERE order_id = :o", o=pk(o["id"])
    )
    assert sorted(r[0] for r in fos) == sorted([NEWARK, CHICAGO])

    # No stock left: refused, nothing written.
    tables = ("orders", "order_lines", "fulfillment_orders", "inventory_movements", "outbox")
    counts = [await hub.scalar(f"SELECT COUNT(*) FROM {t}") for t in tables]
    short = await _import(hub, _input(vid, f"MX-{uid()}"))
    assert [e["code"] for e in short["userErrors"]] == ["INSUFFICIENT_STOCK"]
    assert short["userErrors"][0]["field"] == ["lines", "0", "quantity"]
    bad = await _import(hub, _input(vid, "", lines=[]))
    assert {e["code"] for e in bad["userErrors"]} == {"INVALID"}
    bad_price = await _import(
        hub,
        _input(vid, f"MX-{uid()}", lines=[{"variantId": vid, "quantity": 1, "unitPrice": "1.001"}]),
    )
    assert [e["field"] for e in bad_price["userErrors"]] == [["input", "lines", "0", "unitPrice"]]
    assert [await hub.scalar(f"SELECT COUNT(*) FROM {t}") for t in tables] == counts
    await assert_ledger_clean(hub)
