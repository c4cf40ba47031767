"""Helpers shared by the tests (moved from tests.schema.test_tax_classes)."""

from __future__ import annotations

import uuid
from typing import Any

from hub.demo import NEWARK, ROTTERDAM
from tests.helpers.client import Hub
from tests.helpers.inventory import op

PRODUCT = "product { id taxClass variants(first: 1) { nodes { id } } } userErrors { field code }"


async def make_product(hub: Hub, tax_class: str | None, prices: dict[str, str]) -> dict[str, Any]:
    """An active product with one variant priced in both channels (``prices`` over
    10 each) and 10 units in each channel's warehouse, so storefront listings in
    later tests see an ordinary product."""
    prices = {"web": "10", "eu": "10", **prices}
    h = f"tax-{uuid.uuid4().hex[:10]}"
    i: dict[str, Any] = {
        "handle": h,
        "title": f"Tax {h}",
        "status": "ACTIVE",
        "variants": [{"sku": h.upper()}],
    }
    if tax_class is not None:
        i["taxClass"] = tax_class
    res = await hub.admin(
        f"mutation($i: ProductInput!) {{ productCreate(input: $i) {{ {PRODUCT} }} }}", {"i": i}
    )
    out = res["data"]["productCreate"]
    assert out["userErrors"] == [], out
    vid = out["product"]["variants"]["nodes"][0]["id"]
    res = await hub.admin(
        """mutation($p: [VariantPriceInput!]!) { productVariantPricesSet(prices: $p) {
        userErrors { code } } }""",
        {"p": [{"variantId": vid, "channel": ch, "amount": a} for ch, a in prices.items()]},
    )
    assert res["data"]["productVariantPricesSet"]["userErrors"] == []
    for loc in (NEWARK, ROTTERDAM):
        got = await op(
            hub,
            "inventoryAdjust",
            {
                "variantId": vid,
                "locationId": f"gid://hub/Location/{loc}",
                "delta": 10,
                "reason": "received",
            },
        )
        assert got["userErrors"] == [], got
    return {**out["product"], "variantId": vid}
