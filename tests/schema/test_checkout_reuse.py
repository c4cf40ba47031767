"""Checkout reuses the cart's priced state while nothing it depends on changed
(hub.domain.carts.reuse), on SQLite and PostgreSQL: a reused checkout writes the same
order as one that prices from scratch, and each thing pricing depends on (the catalog's
prices, the promotions, a promotion's window passing, a limited code's last use, the
stock) makes checkout price again. The pricing generation's triggers (migration 0031)
count the writes pricing depends on, and leave out the counters every order moves."""

from __future__ import annotations

import asyncio
import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from hub import ids
from hub.demo import NEWARK
from hub.domain.carts.reuse import fold, priced_carts
from tests.helpers.carts import create, restock, stocked_variant, uid
from tests.helpers.checkout import checkout
from tests.helpers.client import Hub
from tests.helpers.inventory import op

PROMO_CREATE = """mutation($i: PromotionInput!) { promotionCreate(input: $i) {
  promotion { id } userErrors { field code message } } }"""
CODE_CREATE = """mutation($p: ID!, $code: String!, $limit: Int) {
  discountCodeCreate(promotionId: $p, code: $code, usageLimit: $limit) {
  discountCode { id } userErrors { field message code } } }"""
PRICES_SET = """mutation($p: [VariantPriceInput!]!) { productVariantPricesSet(prices: $p) {
  userErrors { code } } }"""


def taken(hub: Hub) -> int:
    return priced_carts(hub.db).taken


async def _cart(hub: Hub, lines: list[tuple[str, int]], codes: list[str] | None = None) -> str:
    made = await create(
        hub,
        {
            "lines": [{"merchandiseId": v, "quantity": q} for v, q in lines],
            "discountCodes": codes if codes is not None else ["DEMO10"],
            "buyerIdentity": {"email": f"reuse-{uid()}@example.com", "countryCode": "US"},
        },
    )
    assert made["userErrors"] == [], made
    assert made["warnings"] == [], made
    return str(made["cart"]["id"])


async def _pay(hub: Hub, cid: str) -> dict[str, Any]:
    out = await checkout(hub, cid, uid(), {"provider": "cash"}, hub.admin_token)
    assert out["userErrors"] == [], out
    return out


async def _order(hub: Hub, out: dict[str, Any]) -> dict[str, Any]:
    """What an order was written with: its money, its lines' and its redemptions."""
    ref = out["order"]["id"]
    pk = int(ref.rsplit("/", 1)[1])
    (head,) = await hub.rows(
        "SELECT subtotal, discount_total, shipping_total, tax_total, total, discount_codes "
        "FROM orders WHERE id = :o",
        o=pk,
    )
    lines = await hub.rows(
        "SELECT sku, quantity, unit_price, subtotal, discount, tax, total FROM order_lines "
        "WHERE order_id = :o ORDER BY sku",
        o=pk,
    )
    used = await hub.rows(
        "SELECT promotion_id, code, amount FROM promotion_redemptions WHERE order_ref = :r "
        "ORDER BY promotion_id",
        r=ref,
    )
    return {
        "head": tuple(head),
        "lines": [tuple(r)[1:] for r in lines],
        "used": [tuple(r) for r in used],
    }


async def _promotion(hub: Hub, vid: str, percent: str, **extra: Any) -> str:
    definition = {
        "conditions": [],
        "action": {"type": "percent_off", "percent": percent,
                   "target": {"variant_ids": [ids.decode_pk(vid, "ProductVariant")]}},
        "combination": {"class": "PRODUCT", "combines_with": ["ORDER", "SHIPPING"]},
    }  # fmt: skip
    i = {"title": f"reuse {uid()}", "status": "ACTIVE", "definition": definition, **extra}
    out = (await hub.admin(PROMO_CREATE, {"i": i}))["data"]["promotionCreate"]
    assert out["userErrors"] == [], out
    return str(out["promotion"]["id"])


async def test_a_reused_checkout_writes_the_order_a_fresh_pricing_writes(hub: Hub) -> None:
    a = await stocked_variant(hub, {NEWARK: 20}, price="12.5")
    b = await stocked_variant(hub, {NEWARK: 20}, price="7")
    await _promotion(hub, b, "15")
    reused = await _cart(hub, [(a, 1), (b, 3)])
    before = taken(hub)
    first = await _order(hub, await _pay(hub, reused))
    assert taken(hub) == before + 1

    fresh = await _cart(hub, [(a, 1), (b, 3)])
    priced_carts(hub.db).clear()  # as if the cart was priced by another process
    second = await _order(hub, await _pay(hub, fresh))
    assert taken(hub) == before + 1
    assert first == second
    assert first["head"][1] > 0  # DEMO10 and the 15% off b: discounted
    assert len(first["used"]) >= 2


async def test_a_price_change_after_pricing_is_charged(hub: Hub) -> None:
    vid = await stocked_variant(hub, {NEWARK: 10}, price="20")
    cid = await _cart(hub, [(vid, 1)], codes=[])
    out = await hub.admin(PRICES_SET, {"p": [{"variantId": vid, "channel": "web", "amount": "30"}]})
    assert out["data"]["productVariantPricesSet"]["userErrors"] == []
    before = taken(hub)
    order = await _order(hub, await _pay(hub, cid))
    assert taken(hub) == before
    assert order["lines"][0][1] == 3000  # the new unit price, in cents


async def test_a_promotion_created_after_pricing_applies(hub: Hub) -> None:
    vid = await stocked_variant(hub, {NEWARK: 10}, price="40")
    cid = await _cart(hub, [(vid, 1)], codes=[])
    promo = await _promotion(hub, vid, "25")
    before = taken(hub)
    order = await _order(hub, await _pay(hub, cid))
    assert taken(hub) == before
    assert order["lines"][0][3] == 1000  # 25% of 40.00 off the line
    assert [u[0] for u in order["used"]] == [int(promo.rsplit("/", 1)[1])]


async def test_a_promotion_that_ends_after_pricing_is_not_given(hub: Hub) -> None:
    vid = await stocked_variant(hub, {NEWARK: 10}, price="40")
    ends = datetime.now(UTC) + timedelta(seconds=1.5)
    await _promotion(hub, vid, "50", endsAt=ends.isoformat())
    cid = await _cart(hub, [(vid, 1)], codes=[])
    await asyncio.sleep(max((ends - datetime.now(UTC)).total_seconds(), 0) + 0.2)
    before = taken(hub)
    order = await _order(hub, await _pay(hub, cid))
    assert taken(hub) == before
    assert order["lines"][0][3] == 0 and order["used"] == []


async def test_a_limited_codes_last_use_taken_meanwhile_prices_again(hub: Hub) -> None:
    vid = await stocked_variant(hub, {NEWARK: 10}, price="40")
    definition = {
        "conditions": [],
        "action": {"type": "percent_off", "percent": "10"},
        "combination": {"class": "ORDER", "combines_with": ["PRODUCT", "SHIPPING", "ORDER"]},
    }
    i = {"title": f"reuse {uid()}", "method": "CODE", "definition": definition}
    made = (await hub.admin(PROMO_CREATE, {"i": i}))["data"]["promotionCreate"]
    assert made["userErrors"] == [], made
    code = f"LAST{uid()}".upper()
    out = await hub.admin(CODE_CREATE, {"p": made["promotion"]["id"], "code": code, "limit": 1})
    assert out["data"]["discountCodeCreate"]["userErrors"] == [], out
    one = await _cart(hub, [(vid, 1)], codes=[code])
    two = await _cart(hub, [(vid, 1)], codes=[code])
    before = taken(hub)
    first = await _order(hub, await _pay(hub, one))
    assert taken(hub) == before + 1  # the code had a use left: nothing changed
    assert len(first["used"]) == 1
    second = await _order(hub, await _pay(hub, two))
    assert taken(hub) == before + 1  # its last use went: priced again, without it
    assert second["used"] == [] and second["head"][1] == 0


async def test_stock_gone_since_pricing_is_refused_as_before(hub: Hub) -> None:
    vid = await stocked_variant(hub, {NEWARK: 2}, price="10")
    cid = await _cart(hub, [(vid, 2)], codes=[])
    out = await op(
        hub,
        "inventoryAdjust",
        {
            "variantId": vid,
            "locationId": f"gid://hub/Location/{NEWARK}",
            "delta": -1,
            "reason": "damaged",
        },
    )
    assert out["userErrors"] == [], out
    before = taken(hub)
    res = await checkout(hub, cid, uid(), {"provider": "cash"}, hub.admin_token)
    assert taken(hub) == before
    assert [e["code"] for e in res["userErrors"]] == ["INSUFFICIENT_STOCK"], res
    await restock(hub, vid)


async def _generation(hub: Hub) -> int:
    sql = "SELECT n + (SELECT count(*) FROM pricing_changes) FROM pricing_generation"
    return int(await hub.scalar(sql))


async def _customer(hub: Hub, email: str) -> None:
    """A customer profile with this email (no account)."""
    await _execute(
        hub,
        "INSERT INTO customers (email, first_name, last_name, segments, orders_count, "
        "accepts_marketing, created_at, updated_at) "
        "VALUES (:e, '', '', '[]', 0, false, :t, :t)",
        e=email,
        t=datetime.now(UTC),
    )


async def _execute(hub: Hub, sql: str, **params: Any) -> None:
    async with hub.db.transaction() as conn:
        await conn.execute(text(sql), params)


async def test_the_generation_counts_what_pricing_reads_and_not_what_orders_move(
    hub: Hub,
) -> None:
    vid = await stocked_variant(hub, {NEWARK: 10})
    vpk = ids.decode_pk(vid, "ProductVariant")
    promo = int((await _promotion(hub, vid, "5")).rsplit("/", 1)[1])
    email = f"gen-{uid()}@example.com"
    await _customer(hub, email)
    moves = [  # (statement, whether pricing depends on it)
        ("UPDATE variants SET title = title || 'x' WHERE id = :v", True),
        ("UPDATE variant_prices SET amount = amount + 1 WHERE variant_id = :v", True),
        # (back as it was: the product's price range, which listings check, is not
        # kept by a raw UPDATE)
        ("UPDATE variant_prices SET amount = amount - 1 WHERE variant_id = :v", True),
        ("UPDATE promotions SET priority = priority + 1 WHERE id = :p", True),
        ("UPDATE promotions SET times_used = times_used + 1 WHERE id = :p", False),
        ("UPDATE promotions SET spent = spent + 5 WHERE id = :p", False),
        ("UPDATE promotions SET times_used = times_used - 1 WHERE id = :p", True),
        ("UPDATE customers SET orders_count = orders_count + 1 WHERE email = :e", False),
        ("UPDATE customers SET customer_group = 'wholesale' WHERE email = :e", True),
        ("UPDATE inventory_levels SET updated_at = updated_at WHERE variant_id = :v", False),
    ]
    for sql, counts in moves:
        before = await _generation(hub)
        await _execute(hub, sql, v=vpk, p=promo, e=email)
        after = await _generation(hub)
        assert (after > before) is counts, sql


async def test_folding_the_changes_keeps_the_generation(hub: Hub) -> None:
    """PostgreSQL's triggers insert a pricing_changes row per statement, folded into
    the count now and then (a reader sees the same generation before and after);
    SQLite's add to the count directly."""
    vpk = ids.decode_pk(await stocked_variant(hub, {NEWARK: 1}), "ProductVariant")
    before = await _generation(hub)
    for _ in range(3):
        await _execute(hub, "UPDATE variants SET title = title || 'y' WHERE id = :v", v=vpk)
    assert await _generation(hub) == before + 3
    if hub.name == "postgresql":
        assert await hub.scalar("SELECT count(*) FROM pricing_changes") >= 3
        await fold(hub.db)
    assert await hub.scalar("SELECT count(*) FROM pricing_changes") == 0
    assert await _generation(hub) == before + 3


async def test_orders_move_nothing_pricing_reads(hub: Hub) -> None:
    """A checkout (a guest's, and a known customer's: its order count, loyalty points
    and tier mirrored onto the profile) leaves the generation where it was, so the
    next cart's priced state stays reusable under a stream of orders."""
    vid = await stocked_variant(hub, {NEWARK: 10})
    email = f"known-{uid()}@example.com"
    await _customer(hub, email)
    guest = await _cart(hub, [(vid, 1)])
    made = await create(
        hub,
        {
            "lines": [{"merchandiseId": vid, "quantity": 2}],
            "discountCodes": ["DEMO10"],
            "buyerIdentity": {"email": email, "countryCode": "US"},
        },
    )
    before = await _generation(hub)
    reused = taken(hub)
    await _pay(hub, guest)
    await _pay(hub, str(made["cart"]["id"]))
    await asyncio.sleep(0.5)  # the outbox's consumers, if any, run meanwhile
    assert taken(hub) == reused + 2
    assert await _generation(hub) == before
    known = await hub.scalar("SELECT orders_count FROM customers WHERE email = :e", e=email)
    assert known == 1  # the order was the customer's: its profile was written


def _watched() -> set[str]:
    """The tables migration 0031 puts its triggers on (its FULL and PARTIAL)."""
    path = Path(__file__).resolve().parents[2] / "hub/db/migrations/versions"
    spec = importlib.util.spec_from_file_location("m0031", path / "0031_pricing_generation.py")
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    return set(migration.FULL) | set(migration.PARTIAL)


WATCHED = _watched()


async def test_every_table_pricing_reads_has_its_trigger(hub: Hub) -> None:
    """The tables migration 0031 watches all carry their triggers at the head revision
    (a later migration recreating one through SQLite's batch mode would drop them)."""
    if hub.name == "postgresql":
        sql = (
            "SELECT DISTINCT event_object_table AS t FROM information_schema.triggers "
            "WHERE trigger_name LIKE '%pricing%'"
        )
    else:
        sql = (
            "SELECT DISTINCT tbl_name AS t FROM sqlite_master "
            "WHERE type = 'trigger' AND name LIKE '%pricing%'"
        )
    found = {r[0] for r in await hub.rows(sql)}
    assert found == WATCHED
    assert len(WATCHED) == 16
