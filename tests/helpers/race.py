"""Helpers shared by the tests (moved from tests.test_race)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx


def pk(gid: str) -> int:
    return int(gid.rsplit("/", 1)[1])


async def gql(client: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> dict:
    resp = await client.post("/graphql", json={"query": query, "variables": variables})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert "errors" not in body, body
    return body["data"]


PRODUCT = """mutation($i: ProductInput!) { productCreate(input: $i) {
  product { variants(first: 1) { nodes { id } } } userErrors { field code } } }"""


PRICE = """mutation($p: [VariantPriceInput!]!) { productVariantPricesSet(prices: $p) {
  userErrors { field code } } }"""


LOCATION = """mutation($i: LocationInput!) { locationCreate(input: $i) {
  location { id } userErrors { field code } } }"""


ADJUST = """mutation($i: InventoryAdjustInput!) { inventoryAdjust(input: $i) {
  level { onHand available } userErrors { field code } } }"""


async def _stocked_variant(client: httpx.AsyncClient, qty: int) -> tuple[str, str]:
    """A new product, its variant priced on `web`, a new location with ``qty`` on hand."""
    tag = uuid.uuid4().hex[:8]
    made = (
        await gql(
            client,
            PRODUCT,
            {
                "i": {
                    "handle": f"race-{tag}",
                    "title": f"Race {tag}",
                    "status": "ACTIVE",
                    "variants": [{"sku": f"RACE-{tag}".upper()}],
                }
            },
        )
    )["productCreate"]
    assert made["userErrors"] == [], made
    vid = made["product"]["variants"]["nodes"][0]["id"]
    priced = await gql(client, PRICE, {"p": [{"variantId": vid, "channel": "web", "amount": "10"}]})
    assert priced["productVariantPricesSet"]["userErrors"] == []
    loc = (
        await gql(
            client,
            LOCATION,
            {
                "i": {
                    "handle": f"race-{tag}",
                    "name": "Race warehouse",
                    "kind": "WAREHOUSE",
                    "countryCode": "US",
                    "channels": ["web"],
                }
            },
        )
    )["locationCreate"]
    assert loc["userErrors"] == [], loc
    lid = loc["location"]["id"]
    adj = (
        await gql(
            client,
            ADJUST,
            {"i": {"variantId": vid, "locationId": lid, "delta": qty, "reason": "received"}},
        )
    )["inventoryAdjust"]
    assert adj == {"level": {"onHand": qty, "available": qty}, "userErrors": []}
    return vid, lid
