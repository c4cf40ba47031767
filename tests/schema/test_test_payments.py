"""The test payment provider over GraphQL, on SQLite and PostgreSQL: a storefront with
no key pays a checkout of any size in both demo channels (``web`` in USD, ``eu`` in
EUR) with Stripe's test PaymentMethod ids; declines, 3-D Secure and unknown ids answer
as with Stripe and change nothing; the order, its payment and its event are marked as
test; the provider is off unless enabled, and can't be enabled in production."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from hub.demo import NEWARK, ROTTERDAM
from hub.settings import load_settings
from tests.helpers.carts import create, restock, stocked_variant, uid
from tests.helpers.checkout import checkout, level, orders_of, outbox_payloads
from tests.helpers.client import Hub, served_again
from tests.helpers.processes import hub_exit

ORDER = """query($id: ID!) { order(id: $id) { test paymentStatus currencyCode
  totalPrice { amount currencyCode } payments { provider status test amount { amount } } } }"""


@pytest.fixture
async def testpay(hub: Hub) -> AsyncIterator[Hub]:
    """The same database served by an app with HUB_TEST_PAYMENTS on."""
    async with served_again(hub, test_payments=True) as served:
        yield served


def card(pm: str = "pm_card_visa") -> dict[str, str]:
    return {"provider": "test", "paymentMethodId": pm}


async def order_created(hub: Hub, order_pk: int) -> dict[str, Any]:
    created = await outbox_payloads(hub, "order.created")
    (payload,) = [p for p in created if p["orderId"] == order_pk]
    return payload


async def test_a_storefront_pays_any_size_in_both_channels_without_a_key(testpay: Hub) -> None:
    # web, USD: a big cart (8 x 2,499 USD before promotions), no key at all.
    vid = await stocked_variant(testpay, {NEWARK: 10}, price="2499.00")
    made = await create(testpay, {"lines": [{"merchandiseId": vid, "quantity": 8}]})
    cid = made["cart"]["id"]
    total = made["cart"]["cost"]["totalAmount"]["amount"]
    assert Decimal(total) > Decimal("10000")
    before = await level(testpay, vid)
    out = await checkout(testpay, cid, uid(), card())
    assert out["userErrors"] == [], out
    order = out["order"]
    assert order["paymentStatus"] == "AUTHORIZED"  # authorized for a later capture, as Stripe
    assert order["totalPrice"] == {"amount": total, "currencyCode": "USD"}
    assert order["payments"] == [
        {"provider": "test", "status": "AUTHORIZED", "amount": {"amount": total}}
    ]
    got = (await testpay.admin(ORDER, {"id": order["id"]}))["data"]["order"]
    assert got["test"] is True and got["payments"][0]["test"] is True
    event = await order_created(testpay, int(order["id"].rsplit("/", 1)[1]))
    assert event["test"] is True and event["paymentStatus"] == "AUTHORIZED"
    on_hand, reserved, committed = await level(testpay, vid)
    assert (on_hand, reserved, committed - before[2]) == (before[0], before[1], 8)
    await restock(testpay, vid, 10)

    # eu, EUR (tax-inclusive): another brand, another currency, still no key.
    vpk = await testpay.scalar(
        "SELECT p.variant_id FROM variant_prices p JOIN inventory_levels l ON "
        "l.variant_id = p.variant_id AND l.location_id = :loc JOIN variants v ON "
        "v.id = p.variant_id WHERE p.channel_id = 2 AND NOT v.is_bundle AND l.on_hand - "
        "l.committed - l.reserved - l.quarantined - l.safety_stock >= 3 "
        "ORDER BY p.variant_id DESC LIMIT 1",
        loc=ROTTERDAM,
    )
    eu = await create(
        testpay,
        {"lines": [{"merchandiseId": f"gid://hub/ProductVariant/{vpk}", "quantity": 3}]},
        headers={"X-Hub-Channel": "eu"},
    )
    assert eu["userErrors"] == [] and eu["cart"]["currencyCode"] == "EUR", eu
    out = await checkout(testpay, eu["cart"]["id"], uid(), card("pm_card_mastercard"))
    assert out["userErrors"] == [], out
    assert out["order"]["totalPrice"] == {
        "amount": eu["cart"]["cost"]["totalAmount"]["amount"],
        "currencyCode": "EUR",
    }

    # Orders paid otherwise are not test orders.
    plain_vid = await stocked_variant(testpay, {NEWARK: 2})
    plain = (await create(testpay, {"lines": [{"merchandiseId": plain_vid}]}))["cart"]["id"]
    out = await checkout(
        testpay, plain, uid(), {"provider": "cash", "reference": "d"}, testpay.admin_token
    )
    got = (await testpay.admin(ORDER, {"id": out["order"]["id"]}))["data"]["order"]
    assert got["test"] is False and got["payments"][0]["test"] is False


async def test_declines_and_3ds_answer_as_stripe_does_and_change_nothing(testpay: Hub) -> None:
    vid = await stocked_variant(testpay, {NEWARK: 4})
    cid = (await create(testpay, {"lines": [{"merchandiseId": vid, "quantity": 2}]}))["cart"]["id"]
    before = await level(testpay, vid)
    orders = await testpay.scalar("SELECT COUNT(*) FROM orders")
    for pm, code, says in (
        ("pm_card_chargeDeclined", "PAYMENT_DECLINED", "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", "PAYMENT_DECLINED", "insufficient_funds"),
        ("pm_card_authenticationRequired", "PAYMENT_ACTION_REQUIRED", "3-D Secure"),
        ("pm_card_nonsense", "PAYMENT_INVALID", "No such PaymentMethod"),
        ("tok_visa", "PAYMENT_INVALID", "pm_card_visa"),
    ):
        out = await checkout(testpay, cid, uid(), card(pm))
        assert out["order"] is None
        assert [(e["code"], e["field"]) for e in out["userErrors"]] == [(code, ["payment"])], pm
        assert says in out["userErrors"][0]["message"], out
        assert await level(testpay, vid) == before  # the stock was released
    assert await testpay.scalar("SELECT COUNT(*) FROM orders") == orders
    # The cart is usable: the same key may be retried with a good card.
    key = uid()
    assert (await checkout(testpay, cid, key, card("pm_card_chargeDeclined")))["order"] is None
    ok = await checkout(testpay, cid, key, card("pm_card_amex"))
    assert ok["userErrors"] == [] and ok["order"]["paymentStatus"] == "AUTHORIZED"
    assert await orders_of(testpay, cid) == 1


async def test_the_test_provider_is_off_unless_enabled(hub: Hub) -> None:
    vid = await stocked_variant(hub, {NEWARK: 2})
    cid = (await create(hub, {"lines": [{"merchandiseId": vid}]}))["cart"]["id"]
    out = await checkout(hub, cid, uid(), card())
    assert [(e["code"], e["field"]) for e in out["userErrors"]] == [
        ("INVALID", ["payment", "provider"])
    ]
    assert "'test'" in out["userErrors"][0]["message"]


def test_test_payments_are_refused_in_production() -> None:
    env = {
        **os.environ,
        "HUB_DATABASE_URL": "sqlite+aiosqlite://",
        "HUB_ENV": "production",
        "HUB_TEST_PAYMENTS": "true",
    }
    out = hub_exit(["migrate"], env, timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "hub: invalid setting HUB_TEST_PAYMENTS: test payments can't be "
        "enabled when HUB_ENV=production"
    ]
    # And the app itself never offers the provider in production.
    from hub.composition import payment_providers

    assert "test" not in payment_providers(load_settings(env="production"))
    assert "test" in payment_providers(load_settings(test_payments=True))


def test_demo_turns_test_payments_on_except_in_production(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``hub serve --demo`` turns the provider on for the app it starts (through the
    environment its worker processes inherit), and leaves it off in production."""
    from hub import cli
    from hub.settings import get_settings

    before = os.environ.pop("HUB_TEST_PAYMENTS", None)
    try:
        cli._demo_payments(load_settings(env="production"))
        assert "HUB_TEST_PAYMENTS" not in os.environ
        assert "test payments stay off" in capsys.readouterr().err
        cli._demo_payments(load_settings())
        assert os.environ["HUB_TEST_PAYMENTS"] == "true"
        assert get_settings().test_payments is True
        assert "test payments on" in capsys.readouterr().out
    finally:
        os.environ.pop("HUB_TEST_PAYMENTS", None)
        if before is not None:
            os.environ["HUB_TEST_PAYMENTS"] = before
        get_settings.cache_clear()
