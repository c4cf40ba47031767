"""Tax classes per product on SQLite and PostgreSQL: admin create/update/validation,
staff-only visibility, and carts taxing a reduced-class line at the reduced rate in
the tax-inclusive `eu` channel and the tax-exclusive `web` channel."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hub.demo import REDUCED_TAX_CLASS, REDUCED_TAX_TAG
from tests.helpers.carts import create, dec
from tests.helpers.catalog import (
    PRODUCT,
    make_product,
)
from tests.helpers.client import Hub


async def test_admin_sets_validates_and_sees_the_tax_class(hub: Hub) -> None:
    p = await make_product(hub, None, {"web": "10"})
    assert p["taxClass"] == "standard"  # the default
    upd = """mutation($id: ID!, $i: ProductInput!) { productUpdate(id: $id, input: $i) {
        product { taxClass } userErrors { field code } } }"""
    res = await hub.admin(upd, {"id": p["id"], "i": {"taxClass": "reduced"}})
    assert res["data"]["productUpdate"] == {"product": {"taxClass": "reduced"}, "userErrors": []}
    # The built-in rules name their classes: a typo is refused, so is a non-slug.
    for bad in ("reduce", "super reduced", "", "x" * 65):
        res = await hub.admin(upd, {"id": p["id"], "i": {"taxClass": bad}})
        assert res["data"]["productUpdate"]["userErrors"] == [
            {"field": ["taxClass"], "code": "INVALID"}
        ], bad
    res = await hub.admin(
        f"mutation($i: ProductInput!) {{ productCreate(input: $i) {{ {PRODUCT} }} }}",
        {"i": {"title": "Nope", "taxClass": "books"}},
    )
    assert res["data"]["productCreate"]["product"] is None
    assert res["data"]["productCreate"]["userErrors"] == [
        {"field": ["taxClass"], "code": "INVALID"}
    ]
    # Every class the demo rules know is accepted (zero, super_reduced, IL's grocery).
    for ok in ("zero", "super_reduced", "grocery", "standard"):
        res = await hub.admin(upd, {"id": p["id"], "i": {"taxClass": ok}})
        assert res["data"]["productUpdate"]["userErrors"] == [], ok
    # Storefronts don't see it.
    q = "query($id: ID!) { product(id: $id) { taxClass } }"
    res = await hub.gql(q, {"id": p["id"]})
    assert res["errors"][0]["path"] == ["product", "taxClass"]
    assert (await hub.admin(q, {"id": p["id"]}))["data"]["product"]["taxClass"] == "standard"


def line_tax(cart: dict[str, Any], vid: str) -> Decimal:
    (ln,) = [ln for ln in cart["lines"]["nodes"] if ln["merchandise"]["id"] == vid]
    return dec(ln["cost"]["totalTaxAmount"])


async def test_reduced_line_in_the_tax_inclusive_eu_channel(hub: Hub) -> None:
    reduced = await make_product(hub, "reduced", {"eu": "10.70"})
    standard = await make_product(hub, None, {"eu": "11.90"})
    out = await create(
        hub,
        {
            "lines": [
                {"merchandiseId": reduced["variantId"], "quantity": 2},
                {"merchandiseId": standard["variantId"], "quantity": 1},
            ],
            "buyerIdentity": {"countryCode": "DE"},
        },
        headers={"X-Hub-Channel": "eu"},
    )
    assert out["userErrors"] == [], out
    cart = out["cart"]
    assert cart["cost"]["taxesIncluded"] is True
    # German VAT contained in the prices: 7% of 21.40 gross is 1.40, 19% of 11.90 is 1.90.
    assert line_tax(cart, reduced["variantId"]) == Decimal("1.40")
    assert line_tax(cart, standard["variantId"]) == Decimal("1.90")
    # The rest of the tax is the shipping's (taxed at the standard rate in Germany).
    group_tax = sum(dec(g["totalTaxAmount"]) for g in cart["deliveryGroups"])
    assert dec(cart["cost"]["totalTaxAmount"]) == group_tax >= Decimal("3.30")
    assert dec(cart["cost"]["totalAmount"]) == Decimal("33.30") + dec(
        cart["cost"]["totalShippingAmount"]
    )


async def test_reduced_line_in_the_tax_exclusive_web_channel(hub: Hub) -> None:
    reduced = await make_product(hub, "reduced", {"web": "20"})
    standard = await make_product(hub, "standard", {"web": "20"})
    lines = [
        {"merchandiseId": reduced["variantId"], "quantity": 1},
        {"merchandiseId": standard["variantId"], "quantity": 1},
    ]
    # Shipped to Germany from the USD store: VAT added on top at 7% and 19%.
    out = await create(hub, {"lines": lines, "buyerIdentity": {"countryCode": "DE"}})
    assert out["userErrors"] == [], out
    cart = out["cart"]
    assert cart["cost"]["taxesIncluded"] is False
    assert line_tax(cart, reduced["variantId"]) == Decimal("1.40")
    assert line_tax(cart, standard["variantId"]) == Decimal("3.80")
    # New York has no reduced rate: the class falls back to the standard 8.875%.
    out = await create(hub, {"lines": lines})
    cid = out["cart"]["id"]
    res = await hub.gql(
        """mutation($c: ID!) { cartDeliveryUpdate(cartId: $c, deliveryGroups: [
        {shippingAddress: {countryCode: "US", region: "NY", postalCode: "10001"}}]) {
        cart { lines(first: 5) { nodes { merchandise { id } cost { totalTaxAmount { amount } } } } }
        userErrors { code } } }""",
        {"c": cid},
    )
    cart = res["data"]["cartDeliveryUpdate"]["cart"]
    assert line_tax(cart, reduced["variantId"]) == Decimal("1.78")  # 1.775 half-even
    assert line_tax(cart, standard["variantId"]) == Decimal("1.78")


async def test_demo_products_with_the_tag_have_the_reduced_class(hub: Hub) -> None:
    n_reduced = await hub.scalar(
        "SELECT count(*) FROM products WHERE tax_class = :c", c=REDUCED_TAX_CLASS
    )
    n_tagged = await hub.scalar(
        "SELECT count(*) FROM product_tags t JOIN products p ON p.id = t.product_id "
        "WHERE t.tag = :t AND p.handle NOT LIKE 'tax-%'",
        t=REDUCED_TAX_TAG,
    )
    assert n_reduced >= n_tagged > 0
