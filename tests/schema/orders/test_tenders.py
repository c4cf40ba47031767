"""Refunds go back the way the money came: a gift card is re-credited through the gift
card ledger, cash or a terminal payment is recorded as given back at the till; capture
on fulfillment (the channel's capture mode) captures when units ship; a provider that
can't be reached leaves the movement PENDING and the reconciliation job settles it with
the same idempotency key. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import text

from hub.db.tables import fo_lines_t, fulfillment_orders_t, order_lines_t
from hub.demo import NEWARK
from hub.domain.inventory.operations import leave
from hub.events.outbox import Outbox
from tests.helpers.carts import uid
from tests.helpers.client import Hub, served_again
from tests.helpers.giftcards import balance, issue
from tests.helpers.orders import (
    assert_ledger_clean,
    cancel,
    capture,
    kinds,
    order,
    pk,
    place,
    refund,
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
    async with served_again(
        hub,
        stripe_api_key=API_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=fake_stripe.base_url,
    ) as served:
        yield served


async def test_gift_card_refund_recredits_the_card(hub: Hub) -> None:
    card = await issue(hub, "100")
    placed, _ = await place(
        hub, quantity=2, payment={"provider": "gift_card", "giftCardCode": card["code"]}
    )
    total = float(placed["totalPrice"]["amount"])
    assert placed["paymentStatus"] == "PAID"
    left = await balance(hub, card["code"])
    assert left is not None and float(left["balance"]["amount"]) == pytest.approx(100 - total)
    line = placed["lineItems"]["nodes"][0]["id"]
    out = await refund(hub, placed["id"], uid(), lines=[{"lineItemId": line, "quantity": 1}])
    assert out["userErrors"] == [], out
    assert out["refund"]["amount"]["amount"] == "10.00"
    assert out["refund"]["lines"] == [
        {"lineItemId": line, "quantity": 1, "amount": {"amount": "10.00"}}
    ]
    assert out["order"]["paymentStatus"] == "PARTIALLY_REFUNDED"
    assert txns(out["order"])[-1] == ("REFUND", "SUCCESS", "10.00")
    left = await balance(hub, card["code"])
    assert left is not None and float(left["balance"]["amount"]) == pytest.approx(110 - total)
    # The line's other unit once more is fine; a third is not (the line has two).
    ok = await refund(hub, placed["id"], uid(), lines=[{"lineItemId": line, "quantity": 1}])
    assert ok["userErrors"] == []
    again = await refund(hub, placed["id"], uid(), lines=[{"lineItemId": line, "quantity": 1}])
    assert [e["code"] for e in again["userErrors"]] == ["QUANTITY_EXCEEDS_REMAINING"]
    assert again["userErrors"][0]["field"] == ["lines", "0", "quantity"]


async def test_cash_order_cancelled_with_refund_is_given_back_at_the_till(hub: Hub) -> None:
    placed, vid = await place(
        hub,
        {NEWARK: 2},
        quantity=2,
        payment={"provider": "cash", "reference": "drawer-3"},
        token=hub.admin_token,
    )
    assert placed["paymentStatus"] == "PAID"
    out = await cancel(hub, placed["id"], "wrong size", refund=True)
    assert out["userErrors"] == [], out
    assert out["refund"]["status"] == "SUCCESS"
    assert out["refund"]["amount"]["amount"] == placed["totalPrice"]["amount"]
    o = await order(hub, placed["id"])
    assert o is not None
    assert (o["status"], o["paymentStatus"]) == ("CANCELLED", "REFUNDED")
    refund_txn = [t for t in o["transactions"] if t["kind"] == "REFUND"]
    assert [
        (t["provider"], t["status"], t["amount"]["amount"], t["reference"]) for t in refund_txn
    ] == [("cash", "SUCCESS", placed["totalPrice"]["amount"], "drawer-3")]
    assert txns(o)[0] == ("SALE", "SUCCESS", placed["totalPrice"]["amount"])
    assert {"order.cancelled", "refund.created", "order.refunded"} <= set(kinds(o))
    (row,) = await hub.rows(
        "SELECT on_hand, committed FROM inventory_levels "
        "WHERE variant_id = :v AND location_id = :l",
        v=pk(vid),
        l=NEWARK,
    )
    assert tuple(row) == (2, 0)  # the commitment released, back to sale
    await assert_ledger_clean(hub)


async def _ship_everything(shop: Hub, order_pk: int) -> None:
    """Fulfil every open fulfillment order line through the inventory ledger (what
    fulfillmentCreate does on the fulfillment branch)."""
    outbox = Outbox()
    async with shop.db.transaction() as conn:
        rows = (
            await conn.execute(
                fo_lines_t.select()
                .with_only_columns(
                    fo_lines_t.c.id,
                    fo_lines_t.c.order_line_id,
                    fo_lines_t.c.variant_id,
                    fo_lines_t.c.quantity,
                    fulfillment_orders_t.c.location_id,
                    fulfillment_orders_t.c.id.label("fo_id"),
                )
                .join_from(
                    fo_lines_t,
                    fulfillment_orders_t,
                    fulfillment_orders_t.c.id == fo_lines_t.c.fulfillment_order_id,
                )
                .where(fulfillment_orders_t.c.order_id == order_pk)
            )
        ).all()
        for r in rows:
            await leave(conn, outbox, r.variant_id, r.location_id, r.quantity, in_store=False)
            await conn.execute(
                fo_lines_t.update()
                .where(fo_lines_t.c.id == r.id)
                .values(quantity_fulfilled=r.quantity)
            )
            await conn.execute(
                order_lines_t.update()
                .where(order_lines_t.c.id == r.order_line_id)
                .values(quantity_fulfilled=order_lines_t.c.quantity_fulfilled + r.quantity)
            )
            await conn.execute(
                fulfillment_orders_t.update()
                .where(fulfillment_orders_t.c.id == r.fo_id)
                .values(status="FULFILLED")
            )
        await outbox.flush(conn)


async def test_capture_on_fulfillment_is_a_channel_setting(
    shop: Hub,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    orders = shop.app.state.hub.orders
    placed, _ = await place(shop, quantity=2)
    # AT_CHECKOUT (the default): shipping captures nothing.
    await _ship_everything(shop, pk(placed["id"]))
    assert await orders.capture_for_fulfillment(pk(placed["id"]), "test") is None
    assert fake_stripe.intent(fake_stripe.created_intents[-1])["status"] == "requires_capture"

    async with shop.db.transaction() as conn:
        await conn.execute(
            text("UPDATE channels SET capture_mode = 'ON_FULFILLMENT' WHERE handle = 'web'")
        )
    try:
        placed, _ = await place(shop, quantity=2)
        o_pk = pk(placed["id"])
        # Nothing shipped yet: nothing captured.
        assert await orders.capture_for_fulfillment(o_pk, "test") is None
        await _ship_everything(shop, o_pk)
        got = await orders.capture_for_fulfillment(o_pk, "fulfillment")
        assert got is not None and got.captured == round(
            float(placed["totalPrice"]["amount"]) * 100
        )
        intent = fake_stripe.intent(fake_stripe.created_intents[-1])
        assert (intent["status"], intent["amount_received"]) == ("succeeded", got.captured)
        # Once: a later call replays the same capture and takes nothing more.
        again = await orders.capture_for_fulfillment(o_pk, "fulfillment")
        assert again is not None and again.captured == got.captured
        assert (
            fake_stripe.intent(fake_stripe.created_intents[-1])["amount_received"] == got.captured
        )
        o = await order(shop, placed["id"])
        assert o is not None
        assert [t["kind"] for t in o["transactions"]] == ["AUTHORIZATION", "CAPTURE"]
        assert (o["status"], o["paymentStatus"], o["fulfillmentStatus"]) == (
            "CLOSED",
            "PAID",
            "FULFILLED",
        )
        assert {"payment.captured", "order.paid", "order.closed"} <= set(kinds(o))
    finally:
        async with shop.db.transaction() as conn:
            await conn.execute(
                text("UPDATE channels SET capture_mode = 'AT_CHECKOUT' WHERE handle = 'web'")
            )
    await assert_ledger_clean(shop)


async def test_unreachable_stripe_leaves_the_capture_pending_until_reconciled(
    shop: Hub,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    placed, _ = await place(shop, quantity=1)
    oid = placed["id"]
    fake_stripe.fail_next(10, "500")
    out = await capture(shop, oid, "cap-down")
    assert out["userErrors"] == [] and out["captured"]["amount"] == "0.00"
    o = out["order"]
    assert txns(o)[1:] == [("CAPTURE", "PENDING", placed["totalPrice"]["amount"])]
    # While it is pending, another capture finds nothing left to take.
    more = await capture(shop, oid, uid())
    assert [e["code"] for e in more["userErrors"]] == ["NOTHING_TO_CAPTURE"]
    fake_stripe.faults.clear()
    settled = await shop.app.state.hub.orders.reconcile(older_than=timedelta(0))
    assert settled >= 1
    o = await order(shop, oid)
    assert o is not None and o["paymentStatus"] == "PAID"
    assert txns(o)[1:] == [("CAPTURE", "SUCCESS", placed["totalPrice"]["amount"])]
    intent = fake_stripe.intent(fake_stripe.created_intents[-1])
    assert intent["status"] == "succeeded"
    await assert_ledger_clean(shop)
