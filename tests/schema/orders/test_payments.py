"""Payments after checkout over GraphQL, on SQLite and PostgreSQL, through the real
Stripe SDK against the local stand-in: partial captures (Stripe captures once: the rest
is released and recorded as a VOID), captures after a partial cancellation, cancels
that void and release stock, refunds to the original payment method that never exceed
what was captured (also under concurrent requests), illegal transitions that write
nothing, and the ledger balanced after each scenario."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from hub.demo import CHICAGO, NEWARK
from hub.domain.orders.fulfillment_orders import release_unfulfilled
from hub.events.outbox import Outbox
from tests.helpers.carts import uid
from tests.helpers.checkout import level
from tests.helpers.client import Hub, served_again
from tests.helpers.orders import (
    assert_ledger_clean,
    cancel,
    capture,
    kinds,
    order,
    pk,
    place,
    refund,
    snapshot,
    txns,
)
from tests.helpers.stripe import (  # noqa: F401  (fixtures)
    API_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    _fake_stripe_server,
    _no_stripe_telemetry,
    fake_stripe,
)


@pytest.fixture
async def shop(hub: Hub, fake_stripe: FakeStripe) -> AsyncIterator[Hub]:  # noqa: F811
    """The same database served by an app configured for the Stripe stand-in."""
    async with served_again(
        hub,
        stripe_api_key=API_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=fake_stripe.base_url,
    ) as served:
        yield served


def _codes(payload: dict) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


async def test_partial_capture_releases_the_rest_and_refunds_stay_within_it(
    shop: Hub,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    placed, _ = await place(shop, quantity=2)
    oid = placed["id"]
    total = placed["totalPrice"]["amount"]
    assert placed["paymentStatus"] == "AUTHORIZED"
    intent_id = fake_stripe.created_intents[-1]

    # More than authorized: refused, nothing written.
    before = await snapshot(shop, oid)
    too_much = await capture(shop, oid, uid(), str(float(total) + 1))
    assert _codes(too_much) == ["CAPTURE_EXCEEDS_AUTHORIZATION"]
    assert await snapshot(shop, oid) == before

    got = await capture(shop, oid, "cap-1", "5")
    assert got["userErrors"] == [], got
    assert got["captured"]["amount"] == "5.00"
    o = got["order"]
    # Stripe captured once: the rest of the authorization is released (a VOID).
    assert o["paymentStatus"] == "PAID"
    rest = f"{float(total) - 5:.2f}"
    assert txns(o) == [
        ("AUTHORIZATION", "SUCCESS", total),
        ("CAPTURE", "SUCCESS", "5.00"),
        ("VOID", "SUCCESS", rest),
    ]
    assert kinds(o)[0] == "order.created"
    assert {"payment.captured", "order.paid"} <= set(kinds(o))
    intent = fake_stripe.intent(intent_id)
    assert (intent["status"], intent["amount_received"]) == ("succeeded", 500)

    # The same key again: the same capture, no second call to Stripe.
    again = await capture(shop, oid, "cap-1", "5")
    assert again["userErrors"] == [] and again["captured"]["amount"] == "5.00"
    # A new key: nothing left to capture, and nothing written.
    before = await snapshot(shop, oid)
    more = await capture(shop, oid, uid())
    assert _codes(more) == ["NOTHING_TO_CAPTURE"]
    assert await snapshot(shop, oid) == before

    # Refunds never exceed what was captured (5.00), and one key refunds once.
    over = await refund(shop, oid, uid(), amount="6")
    assert _codes(over) == ["REFUND_EXCEEDS_CAPTURED"]
    r1 = await refund(shop, oid, "r-1", amount="3", note="scratched")
    assert r1["userErrors"] == [], r1
    assert r1["refund"]["status"] == "SUCCESS"
    assert r1["order"]["paymentStatus"] == "PARTIALLY_REFUNDED"
    r1b = await refund(shop, oid, "r-1", amount="3", note="scratched")
    assert r1b["refund"]["id"] == r1["refund"]["id"]
    refunds = [o for o in fake_stripe.objects.values() if o["object"] == "refund"]
    assert [(r["payment_intent"], r["amount"]) for r in refunds] == [(intent_id, 300)]
    r2 = await refund(shop, oid, uid(), amount="2")
    assert r2["order"]["paymentStatus"] == "REFUNDED"
    assert "order.refunded" in kinds(r2["order"])
    assert _codes(await refund(shop, oid, uid(), amount="0.01")) == ["REFUND_EXCEEDS_CAPTURED"]
    await assert_ledger_clean(shop)


async def test_capture_after_a_partial_cancellation_never_exceeds_what_is_due(
    shop: Hub,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    # One unit at Newark, one at Chicago: the order splits into two fulfillment orders.
    placed, vid = await place(shop, {NEWARK: 1, CHICAGO: 1}, quantity=2)
    oid = placed["id"]
    assert sorted(placed["lineItems"]["nodes"][0]["locationIds"]) == sorted(
        [f"gid://hub/Location/{NEWARK}", f"gid://hub/Location/{CHICAGO}"]
    )
    total = float(placed["totalPrice"]["amount"])
    # Chicago can't ship its unit (as the pickup-expiry job or a declined substitution
    # would): its fulfillment order is cancelled and its commitment released.
    (fo,) = await shop.rows(
        "SELECT id FROM fulfillment_orders WHERE order_id = :o AND location_id = :l",
        o=pk(oid),
        l=CHICAGO,
    )
    async with shop.db.transaction() as conn:
        released = await release_unfulfilled(
            conn, Outbox(), pk(oid), fulfillment_order_pks=[fo.id], reason="order_cancelled"
        )
    assert released == [(pk(vid), CHICAGO, 1)]

    before = await snapshot(shop, oid)
    over = await capture(shop, oid, uid(), f"{total:.2f}")
    assert _codes(over) == ["CAPTURE_EXCEEDS_AUTHORIZATION"]
    # Due: the total (two units at 10.00, and shipping) less the cancelled unit.
    due = f"{total - 10:.2f}"
    assert over["userErrors"][0]["message"].startswith(f"at most {due} may be captured")
    assert await snapshot(shop, oid) == before

    got = await capture(shop, oid, uid())
    assert got["userErrors"] == [], got
    assert got["captured"]["amount"] == due
    intent = fake_stripe.intent(fake_stripe.created_intents[-1])
    assert intent["amount_received"] == round((total - 10) * 100)
    assert intent["amount_received"] <= intent["amount"]
    assert got["order"]["paymentStatus"] == "PAID"
    await assert_ledger_clean(shop)


async def test_cancel_voids_releases_stock_and_illegal_transitions_write_nothing(
    shop: Hub,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    placed, vid = await place(shop, {NEWARK: 4}, quantity=3)
    oid = placed["id"]
    on_hand, reserved, committed = await level(shop, vid)
    assert committed == 3
    out = await cancel(shop, oid, "customer changed their mind")
    assert out["userErrors"] == [], out
    o = out["order"]
    assert (o["status"], o["paymentStatus"]) == ("CANCELLED", "VOIDED")
    assert o["cancelReason"] == "customer changed their mind"
    total = o["totalPrice"]["amount"]
    assert txns(o) == [("AUTHORIZATION", "SUCCESS", total), ("VOID", "SUCCESS", total)]
    assert {"order.cancelled", "payment.voided"} <= set(kinds(o))
    cancelled = next(e for e in o["events"] if e["kind"] == "order.cancelled")
    assert cancelled["data"]["released"] == [
        {"variantId": pk(vid), "locationId": NEWARK, "quantity": 3}
    ]
    assert fake_stripe.intent(fake_stripe.created_intents[-1])["status"] == "canceled"
    assert await level(shop, vid) == (on_hand, reserved, 0)  # released, back to sale

    # Illegal transitions: userErrors with a stable code, and nothing written.
    before = await snapshot(shop, oid)
    assert _codes(await cancel(shop, oid)) == ["ILLEGAL_TRANSITION"]
    assert _codes(await capture(shop, oid, uid())) == ["ILLEGAL_TRANSITION"]
    assert _codes(await refund(shop, oid, uid(), amount="1")) == ["REFUND_EXCEEDS_CAPTURED"]
    assert await snapshot(shop, oid) == before
    await assert_ledger_clean(shop)

    # restock: false holds the released units in quarantine at their location.
    placed, vid = await place(shop, {NEWARK: 2}, quantity=2)
    out = await cancel(shop, placed["id"], "damaged in the warehouse", restock=False)
    assert out["userErrors"] == [], out
    (row,) = await shop.rows(
        "SELECT on_hand, committed, quarantined FROM inventory_levels "
        "WHERE variant_id = :v AND location_id = :l",
        v=pk(vid),
        l=NEWARK,
    )
    assert tuple(row) == (2, 0, 2)
    await assert_ledger_clean(shop)


async def test_concurrent_double_refund_refunds_once(
    shop: Hub,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    placed, _ = await place(shop, quantity=2)
    oid = placed["id"]
    total = placed["totalPrice"]["amount"]
    assert (await capture(shop, oid, uid()))["userErrors"] == []

    # The same key twice at once: one refund, both answers name it.
    same = await asyncio.gather(*(refund(shop, oid, "dup", amount=total) for _ in range(2)))
    assert all(r["userErrors"] == [] for r in same), same
    assert len({r["refund"]["id"] for r in same}) == 1
    # Two keys at once, each for everything: one refunds, the other is refused.
    placed, _ = await place(shop, quantity=1)
    oid2 = placed["id"]
    assert (await capture(shop, oid2, uid()))["userErrors"] == []
    total2 = placed["totalPrice"]["amount"]
    both = await asyncio.gather(
        refund(shop, oid2, uid(), amount=total2), refund(shop, oid2, uid(), amount=total2)
    )
    assert sorted(tuple(_codes(r)) for r in both) == [(), ("REFUND_EXCEEDS_CAPTURED",)]
    refunds = [o for o in fake_stripe.objects.values() if o["object"] == "refund"]
    assert len(refunds) == 2  # one per order
    for o_id in (oid, oid2):
        got = await order(shop, o_id)
        assert got is not None and got["paymentStatus"] == "REFUNDED"
        assert [t["kind"] for t in got["transactions"]].count("REFUND") == 1
        assert len(got["refunds"]) == 1
    await assert_ledger_clean(shop)


async def test_a_process_without_the_payments_provider_leaves_its_refund_pending(
    hub: Hub,
    shop: Hub,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    """A hub process configured without Stripe (``hub`` here: a worker missing the key,
    say) must not record a Stripe refund as made: it stays PENDING, no money moved,
    until a process with the provider settles it (the reconciliation job)."""
    placed, _ = await place(shop, quantity=1)
    oid = placed["id"]
    got = await capture(shop, oid, uid())
    assert got["userErrors"] == [] and got["order"]["paymentStatus"] == "PAID", got
    stripe_refunds = len([o for o in fake_stripe.objects.values() if o["object"] == "refund"])

    left = await refund(hub, oid, "no-provider", amount="1")
    assert left["userErrors"] == [], left
    assert left["refund"]["status"] == "PENDING"
    assert left["order"]["paymentStatus"] == "PAID"
    assert len([o for o in fake_stripe.objects.values() if o["object"] == "refund"]) == (
        stripe_refunds
    )

    # The process that has Stripe settles it, once.
    assert await shop.app.state.hub.orders.reconcile(older_than=timedelta(0)) >= 1
    settled = await order(shop, oid)
    assert settled is not None
    assert [(r["amount"]["amount"], r["status"]) for r in settled["refunds"]] == [
        ("1.00", "SUCCESS")
    ]
    assert settled["paymentStatus"] == "PARTIALLY_REFUNDED"
    made = [o for o in fake_stripe.objects.values() if o["object"] == "refund"]
    assert len(made) == stripe_refunds + 1 and made[-1]["amount"] == 100
    await assert_ledger_clean(shop)
