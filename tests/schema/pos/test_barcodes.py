"""Barcodes on variants over GraphQL: GTINs with check digits in any spelling,
internal codes, one barcode per installation, look-up and search."""

from __future__ import annotations

import uuid
from typing import Any

from tests.helpers.client import Hub

CREATE = """mutation($i: ProductInput!) { productCreate(input: $i) {
  product { id variants(first: 5) { nodes { id sku barcode } } }
  userErrors { field code } } }"""
VARIANT_CREATE = """mutation($p: ID!, $i: ProductVariantInput!) {
  productVariantCreate(productId: $p, input: $i) {
    variant { id barcode } userErrors { field code } } }"""
VARIANT_UPDATE = """mutation($id: ID!, $i: ProductVariantInput!) {
  productVariantUpdate(id: $id, input: $i) { variant { id barcode } userErrors { field code } } }"""
BY_CODE = """query($c: String!) { productVariantByBarcode(code: $c) { id sku barcode } }"""
SEARCH = """query($q: String!) { products(first: 5, query: $q) { nodes { id } } }"""
PRICES = """mutation($p: [VariantPriceInput!]!) { productVariantPricesSet(prices: $p) {
  userErrors { code } } }"""


def _gtin12() -> str:
    """A fresh UPC-A (12 digits with its check digit)."""
    body = f"4{uuid.uuid4().int % 10**10:010d}"
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def _bad_check(code: str) -> str:
    return code[:-1] + str((int(code[-1]) + 1) % 10)


async def _product(hub: Hub, barcodes: list[str | None], status: str = "ACTIVE") -> dict[str, Any]:
    h = f"bc-{uuid.uuid4().hex[:10]}"
    variants = [
        {"sku": f"{h}-{i}".upper(), "options": [str(i)], **({"barcode": b} if b else {})}
        for i, b in enumerate(barcodes)
    ]
    i = {
        "handle": h,
        "title": f"Barcode {h}",
        "status": status,
        "options": [{"name": "N", "values": [*(str(i) for i in range(len(barcodes))), "x"]}],
        "variants": variants,
    }
    return (await hub.admin(CREATE, {"i": i}))["data"]["productCreate"]


async def _price(hub: Hub, variant_id: str) -> None:
    got = await hub.admin(
        PRICES, {"p": [{"variantId": variant_id, "channel": "web", "amount": "5"}]}
    )
    assert got["data"]["productVariantPricesSet"]["userErrors"] == []


async def test_a_upc_is_found_in_every_spelling_and_by_search(hub: Hub) -> None:
    upc = _gtin12()
    out = await _product(hub, [upc])
    assert out["userErrors"] == []
    variant = out["product"]["variants"]["nodes"][0]
    assert variant["barcode"] == upc
    await _price(hub, variant["id"])
    dashed = f"0-{upc[:6]}-{upc[6:]}"
    for spelling in (upc, "0" + upc, "00" + upc, f" {upc[:6]} {upc[6:]} ", dashed):
        got = await hub.admin(BY_CODE, {"c": spelling})
        assert got["data"]["productVariantByBarcode"]["id"] == variant["id"], spelling
        found = await hub.gql(
            SEARCH, {"q": spelling.strip().replace(" ", "")}, token=hub.storefront_token
        )
        assert [n["id"] for n in found["data"]["products"]["nodes"]] == [out["product"]["id"]]
        found = await hub.gql(SEARCH, {"q": f'barcode:"{spelling}"'}, token=hub.storefront_token)
        assert [n["id"] for n in found["data"]["products"]["nodes"]] == [out["product"]["id"]]
    # A wrong check digit finds nothing (and is no error).
    got = await hub.admin(BY_CODE, {"c": _bad_check(upc)})
    assert got["data"]["productVariantByBarcode"] is None


async def test_two_spellings_of_one_gtin_collide(hub: Hub) -> None:
    upc = _gtin12()
    first = await _product(hub, [upc])
    assert first["userErrors"] == []
    before = await hub.scalar("SELECT count(*) FROM variants")
    again = await _product(hub, ["0" + upc])  # the same product as an EAN-13
    assert again == {
        "product": None,
        "userErrors": [{"field": ["variants", "0", "barcode"], "code": "BARCODE_TAKEN"}],
    }
    # Two variants of one input with one barcode: the second is refused.
    other = _gtin12()
    both = await _product(hub, [other, "00" + other])
    assert both["product"] is None
    assert both["userErrors"][0]["code"] == "BARCODE_TAKEN"
    # Adding or changing a variant to a taken barcode is refused too.
    pid = first["product"]["id"]
    res = await hub.admin(
        VARIANT_CREATE,
        {"p": pid, "i": {"sku": f"X{uuid.uuid4().hex[:8]}", "options": ["x"], "barcode": upc}},
    )
    assert res["data"]["productVariantCreate"] == {
        "variant": None,
        "userErrors": [{"field": ["barcode"], "code": "BARCODE_TAKEN"}],
    }
    fresh = await _product(hub, [None])
    vid = fresh["product"]["variants"]["nodes"][0]["id"]
    res = await hub.admin(VARIANT_UPDATE, {"id": vid, "i": {"barcode": f"00{upc}"}})
    assert res["data"]["productVariantUpdate"]["userErrors"] == [
        {"field": ["barcode"], "code": "BARCODE_TAKEN"}
    ]
    assert await hub.scalar("SELECT count(*) FROM variants") == before + 1
    assert (
        await hub.scalar("SELECT count(*) FROM variants WHERE barcode_key = :k", k=upc.zfill(14))
        == 1
    )


async def test_bad_barcodes_are_refused_and_nothing_is_written(hub: Hub) -> None:
    before = await hub.scalar("SELECT count(*) FROM products")
    for code in (_bad_check(_gtin12()), "1234567", "12345678901", "has space", "0-0-0"):
        out = await _product(hub, [code])
        assert out["product"] is None, code
        assert out["userErrors"] == [
            {"field": ["variants", "0", "barcode"], "code": "BARCODE_INVALID"}
        ], code
    assert await hub.scalar("SELECT count(*) FROM products") == before
    fresh = await _product(hub, [None])
    vid = fresh["product"]["variants"]["nodes"][0]["id"]
    res = await hub.admin(VARIANT_UPDATE, {"id": vid, "i": {"barcode": "4006381333932"[:-1] + "0"}})
    assert res["data"]["productVariantUpdate"]["userErrors"] == [
        {"field": ["barcode"], "code": "BARCODE_INVALID"}
    ]
    assert (
        await hub.scalar(
            "SELECT count(*) FROM variants WHERE barcode IS NOT NULL AND id = "
            "(SELECT max(id) FROM variants)"
        )
        == 0
    )


async def test_internal_barcodes_and_clearing(hub: Hub) -> None:
    code = f"SHOP-{uuid.uuid4().hex[:8].upper()}"
    out = await _product(hub, [code])
    assert out["userErrors"] == []
    vid = out["product"]["variants"]["nodes"][0]["id"]
    got = await hub.admin(BY_CODE, {"c": code})
    assert got["data"]["productVariantByBarcode"]["barcode"] == code
    assert (await hub.admin(BY_CODE, {"c": code.lower()}))["data"][
        "productVariantByBarcode"
    ] is None
    clash = await _product(hub, [code])
    assert clash["userErrors"][0]["code"] == "BARCODE_TAKEN"
    # "" clears the barcode; then another variant may take it.
    res = await hub.admin(VARIANT_UPDATE, {"id": vid, "i": {"barcode": ""}})
    assert res["data"]["productVariantUpdate"] == {
        "variant": {"id": vid, "barcode": None},
        "userErrors": [],
    }
    assert (await hub.admin(BY_CODE, {"c": code}))["data"]["productVariantByBarcode"] is None
    assert (await _product(hub, [code]))["userErrors"] == []


async def test_storefronts_see_only_what_their_channel_sells(hub: Hub) -> None:
    upc = _gtin12()
    draft = await _product(hub, [upc], status="DRAFT")
    vid = draft["product"]["variants"]["nodes"][0]["id"]
    await _price(hub, vid)
    assert (await hub.gql(BY_CODE, {"c": upc}, token=hub.storefront_token))["data"][
        "productVariantByBarcode"
    ] is None
    assert (await hub.admin(BY_CODE, {"c": upc}))["data"]["productVariantByBarcode"]["id"] == vid
    # Active but not priced in the EU channel: not sold there.
    upc2 = _gtin12()
    web = await _product(hub, [upc2])
    vid2 = web["product"]["variants"]["nodes"][0]["id"]
    await _price(hub, vid2)
    sf = await hub.gql(
        BY_CODE, {"c": upc2}, token=hub.storefront_token, headers={"X-Hub-Channel": "web"}
    )
    assert sf["data"]["productVariantByBarcode"]["id"] == vid2
    eu = await hub.gql(
        BY_CODE, {"c": upc2}, token=hub.storefront_token, headers={"X-Hub-Channel": "eu"}
    )
    assert eu["data"]["productVariantByBarcode"] is None


async def test_the_demo_catalog_has_valid_unique_barcodes(hub: Hub) -> None:
    rows = await hub.rows(
        "SELECT barcode, barcode_key FROM variants WHERE sku LIKE 'NW-%' OR barcode LIKE '200%'"
    )
    demo = [r for r in rows if r.barcode and r.barcode.startswith("200")]
    assert demo, "the demo seeds barcodes"
    assert all(r.barcode_key == r.barcode.zfill(14) for r in demo)
    assert len({r.barcode_key for r in demo}) == len(demo)
    got = await hub.admin(BY_CODE, {"c": demo[0].barcode})
    assert got["data"]["productVariantByBarcode"]["barcode"] == demo[0].barcode
