"""Helpers shared by the tests (moved from tests.schema.test_carts)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from hub.demo import NEWARK
from tests.helpers.client import Hub
from tests.helpers.inventory import make_variant, op

CART = """
  id status totalQuantity currencyCode note expiresAt
  attributes { key value }
  buyerIdentity { email phone countryCode customerId }
  lines(first: 50) { nodes { id quantity sku attributes { key value }
    merchandise { id sku }
    cost { amountPerQuantity { amount } compareAtAmountPerQuantity { amount }
           subtotalAmount { amount } totalAmount { amount currencyCode } totalTaxAmount { amount } }
    discountAllocations { title discountedAmount { amount } } } }
  cost { subtotalAmount { amount currencyCode } totalDiscountAmount { amount }
         totalShippingAmount { amount } totalTaxAmount { amount } totalAmount { amount }
         taxesIncluded }
  discountCodes { code applicable reason }
  discountAllocations { title code discountClass discountedAmount { amount }
                        lines { lineId amount { amount } } }
  deliveryGroups { id deliveryType lineIds address pickupLocation { id name }
    deliveryOptions { handle title estimatedCost { amount } }
    selectedDeliveryOption { handle estimatedCost { amount } }
    shippingAmount { amount } totalTaxAmount { amount } }
  warnings { code message target }
"""


ERRORS = "userErrors { field message code } warnings { code message target }"


def uid() -> str:
    return uuid.uuid4().hex[:10]


async def gql(hub: Hub, q: str, v: dict[str, Any], **kw: Any) -> dict[str, Any]:
    res = await hub.gql(q, v, **kw)
    assert "errors" not in res, res
    return res["data"]


async def create(hub: Hub, input_: dict | None = None, **kw: Any) -> dict:
    d = await gql(
        hub,
        f"mutation($i: CartInput) {{ cartCreate(input: $i) {{ cart {{ {CART} }} {ERRORS} }} }}",
        {"i": input_ or {}},
        **kw,
    )
    return d["cartCreate"]


async def mutate(hub: Hub, name: str, args: str, v: dict, **kw: Any) -> dict:
    decl = ", ".join(f"${k}: {t}" for k, t in _types(name).items())
    call = ", ".join(f"{k}: ${k}" for k in _types(name))
    d = await gql(
        hub, f"mutation({decl}) {{ {name}({call}) {{ cart {{ {CART} }} {ERRORS} }} }}", v, **kw
    )
    return d[name]


def _types(name: str) -> dict[str, str]:
    return {
        "cartLinesAdd": {"cartId": "ID!", "lines": "[CartLineInput!]!"},
        "cartLinesUpdate": {"cartId": "ID!", "lines": "[CartLineUpdateInput!]!"},
        "cartLinesRemove": {"cartId": "ID!", "lineIds": "[ID!]!"},
        "cartDiscountCodesUpdate": {"cartId": "ID!", "discountCodes": "[String!]!"},
        "cartBuyerIdentityUpdate": {"cartId": "ID!", "buyerIdentity": "CartBuyerIdentityInput!"},
        "cartAttributesUpdate": {"cartId": "ID!", "attributes": "[AttributeInput!]!"},
        "cartNoteUpdate": {"cartId": "ID!", "note": "String"},
        "cartDeliveryUpdate": {"cartId": "ID!", "deliveryGroups": "[CartDeliveryGroupInput!]!"},
    }[name]


async def get_cart(hub: Hub, cid: str, **kw: Any) -> dict | None:
    d = await gql(hub, f"query($id: ID!) {{ cart(id: $id) {{ {CART} }} }}", {"id": cid}, **kw)
    return d["cart"]


async def stocked_variant(hub: Hub, stock: dict[int, int], price: str = "10") -> str:
    """A fresh web variant priced ``price`` with ``stock`` units per location pk."""
    vid = await make_variant(hub)
    if price != "10":
        await hub.admin(
            """mutation($p: [VariantPriceInput!]!) { productVariantPricesSet(prices: $p) {
            userErrors { code } } }""",
            {"p": [{"variantId": vid, "channel": "web", "amount": price}]},
        )
    for loc, qty in stock.items():
        out = await op(
            hub,
            "inventoryAdjust",
            {
                "variantId": vid,
                "locationId": f"gid://hub/Location/{loc}",
                "delta": qty,
                "reason": "received",
            },
        )
        assert out["userErrors"] == [], out
    return vid


def codes(payload: dict) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


def dec(m: dict) -> Decimal:
    return Decimal(m["amount"])


async def restock(hub: Hub, vid: str, qty: int = 5) -> None:
    """Leave no sold-out product behind: other tests count unavailable products."""
    out = await op(
        hub,
        "inventoryAdjust",
        {
            "variantId": vid,
            "locationId": f"gid://hub/Location/{NEWARK}",
            "delta": qty,
            "reason": "received",
        },
    )
    assert out["userErrors"] == []
