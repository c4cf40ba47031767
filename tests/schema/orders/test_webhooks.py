"""Stripe webhooks reconcile an order when money moves on Stripe's side (the dashboard,
another system): ``charge.captured``, ``charge.refunded`` and
``payment_intent.canceled``, signed, through the real SDK against the stand-in; each
applied once (a redelivery changes nothing); the money they report is recorded as
order transactions and the statuses derived from it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import stripe

from tests.helpers.carts import uid
from tests.helpers.client import Hub, served_again
from tests.helpers.orders import assert_ledger_clean, capture, kinds, order, place, txns
from tests.helpers.stripe import (  # noqa: F401  (fixtures)
    API_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    _fake_stripe_server,
    _no_stripe_telemetry,
    _sign,
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


async def _post(shop: Hub, body: bytes) -> str:
    resp = await shop.client.post(
        "/webhooks/stripe", content=body, headers={"stripe-signature": _sign(body)}
    )
    assert resp.status_code == 200, resp.text
    return str(resp.json()["outcome"])


def _dashboard(fake: FakeStripe) -> stripe.StripeClient:
    """Stripe's own side: the same SDK, as the merchant's dashboard would act."""
    return stripe.StripeClient(API_KEY, base_addresses={"api": fake.base_url})


async def test_capture_and_refund_on_stripes_side_reconcile_the_order(
    shop: Hub,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    placed, _ = await place(shop, quantity=2)
    oid, total = placed["id"], placed["totalPrice"]["amount"]
    intent_id = fake_stripe.created_intents[-1]
    client = _dashboard(fake_stripe)
    await client.v1.payment_intents.capture_async(intent_id)

    captured = fake_stripe.charge_event(intent_id, "charge.captured")
    assert await _post(shop, captured) == "updated"
    assert await _post(shop, captured) == "duplicate"
    o = await order(shop, oid)
    assert o is not None and o["paymentStatus"] == "PAID"
    assert txns(o) == [("AUTHORIZATION", "SUCCESS", total), ("CAPTURE", "SUCCESS", total)]
    assert o["transactions"][1]["provider"] == "stripe"
    assert "order.paid" in kinds(o)

    await client.v1.refunds.create_async({"payment_intent": intent_id, "amount": 500})
    refunded = fake_stripe.charge_event(intent_id, "charge.refunded")
    assert await _post(shop, refunded) == "updated"
    o = await order(shop, oid)
    assert o is not None and o["paymentStatus"] == "PARTIALLY_REFUNDED"
    assert txns(o)[-1] == ("REFUND", "SUCCESS", "5.00")
    assert o["payments"][0]["amountRefunded"]["amount"] == "5.00"
    # The hub's own refund sees what Stripe already gave back.
    await client.v1.refunds.create_async({"payment_intent": intent_id})
    assert await _post(shop, fake_stripe.charge_event(intent_id, "charge.refunded")) == "updated"
    o = await order(shop, oid)
    assert o is not None and o["paymentStatus"] == "REFUNDED"
    assert [t["kind"] for t in o["transactions"]] == [
        "AUTHORIZATION",
        "CAPTURE",
        "REFUND",
        "REFUND",
    ]
    await assert_ledger_clean(shop)


async def test_cancel_on_stripes_side_voids_the_order_payment(
    shop: Hub,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    placed, _ = await place(shop, quantity=1)
    intent_id = fake_stripe.created_intents[-1]
    await _dashboard(fake_stripe).v1.payment_intents.cancel_async(intent_id)
    body = fake_stripe.charge_event(intent_id, "payment_intent.canceled")
    assert await _post(shop, body) == "updated"
    assert await _post(shop, body) == "duplicate"
    o = await order(shop, placed["id"])
    assert o is not None
    assert (o["paymentStatus"], o["payments"][0]["status"]) == ("VOIDED", "CANCELED")
    assert txns(o)[1:] == [("VOID", "SUCCESS", placed["totalPrice"]["amount"])]
    # Nothing is left to capture.
    got = await capture(shop, placed["id"], uid())
    assert [e["code"] for e in got["userErrors"]] == ["NOTHING_TO_CAPTURE"]
