"""Gift cards on SQLite and PostgreSQL, over GraphQL: issue (the code shown once),
balance by code (null for anything but an active card), checkout paid by a card (the
order PAID, the balance down by the total, one debit per idempotency key, also under
concurrent duplicates), declines with their own codes that release the stock and
leave the cart usable, racing debits that never overdraw, refunds and voids that give
back at most what was taken, and admin operations that refuse other scopes and write
nothing."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text, update

from connectors.base import PaymentError, PaymentProvider
from hub.auth import create_api_key
from hub.db.database import Database
from hub.demo import DEMO_GIFT_CARD_CODE, NEWARK
from hub.domain import giftcards as gc
from hub.settings import load_settings
from tests.helpers.carts import create, stocked_variant, uid
from tests.helpers.checkout import checkout, level, orders_of
from tests.helpers.client import Hub
from tests.helpers.giftcards import (
    ISSUE,
    balance,
    issue,
)

CARD = """query($id: ID!) { giftCard(id: $id) { id last4 status balance { amount currencyCode }
  transactions(first: 50) { nodes { kind amount { amount } reference } } } }"""
DISABLE = """mutation($id: ID!) { giftCardDisable(id: $id) {
  giftCard { id status } userErrors { field code } } }"""


async def card(hub: Hub, gid: str) -> dict[str, Any]:
    res = await hub.admin(CARD, {"id": gid})
    assert "errors" not in res, res
    return res["data"]["giftCard"]


def pay(code: str) -> dict[str, str]:
    return {"provider": "gift_card", "giftCardCode": code}


async def cart_total(hub: Hub, vid: str, quantity: int = 1) -> tuple[str, Decimal]:
    made = await create(hub, {"lines": [{"merchandiseId": vid, "quantity": quantity}]})
    total = made["cart"]["cost"]["totalAmount"]["amount"]
    return made["cart"]["id"], Decimal(total)


async def ledger_count(hub: Hub) -> int:
    return await hub.scalar("SELECT COUNT(*) FROM gift_card_transactions")


async def test_issue_check_and_pay_at_checkout(hub: Hub) -> None:
    out = await issue(hub, "100.00")
    code, gift = out["code"], out["giftCard"]
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}", code)
    assert gift["last4"] == code[-4:] and gift["status"] == "ACTIVE"
    assert gift["balance"] == {"amount": "100.00", "currencyCode": "USD"}
    # Only a hash of the code is stored.
    assert await hub.scalar("SELECT COUNT(*) FROM gift_cards WHERE code_hash = :c", c=code) == 0
    # Anyone with the code sees the balance, whatever its case and dashes.
    assert await balance(hub, code) == {
        "balance": {"amount": "100.00", "currencyCode": "USD"},
        "expiresAt": None,
    }
    assert await balance(hub, code.replace("-", " ").lower(), hub.storefront_token) is not None

    vid = await stocked_variant(hub, {NEWARK: 6})
    cid, total = await cart_total(hub, vid, 2)
    before = await level(hub, vid)
    key = uid()
    done = await checkout(hub, cid, key, pay(code))  # a storefront: no key needed
    assert done["userErrors"] == [], done
    order = done["order"]
    assert order["paymentStatus"] == "PAID"
    assert Decimal(order["totalPrice"]["amount"]) == total
    assert order["payments"] == [
        {"provider": "gift_card", "status": "CAPTURED", "amount": {"amount": f"{total:.2f}"}}
    ]
    left = Decimal("100.00") - total
    assert (await balance(hub, code))["balance"]["amount"] == f"{left:.2f}"
    on_hand, reserved, committed = await level(hub, vid)
    assert (on_hand, reserved, committed - before[2]) == (before[0], before[1], 2)
    got = await card(hub, gift["id"])
    assert [(t["kind"], t["amount"]["amount"]) for t in got["transactions"]["nodes"]] == [
        ("ISSUE", "100.00"),
        ("DEBIT", f"{-total:.2f}"),
    ]
    # The payment row names the ledger row, never the code.
    intent = await hub.scalar(
        "SELECT intent_id FROM payments WHERE provider = 'gift_card' AND order_id = :o",
        o=int(order["id"].rsplit("/", 1)[1]),
    )
    assert intent.startswith("gc_") and code not in intent

    # A retry with the same key returns the same order and takes nothing more.
    again = await checkout(hub, cid, key, pay(code))
    assert again["order"] == order
    assert (await balance(hub, code))["balance"]["amount"] == f"{left:.2f}"

    # Concurrent duplicates of another cart's checkout: one order, one debit.
    cid2, total2 = await cart_total(hub, vid, 1)
    key2 = uid()
    outs = await asyncio.gather(*(checkout(hub, cid2, key2, pay(code)) for _ in range(6)))
    assert all(o["userErrors"] == [] for o in outs), outs
    assert len({o["order"]["name"] for o in outs}) == 1
    assert await orders_of(hub, cid2) == 1
    assert (await balance(hub, code))["balance"]["amount"] == f"{left - total2:.2f}"
    got = await card(hub, gift["id"])
    assert [t["kind"] for t in got["transactions"]["nodes"]] == ["ISSUE", "DEBIT", "DEBIT"]
    assert await gc.verify(hub.db) == []


async def test_insufficient_funds_releases_stock_and_keeps_the_cart(hub: Hub) -> None:
    small = (await issue(hub, "5.00"))["code"]
    vid = await stocked_variant(hub, {NEWARK: 5})
    cid, total = await cart_total(hub, vid, 2)
    assert total > Decimal("5.00")
    before = await level(hub, vid)
    rows = await ledger_count(hub)
    key = uid()
    out = await checkout(hub, cid, key, pay(small))
    assert out["order"] is None
    assert [(e["code"], e["field"]) for e in out["userErrors"]] == [
        ("GIFT_CARD_INSUFFICIENT_FUNDS", ["payment"])
    ]
    assert await level(hub, vid) == before  # the reservation was released
    assert await orders_of(hub, cid) == 0
    assert await ledger_count(hub) == rows  # nothing written for a decline
    assert (await balance(hub, small))["balance"]["amount"] == "5.00"
    # The cart is still usable: change it, then pay it (the same key may be retried).
    note = await hub.gql(
        """mutation($c: ID!) { cartNoteUpdate(cartId: $c, note: "other card") {
        cart { status } userErrors { code } } }""",
        {"c": cid},
    )
    assert note["data"]["cartNoteUpdate"] == {"cart": {"status": "ACTIVE"}, "userErrors": []}
    big = (await issue(hub, "500.00"))["code"]
    ok = await checkout(hub, cid, key, pay(big))
    assert ok["userErrors"] == [] and ok["order"]["paymentStatus"] == "PAID"
    assert (await balance(hub, small))["balance"]["amount"] == "5.00"


async def test_unusable_cards_are_refused_with_gift_card_invalid(hub: Hub) -> None:
    vid = await stocked_variant(hub, {NEWARK: 5})
    cid, _ = await cart_total(hub, vid)
    before = await level(hub, vid)
    disabled = await issue(hub, "50.00")
    res = await hub.admin(DISABLE, {"id": disabled["giftCard"]["id"]})
    assert res["data"]["giftCardDisable"] == {
        "giftCard": {"id": disabled["giftCard"]["id"], "status": "DISABLED"},
        "userErrors": [],
    }
    expired = await issue(
        hub, "50.00", expiresAt=(datetime.now(UTC) + timedelta(days=1)).isoformat()
    )
    async with hub.db.transaction() as conn:
        await conn.execute(
            update(gc.cards_t)
            .where(gc.cards_t.c.id == int(expired["giftCard"]["id"].rsplit("/", 1)[1]))
            .values(expires_at=datetime(2020, 1, 1, tzinfo=UTC))
        )
    euros = await issue(hub, "50.00", "EUR")
    said = {}
    for code in ("NOPE-NOPE-NOPE-NOPE", "x", disabled["code"], expired["code"], euros["code"]):
        out = await checkout(hub, cid, uid(), pay(code))
        assert [e["code"] for e in out["userErrors"]] == ["GIFT_CARD_INVALID"], (code, out)
        said[code] = out["userErrors"][0]["message"]
    # Unknown and disabled read the same; expiry and currency say what is wrong.
    assert said["NOPE-NOPE-NOPE-NOPE"] == said[disabled["code"]] == said["x"]
    assert "expired on 2020-01-01" in said[expired["code"]]
    assert "in EUR" in said[euros["code"]]
    # giftCardBalance answers null alike for unknown and disabled codes.
    assert await balance(hub, "NOPE-NOPE-NOPE-NOPE") is None
    assert await balance(hub, disabled["code"]) is None
    assert await balance(hub, "") is None
    assert (await balance(hub, expired["code"]))["expiresAt"].startswith("2020-01-01")
    # The code goes with provider gift_card only; a gift card needs its code.
    out = await checkout(
        hub, cid, uid(), {"provider": "stripe", "giftCardCode": euros["code"]}, hub.admin_token
    )
    assert [(e["code"], e["field"]) for e in out["userErrors"]] == [
        ("INVALID", ["payment", "giftCardCode"])
    ]
    out = await checkout(hub, cid, uid(), {"provider": "gift_card"})
    assert [e["code"] for e in out["userErrors"]] == ["PAYMENT_INVALID"]
    assert await level(hub, vid) == before
    assert await orders_of(hub, cid) == 0
    # Disabling twice is fine; an unknown id is NOT_FOUND.
    res = await hub.admin(DISABLE, {"id": disabled["giftCard"]["id"]})
    assert res["data"]["giftCardDisable"]["giftCard"]["status"] == "DISABLED"
    res = await hub.admin(DISABLE, {"id": "gid://hub/GiftCard/999999"})
    assert res["data"]["giftCardDisable"] == {
        "giftCard": None,
        "userErrors": [{"field": ["id"], "code": "NOT_FOUND"}],
    }


async def test_racing_checkouts_never_overdraw(hub: Hub) -> None:
    vid = await stocked_variant(hub, {NEWARK: 20})
    carts = [await cart_total(hub, vid) for _ in range(6)]
    each = carts[0][1]
    assert all(t == each for _, t in carts)
    code = (await issue(hub, f"{each * 2:.2f}"))["code"]  # pays for exactly two
    before = await level(hub, vid)
    outs = await asyncio.gather(*(checkout(hub, cid, uid(), pay(code)) for cid, _ in carts))
    paid = [o for o in outs if o["order"]]
    refused = [o for o in outs if not o["order"]]
    assert len(paid) == 2, outs
    assert {e["code"] for o in refused for e in o["userErrors"]} == {"GIFT_CARD_INSUFFICIENT_FUNDS"}
    assert (await balance(hub, code))["balance"]["amount"] == "0.00"
    _, reserved, committed = await level(hub, vid)
    assert (reserved, committed - before[2]) == (before[1], 2)  # only the paid carts
    assert await gc.verify(hub.db) == []


async def test_parallel_debits_on_separate_connections_never_overdraw(hub: Hub) -> None:
    """Two engines (as two processes would have), 24 debits of 3.00 against 20.00:
    exactly six succeed, the balance never goes below zero; then 8 repeats of one key
    take 0.50 once."""
    card_, code = await gc.issue(hub.db, amount=Decimal("20.00"), currency="USD")
    other = Database(load_settings(database_url=hub.db.engine.url.render_as_string(False)))
    try:

        async def one(i: int) -> str:
            db = hub.db if i % 2 else other
            try:
                await gc.debit(db, code, 300, "USD", reference=f"race-{i}", key=f"race-{i}")
            except gc.GiftCardDeclined as exc:
                return exc.code
            return "ok"

        got = await asyncio.gather(*(one(i) for i in range(24)))
        # Repeats of one key arriving at once: one debit, every answer names it.
        same = await asyncio.gather(
            *(
                gc.debit(hub.db if i % 2 else other, code, 50, "USD", reference="r", key="same")
                for i in range(8)
            )
        )
    finally:
        await other.dispose()
    assert got.count("ok") == 6
    assert set(got) == {"ok", "GIFT_CARD_INSUFFICIENT_FUNDS"}
    assert len({d.pk for d in same}) == 1 and sum(not d.replayed for d in same) == 1
    left = await hub.scalar("SELECT balance FROM gift_cards WHERE id = :i", i=card_.pk)
    assert left == 150
    assert await gc.verify(hub.db) == []


async def test_provider_refund_void_and_replays(hub: Hub) -> None:
    provider = gc.GiftCardProvider(hub.db)
    assert isinstance(provider, PaymentProvider)
    card_, code = await gc.issue(hub.db, amount="40.00", currency="USD")

    async def bal() -> int:
        return await hub.scalar("SELECT balance FROM gift_cards WHERE id = :i", i=card_.pk)

    kw = {"currency": "USD", "payment_method_id": code, "reference": "order-1"}
    paid = await provider.authorize(amount=2500, idempotency_key="k1", **kw)
    assert (paid.status, paid.amount_captured, await bal()) == ("captured", 2500, 1500)
    assert (await provider.authorize(amount=2500, idempotency_key="k1", **kw)) == paid
    with pytest.raises(PaymentError) as err:
        await provider.authorize(amount=100, idempotency_key="k1", **kw)
    assert err.value.code == "idempotency_key_in_use"
    assert (await provider.capture(paid.id, idempotency_key="c1")).status == "captured"

    part = await provider.refund(paid.id, 1000, idempotency_key="r1")
    assert (part.status, part.amount_refunded, await bal()) == ("partially_refunded", 1000, 2500)
    assert await provider.refund(paid.id, 1000, idempotency_key="r1") == part  # once per key
    assert await bal() == 2500
    with pytest.raises(PaymentError) as err:
        await provider.refund(paid.id, 1501, idempotency_key="r2")
    assert err.value.code == "amount_too_large"
    rest = await provider.refund(paid.id, idempotency_key="r3")
    assert (rest.status, rest.amount_refunded, await bal()) == ("refunded", 2500, 4000)
    assert (await provider.refund(paid.id, idempotency_key="r4")).status == "refunded"
    assert await bal() == 4000

    # A void gives back all that remains; replaying the debit's key shows it voided.
    held = await provider.authorize(amount=700, idempotency_key="k2", **kw)
    voided = await provider.cancel(held.id, idempotency_key="v1")
    assert (voided.status, voided.amount_captured, await bal()) == ("canceled", 0, 4000)
    again = await provider.authorize(amount=700, idempotency_key="k2", **kw)
    assert again.status == "canceled" and await bal() == 4000

    # Concurrent refunds of one debit give back at most what was taken.
    third = await provider.authorize(amount=900, idempotency_key="k3", **kw)

    async def refund(i: int) -> str:
        try:
            await provider.refund(third.id, 300, idempotency_key=f"rr{i}")
        except PaymentError as exc:
            return exc.code
        return "ok"

    got = await asyncio.gather(*(refund(i) for i in range(8)))
    assert got.count("ok") == 3 and await bal() == 4000
    with pytest.raises(PaymentError):
        await provider.refund("gc_99999999", idempotency_key="x")
    with pytest.raises(PaymentError):
        await provider.cancel("cash_1_USD_x", idempotency_key="x")
    assert await gc.verify(hub.db) == []


async def test_issue_validation_writes_nothing(hub: Hub) -> None:
    taken = (await issue(hub, "10.00", code="staff-gift-0001"))["code"]
    assert taken == "staff-gift-0001"
    cards = await hub.scalar("SELECT COUNT(*) FROM gift_cards")
    rows = await ledger_count(hub)
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    cases = [
        ({"amount": "10", "currencyCode": "XXY"}, ("currencyCode", "INVALID")),
        ({"amount": "0", "currencyCode": "USD"}, ("amount", "INVALID")),
        ({"amount": "-5", "currencyCode": "USD"}, ("amount", "INVALID")),
        ({"amount": "1.005", "currencyCode": "USD"}, ("amount", "INVALID")),
        ({"amount": "1e100000", "currencyCode": "USD"}, ("amount", "INVALID")),
        ({"amount": "10", "currencyCode": "USD", "code": "short"}, ("code", "INVALID")),
        ({"amount": "10", "currencyCode": "USD", "code": "STAFF GIFT 0001"}, ("code", "TAKEN")),
        ({"amount": "10", "currencyCode": "USD", "expiresAt": past}, ("expiresAt", "INVALID")),
        (
            {"amount": "10", "currencyCode": "USD", "customerId": "gid://hub/Customer/99999"},
            ("customerId", "NOT_FOUND"),
        ),
        ({"amount": "10", "currencyCode": "USD", "customerId": "nope"}, ("customerId", "INVALID")),
    ]
    for given, (field, code) in cases:
        res = await hub.admin(ISSUE, {"i": given})
        assert "errors" not in res, (given, res)
        out = res["data"]["giftCardIssue"]
        assert out["giftCard"] is None and out["code"] is None
        assert [(e["field"], e["code"]) for e in out["userErrors"]] == [([field], code)], given
    assert await hub.scalar("SELECT COUNT(*) FROM gift_cards") == cards
    assert await ledger_count(hub) == rows
    # A card for a customer, in yen.
    yen = await issue(hub, "5000", "JPY", customerId="gid://hub/Customer/1")
    assert yen["giftCard"]["balance"] == {"amount": "5000", "currencyCode": "JPY"}
    assert yen["giftCard"]["customerId"] == "gid://hub/Customer/1"


async def test_admin_operations_refuse_other_scopes(hub: Hub) -> None:
    target = await issue(hub, "20.00")
    gid = target["giftCard"]["id"]
    _, connector = await create_api_key(hub.db, "gift-connector", ["connector"])
    _, customer = await create_api_key(hub.db, "gift-customer", ["customer"])
    cards = await hub.scalar("SELECT COUNT(*) FROM gift_cards")
    rows = await ledger_count(hub)
    for token in (None, hub.storefront_token, connector, customer):
        res = await hub.gql(ISSUE, {"i": {"amount": "10", "currencyCode": "USD"}}, token=token)
        assert res["data"] is None
        assert [e["extensions"]["code"] for e in res["errors"]] == ["ACCESS_DENIED"]
        res = await hub.gql(DISABLE, {"id": gid}, token=token)
        assert [e["extensions"]["code"] for e in res["errors"]] == ["ACCESS_DENIED"]
        res = await hub.gql(CARD, {"id": gid}, token=token)
        assert res["data"] == {"giftCard": None}
        assert [e["extensions"]["code"] for e in res["errors"]] == ["ACCESS_DENIED"]
    assert await hub.scalar("SELECT COUNT(*) FROM gift_cards") == cards
    assert await ledger_count(hub) == rows
    assert (await card(hub, gid))["status"] == "ACTIVE"
    res = await hub.admin(CARD, {"id": "gid://hub/Product/1"})
    assert [e["extensions"]["code"] for e in res["errors"]] == ["INVALID_ID"]
    # node(id:) shows a card to staff only, null to anyone else.
    node = "query($id: ID!) { node(id: $id) { id ... on GiftCard { last4 } } }"
    res = await hub.admin(node, {"id": gid})
    assert res["data"]["node"] == {"id": gid, "last4": target["giftCard"]["last4"]}
    for token in (None, hub.storefront_token, connector, customer):
        res = await hub.gql(node, {"id": gid}, token=token)
        assert res == {**res, "data": {"node": None}} and "errors" not in res


async def test_demo_gift_card(hub: Hub) -> None:
    assert await balance(hub, DEMO_GIFT_CARD_CODE) == {
        "balance": {"amount": "50.00", "currencyCode": "USD"},
        "expiresAt": None,
    }
    async with hub.db.read() as conn:
        row = (
            await conn.execute(
                text("SELECT last4, currency FROM gift_cards WHERE code_hash = :h"),
                {"h": gc.code_hash(DEMO_GIFT_CARD_CODE)},
            )
        ).one()
    assert tuple(row) == ("0050", "USD")
