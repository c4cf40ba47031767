"""Admin catalog mutations: scopes, userErrors with stable codes, nothing half-written."""

from __future__ import annotations

import uuid

from tests.helpers.client import Hub

PRODUCT_CREATE = """
mutation($input: ProductInput!) {
  productCreate(input: $input) {
    product { id handle title status tags options { name values }
              attributes { key type value }
              variants(first: 10) { nodes { id sku title selectedOptions { name value } } } }
    userErrors { field message code }
  }
}
"""
PRICES_SET = """
mutation($prices: [VariantPriceInput!]!) {
  productVariantPricesSet(prices: $prices) {
    variants { id price { amount currencyCode } compareAtPrice { amount } cost { amount } }
    userErrors { field message code }
  }
}
"""


def _uid() -> str:
    return uuid.uuid4().hex[:8]


def _product_input(handle: str, **extra) -> dict:
    return {
        "handle": handle,
        "title": f"Test Tee {handle}",
        "vendor": "Acme",
        "productType": "Tee",
        "status": "ACTIVE",
        "tags": ["test", "cotton"],
        "options": [{"name": "Size", "values": ["S", "M"]}],
        "attributes": [
            {"key": "material", "type": "STRING", "value": "cotton"},
            {"key": "gsm", "type": "INTEGER", "value": "180"},
        ],
        "variants": [
            {"sku": f"{handle}-S", "options": ["S"]},
            {"sku": f"{handle}-M", "options": ["M"]},
        ],
        **extra,
    }


async def _count(hub: Hub, table: str) -> int:
    return await hub.scalar(f"SELECT count(*) FROM {table}")


async def test_mutations_need_the_admin_scope(hub: Hub) -> None:
    before = await _count(hub, "products")
    inp = {"input": _product_input(f"noauth-{_uid()}")}
    for token in (None, hub.storefront_token):
        res = await hub.gql(PRODUCT_CREATE, inp, token=token)
        assert res["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
        assert res["data"] is None
    assert await _count(hub, "products") == before
    resp = await hub.client.post(
        "/graphql",
        json={"query": "{ channels { handle } }"},
        headers={"Authorization": "Bearer hub_not-a-real-key"},
    )
    assert resp.status_code == 401


async def test_create_product_with_variants_prices_and_collection(hub: Hub) -> None:
    h = f"tee-{_uid()}"
    res = await hub.admin(PRODUCT_CREATE, {"input": _product_input(h)})
    payload = res["data"]["productCreate"]
    assert payload["userErrors"] == []
    p = payload["product"]
    assert p["handle"] == h and p["status"] == "ACTIVE"
    assert [v["title"] for v in p["variants"]["nodes"]] == ["S", "M"]
    assert p["variants"]["nodes"][0]["selectedOptions"] == [{"name": "Size", "value": "S"}]
    assert {a["key"]: a["type"] for a in p["attributes"]} == {
        "material": "STRING",
        "gsm": "INTEGER",
    }
    v1, v2 = (v["id"] for v in p["variants"]["nodes"])
    # Not priced anywhere yet, so not on the storefront.
    q = "query($h: String!) { product(handle: $h) { priceRange { minVariantPrice { amount } } } }"
    assert (await hub.gql(q, {"h": h}))["data"]["product"] is None

    res = await hub.admin(
        PRICES_SET,
        {
            "prices": [
                {
                    "variantId": v1,
                    "channel": "web",
                    "amount": "20",
                    "compareAtAmount": "25",
                    "costAmount": "7.5",
                },
                {"variantId": v2, "channel": "web", "amount": "21.0"},
                {"variantId": v1, "channel": "eu", "amount": "18.5"},
            ]
        },
    )
    out = res["data"]["productVariantPricesSet"]
    assert out["userErrors"] == []
    prices = {v["id"]: v for v in out["variants"]}
    assert prices[v1]["price"] == {"amount": "20.00", "currencyCode": "USD"}
    assert prices[v1]["compareAtPrice"] == {"amount": "25.00"}
    assert prices[v1]["cost"] == {"amount": "7.50"}
    assert prices[v2]["price"]["amount"] == "21.00"
    pr = await hub.gql(q, {"h": h})
    assert pr["data"]["product"]["priceRange"]["minVariantPrice"]["amount"] == "20.00"
    eu = await hub.gql(q, {"h": h}, headers={"X-Hub-Channel": "eu"})
    assert eu["data"]["product"]["priceRange"]["minVariantPrice"]["amount"] == "18.50"
    for handle in ("wh-newark", "wh-rotterdam"):
        loc = await hub.scalar("SELECT id FROM locations WHERE handle = :h", h=handle)
        for v in (v1, v2):
            stock = await hub.admin(
                """mutation($i: InventoryAdjustInput!) { inventoryAdjust(
                input: $i) { userErrors { code } } }""",
                {
                    "i": {
                        "variantId": v,
                        "locationId": f"gid://hub/Location/{loc}",
                        "delta": 5,
                        "reason": "received",
                    }
                },
            )
            assert stock["data"]["inventoryAdjust"]["userErrors"] == []
    listed = await hub.gql(
        "query($q: String) { products(first: 5, query: $q) { nodes { handle "
        "variants(first: 5) { nodes { availableForSale } } } } }",
        {"q": f"sku:{h}-M"},
        headers={"X-Hub-Channel": "eu"},
    )
    node = listed["data"]["products"]["nodes"][0]
    assert node["handle"] == h
    # Both are in stock in Rotterdam, but v2 has no EUR price: not for sale in eu.
    assert [v["availableForSale"] for v in node["variants"]["nodes"]] == [True, False]

    coll = await hub.admin(
        """mutation($input: CollectionInput!) { collectionCreate(input: $input) {
        collection { handle products(first: 5) { nodes { handle } } } userErrors { code } } }""",
        {"input": {"title": f"Tees {h}", "productIds": [p["id"]]}},
    )
    c = coll["data"]["collectionCreate"]
    assert c["userErrors"] == []
    assert c["collection"]["handle"] == f"tees-{h}"
    assert c["collection"]["products"]["nodes"] == [{"handle": h}]


async def test_user_errors_have_stable_codes_and_write_nothing(hub: Hub) -> None:
    h = f"dup-{_uid()}"
    ok = await hub.admin(PRODUCT_CREATE, {"input": _product_input(h)})
    assert ok["data"]["productCreate"]["userErrors"] == []
    before = (await _count(hub, "products"), await _count(hub, "variants"))

    taken = await hub.admin(PRODUCT_CREATE, {"input": _product_input(h)})
    errs = taken["data"]["productCreate"]["userErrors"]
    assert taken["data"]["productCreate"]["product"] is None
    assert errs[0]["code"] == "TAKEN" and errs[0]["field"] == ["handle"]

    # A taken SKU on the second variant: the product row must not stay behind.
    inp = _product_input(f"sku-{_uid()}")
    inp["variants"][1]["sku"] = f"{h}-S"
    res = await hub.admin(PRODUCT_CREATE, {"input": inp})
    assert res["data"]["productCreate"]["userErrors"][0]["code"] == "TAKEN"
    assert (await _count(hub, "products"), await _count(hub, "variants")) == before

    bad = _product_input("Not A Handle", status="ACTIVE")
    bad["options"] = [{"name": "Size", "values": ["S", "S"]}]
    bad["attributes"] = [{"key": "gsm", "type": "INTEGER", "value": "heavy"}]
    res = await hub.admin(PRODUCT_CREATE, {"input": bad})
    codes = {(tuple(e["field"]), e["code"]) for e in res["data"]["productCreate"]["userErrors"]}
    assert (("handle",), "INVALID") in codes
    assert (("options", "0", "values"), "INVALID") in codes
    assert (("attributes", "0", "value"), "INVALID") in codes
    assert (await _count(hub, "products"), await _count(hub, "variants")) == before

    res = await hub.admin("""mutation { productUpdate(id: "gid://hub/Product/987654321",
        input: {title: "x"}) { product { id } userErrors { field code } } }""")
    assert res["data"]["productUpdate"]["userErrors"] == [{"field": ["id"], "code": "NOT_FOUND"}]
    res = await hub.admin("""mutation { productUpdate(id: "bogus", input: {title: "x"}) {
        product { id } userErrors { field code } } }""")
    assert res["data"]["productUpdate"]["userErrors"] == [{"field": ["id"], "code": "INVALID"}]


async def test_price_errors(hub: Hub) -> None:
    vid = await hub.scalar("SELECT min(id) FROM variants")
    gid = f"gid://hub/ProductVariant/{vid}"
    before = await hub.scalar(
        "SELECT amount FROM variant_prices WHERE variant_id = :v AND "
        "channel_id = (SELECT id FROM channels WHERE handle='web')",
        v=vid,
    )
    res = await hub.admin(
        PRICES_SET,
        {
            "prices": [
                {"variantId": gid, "channel": "web", "amount": "1.00"},
                {"variantId": gid, "channel": "mars", "amount": "1.00"},
            ]
        },
    )
    errs = res["data"]["productVariantPricesSet"]["userErrors"]
    assert [e["code"] for e in errs] == ["NOT_FOUND"]
    assert errs[0]["field"] == ["prices", "1", "channel"]
    res = await hub.admin(
        PRICES_SET,
        {"prices": [{"variantId": gid, "channel": "web", "amount": "1.00", "currencyCode": "EUR"}]},
    )
    assert res["data"]["productVariantPricesSet"]["userErrors"][0]["code"] == "CURRENCY_MISMATCH"
    res = await hub.admin(
        PRICES_SET, {"prices": [{"variantId": gid, "channel": "web", "amount": "-3"}]}
    )
    assert res["data"]["productVariantPricesSet"]["userErrors"][0]["code"] == "INVALID"
    after = await hub.scalar(
        "SELECT amount FROM variant_prices WHERE variant_id = :v AND "
        "channel_id = (SELECT id FROM channels WHERE handle='web')",
        v=vid,
    )
    assert after == before


async def test_channel_lifecycle_and_zero_decimal_currency(hub: Hub) -> None:
    h = f"jp{_uid()}"
    mk = """mutation($input: ChannelInput!) { channelCreate(input: $input) {
        channel { id handle currencyCode } userErrors { field code } } }"""
    res = await hub.admin(
        mk, {"input": {"handle": h, "name": "Japan", "currencyCode": "JPY", "defaultCountry": "JP"}}
    )
    ch = res["data"]["channelCreate"]["channel"]
    assert ch["currencyCode"] == "JPY"
    again = await hub.admin(
        mk, {"input": {"handle": h, "name": "Japan", "currencyCode": "JPY", "defaultCountry": "JP"}}
    )
    assert again["data"]["channelCreate"]["userErrors"] == [{"field": ["handle"], "code": "TAKEN"}]
    bad = await hub.admin(
        mk,
        {
            "input": {
                "handle": f"x{_uid()}",
                "name": "X",
                "currencyCode": "XYZ",
                "defaultCountry": "jp",
            }
        },
    )
    fields = {e["field"][0] for e in bad["data"]["channelCreate"]["userErrors"]}
    assert fields == {"currency", "defaultCountry"}
    vid = await hub.scalar(
        "SELECT min(v.id) FROM variants v JOIN products p ON p.id = "
        "v.product_id WHERE p.status='ACTIVE' AND NOT v.is_bundle"
    )
    # Yen have no decimals: 1499.5 is refused, not rounded.
    refused = await hub.admin(
        PRICES_SET,
        {
            "prices": [
                {"variantId": f"gid://hub/ProductVariant/{vid}", "channel": h, "amount": "1499.5"}
            ]
        },
    )
    assert refused["data"]["productVariantPricesSet"]["userErrors"][0]["code"] == "INVALID"
    res = await hub.admin(
        PRICES_SET,
        {
            "prices": [
                {"variantId": f"gid://hub/ProductVariant/{vid}", "channel": h, "amount": "1500"}
            ]
        },
    )
    v = res["data"]["productVariantPricesSet"]["variants"][0]
    assert v["price"] is not None
    jp = await hub.gql(
        "query($id: ID!) { node(id: $id) { ... on ProductVariant { price "
        "{ amount currencyCode } } } }",
        {"id": f"gid://hub/ProductVariant/{vid}"},
        headers={"X-Hub-Channel": h},
    )
    assert jp["data"]["node"]["price"] == {"amount": "1500", "currencyCode": "JPY"}
    change = await hub.admin(
        """mutation($id: ID!) { channelUpdate(id: $id,
        input: {currencyCode: "USD"}) { userErrors { code } } }""",
        {"id": ch["id"]},
    )
    assert change["data"]["channelUpdate"]["userErrors"][0]["code"] == "CURRENCY_MISMATCH"
    gone = await hub.admin(
        """mutation($id: ID!) { channelDelete(id: $id) {
        deletedId userErrors { code } } }""",
        {"id": ch["id"]},
    )
    assert gone["data"]["channelDelete"] == {"deletedId": ch["id"], "userErrors": []}
    assert await hub.scalar("SELECT count(*) FROM channels WHERE handle = :h", h=h) == 0


async def test_variant_update_delete_and_bundles(hub: Hub) -> None:
    h = f"kit-{_uid()}"
    res = await hub.admin(PRODUCT_CREATE, {"input": _product_input(h)})
    p = res["data"]["productCreate"]["product"]
    v1, v2 = (v["id"] for v in p["variants"]["nodes"])
    upd = await hub.admin(
        """mutation($id: ID!) { productVariantUpdate(id: $id,
        input: {options: ["S"]}) { variant { id } userErrors { code } } }""",
        {"id": v2},
    )
    assert upd["data"]["productVariantUpdate"]["userErrors"][0]["code"] == "TAKEN"
    mk = await hub.admin(
        """mutation($p: ID!, $sku: String!) { productVariantCreate(productId: $p,
        input: {sku: $sku, options: ["L"]}) { variant { id } userErrors { code field } } }""",
        {"p": p["id"], "sku": f"{h}-L"},
    )
    assert mk["data"]["productVariantCreate"]["userErrors"][0]["code"] == "INVALID"

    bundle = await hub.admin(
        PRODUCT_CREATE,
        {
            "input": {
                "handle": f"{h}-box",
                "title": "Box",
                "status": "ACTIVE",
                "variants": [{"sku": f"{h}-BOX"}],
            }
        },
    )
    bid = bundle["data"]["productCreate"]["product"]["variants"]["nodes"][0]["id"]
    setc = """mutation($v: ID!, $c: [BundleComponentInput!]!) {
        productVariantBundleComponentsSet(variantId: $v, components: $c) {
        variant { isBundle components { quantity variant { id } } } userErrors { code } } }"""
    res = await hub.admin(
        setc, {"v": bid, "c": [{"variantId": v1, "quantity": 2}, {"variantId": v2, "quantity": 1}]}
    )
    out = res["data"]["productVariantBundleComponentsSet"]
    assert out["userErrors"] == []
    assert out["variant"]["isBundle"] is True
    assert sorted(
        (c["variant"]["id"], c["quantity"]) for c in out["variant"]["components"]
    ) == sorted([(v1, 2), (v2, 1)])
    selfref = await hub.admin(setc, {"v": bid, "c": [{"variantId": bid, "quantity": 1}]})
    assert (
        selfref["data"]["productVariantBundleComponentsSet"]["userErrors"][0]["code"] == "INVALID"
    )
    inuse = await hub.admin(
        """mutation($id: ID!) { productVariantDelete(id: $id) {
        deletedId userErrors { code } } }""",
        {"id": v1},
    )
    assert inuse["data"]["productVariantDelete"]["userErrors"][0]["code"] == "IN_USE"
    unb = await hub.admin(setc, {"v": bid, "c": []})
    assert unb["data"]["productVariantBundleComponentsSet"]["variant"]["isBundle"] is False
    gone = await hub.admin(
        """mutation($id: ID!) { productVariantDelete(id: $id) {
        deletedId userErrors { code } } }""",
        {"id": v1},
    )
    assert gone["data"]["productVariantDelete"]["userErrors"] == []
    dp = await hub.admin(
        """mutation($id: ID!) { productDelete(id: $id) { deletedId
        userErrors { code } } }""",
        {"id": p["id"]},
    )
    assert dp["data"]["productDelete"]["deletedId"] == p["id"]
    assert await hub.scalar("SELECT count(*) FROM variants WHERE sku LIKE :s", s=f"{h}-%") == 1


async def test_product_update_keeps_search_and_tags_in_step(hub: Hub) -> None:
    h = f"upd-{_uid()}"
    res = await hub.admin(PRODUCT_CREATE, {"input": _product_input(h)})
    pid = res["data"]["productCreate"]["product"]["id"]
    res = await hub.admin(
        """mutation($id: ID!) { productUpdate(id: $id, input: {
        title: "Zebra Quokka Tee", tags: ["rare"]}) {
        product { title tags } userErrors { code } } }""",
        {"id": pid},
    )
    assert res["data"]["productUpdate"]["product"] == {
        "title": "Zebra Quokka Tee",
        "tags": ["rare"],
    }
    assert (
        await hub.scalar(
            "SELECT count(*) FROM product_tags t JOIN products p ON "
            "p.id = t.product_id WHERE p.handle = :h",
            h=h,
        )
        == 1
    )
    drop = await hub.admin(
        """mutation($id: ID!) { productUpdate(id: $id, input: {
        options: [{name: "Size", values: ["S"]}]}) { userErrors { code } } }""",
        {"id": pid},
    )
    assert drop["data"]["productUpdate"]["userErrors"][0]["code"] == "IN_USE"


async def test_derived_handles_tags_and_timestamps_are_consistent(hub: Hub) -> None:
    res = await hub.admin(
        PRODUCT_CREATE,
        {
            "input": {
                "title": f"Café Crème Édition {_uid()}",
                "status": "ACTIVE",
                "tags": ["Summer-Sale"],
                "variants": [{"sku": f"cafe-{_uid()}"}],
            }
        },
    )
    p = res["data"]["productCreate"]["product"]
    assert res["data"]["productCreate"]["userErrors"] == []
    assert p["handle"].startswith("cafe-creme-edition-")
    vid = p["variants"]["nodes"][0]["id"]
    await hub.admin(PRICES_SET, {"prices": [{"variantId": vid, "channel": "web", "amount": "5"}]})
    q = "query($q: String) { products(first: 5, query: $q) { nodes { handle createdAt } } }"
    for query in ("tag:summer-sale", "tag:SUMMER-SALE"):
        got = await hub.gql(q, {"q": query})
        assert [n["handle"] for n in got["data"]["products"]["nodes"]] == [p["handle"]]
    by_filter = await hub.gql("""{ products(first: 5, filter: {tag: "Summer-Sale"}) {
        nodes { handle } } }""")
    assert [n["handle"] for n in by_filter["data"]["products"]["nodes"]] == [p["handle"]]
    created = got["data"]["products"]["nodes"][0]["createdAt"]
    assert created.endswith("+00:00"), created  # UTC-aware on SQLite as on PostgreSQL
