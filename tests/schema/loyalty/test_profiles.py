"""One profile across channels and privacy, over GraphQL on SQLite and PostgreSQL:
store sales attach to the customer by email, phone or loyalty card; staff find a
profile by name, email, phone or card with its purchase history and value (N+1 free);
duplicates merge, once; a customer's data exports as JSON and erases while orders and
ledgers stay whole."""

from __future__ import annotations

from decimal import Decimal

from hub.demo import DEMO_LOYALTY_CARDS
from hub.domain.customers.matching import find_customer
from hub.domain.inventory import verify
from tests.helpers.carts import create, stocked_variant, uid
from tests.helpers.client import Hub
from tests.helpers.loyalty import (
    adjust,
    cart_for,
    loyalty_of,
    shopper,
    till_checkout,
)

SEARCH = """query($q: String, $n: Int, $a: String) { customers(query: $q, first: $n, after: $a) {
  nodes { id email firstName lastName phone
    loyalty { tier points cardId history(first: 3) { nodes { kind points } } }
    stats { ordersCount returnCount lastOrderAt lifetimeValue { amount currencyCode }
            averageOrderValue { amount currencyCode } }
    purchaseHistory(first: 5) { id name source channel { handle } totalPrice { amount } } }
  pageInfo { hasNextPage endCursor } } }"""
MERGE = """mutation($k: ID!, $m: ID!) { customerMerge(keepId: $k, mergeId: $m) {
  customer { id email phone ordersCount loyalty { points history(first: 50) { nodes { kind } } }
             timeline { kind data } }
  mergedCustomerId userErrors { field code message } } }"""
EXPORT = """mutation($id: ID!) { customerDataExport(id: $id) { data userErrors { field code } } }"""
ERASE = """mutation($id: ID!) { customerErase(id: $id) {
  customer { id email firstName lastName phone erasedAt acceptsMarketing loyalty { points cardId }
             timeline { kind } }
  userErrors { field code } } }"""
ORDER = """query($id: ID!) { order(id: $id) { id email customerId source totalPrice { amount }
  lineItems(first: 10) { nodes { sku quantity } } } }"""


async def _guest_cart(hub: Hub, buyer: dict) -> str:
    vid = await stocked_variant(hub, {1: 20}, price="15")
    made = await create(
        hub, {"lines": [{"merchandiseId": vid}], "buyerIdentity": buyer}, token=hub.admin_token
    )
    assert made["userErrors"] == [], made
    return str(made["cart"]["id"])


async def test_store_sales_attach_to_the_profile(hub: Hub) -> None:
    lou = await shopper(hub, phone="+1 (555) 010-" + str(2000 + int(uid()[:3], 16) % 7000))
    phone = await hub.scalar("SELECT phone FROM customers WHERE id = :c", c=lou.pk)
    # By email, whatever its case, at a till.
    sale = await till_checkout(hub, await _guest_cart(hub, {"email": lou.email.upper()}))
    assert sale["order"]["customerId"] == lou.gid and sale["order"]["source"] == "store"
    # By phone, written another way.
    digits = "".join(ch for ch in phone if ch.isdigit())
    sale = await till_checkout(hub, await _guest_cart(hub, {"phone": digits}))
    assert sale["order"]["customerId"] == lou.gid
    assert (await loyalty_of(hub, lou.gid))["points"] > 0  # both sales earned points
    # Nobody known: a guest sale.
    sale = await till_checkout(hub, await _guest_cart(hub, {"email": f"nobody-{uid()}@x.io"}))
    assert sale["order"]["customerId"] is None
    # A web guest checkout is not attached by email alone (an account must verify it).
    web = await _guest_cart(hub, {"email": lou.email})
    res = await hub.gql(
        ORDER,
        {"id": sale["order"]["id"]},
        token=hub.admin_token,
    )
    assert res["data"]["order"]["customerId"] is None
    assert web
    # The loyalty card finds the profile (the till scans it).
    async with hub.db.read() as conn:
        ava = await find_customer(conn, loyalty_id=DEMO_LOYALTY_CARDS["ava.chen@example.com"])
        assert ava is not None and ava.email == "ava.chen@example.com"
        assert (await find_customer(conn, email="AVA.CHEN@example.com")).pk == ava.pk  # type: ignore[union-attr]
        assert await find_customer(conn, loyalty_id="LC999") is None
        assert await find_customer(conn, phone="12") is None


async def test_clienteling_search(hub: Hub) -> None:
    for q in ("chen", "AVA.CHEN@", "212 555 0142", DEMO_LOYALTY_CARDS["ava.chen@example.com"]):
        res = await hub.admin(SEARCH, {"q": q, "n": 5})
        assert "errors" not in res, res
        emails = [n["email"] for n in res["data"]["customers"]["nodes"]]
        assert emails == ["ava.chen@example.com"], (q, emails)
    ava = res["data"]["customers"]["nodes"][0]
    assert ava["loyalty"]["tier"] == "gold" and ava["loyalty"]["points"] > 0
    sources = {o["source"] for o in ava["purchaseHistory"]}
    assert {"web", "store", "marketplace"} <= sources
    spent = await hub.scalar(
        "SELECT SUM(total) FROM orders WHERE customer_id = :c AND status <> 'CANCELLED'",
        c=int(ava["id"].rsplit("/", 1)[1]),
    )
    count = await hub.scalar(
        "SELECT COUNT(*) FROM orders WHERE customer_id = :c AND status <> 'CANCELLED'",
        c=int(ava["id"].rsplit("/", 1)[1]),
    )
    stats = ava["stats"]
    assert stats["ordersCount"] == count and stats["returnCount"] == 0
    (usd,) = stats["lifetimeValue"]
    assert Decimal(usd["amount"]) == Decimal(spent) / 100 and usd["currencyCode"] == "USD"
    assert Decimal(stats["averageOrderValue"][0]["amount"]) == (Decimal(spent) // count) / 100
    assert stats["lastOrderAt"] is not None
    nope = await hub.admin(SEARCH, {"q": "no-such-person-" + uid(), "n": 5})
    assert nope["data"]["customers"]["nodes"] == []
    res = await hub.gql(SEARCH, {"q": "chen"}, token=hub.storefront_token)
    assert res["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"


async def test_search_costs_the_same_whatever_the_page_size(hub: Hub) -> None:
    for _ in range(6):
        s = await shopper(hub)
        await adjust(hub, s.gid, 5)
    counts = []
    for n in (2, 8):
        with hub.count_statements() as seen:
            res = await hub.admin(SEARCH, {"n": n})
        assert "errors" not in res, res
        assert len(res["data"]["customers"]["nodes"]) == n
        # (the edge re-checks the admin key now and then: not the query's statements)
        counts.append(len([q for q in seen if "FROM api_keys" not in q]))
    # customers, loyalty accounts, stats, purchase history, loyalty history, channels
    assert counts == [6, 6], counts
    page = await hub.admin(SEARCH, {"n": 2, "a": res["data"]["customers"]["pageInfo"]["endCursor"]})
    assert len(page["data"]["customers"]["nodes"]) == 2


async def test_merge_duplicates_once(hub: Hub) -> None:
    keep = await shopper(hub)
    dup = await shopper(hub, phone="+44 20 7946 " + str(1000 + int(uid()[:3], 16) % 8000))
    await adjust(hub, keep.gid, 100)
    order = (await till_checkout(hub, await cart_for(hub, dup, price="40")))["order"]
    dup_points = (await loyalty_of(hub, dup.gid))["points"]
    dup_card = (await loyalty_of(hub, dup.gid))["cardId"]
    first = await hub.admin(MERGE, {"k": keep.gid, "m": dup.gid})
    assert "errors" not in first, first
    got = first["data"]["customerMerge"]
    assert got["userErrors"] == [] and got["mergedCustomerId"] == dup.gid
    kept = got["customer"]
    assert kept["id"] == keep.gid and kept["loyalty"]["points"] == 100 + dup_points
    assert sorted(n["kind"] for n in kept["loyalty"]["history"]["nodes"]) == ["ADJUST", "EARN"]
    assert kept["phone"] is not None  # taken from the duplicate
    assert [t["kind"] for t in kept["timeline"]] == ["MERGED"]
    assert kept["timeline"][0]["data"]["moved"]["orders"] == 1
    res = await hub.admin(ORDER, {"id": order["id"]})
    assert res["data"]["order"]["customerId"] == keep.gid
    # Again: the same answer, nothing moves twice.
    again = await hub.admin(MERGE, {"k": keep.gid, "m": dup.gid})
    assert again["data"] == first["data"]  # (extensions.cost's budget moves with time)
    # The duplicate points at the kept profile; its card and email find the kept one.
    res = await hub.admin(
        "query($id: ID!) { customer(id: $id) { mergedIntoId loyalty { points } } }",
        {"id": dup.gid},
    )
    assert res["data"]["customer"] == {"mergedIntoId": keep.gid, "loyalty": {"points": 0}}
    async with hub.db.read() as conn:
        assert (await find_customer(conn, loyalty_id=dup_card)).pk == keep.pk  # type: ignore[union-attr]
    sale = await till_checkout(hub, await _guest_cart(hub, {"email": dup.email}))
    assert sale["order"]["customerId"] == keep.gid
    found = await hub.admin(SEARCH, {"q": dup.email, "n": 5})
    assert found["data"]["customers"]["nodes"] == []  # merged away: not listed
    for k, m, code in (
        (keep.gid, keep.gid, "INVALID"),
        (keep.gid, "gid://hub/Customer/99999999", "NOT_FOUND"),
        (dup.gid, keep.gid, "INVALID"),
    ):
        res = await hub.admin(MERGE, {"k": k, "m": m})
        assert [e["code"] for e in res["data"]["customerMerge"]["userErrors"]] == [code]
    res = await hub.gql(MERGE, {"k": keep.gid, "m": dup.gid}, token=keep.token)
    assert res["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"


async def test_export_and_erase(hub: Hub) -> None:
    mia = await shopper(hub, phone="+33 1 23 45 67 89", acceptsMarketing=True)
    other = await shopper(hub)
    order = (await till_checkout(hub, await cart_for(hub, mia, quantity=2, price="25")))["order"]
    await adjust(hub, mia.gid, 30, n="birthday")
    # The customer exports its own data; another customer can't; staff can.
    res = await hub.gql(EXPORT, {"id": mia.gid}, token=mia.token)
    data = res["data"]["customerDataExport"]["data"]
    assert res["data"]["customerDataExport"]["userErrors"] == []
    assert data["customer"]["email"] == mia.email
    assert [o["id"] for o in data["orders"]] == [int(order["id"].rsplit("/", 1)[1])]
    assert data["orders"][0]["lines"] and data["orders"][0]["payments"]
    assert data["loyalty"]["account"]["points"] == (await loyalty_of(hub, mia.gid))["points"]
    assert {t["kind"] for t in data["loyalty"]["transactions"]} == {"EARN", "ADJUST"}
    assert data["apiKeys"] and "token_hash" not in data["apiKeys"][0]
    res = await hub.gql(EXPORT, {"id": mia.gid}, token=other.token)
    assert [e["code"] for e in res["data"]["customerDataExport"]["userErrors"]] == ["ACCESS_DENIED"]
    assert res["data"]["customerDataExport"]["data"] is None
    res = await hub.admin(EXPORT, {"id": "gid://hub/Customer/99999999"})
    assert [e["code"] for e in res["data"]["customerDataExport"]["userErrors"]] == ["NOT_FOUND"]
    before = await hub.admin(ORDER, {"id": order["id"]})
    points = (await loyalty_of(hub, mia.gid))["points"]
    # Erase: personal data gone, orders and ledgers whole.
    res = await hub.admin(ERASE, {"id": mia.gid})
    erased = res["data"]["customerErase"]["customer"]
    assert res["data"]["customerErase"]["userErrors"] == []
    assert erased["email"] == f"erased-{mia.pk}@erased.invalid"
    assert (erased["firstName"], erased["lastName"], erased["phone"]) == ("", "", None)
    assert erased["erasedAt"] and erased["acceptsMarketing"] is False
    assert erased["loyalty"]["points"] == points
    assert erased["loyalty"]["cardId"] != data["loyalty"]["account"]["card_id"]
    assert [t["kind"] for t in erased["timeline"]] == ["ERASED", "EXPORTED"]
    after = await hub.admin(ORDER, {"id": order["id"]})
    assert after["data"]["order"]["email"] is None
    assert after["data"]["order"]["totalPrice"] == before["data"]["order"]["totalPrice"]
    assert after["data"]["order"]["lineItems"] == before["data"]["order"]["lineItems"]
    assert await verify(hub.db) == []
    assert (
        await hub.scalar(
            "SELECT SUM(t.points) FROM loyalty_transactions t JOIN loyalty_accounts a "
            "ON a.id = t.account_id WHERE a.customer_id = :c",
            c=mia.pk,
        )
        == points
    )
    assert (
        await hub.scalar(
            "SELECT COUNT(*) FROM api_keys WHERE customer_id = :c AND revoked_at IS NULL", c=mia.pk
        )
        == 0
    )
    resp = await hub.client.post(
        "/graphql",
        json={"query": "{ customer { id } }"},
        headers={"Authorization": f"Bearer {mia.token}"},
    )
    assert resp.status_code == 401
    # Erasing again changes nothing; no one finds the erased profile.
    again = await hub.admin(ERASE, {"id": mia.gid})
    assert again == res
    async with hub.db.read() as conn:
        assert await find_customer(conn, email=mia.email) is None
        assert await find_customer(conn, phone="+33 1 23 45 67 89") is None
    res = await hub.gql(ERASE, {"id": other.gid}, token=other.token)
    assert res["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"


async def test_a_till_scans_the_loyalty_card(hub: Hub) -> None:
    ben = await shopper(hub)
    await adjust(hub, ben.gid, 400)
    card = (await loyalty_of(hub, ben.gid))["cardId"]
    vid = await stocked_variant(hub, {1: 5}, price="12")
    made = await create(
        hub,
        {"lines": [{"merchandiseId": vid}], "buyerIdentity": {"loyaltyCardId": card.lower()}},
        token=hub.admin_token,
    )
    assert made["userErrors"] == [] and made["cart"]["buyerIdentity"]["customerId"] == ben.gid
    res = await hub.admin(
        """mutation($c: ID!) { cartLoyaltyRedeem(cartId: $c, points: 250) {
        cart { loyaltyRedemption { points } } userErrors { code } } }""",
        {"c": made["cart"]["id"]},
    )
    assert res["data"]["cartLoyaltyRedeem"]["cart"]["loyaltyRedemption"] == {"points": 250}
    sale = (await till_checkout(hub, made["cart"]["id"]))["order"]
    assert sale["customerId"] == ben.gid and sale["loyaltyPointsRedeemed"] == 250
    earned = int(Decimal(sale["totalPrice"]["amount"]))
    assert (await loyalty_of(hub, ben.gid))["points"] == 400 - 250 + earned
    # A storefront can't attach a cart by card number; an unknown card is not found.
    for token, card_id, code in (
        (hub.storefront_token, card, "INVALID"),
        (hub.admin_token, "LC000", "NOT_FOUND"),
    ):
        got = await hub.gql(
            """mutation($i: CartInput) { cartCreate(input: $i) { cart { id }
            userErrors { field code } } }""",
            {"i": {"lines": [{"merchandiseId": vid}], "buyerIdentity": {"loyaltyCardId": card_id}}},
            token=token,
        )
        errs = got["data"]["cartCreate"]["userErrors"]
        assert [(e["field"], e["code"]) for e in errs] == [
            (["buyerIdentity", "loyaltyCardId"], code)
        ], errs
