"""A cart line's merchandise shows in the cart's channel, whatever channel the request
runs in, so the variant's price matches what the cart charges (SQLite and PostgreSQL)."""

from __future__ import annotations

from tests.helpers.carts import create
from tests.helpers.catalog import make_product
from tests.helpers.client import Hub

Q = """query($id: ID!) { cart(id: $id) { currencyCode lines(first: 5) { nodes {
  cost { amountPerQuantity { amount currencyCode } }
  merchandise { id price { amount currencyCode } availableForSale quantityAvailable } } } } }"""


async def lines(hub: Hub, cid: str, channel: str | None) -> list[dict]:
    headers = {"X-Hub-Channel": channel} if channel else None
    res = await hub.gql(Q, {"id": cid}, headers=headers)
    assert "errors" not in res, res
    return res["data"]["cart"]["lines"]["nodes"]


async def test_merchandise_is_priced_in_the_carts_channel(hub: Hub) -> None:
    p = await make_product(hub, None, {"web": "12", "eu": "11.50"})
    vid = p["variantId"]
    # make_product stocked 10 units at each channel's warehouse.
    eu_cart = await create(
        hub, {"lines": [{"merchandiseId": vid}]}, headers={"X-Hub-Channel": "eu"}
    )
    web_cart = await create(hub, {"lines": [{"merchandiseId": vid}]})
    for cid, currency, amount in (
        (eu_cart["cart"]["id"], "EUR", "11.50"),
        (web_cart["cart"]["id"], "USD", "12.00"),
    ):
        for request_channel in (None, "web", "eu"):
            (ln,) = await lines(hub, cid, request_channel)
            m = ln["merchandise"]
            assert m["id"] == vid
            assert m["price"] == {"amount": amount, "currencyCode": currency}, request_channel
            assert ln["cost"]["amountPerQuantity"] == m["price"]
            assert m["availableForSale"] is True and m["quantityAvailable"] == 10
    # Both channels in one request: each cart's lines in its own channel.
    res = await hub.gql(
        """query($a: ID!, $b: ID!) {
          a: cart(id: $a) { lines(first: 1) { nodes { merchandise { price { currencyCode } } } } }
          b: cart(id: $b) { lines(first: 1) { nodes { merchandise { price { currencyCode } } } } }
        }""",
        {"a": eu_cart["cart"]["id"], "b": web_cart["cart"]["id"]},
    )
    got = [
        res["data"][k]["lines"]["nodes"][0]["merchandise"]["price"]["currencyCode"] for k in "ab"
    ]
    assert got == ["EUR", "USD"]
