"""The profile meets the order book, over GraphQL on SQLite and PostgreSQL: an
imported order joins the customer its loyalty card id, email or phone names
(``find_customer``: a merged duplicate's answers the kept profile), keeping the
import's source; staff stats count the customer's returns from ``returns``."""

from __future__ import annotations

from hub.demo import NEWARK
from tests.helpers.carts import stocked_variant, uid
from tests.helpers.client import Hub
from tests.helpers.loyalty import adjust, cart_for, loyalty_of, shopper, till_checkout
from tests.helpers.returns import ORDER, RETURN_REQUEST, ship_all

IMPORT = """mutation($i: OrderImportInput!, $k: String!) {
  orderImport(input: $i, idempotencyKey: $k) {
    created order { id source email customerId } userErrors { field code } } }"""
STATS = """query($q: String) { customers(query: $q, first: 5) {
  nodes { id stats { ordersCount returnCount } } } }"""
MERGE = """mutation($k: ID!, $m: ID!) { customerMerge(keepId: $k, mergeId: $m) {
  userErrors { code } } }"""


async def _import(hub: Hub, vid: str, **extra: object) -> dict:
    res = await hub.admin(
        IMPORT,
        {
            "i": {
                "source": "marketplace",
                "externalId": f"MP-{uid()}",
                "channelId": "gid://hub/Channel/1",
                "lines": [{"variantId": vid, "quantity": 1, "unitPrice": "9.00"}],
                **extra,
            },
            "k": uid(),
        },
    )
    assert "errors" not in res, res
    return dict(res["data"]["orderImport"])


async def test_import_attaches_by_loyalty_card_email_or_phone(hub: Hub) -> None:
    ann = await shopper(hub, phone="+1 (555) 017-" + str(1000 + int(uid()[:3], 16) % 8000))
    await adjust(hub, ann.gid, 5)
    card = (await loyalty_of(hub, ann.gid))["cardId"]
    phone = await hub.scalar("SELECT phone FROM customers WHERE id = :c", c=ann.pk)
    vid = await stocked_variant(hub, {NEWARK: 20})
    # By the card alone (any case), by email (any case), by phone (another way written).
    for extra in (
        {"loyaltyCardId": card.lower()},
        {"email": ann.email.upper()},
        {"phone": "".join(ch for ch in phone if ch.isdigit())},
    ):
        got = await _import(hub, vid, **extra)
        assert got["userErrors"] == [] and got["created"] is True, (extra, got)
        order = got["order"]
        assert order["customerId"] == ann.gid, extra
        assert order["source"] == "marketplace"
    # The card wins over an email that names nobody; the email stays what was sent.
    stranger = f"elsewhere-{uid()}@example.com"
    got = await _import(hub, vid, loyaltyCardId=card, email=stranger)
    assert got["order"]["customerId"] == ann.gid and got["order"]["email"] == stranger
    # Unknown card: a guest's order. A card id too long: INVALID, nothing written.
    got = await _import(hub, vid, loyaltyCardId="LC000000")
    assert got["userErrors"] == [] and got["order"]["customerId"] is None
    before = await hub.scalar("SELECT COUNT(*) FROM orders WHERE source = 'marketplace'")
    got = await _import(hub, vid, loyaltyCardId="X" * 65)
    assert got["order"] is None
    assert [(e["field"], e["code"]) for e in got["userErrors"]] == [
        (["loyaltyCardId"], "INVALID")
    ], got
    assert await hub.scalar("SELECT COUNT(*) FROM orders WHERE source = 'marketplace'") == before
    # A merged duplicate's card and email answer the kept profile.
    dup = await shopper(hub)
    await adjust(hub, dup.gid, 5)
    dup_card = (await loyalty_of(hub, dup.gid))["cardId"]
    assert (await hub.admin(MERGE, {"k": ann.gid, "m": dup.gid}))["data"]["customerMerge"][
        "userErrors"
    ] == []
    for extra in ({"loyaltyCardId": dup_card}, {"email": dup.email}):
        got = await _import(hub, vid, **extra)
        assert got["order"]["customerId"] == ann.gid, extra
    assert await hub.scalar("SELECT orders_count FROM customers WHERE id = :c", c=ann.pk) == 6


async def test_return_count_counts_returns(hub: Hub) -> None:
    lou = await shopper(hub)
    order = (await till_checkout(hub, await cart_for(hub, lou, quantity=3, price="20")))["order"]
    await ship_all(hub, order["id"])
    line = (await hub.admin(ORDER, {"id": order["id"]}))["data"]["order"]["lineItems"]["nodes"][0]

    async def stats() -> dict:
        res = await hub.admin(STATS, {"q": lou.email})
        assert "errors" not in res, res
        # (the query's digits may match other profiles' phones too)
        (node,) = [n for n in res["data"]["customers"]["nodes"] if n["id"] == lou.gid]
        return dict(node["stats"])

    assert await stats() == {"ordersCount": 1, "returnCount": 0}
    lines = [{"orderLineId": line["id"], "quantity": 1, "reason": "WRONG_ITEM"}]
    ids = []
    for _ in range(3):
        res = await hub.gql(
            RETURN_REQUEST, {"o": order["id"], "l": lines, "r": "REFUND"}, token=lou.token
        )
        assert res["data"]["returnRequest"]["userErrors"] == [], res
        ids.append(res["data"]["returnRequest"]["return"]["id"])
    # The order was not refunded: the old count (refunded orders) said 0.
    assert await stats() == {"ordersCount": 1, "returnCount": 3}
    declined = await hub.admin(
        "mutation($id: ID!) { returnDecline(returnId: $id) { userErrors { code } } }",
        {"id": ids[0]},
    )
    assert declined["data"]["returnDecline"]["userErrors"] == []
    assert await stats() == {"ordersCount": 1, "returnCount": 2}  # a declined request: none
