"""The cheaper checkout, on SQLite and PostgreSQL: the statements of a checkoutComplete
are pinned, and the promotion counters it takes in one statement (PostgreSQL, last
before COMMIT: hub.domain.checkout.counters) still hold a usage limit, a code's limit
and a per-customer limit when checkouts race for the last use."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

from hub.auth import create_api_key
from hub.demo import NEWARK
from hub.domain.carts.reuse import priced_carts
from tests.helpers.carts import create, restock, stocked_variant, uid
from tests.helpers.checkout import checkout
from tests.helpers.client import Hub

# A checkoutComplete of a 2-line cart with DEMO10 and a buyer, paid cash at a till:
# reading and pricing the cart, claiming the key and locking the cart (one statement
# on PostgreSQL), one reservation per line, then the order: its row (named in the
# INSERT on PostgreSQL), lines, fulfillment orders, payment, the cart and attempt (one
# statement on PostgreSQL), the reservations, their ledger rows and levels, the
# outbox, and the promotion counters (one statement on PostgreSQL), then the order
# read back for the answer. (Before: PostgreSQL 36, SQLite 47.)
# A till's cash checkout. Since the order book: the order's first money movement and
# its timeline row, the name set beside the routing decision (no longer in the
# INSERT), and the till's buyer matched to a customer profile: 4 more than before.
# Since checkout reuses the cart's priced state (hub.domain.carts.reuse; cartCreate
# priced it a moment ago): the channel, variants, prices, collections and shipping
# rates are not read again, and the promotions statement becomes one read of the
# limited promotions' counters (DEMO10's code has a usage limit); whether a promotion
# or price list started or ended meanwhile comes with the cart row: 5 fewer.
STATEMENTS = {"postgresql": 29, "sqlite": 46}
# The same checkout when the cart was priced by another process (nothing kept here).
PRICING = {"postgresql": 34, "sqlite": 51}

CODE_PROMOTION = {
    "conditions": [],
    "action": {"type": "percent_off", "percent": "5"},
    "combination": {"class": "ORDER", "combines_with": ["PRODUCT", "SHIPPING", "ORDER"]},
}


async def _code_promotion(hub: Hub, code: str, **limits: Any) -> int:
    res = await hub.admin(
        """mutation($input: PromotionInput!) { promotionCreate(input: $input) {
        promotion { id } userErrors { field message code } } }""",
        {
            "input": {
                "title": f"test race {code}",
                "method": "CODE",
                "definition": CODE_PROMOTION,
                "currencyCode": "USD",
                **{k: v for k, v in limits.items() if k != "codeLimit"},
            }
        },
    )
    out = res["data"]["promotionCreate"]
    assert out["userErrors"] == [], out
    pid = out["promotion"]["id"]
    made = await hub.admin(
        """mutation($p: ID!, $code: String!, $limit: Int) {
        discountCodeCreate(promotionId: $p, code: $code, usageLimit: $limit) {
        discountCode { id } userErrors { field message code } } }""",
        {"p": pid, "code": code, "limit": limits.get("codeLimit")},
    )
    assert made["data"]["discountCodeCreate"]["userErrors"] == [], made
    return int(pid.rsplit("/", 1)[1])


async def test_checkout_statements_are_pinned(hub: Hub) -> None:
    a = await stocked_variant(hub, {NEWARK: 50})
    b = await stocked_variant(hub, {NEWARK: 50})
    made = await create(
        hub,
        {
            "lines": [{"merchandiseId": a, "quantity": 1}, {"merchandiseId": b, "quantity": 2}],
            "discountCodes": ["DEMO10"],
            "buyerIdentity": {"email": f"pin-{uid()}@example.com", "countryCode": "US"},
        },
    )
    cid = made["cart"]["id"]
    reused = priced_carts(hub.db).taken
    with hub.count_statements() as seen:
        out = await checkout(hub, cid, uid(), {"provider": "cash"}, hub.admin_token)
    assert out["userErrors"] == [], out
    assert priced_carts(hub.db).taken == reused + 1
    assert len(seen) == STATEMENTS[hub.name], "\n".join(s[:100] for s in seen)
    pk = int(out["order"]["id"].rsplit("/", 1)[1])
    assert out["order"]["name"] == f"#{1000 + pk}"
    # Every applied promotion was counted and redeemed once, for this order.
    rows = await hub.rows(
        "SELECT promotion_id, code FROM promotion_redemptions WHERE order_ref = :r",
        r=out["order"]["id"],
    )
    assert "demo10" in {r.code for r in rows}
    assert len({r.promotion_id for r in rows}) == len(rows)


async def test_checkout_statements_when_it_prices_are_pinned(hub: Hub) -> None:
    vid = await stocked_variant(hub, {NEWARK: 50})
    other = await stocked_variant(hub, {NEWARK: 50})
    made = await create(
        hub,
        {
            "lines": [
                {"merchandiseId": vid, "quantity": 1},
                {"merchandiseId": other, "quantity": 2},
            ],
            "discountCodes": ["DEMO10"],
            "buyerIdentity": {"email": f"pin-{uid()}@example.com", "countryCode": "US"},
        },
    )
    priced_carts(hub.db).clear()  # priced by another process
    with hub.count_statements() as seen:
        out = await checkout(hub, made["cart"]["id"], uid(), {"provider": "cash"}, hub.admin_token)
    assert out["userErrors"] == [], out
    assert len(seen) == PRICING[hub.name], "\n".join(s[:100] for s in seen)


async def _race(hub: Hub, code: str, emails: list[str]) -> list[dict[str, Any]]:
    """One cart per email, all with ``code``, priced first, then checked out at once."""
    vid = await stocked_variant(hub, {NEWARK: 100})
    carts = []
    for email in emails:
        made = await create(
            hub,
            {
                "lines": [{"merchandiseId": vid, "quantity": 1}],
                "discountCodes": [code],
                "buyerIdentity": {"email": email, "countryCode": "US"},
            },
        )
        assert made["userErrors"] == [], made
        carts.append(made["cart"]["id"])
    outs = await asyncio.gather(
        *(checkout(hub, cid, uid(), {"provider": "cash"}, hub.admin_token) for cid in carts)
    )
    await restock(hub, vid)
    return list(outs)


async def _check(hub: Hub, pid: int, outs: list[dict[str, Any]], allowed: int) -> None:
    discounted = 0
    for out in outs:
        if out["order"] is None:
            assert [e["code"] for e in out["userErrors"]] == ["DISCOUNT_NOT_AVAILABLE"], out
            continue
        ref = out["order"]["id"]
        got = await hub.scalar(
            "SELECT count(*) FROM promotion_redemptions WHERE order_ref = :r AND promotion_id = :p",
            r=ref,
            p=pid,
        )
        discounted += got
    assert discounted == allowed
    assert await hub.scalar("SELECT times_used FROM promotions WHERE id = :p", p=pid) == allowed
    redeemed = "SELECT count(*) FROM promotion_redemptions WHERE promotion_id = :p"
    assert await hub.scalar(redeemed, p=pid) == allowed


async def test_a_usage_limit_holds_when_checkouts_race(hub: Hub) -> None:
    code = f"RACE{uuid.uuid4().hex[:8]}"
    pid = await _code_promotion(hub, code, usageLimit=2)
    outs = await _race(hub, code, [f"r{i}-{uid()}@example.com" for i in range(5)])
    await _check(hub, pid, outs, 2)


async def test_a_code_limit_holds_when_checkouts_race(hub: Hub) -> None:
    code = f"RACE{uuid.uuid4().hex[:8]}"
    pid = await _code_promotion(hub, code, codeLimit=1)
    outs = await _race(hub, code, [f"c{i}-{uid()}@example.com" for i in range(4)])
    await _check(hub, pid, outs, 1)
    used = await hub.scalar("SELECT times_used FROM discount_codes WHERE promotion_id = :p", p=pid)
    assert used == 1


async def test_a_per_customer_limit_holds_when_checkouts_race(hub: Hub) -> None:
    code = f"RACE{uuid.uuid4().hex[:8]}"
    pid = await _code_promotion(hub, code, perCustomerLimit=1)
    email = f"same-{uid()}@example.com"
    outs = await _race(hub, code, [email, email.upper(), email])
    await _check(hub, pid, outs, 1)
    used = await hub.scalar(
        "SELECT times_used FROM promotion_customer_usage WHERE promotion_id = :p", p=pid
    )
    assert used == 1


# The same cart paid at a till with two offline tenders (payments: terminal + cash),
# answered with the same fields as above: the same statements as one cash payment (the
# payments and their first movements are written in one INSERT each, whatever their
# number; offline tenders record nothing before they are taken); the location-scope
# check reads nothing for an admin key. (A cash reference adds the look-up of a till
# by that code, as for one cash payment with a reference.) A gift card, store credit
# or card adds its checkout_payments row (in the claiming transaction), its provider's
# own statements, and its row marked USED.
SPLIT = """mutation($c: ID!, $k: String!, $p: [CheckoutPaymentInput!]) {
  checkoutComplete(cartId: $c, idempotencyKey: $k, payments: $p) {
    order { id name status paymentStatus totalPrice { amount currencyCode }
            payments { provider status amount { amount } }
            lineItems(first: 10) { nodes { sku quantity locationIds } } }
    changeDue { amount } userErrors { field message code } } }"""


async def test_split_tender_statements_are_pinned(hub: Hub) -> None:
    a = await stocked_variant(hub, {NEWARK: 50})
    b = await stocked_variant(hub, {NEWARK: 50})
    made = await create(
        hub,
        {
            "lines": [{"merchandiseId": a, "quantity": 1}, {"merchandiseId": b, "quantity": 2}],
            "discountCodes": ["DEMO10"],
            "buyerIdentity": {"email": f"pin-{uid()}@example.com", "countryCode": "US"},
        },
    )
    cid = made["cart"]["id"]
    total = Decimal(made["cart"]["cost"]["totalAmount"]["amount"])
    pay = [
        {"method": "TERMINAL", "amount": "1", "reference": "auth-9"},
        {"method": "CASH", "amount": str(total - 1), "cashTendered": str(total)},
    ]
    with hub.count_statements() as seen:
        res = await hub.gql(SPLIT, {"c": cid, "k": uid(), "p": pay}, token=hub.admin_token)
    out = res["data"]["checkoutComplete"]
    assert out["userErrors"] == [], out
    assert out["changeDue"] == {"amount": "1.00"}
    assert [p["provider"] for p in out["order"]["payments"]] == ["terminal", "cash"]
    assert len(seen) == STATEMENTS[hub.name], "\n".join(s[:100] for s in seen)


async def test_checkouts_racing_for_the_same_promotions_all_complete(hub: Hub) -> None:
    """Concurrent checkouts that take the same three promotions lock them in one order
    (PostgreSQL: ``l`` in hub.domain.checkout.counters); none dies of a deadlock (an
    internal error) and each promotion is counted once per order."""
    codes = [f"LOCK{i}{uuid.uuid4().hex[:6]}" for i in range(3)]
    pids = [await _code_promotion(hub, code) for code in codes]
    vid = await stocked_variant(hub, {NEWARK: 200})
    # A storefront key of its own: the 54 codes entered (2 x 9 carts x 3) count against its own
    # guessing limit, not the shared test keys'.
    _, store = await create_api_key(hub.db, f"lock-race-{uid()}", ["storefront"])
    rounds, per_round = 2, 9
    done = 0
    for _ in range(rounds):
        carts = []
        for i in range(per_round):
            made = await create(
                hub,
                {
                    "lines": [{"merchandiseId": vid, "quantity": 1}],
                    # Each cart names the codes in another order.
                    "discountCodes": codes[i % 3 :] + codes[: i % 3],
                    "buyerIdentity": {"email": f"lk{i}-{uid()}@example.com", "countryCode": "US"},
                },
                token=store,
            )
            assert made["userErrors"] == [], made
            carts.append(made["cart"]["id"])
        outs = await asyncio.gather(
            *(checkout(hub, c, uid(), {"provider": "cash"}, hub.admin_token) for c in carts)
        )
        for out in outs:
            assert out["userErrors"] == [] and out["order"] is not None, out
        done += len(outs)
    for pid in pids:
        assert await hub.scalar("SELECT times_used FROM promotions WHERE id = :p", p=pid) == done
        redeemed = "SELECT count(*) FROM promotion_redemptions WHERE promotion_id = :p"
        assert await hub.scalar(redeemed, p=pid) == done
    await restock(hub, vid)
