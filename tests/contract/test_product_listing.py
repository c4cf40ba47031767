"""shared/contract/operations/ProductListing.graphql against the demo catalog."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.helpers.client import DEMO_PRODUCTS, Hub, contract_operation

LISTING = contract_operation("ProductListing")


async def _walk(hub: Hub, first: int, channel: str | None) -> list[dict]:
    nodes, after, pages = [], None, 0
    while True:
        res = await hub.gql(LISTING, {"first": first, "after": after, "channel": channel})
        assert "errors" not in res, res["errors"]
        conn = res["data"]["products"]
        nodes.extend(e["node"] for e in conn["edges"])
        for e in conn["edges"]:
            assert e["cursor"]
        pages += 1
        if not conn["pageInfo"]["hasNextPage"]:
            return nodes
        after = conn["pageInfo"]["endCursor"]
        assert pages < 1000


@pytest.mark.parametrize(("channel", "currency"), [("web", "USD"), ("eu", "EUR"), (None, "USD")])
async def test_paging_visits_every_active_product_once(
    hub: Hub, channel: str | None, currency: str
) -> None:
    nodes = await _walk(hub, 50, channel)
    ids = [n["id"] for n in nodes]
    assert len(ids) == len(set(ids)), "a product appeared twice"
    active = await hub.scalar(
        "SELECT count(*) FROM products p WHERE p.status = 'ACTIVE' AND EXISTS ("
        " SELECT 1 FROM product_price_ranges r JOIN channels c ON c.id = r.channel_id"
        " WHERE r.product_id = p.id AND c.handle = :ch)",
        ch=channel or "web",
    )
    assert active >= 500
    assert len(ids) == active
    handles = {n["handle"] for n in nodes}
    drafts = await hub.scalar("SELECT count(*) FROM products WHERE status <> 'ACTIVE'")
    assert drafts > 0, "the demo catalog should hold drafts that the listing hides"
    for n in nodes:
        demo = int(n["id"].rsplit("/", 1)[1]) <= DEMO_PRODUCTS
        pr = n["priceRange"]
        lo, hi = Decimal(pr["minVariantPrice"]["amount"]), Decimal(pr["maxVariantPrice"]["amount"])
        assert pr["minVariantPrice"]["currencyCode"] == currency
        assert lo <= hi
        # A listed product is priced in the channel; a variant of it may not be (a
        # feed that prices some sizes only): the demo's are all priced.
        priced = [v for v in n["variants"]["nodes"] if v["price"] is not None or demo]
        prices = [Decimal(v["price"]["amount"]) for v in priced]
        assert prices and min(prices) >= lo and max(prices) <= hi
        for v in priced:
            assert v["price"]["currencyCode"] == currency
            assert len(v["price"]["amount"].split(".")[1]) == 2  # minor unit, as a string
            if v["compareAtPrice"] is not None:
                assert v["compareAtPrice"]["currencyCode"] == currency
            if demo:  # the demo stocks all its variants; other tests' products may not
                assert v["availableForSale"] is True
            assert all(set(o) == {"name", "value"} for o in v["selectedOptions"])
        if demo:
            assert n["availableForSale"] is True
    assert len(handles) == len(ids)


async def test_page_size_does_not_change_results(hub: Hub) -> None:
    small = [n["id"] for n in await _walk(hub, 7, "web")]
    big = [n["id"] for n in await _walk(hub, 250, "web")]
    assert small == big


async def test_statement_count_does_not_grow_with_page_size(hub: Hub) -> None:
    counts = {}
    for first in (5, 100):
        with hub.count_statements() as seen:
            res = await hub.gql(LISTING, {"first": first, "channel": "web"})
        assert "errors" not in res
        assert len(res["data"]["products"]["edges"]) == first
        counts[first] = len(seen)
    assert counts[5] == counts[100], counts
    # channel, products page, variants with prices, stock levels, and bundle
    # components when the page holds a bundle
    assert counts[5] <= 5, counts


async def test_inContext_and_header_pick_the_channel(hub: Hub) -> None:
    q = LISTING
    by_header = await hub.gql(q, {"first": 1}, headers={"X-Hub-Channel": "eu"})
    node = by_header["data"]["products"]["edges"][0]["node"]
    assert node["priceRange"]["minVariantPrice"]["currencyCode"] == "EUR"
    # The directive wins over the header.
    both = await hub.gql(q, {"first": 1, "channel": "web"}, headers={"X-Hub-Channel": "eu"})
    node = both["data"]["products"]["edges"][0]["node"]
    assert node["priceRange"]["minVariantPrice"]["currencyCode"] == "USD"
    bad = await hub.gql(q, {"first": 1, "channel": "nope"})
    assert bad["errors"][0]["extensions"]["code"] == "CHANNEL_NOT_FOUND"
