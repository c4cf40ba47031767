"""The CartCheckout contract, run verbatim on SQLite and PostgreSQL: create a cart, add
lines, apply DEMO10, set the buyer, read the totals, check out with an offline
payment, and the same idempotency key again returns the same order."""

from __future__ import annotations

import uuid
from decimal import Decimal

from tests.helpers.client import Hub, contract_operation

DOC = contract_operation("CartCheckout")


async def _op(hub: Hub, name: str, variables: dict, **kw: object) -> dict:
    res = await hub.gql(DOC, variables, operation=name, **kw)  # type: ignore[arg-type]
    assert "errors" not in res, res
    return res["data"]


async def sellable_variants(hub: Hub, n: int, channel: str = "web") -> list[dict]:
    """Variants in stock in the channel, not bundles."""
    res = await hub.gql(
        """query($c: String) @inContext(channel: $c) { products(first: 40) { nodes {
        variants(first: 3) { nodes { id sku isBundle quantityAvailable availableForSale
        price { amount } } } } } }""",
        {"c": channel},
    )
    out = []
    for p in res["data"]["products"]["nodes"]:
        for v in p["variants"]["nodes"]:
            if v["availableForSale"] and not v["isBundle"] and (v["quantityAvailable"] or 0) >= 4:
                out.append(v)
                break
        if len(out) == n:
            return out
    raise AssertionError("the demo catalog has too few sellable variants")


def money(m: dict) -> Decimal:
    return Decimal(m["amount"])


async def test_cart_checkout_contract(hub: Hub) -> None:
    v1, v2 = await sellable_variants(hub, 2)
    created = await _op(hub, "CartCreate", {"input": {}})
    assert created["cartCreate"]["userErrors"] == []
    cart = created["cartCreate"]["cart"]
    assert cart["totalQuantity"] == 0
    cid = cart["id"]

    added = await _op(
        hub,
        "CartLinesAdd",
        {
            "cartId": cid,
            "lines": [
                {"merchandiseId": v1["id"], "quantity": 2},
                {"merchandiseId": v2["id"], "quantity": 1},
            ],
        },
    )
    assert added["cartLinesAdd"]["userErrors"] == []
    c = added["cartLinesAdd"]["cart"]
    assert c["totalQuantity"] == 3
    lines = c["lines"]["nodes"]
    assert [ln["merchandise"]["sku"] for ln in lines] == [v1["sku"], v2["sku"]]
    # After the demo's automatic promotions, never above the list price.
    assert lines[0]["cost"]["totalAmount"]["currencyCode"] == "USD"
    assert money(lines[0]["cost"]["totalAmount"]) <= Decimal(v1["price"]["amount"]) * 2

    codes = await _op(hub, "CartDiscountCodesUpdate", {"cartId": cid, "codes": ["DEMO10"]})
    assert codes["cartDiscountCodesUpdate"]["userErrors"] == []
    dc = codes["cartDiscountCodesUpdate"]["cart"]
    assert dc["discountCodes"] == [{"code": "DEMO10", "applicable": True}]
    titles = [a["title"] for a in dc["discountAllocations"]]
    assert any("DEMO10" in t for t in titles), titles

    buyer = await _op(
        hub,
        "CartBuyerIdentityUpdate",
        {"cartId": cid, "buyerIdentity": {"email": "Ada@Example.com", "countryCode": "US"}},
    )
    assert buyer["cartBuyerIdentityUpdate"]["userErrors"] == []
    assert buyer["cartBuyerIdentityUpdate"]["cart"]["buyerIdentity"] == {
        "email": "ada@example.com",
        "countryCode": "US",
    }

    totals = (await _op(hub, "CartTotals", {"cartId": cid}))["cart"]["cost"]
    subtotal = money(totals["subtotalAmount"])
    discount = money(totals["totalDiscountAmount"])
    tax = money(totals["totalTaxAmount"])
    total = money(totals["totalAmount"])
    assert subtotal == Decimal(v1["price"]["amount"]) * 2 + Decimal(v2["price"]["amount"])
    assert discount >= (subtotal / 10).quantize(Decimal("0.01")) - Decimal("0.01")
    assert {m["currencyCode"] for m in totals.values()} == {"USD"}
    # The web channel is tax-exclusive: total = subtotal - discounts + shipping + tax.
    full = await hub.gql(
        "query($id: ID!) { cart(id: $id) { cost { totalShippingAmount { amount } } } }",
        {"id": cid},
    )
    shipping = money(full["data"]["cart"]["cost"]["totalShippingAmount"])
    assert total == subtotal - discount + shipping + tax

    key = f"contract-{uuid.uuid4().hex}"
    variables = {
        "cartId": cid,
        "idempotencyKey": key,
        "payment": {"provider": "cash", "reference": "drawer-1"},
    }
    done = await _op(hub, "CheckoutComplete", variables, token=hub.admin_token)
    assert done["checkoutComplete"]["userErrors"] == []
    order = done["checkoutComplete"]["order"]
    assert order["name"].startswith("#1")
    assert order["status"] == "OPEN"
    assert order["totalPrice"] == {"amount": totals["totalAmount"]["amount"], "currencyCode": "USD"}
    assert sorted((n["sku"], n["quantity"]) for n in order["lineItems"]["nodes"]) == sorted(
        [(v1["sku"], 2), (v2["sku"], 1)]
    )
    again = await _op(hub, "CheckoutComplete", variables, token=hub.admin_token)
    assert again["checkoutComplete"]["order"] == order
