"""The hub side of the marketplace connector on SQLite and PostgreSQL: a channel's
listings (active products priced there, with the units its chosen locations can sell)
and the order import from mappings (once per source and external id; a bad order
rejected with a stable code, nothing written; the external line ids kept for
shipments)."""

from __future__ import annotations

from typing import Any

from hub.domain.integrations.listings import channel_listings, order_refs, variant_offers
from hub.domain.integrations.orders_in import import_orders
from tests.helpers.checkout import outbox_payloads
from tests.helpers.client import Hub
from tests.helpers.fulfillment import admin, uid
from tests.helpers.marketplace import adjust, make_product, make_shop

ORDER = """query($id: ID!) { order(id: $id) { id source externalId status
  totalPrice { amount } lineItems(first: 10) { nodes { id sku quantity } } } }"""


async def test_listings_are_the_active_priced_variants_with_their_sellable_units(hub: Hub) -> None:
    shop = await make_shop(hub)
    a, b = shop.locations
    tee = await make_product(
        hub, shop, price="19.99", stock={a: 5, b: 3}, sizes=("S", "M"),
        attributes=[{"key": "material", "type": "STRING", "value": "cotton"}],
    )  # fmt: skip
    draft = await make_product(hub, shop, status="DRAFT", stock={a: 9})
    rows = await channel_listings(hub.db, shop.channel, None)
    by_sku = {r.sku: r for r in rows}
    assert set(by_sku) == set(tee), "the draft product is not listed"
    assert draft[0] not in by_sku
    s = by_sku[tee[0]]
    assert (s.price, s.currency, s.quantity) == (1999, "USD", 8)
    assert s.title.endswith(" - S") and s.description == "Heavy cotton."
    assert s.attributes["size"] == "S" and s.attributes["material"] == "cotton"
    only_b = await channel_listings(hub.db, shop.channel, [shop.location_handles[1]])
    assert {r.sku: r.quantity for r in only_b} == {tee[0]: 3, tee[1]: 3}
    # paging by variant id
    first = await channel_listings(hub.db, shop.channel, None, limit=1)
    rest = await channel_listings(hub.db, shop.channel, None, after=first[0].variant_id)
    assert [r.sku for r in first + rest] == [r.sku for r in rows]
    # a reservation-free stock change shows in the offers of that variant
    await adjust(hub, shop.variants[tee[1]], a, -2)
    got = await variant_offers(hub.db, shop.channel, None, [by_sku[tee[1]].variant_id])
    assert [(r.sku, r.quantity) for r in got] == [(tee[1], 6)]


def _mapping(shop: Any, sku: str, external: str, qty: int = 2, **extra: Any) -> dict[str, Any]:
    return {
        "source": "mk-test", "external_id": external, "channel": shop.channel,
        "currency": "USD", "email": f"{external.lower()}@buyer.example",
        "shipping": 499, "processed_at": "2026-12-03T18:00:00Z",
        "shipping_address": {"firstName": "Ada", "lastName": "Lovelace", "address1": "1 Main",
                             "city": "Newark", "postalCode": "07105", "countryCode": "US"},
        "lines": [{"sku": sku, "quantity": qty, "unit_price": 1999,
                   "external_id": f"{external}-1"}],
        **extra,
    }  # fmt: skip


async def test_orders_import_once_and_bad_ones_are_rejected_with_a_code(hub: Hub) -> None:
    shop = await make_shop(hub)
    a, _ = shop.locations
    (sku,) = await make_product(hub, shop, stock={a: 4})
    publish = hub.app.state.hub.orders.publish
    ext = f"MO-{uid()}"
    first = await import_orders(hub.db, [_mapping(shop, sku, ext)], publish=publish)
    assert [(r.status, r.key) for r in first] == [("created", f"mk-test:{ext}")]
    again = await import_orders(hub.db, [_mapping(shop, sku, ext)], publish=publish)
    assert again[0].status == "unchanged" and again[0].id == first[0].id
    count = await hub.scalar(
        "SELECT count(*) FROM orders WHERE source = 'mk-test' AND external_id = :e", e=ext
    )
    assert count == 1
    o = (await admin(hub, ORDER, {"id": f"gid://hub/Order/{first[0].id}"}))["order"]
    assert (o["source"], o["externalId"], o["totalPrice"]["amount"]) == ("mk-test", ext, "44.97")
    committed = await hub.scalar(
        "SELECT committed FROM inventory_levels WHERE variant_id = :v AND location_id = :l",
        v=int(shop.variants[sku].rsplit("/", 1)[1]), l=a,
    )  # fmt: skip
    assert committed == 2
    imported = [p for p in await outbox_payloads(hub, "order.imported") if p["orderId"] == o["id"]]
    assert len(imported) == 1 and imported[0]["externalId"] == ext
    refs = await order_refs(hub.db, "mk-test", [o["id"], "gid://hub/Order/999999999"])
    assert len(refs) == 1 and refs[0].external_id == ext
    assert refs[0].lines == {o["lineItems"]["nodes"][0]["id"]: f"{ext}-1"}
    assert await order_refs(hub.db, "other-source", [o["id"]]) == []

    before = await hub.scalar("SELECT count(*) FROM orders")
    bad = await import_orders(
        hub.db,
        [
            _mapping(shop, "NO-SUCH-SKU", f"MO-{uid()}"),
            _mapping(shop, sku, f"MO-{uid()}", qty=50),
            _mapping(shop, sku, f"MO-{uid()}", currency="EUR"),
            {**_mapping(shop, sku, f"MO-{uid()}"), "channel": "no-such-channel"},
            _mapping(shop, sku, f"MO-{uid()}", qty=0),
        ],
        publish=publish,
    )
    assert [(r.status, r.code) for r in bad] == [
        ("rejected", "NOT_FOUND"),
        ("rejected", "INSUFFICIENT_STOCK"),
        ("rejected", "CURRENCY_MISMATCH"),
        ("rejected", "NOT_FOUND"),
        ("rejected", "INVALID"),
    ]
    assert all(r.message for r in bad)
    assert await hub.scalar("SELECT count(*) FROM orders") == before
