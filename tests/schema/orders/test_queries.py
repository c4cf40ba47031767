"""Staff order queries over GraphQL on SQLite and PostgreSQL: ``orders`` with filters
(status, payment and fulfillment status, channel, location, customer, created range,
name or email), sort keys and keyset pages; ``order(id)`` for staff and for the
customer who placed it; the timeline, transactions and refunds of a page of orders at a
statement count that does not grow with the page (pinned here)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.auth import create_api_key
from hub.demo import CHICAGO, NEWARK
from tests.helpers.carts import stocked_variant, uid
from tests.helpers.client import Hub
from tests.helpers.orders import cancel, refund

IMPORT = """mutation($i: OrderImportInput!, $k: String!) {
  orderImport(input: $i, idempotencyKey: $k) { order { id name } userErrors { code } } }"""

LIST = """query($f: OrderFilterInput, $s: OrderSortKeys, $r: Boolean, $n: Int, $a: String) {
  orders(first: $n, after: $a, filter: $f, sortKey: $s, reverse: $r) {
    nodes { id name totalPrice { amount } }
    pageInfo { hasNextPage endCursor } } }"""

PAGE = """query($f: OrderFilterInput, $n: Int) {
  orders(first: $n, filter: $f) { nodes {
    id name status paymentStatus channel { handle } customerId
    lineItems(first: 5) { nodes { id sku quantity } }
    payments { provider status }
    events { kind actor data createdAt }
    transactions { kind status amount { amount } }
    refunds { id amount { amount } lines { lineItemId quantity } } } } }"""

CUSTOMER = """mutation($i: CustomerInput!) { staffCustomerCreate(input: $i) {
  customer { id email } userErrors { code } } }"""


async def _import(hub: Hub, vid: str, tag: str, price: str, **extra: object) -> dict:
    res = await hub.admin(
        IMPORT,
        {
            "k": uid(),
            "i": {
                "source": "legacy-pos",
                "externalId": f"{tag}-{uid()}",
                "channelId": "gid://hub/Channel/1",
                "email": f"{tag}@example.com",
                "lines": [{"variantId": vid, "quantity": 1, "unitPrice": price}],
                **extra,
            },
        },
    )
    out = res["data"]["orderImport"]
    assert out["userErrors"] == [], out
    return out["order"]


async def _names(hub: Hub, token: str | None = None, **v: object) -> list[str]:
    res = await hub.gql(LIST, {"n": 50, **v}, token=token or hub.admin_token)
    assert "errors" not in res, res
    return [o["name"] for o in res["data"]["orders"]["nodes"]]


async def test_filters_sort_keys_and_pages(hub: Hub) -> None:
    tag = f"q{uid()[:8]}"
    vid = await stocked_variant(hub, {NEWARK: 10, CHICAGO: 10})
    made = await hub.admin(CUSTOMER, {"i": {"email": f"{tag}@example.com"}})
    customer = made["data"]["staffCustomerCreate"]["customer"]["id"]
    a = await _import(hub, vid, tag, "30", locationId=f"gid://hub/Location/{CHICAGO}")
    b = await _import(hub, vid, tag, "10", financialStatus="PENDING")
    c = await _import(hub, vid, tag, "20", locationId=f"gid://hub/Location/{NEWARK}")
    assert (await cancel(hub, c["id"], "duplicate"))["userErrors"] == []
    mine = {"query": tag}

    # Newest first by default; sort keys both ways.
    assert await _names(hub, f=mine) == [c["name"], b["name"], a["name"]]
    assert await _names(hub, f=mine, s="TOTAL", r=False) == [b["name"], c["name"], a["name"]]
    assert await _names(hub, f=mine, s="TOTAL", r=True) == [a["name"], c["name"], b["name"]]
    assert await _names(hub, f=mine, s="NAME", r=False) == [a["name"], b["name"], c["name"]]
    # Filters.
    assert await _names(hub, f={**mine, "status": "CANCELLED"}) == [c["name"]]
    assert await _names(hub, f={**mine, "paymentStatus": "PENDING"}) == [b["name"]]
    assert await _names(hub, f={**mine, "location": f"gid://hub/Location/{CHICAGO}"}) == [a["name"]]
    assert await _names(hub, f={**mine, "customer": customer}) == [c["name"], b["name"], a["name"]]
    assert await _names(hub, f={**mine, "channel": "gid://hub/Channel/2"}) == []
    assert await _names(hub, f={**mine, "fulfillmentStatus": "UNFULFILLED"}) == [
        c["name"], b["name"], a["name"],
    ]  # fmt: skip
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert await _names(hub, f={**mine, "createdAtMin": later}) == []
    assert await _names(hub, f={**mine, "createdAtMax": later}) == [c["name"], b["name"], a["name"]]
    assert await _names(hub, f={"query": a["name"]}) == [a["name"]]
    # Keyset pages over a sort key.
    first = await hub.admin(LIST, {"n": 2, "f": mine, "s": "TOTAL", "r": False})
    page = first["data"]["orders"]
    assert [o["name"] for o in page["nodes"]] == [b["name"], c["name"]]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = await _names(hub, f=mine, s="TOTAL", r=False, a=page["pageInfo"]["endCursor"])
    assert rest == [a["name"]]
    # A cursor of another sort order is a request error, not a wrong page.
    bad = await hub.admin(
        LIST, {"n": 2, "f": mine, "s": "NAME", "a": page["pageInfo"]["endCursor"]}
    )
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"


async def test_customers_see_their_own_orders_only(hub: Hub) -> None:
    tag = f"c{uid()[:8]}"
    vid = await stocked_variant(hub, {NEWARK: 5})
    await hub.admin(CUSTOMER, {"i": {"email": f"{tag}@example.com"}})
    own = await _import(hub, vid, tag, "5")
    other = await _import(hub, vid, f"o{tag}", "5")
    _, token = await create_api_key(
        hub.db, "tests-customer", ["customer"], customer=f"{tag}@example.com"
    )
    assert await _names(hub, token=token) == [own["name"]]
    assert await _names(hub, token=token, f={"query": other["name"]}) == []
    q = "query($id: ID!) { order(id: $id) { name } }"
    mine = await hub.gql(q, {"id": own["id"]}, token=token)
    assert mine["data"]["order"] == {"name": own["name"]}
    theirs = await hub.gql(q, {"id": other["id"]}, token=token)
    assert theirs["data"]["order"] is None
    anon = await hub.gql(LIST, {"n": 5}, token=hub.storefront_token)
    assert anon["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"


# Statements of one `orders` page with lines, payments, channel, timeline, transactions
# and refunds (with their lines): the page, then one per list (lines, payments, events,
# transactions, refunds, refund lines) and the channel, whatever the page's size.
PAGE_STATEMENTS = 8


async def test_a_page_of_orders_costs_the_same_statements_whatever_its_size(hub: Hub) -> None:
    tag = f"p{uid()[:8]}"
    vid = await stocked_variant(hub, {NEWARK: 60})
    made = [await _import(hub, vid, tag, str(5 + i)) for i in range(12)]
    for o in made[-4:]:  # refunds to load, the newest (a page of 1) included
        assert (await refund(hub, o["id"], uid(), amount="1"))["userErrors"] == []
    f = {"query": tag}
    await hub.admin(PAGE, {"n": 1, "f": f})  # warm up
    counts = []
    for n in (1, 50):
        with hub.count_statements() as seen:
            res = await hub.admin(PAGE, {"n": n, "f": f})
        assert "errors" not in res, res
        assert len(res["data"]["orders"]["nodes"]) == min(n, 12)
        counts.append(len(seen))
    nodes = res["data"]["orders"]["nodes"]
    assert sum(len(o["refunds"]) for o in nodes) == 4
    assert all(o["events"] for o in nodes)
    assert counts == [PAGE_STATEMENTS, PAGE_STATEMENTS], counts
