"""posSnapshot over GraphQL: a till takes a full snapshot, the catalog, promotions and
stock change, the till applies the changes since its cursor a small page at a time,
and it ends up with what a fresh full snapshot holds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hub import ids
from hub.demo import NEWARK, ROTTERDAM
from hub.demo.locations import SOHO
from tests.helpers.client import Hub
from tests.helpers.inventory import op

STORE = ids.encode("Location", SOHO)
SNAPSHOT = """query($loc: ID!, $since: String, $after: String, $first: Int!) {
  posSnapshot(locationId: $loc, since: $since, after: $after, first: $first) {
    full asOf currencyCode pricesIncludeTax
    taxRates { taxClass rate name }
    products { id handle title productType taxClass
      variants { id sku title barcode price { amount currencyCode } compareAtPrice { amount } } }
    promotions { id title status method priority definition currencyCode startsAt endsAt }
    stock { variantId onHand available }
    removed { kind id }
    nextCursor syncCursor } }"""
CREATE = """mutation($i: ProductInput!) { productCreate(input: $i) {
  product { id variants(first: 5) { nodes { id } } } userErrors { field code } } }"""
UPDATE = """mutation($id: ID!, $i: ProductInput!) { productUpdate(id: $id, input: $i) {
  userErrors { field code } } }"""
DELETE = """mutation($id: ID!) { productDelete(id: $id) { userErrors { field code } } }"""
PRICES = """mutation($p: [VariantPriceInput!]!) { productVariantPricesSet(prices: $p) {
  userErrors { field code } } }"""
PROMO_CREATE = """mutation($i: PromotionInput!) { promotionCreate(input: $i) {
  promotion { id } userErrors { field code } } }"""
PROMO_UPDATE = """mutation($id: ID!, $i: PromotionInput!) { promotionUpdate(id: $id, input: $i) {
  userErrors { field code } } }"""
PROMO_DELETE = """mutation($id: ID!) { promotionDelete(id: $id) { userErrors { field code } } }"""
PERCENT_10 = {
    "conditions": [{"type": "min_subtotal", "amount": 5000}],
    "action": {"type": "percent_off", "percent": "10"},
    "combination": {"class": "ORDER", "combines_with": ["PRODUCT", "SHIPPING"]},
}


def _ean13(n: int) -> str:
    body = f"29{n % 10**10:010d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


async def _product(hub: Hub, price: str = "12") -> dict[str, Any]:
    h = f"pos-{uuid.uuid4().hex[:10]}"
    i = {
        "handle": h,
        "title": f"Till {h}",
        "status": "ACTIVE",
        "variants": [{"sku": h.upper(), "barcode": _ean13(uuid.uuid4().int)}],
    }
    out = (await hub.admin(CREATE, {"i": i}))["data"]["productCreate"]
    assert out["userErrors"] == [], out
    vid = out["product"]["variants"]["nodes"][0]["id"]
    res = await hub.admin(PRICES, {"p": [{"variantId": vid, "channel": "web", "amount": price}]})
    assert res["data"]["productVariantPricesSet"]["userErrors"] == []
    return {"id": out["product"]["id"], "variantId": vid}


async def _move(hub: Hub, variant_id: str, location: int, delta: int) -> None:
    got = await op(
        hub,
        "inventoryAdjust",
        {
            "variantId": variant_id,
            "locationId": ids.encode("Location", location),
            "delta": delta,
            "reason": "received" if delta > 0 else "damaged",
        },
    )
    assert got["userErrors"] == [], got


async def _promotion(hub: Hub, **extra: Any) -> str:
    i = {"title": f"Till {uuid.uuid4().hex[:6]}", "definition": PERCENT_10, **extra}
    out = (await hub.admin(PROMO_CREATE, {"i": i}))["data"]["promotionCreate"]
    assert out["userErrors"] == [], out
    return out["promotion"]["id"]


def _apply(till: dict[str, Any], page: dict[str, Any], first_page: bool) -> None:
    """What a till does with a page (the rules in PosSnapshotPage's description)."""
    if page["full"] and first_page:
        till.clear()
        till.update(tax=None, products={}, promotions={}, stock={})
    if page["taxRates"] is not None:
        till["tax"] = page["taxRates"]
    for p in page["products"]:
        till["products"][p["id"]] = p
    for p in page["promotions"]:
        till["promotions"][p["id"]] = p
    for s in page["stock"]:
        till["stock"][s["variantId"]] = s
    for r in page["removed"]:
        kind = "products" if r["kind"] == "PRODUCT" else "promotions"
        till[kind].pop(r["id"], None)
    if page["syncCursor"]:
        sold = {v["id"] for p in till["products"].values() for v in p["variants"]}
        till["stock"] = {k: s for k, s in till["stock"].items() if k in sold}


async def _sync(
    hub: Hub, till: dict[str, Any], since: str | None, first: int
) -> tuple[str, list[dict[str, Any]]]:
    pages: list[dict[str, Any]] = []
    after = None
    while True:
        res = await hub.admin(
            SNAPSHOT, {"loc": STORE, "since": since, "after": after, "first": first}
        )
        assert "errors" not in res, res
        page = res["data"]["posSnapshot"]
        entries = ("products", "promotions", "stock", "removed")
        assert sum(len(page[k]) for k in entries) <= first  # the size bound
        _apply(till, page, not pages)
        pages.append(page)
        if page["syncCursor"]:
            assert page["nextCursor"] is None
            return page["syncCursor"], pages
        after = page["nextCursor"]
        assert after


async def test_a_till_applying_the_changes_converges(hub: Hub) -> None:
    # Before the till's first sync: a product to delete, one to deactivate, promotions
    # to end and to delete.
    doomed = await _product(hub)
    retired = await _product(hub)
    await _move(hub, retired["variantId"], SOHO, 4)
    ending = await _promotion(hub, currencyCode="USD")
    deleted_promo = await _promotion(hub, currencyCode="USD")
    repriced = await _product(hub, "20")
    await _move(hub, repriced["variantId"], SOHO, 7)

    till: dict[str, Any] = {}
    cursor, pages = await _sync(hub, till, None, 200)
    assert pages[0]["full"] and pages[0]["currencyCode"] == "USD"
    assert {doomed["id"], retired["id"], repriced["id"]} <= set(till["products"])
    assert {ending, deleted_promo} <= set(till["promotions"])
    assert till["stock"][repriced["variantId"]]["onHand"] == 7
    std = next(t for t in till["tax"] if t["taxClass"] == "standard")
    assert std["rate"] == "0.08875"  # New York's rate in the built-in rules, at SoHo

    # Changes over GraphQL.
    fresh = await _product(hub, "9.5")
    await _move(hub, fresh["variantId"], SOHO, 3)
    await _move(hub, fresh["variantId"], NEWARK, 50)  # elsewhere: not the till's stock
    got = await hub.admin(
        PRICES, {"p": [{"variantId": repriced["variantId"], "channel": "web", "amount": "18"}]}
    )
    assert got["data"]["productVariantPricesSet"]["userErrors"] == []
    await _move(hub, repriced["variantId"], SOHO, -2)
    assert (await hub.admin(UPDATE, {"id": retired["id"], "i": {"status": "DRAFT"}}))["data"][
        "productUpdate"
    ]["userErrors"] == []
    assert (await hub.admin(DELETE, {"id": doomed["id"]}))["data"]["productDelete"][
        "userErrors"
    ] == []
    added = await _promotion(hub, currencyCode="USD")
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    got = await hub.admin(PROMO_UPDATE, {"id": ending, "i": {"endsAt": past}})
    assert got["data"]["promotionUpdate"]["userErrors"] == []
    got = await hub.admin(PROMO_DELETE, {"id": deleted_promo})
    assert got["data"]["promotionDelete"]["userErrors"] == []

    # The changes since the cursor, three entries a page.
    cursor2, changes = await _sync(hub, till, cursor, 3)
    assert len(changes) > 1 and not any(p["full"] for p in changes)
    assert all(p["taxRates"] is None for p in changes[1:])
    sent = {p["id"] for page in changes for p in page["products"]}
    gone = {r["id"] for page in changes for r in page["removed"]}
    assert {fresh["id"], repriced["id"]} <= sent
    assert {doomed["id"], retired["id"], ending, deleted_promo} <= gone
    assert added in {p["id"] for page in changes for p in page["promotions"]}
    # Only what changed (the demo catalog was not touched).
    assert len(sent) < len(till["products"])

    # The till now holds what a fresh full snapshot holds.
    fresh_till: dict[str, Any] = {}
    await _sync(hub, fresh_till, None, 250)
    assert till == fresh_till
    assert till["products"][repriced["id"]]["variants"][0]["price"]["amount"] == "18.00"
    assert till["stock"][repriced["variantId"]]["onHand"] == 5
    assert till["stock"][fresh["variantId"]]["onHand"] == 3
    assert retired["variantId"] not in till["stock"]
    # Promotions come as the admin API shows them.
    admin = await hub.admin(
        "query($id: ID!) { promotion(id: $id) { id title definition currencyCode endsAt } }",
        {"id": added},
    )
    mine = till["promotions"][added]
    assert admin["data"]["promotion"] == {k: mine[k] for k in admin["data"]["promotion"]}
    assert mine["definition"]["action"] == {"type": "percent_off", "percent": "10"}

    # Nothing changed since: the next sync sends only the overlap window's re-sends,
    # and applying it changes nothing.
    before = {k: dict(v) if isinstance(v, dict) else v for k, v in till.items()}
    await _sync(hub, till, cursor2, 50)
    assert till == before


async def test_pages_cost_the_same_statements_whatever_their_size(hub: Hub) -> None:
    counts = {}
    for first in (5, 100):
        with hub.count_statements() as seen:
            res = await hub.admin(SNAPSHOT, {"loc": STORE, "first": first})
        page = res["data"]["posSnapshot"]
        assert len(page["products"]) == first and page["nextCursor"]
        counts[first] = len(seen)
        with hub.count_statements() as seen:
            res = await hub.admin(
                SNAPSHOT, {"loc": STORE, "first": first, "after": page["nextCursor"]}
            )
        assert res["data"]["posSnapshot"]["taxRates"] is None
        counts[-first] = len(seen)
    assert counts[5] == counts[100], counts
    assert counts[-5] == counts[-100], counts


async def test_bad_requests_are_errors_with_codes(hub: Hub) -> None:
    async def code(variables: dict[str, Any], **kw: Any) -> str:
        base = {"loc": STORE, "first": 10}
        res = await hub.gql(SNAPSHOT, {**base, **variables}, **kw)
        assert res["data"] is None or res["data"]["posSnapshot"] is None
        return res["errors"][0]["extensions"]["code"]

    assert await code({}, token=hub.storefront_token) == "ACCESS_DENIED"
    admin = {"token": hub.admin_token}
    assert await code({"first": 251}, **admin) == "INVALID_PAGE"
    assert await code({"first": 0}, **admin) == "INVALID_PAGE"
    assert await code({"after": "bm90LWEtY3Vyc29y"}, **admin) == "INVALID_CURSOR"
    assert await code({"loc": "nope"}, **admin) == "INVALID_ID"
    # Rotterdam sells in the EU channel, not in the request's (web).
    assert await code({"loc": ids.encode("Location", ROTTERDAM)}, **admin) == "INVALID_ARGUMENT"
    assert await code({"loc": ids.encode("Location", 999999)}, **admin) == "INVALID_ARGUMENT"
    # A page cursor is not a `since`, and a cursor of another store is refused.
    res = await hub.admin(SNAPSHOT, {"loc": STORE, "first": 1})
    nxt = res["data"]["posSnapshot"]["nextCursor"]
    assert await code({"since": nxt}, **admin) == "INVALID_CURSOR"
    other = ids.encode("Location", 4)  # Brooklyn, also a web store
    assert await code({"loc": other, "after": nxt}, **admin) == "INVALID_CURSOR"


async def test_a_store_role_snapshots_its_own_store_only(hub: Hub) -> None:
    """A store's staff (inventory permission restricted to SoHo) gets SoHo's snapshot
    and is refused Newark's."""
    from tests.helpers.staff import denied, key_with_roles

    associate = await key_with_roles(hub, ["inventory"], locations=[SOHO])
    res = await hub.gql(SNAPSHOT, {"loc": STORE, "first": 5}, token=associate)
    assert "errors" not in res, res
    assert res["data"]["posSnapshot"]["products"], res
    newark = ids.encode("Location", NEWARK)
    res = await hub.gql(SNAPSHOT, {"loc": newark, "first": 5}, token=associate)
    assert "location" in denied(res, "posSnapshot")
