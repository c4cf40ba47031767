"""Loyalty over GraphQL on SQLite and PostgreSQL: points earned when an order is paid
(at the channel's rate and rounding), redeemed as a cart discount and spent at
checkout with one conditional UPDATE (never below zero, also under concurrent
checkouts), reversed in proportion to refunds, adjusted by staff, expired after
inactivity; tiers from the rules (or set by hand) that promotions read; the history
paged without N+1; marketing events only with consent."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

from sqlalchemy import update

from hub.db.tables import loyalty_accounts_t
from hub.demo import DEMO_TIERS
from hub.domain import loyalty
from hub.domain.errors import DomainError
from tests.helpers.carts import create, stocked_variant, uid
from tests.helpers.checkout import outbox_payloads
from tests.helpers.client import Hub
from tests.helpers.giftcards import issue
from tests.helpers.loyalty import (
    CHECKOUT,
    adjust,
    cart_for,
    loyalty_of,
    redeem,
    shopper,
    till_checkout,
)

TIERS_SET = """mutation($t: [LoyaltyTierInput!]!) { loyaltyTiersSet(tiers: $t) {
  tiers { handle rank basis threshold currencyCode windowDays } userErrors { field code } } }"""
RULE = """mutation($c: ID!, $e: Int, $per: Int, $r: LoyaltyRounding, $v: Int) {
  loyaltyEarningRuleUpdate(channelId: $c, earnPoints: $e, earnPer: $per, rounding: $r,
  pointValue: $v) { channelId userErrors { field code } } }"""
WEB = "gid://hub/Channel/1"


def _tier_inputs(tiers: tuple[dict, ...]) -> list[dict]:
    return [
        {
            "handle": t["handle"],
            "name": t["name"],
            "rank": t["rank"],
            "basis": t["basis"],
            "threshold": t["threshold"],
            "currencyCode": t["currency"],
            "windowDays": t["window_days"],
        }
        for t in tiers
    ]


async def test_points_earned_when_paid_at_the_channel_rate(hub: Hub) -> None:
    ava = await shopper(hub)
    cart = await cart_for(hub, ava, quantity=3, price="12.99")
    order = await till_checkout(hub, cart)
    assert order["userErrors"] == [] and order["order"]["paymentStatus"] == "PAID"
    assert order["order"]["source"] == "store"
    assert order["order"]["customerId"] == ava.gid
    total = Decimal(order["order"]["totalPrice"]["amount"])
    got = await loyalty_of(hub, ava.gid, token=ava.token)  # the customer sees its own
    assert got["points"] == int(total)  # 1 point per dollar, rounded down (demo rule)
    assert got["cardId"].startswith("LC")
    (earn,) = got["history"]["nodes"]
    assert earn["kind"] == "EARN" and earn["orderId"] == order["order"]["id"]
    assert Decimal(earn["amount"]["amount"]) == total
    # A web checkout paid at once (a gift card) earns too.
    card = await issue(hub, "500")
    cart = await cart_for(hub, ava, price="20")
    res = await hub.gql(
        CHECKOUT,
        {"c": cart, "k": uid(), "p": {"provider": "gift_card", "giftCardCode": card["code"]}},
        token=ava.token,
    )
    web = res["data"]["checkoutComplete"]["order"]
    assert web["source"] == "web" and web["paymentStatus"] == "PAID"
    after = await loyalty_of(hub, ava.gid)
    assert after["points"] == int(total) + int(Decimal(web["totalPrice"]["amount"]))
    assert [n["kind"] for n in after["history"]["nodes"]] == ["EARN", "EARN"]
    # Another customer's key sees nothing of it.
    other = await shopper(hub)
    res = await hub.gql(
        "query($id: ID!) { customer(id: $id) { loyalty { points } } }",
        {"id": ava.gid},
        token=other.token,
    )
    assert res["data"]["customer"] is None


async def test_rate_and_rounding_per_channel(hub: Hub) -> None:
    # 3 points per 10.00, rounded to the nearest point: 12.99 x 3 = 38.97 -> 11.691 -> 12.
    res = await hub.admin(RULE, {"c": WEB, "e": 3, "per": 1000, "r": "NEAREST"})
    assert res["data"]["loyaltyEarningRuleUpdate"]["userErrors"] == []
    try:
        lea = await shopper(hub)
        order = await till_checkout(hub, await cart_for(hub, lea, quantity=3, price="12.99"))
        total = int(Decimal(order["order"]["totalPrice"]["amount"]) * 100)
        expected = round(total * 3 / 1000)
        assert (await loyalty_of(hub, lea.gid))["points"] == expected
        bad = await hub.admin(RULE, {"c": WEB, "per": 0})
        assert [e["code"] for e in bad["data"]["loyaltyEarningRuleUpdate"]["userErrors"]] == [
            "INVALID"
        ]
        nope = await hub.gql(RULE, {"c": WEB, "e": 5}, token=lea.token)
        assert nope["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
    finally:
        res = await hub.admin(RULE, {"c": WEB, "e": 1, "per": 100, "r": "DOWN", "v": 1})
        assert res["data"]["loyaltyEarningRuleUpdate"]["userErrors"] == []
    rules = [
        SimpleNamespace(loyalty_earn_points=1, loyalty_earn_per=100, loyalty_rounding=r)
        for r in ("DOWN", "NEAREST", "UP")
    ]
    assert [loyalty.points_for(149, r) for r in rules] == [1, 1, 2]
    assert [loyalty.points_for(150, r) for r in rules] == [1, 2, 2]


async def test_points_redeemed_as_a_cart_discount(hub: Hub) -> None:
    sam = await shopper(hub)
    assert (await adjust(hub, sam.gid, 500, n="welcome"))["userErrors"] == []
    cart = await cart_for(hub, sam, quantity=2, price="10")
    got = await redeem(hub, cart, 300, sam.token)
    assert got["userErrors"] == [] and got["warnings"] == []
    assert got["cart"]["loyaltyRedemption"] == {
        "points": 300,
        "pointsRequested": 300,
        "discountAmount": {"amount": "3.00"},
    }
    assert got["cart"]["cost"]["totalDiscountAmount"]["amount"] == "3.00"
    res = await hub.gql(
        """query($c: ID!) { cart(id: $c) { lines(first: 5) { nodes {
        discountAllocations { title discountedAmount { amount } } } } } }""",
        {"c": cart},
        token=sam.token,
    )
    (line,) = res["data"]["cart"]["lines"]["nodes"]
    assert line["discountAllocations"] == [
        {"title": "Loyalty points", "discountedAmount": {"amount": "3.00"}}
    ]
    # More than the balance: the cart applies the balance and says so.
    more = await redeem(hub, cart, 10_000, sam.token)
    assert [w["code"] for w in more["warnings"]] == ["LOYALTY_POINTS_REDUCED"]
    assert more["cart"]["loyaltyRedemption"]["points"] == 500
    assert (await redeem(hub, cart, 300, sam.token))["userErrors"] == []
    # Another customer can't touch the cart (nor see it).
    other = await shopper(hub)
    assert [e["code"] for e in (await redeem(hub, cart, 1, other.token))["userErrors"]] == [
        "NOT_FOUND"
    ]
    order = (await till_checkout(hub, cart))["order"]
    assert order["loyaltyPointsRedeemed"] == 300
    assert order["totalDiscounts"]["amount"] == "3.00"
    after = await loyalty_of(hub, sam.gid)
    earned = int(Decimal(order["totalPrice"]["amount"]))
    assert after["points"] == 500 - 300 + earned
    kinds = [(n["kind"], n["points"]) for n in after["history"]["nodes"]]
    assert kinds == [("EARN", earned), ("REDEEM", -300), ("ADJUST", 500)]
    # A guest cart redeems nothing; bad amounts are refused.
    guest = await create(hub, {"lines": [{"merchandiseId": await stocked_variant(hub, {1: 3})}]})
    refused = await redeem(hub, guest["cart"]["id"], 10, None)
    assert [e["code"] for e in refused["userErrors"]] == ["INVALID"]
    assert [e["code"] for e in (await redeem(hub, cart, -1, sam.token))["userErrors"]] == [
        "INVALID"
    ]


async def test_concurrent_redemptions_never_overdraw(hub: Hub) -> None:
    kim = await shopper(hub)
    await adjust(hub, kim.gid, 1000)
    carts = [await cart_for(hub, kim, price="10") for _ in range(4)]
    for c in carts:
        assert (await redeem(hub, c, 600, kim.token))["userErrors"] == []
    outcomes = await asyncio.gather(*(till_checkout(hub, c) for c in carts))
    won = [o for o in outcomes if o["order"] is not None]
    lost = [o for o in outcomes if o["order"] is None]
    lost_carts = [c for c, o in zip(carts, outcomes, strict=True) if o["order"] is None]
    assert len(won) == 1 and len(lost) == 3
    assert {e["code"] for o in lost for e in o["userErrors"]} == {"INSUFFICIENT_POINTS"}
    after = await loyalty_of(hub, kim.gid)
    earned = int(Decimal(won[0]["order"]["totalPrice"]["amount"]))
    assert after["points"] == 1000 - 600 + earned >= 0
    assert [n["kind"] for n in after["history"]["nodes"]].count("REDEEM") == 1
    # The balance is the sum of the ledger.
    assert (
        await hub.scalar(
            "SELECT SUM(t.points) FROM loyalty_transactions t JOIN loyalty_accounts a "
            "ON a.id = t.account_id WHERE a.customer_id = :c",
            c=kim.pk,
        )
        == after["points"]
    )
    # A refused cart is usable again: with a redemption the balance covers, it goes through.
    assert (await redeem(hub, lost_carts[0], 100, kim.token))["userErrors"] == []
    again = await till_checkout(hub, lost_carts[0])
    assert again["userErrors"] == [] and again["order"]["loyaltyPointsRedeemed"] == 100


async def test_domain_redemptions_race_on_one_balance(hub: Hub) -> None:
    """Ten transactions spending 300 of 1,000 points at once: exactly three win."""
    zoe = await shopper(hub)
    await adjust(hub, zoe.gid, 1000)

    async def spend(i: int) -> bool:
        try:
            async with hub.db.transaction() as conn:
                await loyalty.redeem_for_order(
                    conn, zoe.pk, 300, order_pk=10_000_000 + i, amount=300, currency="USD"
                )
        except DomainError as exc:
            assert [e.code for e in exc.errors] == [loyalty.LoyaltyCode.INSUFFICIENT_POINTS]
            return False
        return True

    results = await asyncio.gather(*(spend(i) for i in range(10)))
    assert sum(results) == 3
    assert (await loyalty_of(hub, zoe.gid))["points"] == 100


async def test_refunds_reverse_points_in_proportion(hub: Hub) -> None:
    ida = await shopper(hub)
    order = (await till_checkout(hub, await cart_for(hub, ida, quantity=3, price="33.33")))["order"]
    pk = int(order["id"].rsplit("/", 1)[1])
    paid = int(Decimal(order["totalPrice"]["amount"]) * 100)
    earned = (await loyalty_of(hub, ida.gid))["points"]
    third = paid // 3
    async with hub.db.transaction() as conn:
        first = await loyalty.reverse_for_refund(conn, pk, third, key="refund-1")
    assert first is not None and first.points == -(earned * third // paid)
    async with hub.db.transaction() as conn:  # the same refund again: nothing more
        again = await loyalty.reverse_for_refund(conn, pk, third, key="refund-1")
    assert again is not None and again.replayed
    async with hub.db.transaction() as conn:  # the rest: every point earned is back
        await loyalty.reverse_for_refund(conn, pk, paid - third, key="refund-2")
    after = await loyalty_of(hub, ida.gid)
    assert after["points"] == 0
    assert [n["kind"] for n in after["history"]["nodes"]] == ["REVERSE", "REVERSE", "EARN"]
    async with hub.db.transaction() as conn:  # nothing left to reverse
        assert await loyalty.reverse_for_refund(conn, pk, 100, key="refund-3") is None
    # Points already spent are not clawed back below zero; staff adjust with a note.
    kai = await shopper(hub)
    order = (await till_checkout(hub, await cart_for(hub, kai, price="50")))["order"]
    earned = (await loyalty_of(hub, kai.gid))["points"]
    got = await adjust(hub, kai.gid, 10 - earned, n="spent at the cafe")
    assert got["userErrors"] == [] and got["customer"]["loyalty"]["points"] == 10
    async with hub.db.transaction() as conn:
        taken = await loyalty.reverse_for_refund(
            conn, int(order["id"].rsplit("/", 1)[1]), 5000, key="r"
        )
    assert taken is not None and taken.points == -10
    assert (await loyalty_of(hub, kai.gid))["points"] == 0


async def test_staff_adjust(hub: Hub) -> None:
    eve = await shopper(hub)
    got = await adjust(hub, eve.gid, -5)
    assert [e["code"] for e in got["userErrors"]] == ["INSUFFICIENT_POINTS"]
    assert (
        await hub.scalar(
            "SELECT COUNT(*) FROM loyalty_transactions t JOIN loyalty_accounts a "
            "ON a.id = t.account_id WHERE a.customer_id = :c",
            c=eve.pk,
        )
        == 0
    )
    for _ in range(2):
        got = await adjust(hub, eve.gid, 250, n="goodwill", k="ticket-42")
        assert got["userErrors"] == [] and got["customer"]["loyalty"]["points"] == 250
    assert [e["code"] for e in (await adjust(hub, eve.gid, 0))["userErrors"]] == ["INVALID"]
    missing = await adjust(hub, "gid://hub/Customer/99999999", 5)
    assert [e["code"] for e in missing["userErrors"]] == ["NOT_FOUND"]
    res = await hub.gql(
        "mutation($c: ID!) { loyaltyAdjust(customerId: $c, points: 5) { userErrors { code } } }",
        {"c": eve.gid},
        token=eve.token,
    )
    assert res["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
    hist = (await loyalty_of(hub, eve.gid))["history"]["nodes"]
    assert [(n["kind"], n["points"], n["note"]) for n in hist] == [("ADJUST", 250, "goodwill")]


async def test_tiers_from_the_rules_feed_promotions(hub: Hub) -> None:
    tiers = [
        {"handle": "bronze", "name": "Bronze", "rank": 0, "basis": "POINTS", "threshold": 1},
        *_tier_inputs(DEMO_TIERS),
    ]
    res = await hub.admin(TIERS_SET, {"t": tiers})
    assert res["data"]["loyaltyTiersSet"]["userErrors"] == [], res
    try:
        ola = await shopper(hub)
        assert (await loyalty_of(hub, ola.gid))["tier"] is None
        await till_checkout(hub, await cart_for(hub, ola, price="5"))
        assert (await loyalty_of(hub, ola.gid))["tier"] == "bronze"
        # promotions read customers.loyalty_tier: it mirrors the account
        assert await hub.scalar("SELECT loyalty_tier FROM customers WHERE id = :c", c=ola.pk) == (
            "bronze"
        )
        # spend over the window: 1,000.00 USD reaches gold
        await till_checkout(hub, await cart_for(hub, ola, quantity=2, price="600"))
        assert (await loyalty_of(hub, ola.gid))["tier"] == "gold"
        # a tier set by hand wins while set; cleared, the rules decide again
        upd = """mutation($id: ID!, $t: String) {
          staffCustomerUpdate(id: $id, input: {loyaltyTier: $t})
          { customer { loyalty { tier } } userErrors { code } } }"""
        got = await hub.admin(upd, {"id": ola.gid, "t": "vip"})
        assert got["data"]["staffCustomerUpdate"]["customer"]["loyalty"]["tier"] == "vip"
        got = await hub.admin(upd, {"id": ola.gid, "t": None})
        assert got["data"]["staffCustomerUpdate"]["customer"]["loyalty"]["tier"] == "gold"
        bad = await hub.admin(
            TIERS_SET,
            {
                "t": [
                    {
                        "handle": "Bad Handle",
                        "name": "",
                        "rank": 1,
                        "basis": "SPEND",
                        "threshold": -1,
                    }
                ]
            },
        )
        assert {e["code"] for e in bad["data"]["loyaltyTiersSet"]["userErrors"]} == {"INVALID"}
        listed = await hub.gql("{ loyaltyTiers { handle } }")
        assert [t["handle"] for t in listed["data"]["loyaltyTiers"]] == ["bronze", "silver", "gold"]
    finally:
        res = await hub.admin(TIERS_SET, {"t": _tier_inputs(DEMO_TIERS)})
        assert res["data"]["loyaltyTiersSet"]["userErrors"] == []
    # The demo's VIP keeps gold by the demo rules.
    assert (
        await hub.scalar("SELECT loyalty_tier FROM customers WHERE email = 'ava.chen@example.com'")
        == "gold"
    )


async def test_inactive_points_expire(hub: Hub) -> None:
    old = await shopper(hub)
    await adjust(hub, old.gid, 70)
    async with hub.db.transaction() as conn:  # a year and more without activity
        await conn.execute(
            update(loyalty_accounts_t)
            .where(loyalty_accounts_t.c.customer_id == old.pk)
            .values(last_activity_at=datetime.now(UTC) - timedelta(days=400))
        )
    res = await hub.admin(
        "mutation { loyaltyExpire(inactiveDays: 365) { expiredAccounts userErrors { code } } }"
    )
    assert res["data"]["loyaltyExpire"]["expiredAccounts"] >= 1
    got = await loyalty_of(hub, old.gid)
    assert got["points"] == 0
    assert next((n["kind"], n["points"]) for n in got["history"]["nodes"]) == ("EXPIRE", -70)
    for days in (0, 2147483647):  # none, and more days than a date can go back
        res = await hub.admin(
            "mutation($d: Int!) { loyaltyExpire(inactiveDays: $d) { expiredAccounts "
            "userErrors { code } } }",
            {"d": days},
        )
        assert [e["code"] for e in res["data"]["loyaltyExpire"]["userErrors"]] == ["INVALID"]


async def test_marketing_events_only_with_consent(hub: Hub) -> None:
    quiet = await shopper(hub)
    keen = await shopper(hub, acceptsMarketing=True)
    for who in (quiet, keen):
        await till_checkout(hub, await cart_for(hub, who, price="9"))
    earned = [p["customerId"] for p in await outbox_payloads(hub, "loyalty.points_earned")]
    assert quiet.pk in earned and keen.pk in earned
    marketing = [p["customerId"] for p in await outbox_payloads(hub, "marketing.points_earned")]
    assert keen.pk in marketing and quiet.pk not in marketing
    # Consent given later: from then on.
    res = await hub.admin(
        """mutation($id: ID!) { staffCustomerUpdate(id: $id, input: {acceptsMarketing: true})
        { customer { acceptsMarketing } userErrors { code } } }""",
        {"id": quiet.gid},
    )
    assert res["data"]["staffCustomerUpdate"]["customer"]["acceptsMarketing"] is True
    await till_checkout(hub, await cart_for(hub, quiet, price="9"))
    marketing = [p["customerId"] for p in await outbox_payloads(hub, "marketing.points_earned")]
    assert marketing.count(quiet.pk) == 1


async def test_history_pages_without_n_plus_one(hub: Hub) -> None:
    people = [await shopper(hub) for _ in range(4)]
    for p in people:
        for n in range(3):
            await adjust(hub, p.gid, 10 + n)
    ids = [p.gid for p in people]
    q = """query($ids: [ID!]!, $n: Int) { nodes(ids: $ids) { ... on Customer {
      loyalty { points tier history(first: $n) { nodes { kind points }
      pageInfo { hasNextPage endCursor } } } } } }"""

    async def run(n: int, count: int) -> tuple[list, int]:
        with hub.count_statements() as seen:
            res = await hub.admin(q, {"ids": ids[:count], "n": n})
        assert "errors" not in res, res
        # (the edge re-checks the admin key now and then: not the query's statements)
        return res["data"]["nodes"], len([s for s in seen if "FROM api_keys" not in s])

    _one, few = await run(2, 1)
    four, many = await run(2, 4)
    assert few == many == 3  # customers, their accounts, their histories: for one or four
    for node in four:
        h = node["loyalty"]["history"]
        assert [x["points"] for x in h["nodes"]] == [12, 11] and h["pageInfo"]["hasNextPage"]
    cursor = four[0]["loyalty"]["history"]["pageInfo"]["endCursor"]
    res = await hub.admin(
        """query($id: ID!, $a: String) { customer(id: $id) { loyalty {
        history(first: 5, after: $a) { nodes { points } pageInfo { hasNextPage } } } } }""",
        {"id": ids[0], "a": cursor},
    )
    page = res["data"]["customer"]["loyalty"]["history"]
    assert [x["points"] for x in page["nodes"]] == [10] and not page["pageInfo"]["hasNextPage"]
    bad = await hub.admin(
        """query($id: ID!) { customer(id: $id) { loyalty { history(after: "nope") {
        nodes { points } } } } }""",
        {"id": ids[0]},
    )
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"
