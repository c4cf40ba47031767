"""posSync over GraphQL: a store with stock, a till's batch, the level and the
discrepancies (shared by the posSync tests)."""

from __future__ import annotations

from typing import Any

from tests.helpers.client import Hub
from tests.helpers.inventory import make_location, make_variant, op

SYNC = """mutation($loc: ID!, $till: String!, $batch: [PosTransactionInput!]!) {
  posSync(locationId: $loc, tillId: $till, batch: $batch) {
    results { clientTransactionId status code message replayed
      conflicts { code message variantId tillPrice hubPrice onHand promotionId
        tillDiscount hubDiscount }
      order { id fulfillmentStatus totalPrice { amount } } }
    userErrors { field message code } } }"""

DISCREPANCIES = """query($loc: ID!) { inventoryDiscrepancies(locationId: $loc) {
  sku onHand shortfall since level { onHand variant { id } } } }"""

LEVEL = """query($id: ID!) { node(id: $id) { ... on ProductVariant {
  inventoryLevels(first: 20) { nodes { onHand location { id } } } } } }"""


async def store_with_stock(hub: Hub, on_hand: int, variants: int = 1) -> tuple[str, list[str]]:
    loc = await make_location(hub)
    vids = [await make_variant(hub) for _ in range(variants)]
    for v in vids:
        if on_hand:
            got = await op(
                hub, "inventoryAdjust",
                {"variantId": v, "locationId": loc, "delta": on_hand, "reason": "received"},
            )  # fmt: skip
            assert got["userErrors"] == [], got
    return loc, vids


def sale(
    cid: str,
    variant: str,
    qty: int = 1,
    price: str = "10",
    at: str = "2026-12-01T10:00:00+01:00",
    **kw: Any,
) -> dict[str, Any]:
    return {
        "clientTransactionId": cid, "kind": "SALE", "occurredAt": at,
        "lines": [{"variantId": variant, "quantity": qty, "unitPrice": price}],
        "payments": [{"method": "CASH", "amount": str(int(price) * qty)}],
        **kw,
    }  # fmt: skip


async def sync(
    hub: Hub, loc: str, till: str, batch: list[dict[str, Any]], token: str | None = None
) -> dict[str, Any]:
    res = await hub.gql(
        SYNC, {"loc": loc, "till": till, "batch": batch}, token=token or hub.admin_token
    )
    assert "errors" not in res, res
    return res["data"]["posSync"]


async def on_hand(hub: Hub, variant: str, loc: str) -> int:
    res = await hub.admin(LEVEL, {"id": variant})
    nodes = res["data"]["node"]["inventoryLevels"]["nodes"]
    return next(n["onHand"] for n in nodes if n["location"]["id"] == loc)


async def discrepancies(hub: Hub, loc: str) -> list[dict[str, Any]]:
    res = await hub.admin(DISCREPANCIES, {"loc": loc})
    assert "errors" not in res, res
    return res["data"]["inventoryDiscrepancies"]
