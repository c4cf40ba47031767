"""An authorized card payment earns points when it is captured (the provider's
webhook moves the order to PAID), and a full refund takes them back: SQLite and
PostgreSQL, through the real Stripe client against the local stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.helpers.carts import uid
from tests.helpers.client import Hub, served_again
from tests.helpers.loyalty import CHECKOUT, cart_for, loyalty_of, shopper
from tests.helpers.stripe import (  # noqa: F401  (fixtures)
    API_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    _event,
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


async def test_points_earned_on_capture_and_reversed_on_refund(
    shop: Hub,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    amy = await shopper(shop)
    cart = await cart_for(shop, amy, quantity=2, price="45")
    res = await shop.gql(
        CHECKOUT,
        {"c": cart, "k": uid(), "p": {"provider": "stripe", "paymentMethodId": "pm_card_visa"}},
        token=amy.token,
    )
    order = res["data"]["checkoutComplete"]["order"]
    assert order["paymentStatus"] == "AUTHORIZED" and order["source"] == "web"
    assert (await loyalty_of(shop, amy.gid))["points"] == 0  # not paid yet
    intent = fake_stripe.created_intents[-1]
    paid = _event({"id": intent, "object": "payment_intent", "status": "succeeded"})
    for _ in range(2):  # a redelivery earns nothing more
        r = await shop.client.post(
            "/webhooks/stripe", content=paid, headers={"stripe-signature": _sign(paid)}
        )
        assert r.status_code == 200
    got = await loyalty_of(shop, amy.gid)
    total = int(float(order["totalPrice"]["amount"]))
    assert got["points"] == total
    assert [n["kind"] for n in got["history"]["nodes"]] == ["EARN"]
    refund = _event(
        {"id": "ch_" + uid(), "object": "charge", "payment_intent": intent, "refunded": True},
        "charge.refunded",
    )
    r = await shop.client.post(
        "/webhooks/stripe", content=refund, headers={"stripe-signature": _sign(refund)}
    )
    assert r.json()["outcome"] == "updated"
    got = await loyalty_of(shop, amy.gid)
    assert got["points"] == 0
    assert [(n["kind"], n["points"]) for n in got["history"]["nodes"]] == [
        ("REVERSE", -total),
        ("EARN", total),
    ]
