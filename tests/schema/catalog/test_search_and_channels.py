"""Field filters in product search match whatever the case (and quoting is how a value
with spaces is given); channel handles are case-insensitive and an unknown one is
answered with the valid ones. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.helpers.client import Hub

PRODUCTS = """query($q: String, $f: ProductFilterInput) {
  products(first: 250, query: $q, filter: $f) {
    nodes { handle vendor tags variants(first: 1) { nodes { sku } } }
  }
}"""


async def _search(hub: Hub, q: str | None = None, f: dict[str, Any] | None = None) -> list[dict]:
    res = await hub.gql(PRODUCTS, {"q": q, "f": f})
    assert "errors" not in res, res
    return res["data"]["products"]["nodes"]


async def test_vendor_matches_words_whatever_the_case(hub: Hub) -> None:
    northwind = await _search(hub, "vendor:Northwind")  # the issue: this found nothing
    assert northwind and {p["vendor"] for p in northwind} == {"Northwind Outfitters"}
    handles = sorted(p["handle"] for p in northwind)
    for q in (
        "vendor:northwind",
        "vendor:NORTHWIND",
        'vendor:"Northwind Outfitters"',
        "vendor:'northwind outfitters'",
        "vendor:outfitters",
        "vendor:north*",
    ):
        assert sorted(p["handle"] for p in await _search(hub, q)) == handles, q
    # Whole words: a fragment of a word is not a match, nor another vendor's words.
    assert await _search(hub, "vendor:outfit") == []
    assert await _search(hub, 'vendor:"Outfitters Northwind"') == []
    # A vendor with a symbol in its name, quoted.
    alder = await _search(hub, 'vendor:"alder & pine"')
    assert alder and {p["vendor"] for p in alder} == {"Alder & Pine"}
    # The filter argument is exact, whatever the case.
    assert (
        sorted(p["handle"] for p in await _search(hub, f={"vendor": "NORTHWIND OUTFITTERS"}))
        == handles
    )
    assert await _search(hub, f={"vendor": "Northwind"}) == []


async def test_tag_and_sku_whatever_the_case(hub: Hub) -> None:
    tagged = await _search(hub, "tag:new")
    assert tagged and all("new" in p["tags"] for p in tagged)
    assert await _search(hub, "tag:NEW") == tagged
    assert await _search(hub, f={"tag": "New"}) == tagged
    sku = tagged[0]["variants"]["nodes"][0]["sku"]
    for q in (f"sku:{sku.lower()}", f"sku:{sku.upper()}", f"sku:{sku}"):
        found = await _search(hub, q)
        assert [p["handle"] for p in found] == [tagged[0]["handle"]], q
    # Combined with free words and another field.
    vendor = tagged[0]["vendor"]
    both = await _search(hub, f'tag:new vendor:"{vendor.upper()}"')
    assert both and all(p["vendor"] == vendor and "new" in p["tags"] for p in both)


PRICE = """query($c: String) @inContext(channel: $c) {
  currentChannel { handle currencyCode }
  product(handle: "%s") { priceRange { minVariantPrice { currencyCode } } }
}"""


async def test_channel_handles_are_case_insensitive(hub: Hub) -> None:
    handle = (await _search(hub))[0]["handle"]
    for given in ("EU", "Eu", " eu "):
        res = await hub.gql(PRICE % handle, {"c": given})
        assert "errors" not in res, res
        assert res["data"]["currentChannel"] == {"handle": "eu", "currencyCode": "EUR"}
    res = await hub.gql(PRICE % handle, {}, headers={"X-Hub-Channel": "WEB"})
    assert res["data"]["currentChannel"]["handle"] == "web"


async def _channels(hub: Hub) -> str:
    """The channels' handles as the hub lists them (the demo's web and eu first; other
    tests on the session's hub add their own)."""
    got = await hub.gql("{ channels { handle } }")
    handles = [c["handle"] for c in got["data"]["channels"]]
    assert handles[:2] == ["web", "eu"], handles
    return ", ".join(handles)


async def test_unknown_channel_lists_the_valid_ones(hub: Hub) -> None:
    res = await hub.gql(
        "query($c: String) @inContext(channel: $c) { currentChannel { handle } }", {"c": "mars"}
    )
    (err,) = res["errors"]
    assert err["message"] == f"unknown channel 'mars'; the channels are: {await _channels(hub)}"
    assert err["extensions"]["code"] == "CHANNEL_NOT_FOUND"


SET_PRICES = """mutation($p: [VariantPriceInput!]!) @inContext(channel: "eu") {
  productVariantPricesSet(prices: $p) {
    variants { sku price { amount currencyCode } }
    userErrors { field code message }
  }
}"""


async def test_admin_channel_arguments_are_case_insensitive(hub: Hub) -> None:
    variant = "gid://hub/ProductVariant/7"
    res = await hub.admin(
        SET_PRICES, {"p": [{"variantId": variant, "channel": "EU", "amount": "31.50"}]}
    )
    payload = res["data"]["productVariantPricesSet"]
    assert payload["userErrors"] == []
    assert payload["variants"][0]["price"] == {"amount": "31.50", "currencyCode": "EUR"}
    bad = await hub.admin(
        SET_PRICES, {"p": [{"variantId": variant, "channel": "mars", "amount": "1"}]}
    )
    (err,) = bad["data"]["productVariantPricesSet"]["userErrors"]
    assert err["code"] == "NOT_FOUND"
    assert err["message"] == f"unknown channel 'mars'; the channels are: {await _channels(hub)}"
