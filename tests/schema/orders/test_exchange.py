"""Exchanges over GraphQL, on SQLite and PostgreSQL: the return's credit pays a new
order for the replacement, priced, reserved and committed like any checkout (through
a cart in the order's channel); the difference is refunded to the original payment
or paid by the buyer. ``hub inventory verify`` stays clean."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hub.demo import SOHO
from tests.helpers.client import Hub, served_again
from tests.helpers.returns import (
    assert_ledger_clean,
    level_of,
    loc,
    new_variant,
    open_return,
    order_view,
    place,
    receive,
    ship_all,
)

CARD = {"provider": "test", "paymentMethodId": "pm_card_visa"}


@pytest.fixture
async def shop(hub: Hub) -> AsyncIterator[Hub]:
    async with served_again(hub, test_payments=True) as served:
        yield served


async def _exchange(shop: Hub, price: str, replacement: str) -> tuple[dict, dict, str]:
    """An order of one unit at ``price``, shipped, and an exchange opened in SoHo for
    one unit of a new variant priced ``replacement`` (stocked there): (order, return,
    replacement variant)."""
    vid = await new_variant(shop, {SOHO: 1}, price=price)
    swap = await new_variant(shop, {SOHO: 2}, price=replacement)
    # Bought and exchanged in the same store: the same tax on both.
    order = await place(shop, [(vid, 1)], CARD, pickup=SOHO)
    await ship_all(shop, order["id"])
    out = await open_return(
        shop,
        {
            "o": order["id"],
            "l": [
                {"orderLineId": order["lines"][0]["id"], "quantity": 1, "reason": "SIZE_TOO_LARGE"}
            ],
            "r": "EXCHANGE",
            "loc": loc(SOHO),
            "x": [{"variantId": swap, "quantity": 1}],
        },
    )
    assert out["userErrors"] == [], out
    return order, out["return"], swap


async def test_even_exchange_is_paid_by_the_credit(shop: Hub) -> None:
    order, ret, swap = await _exchange(shop, "20", "20")
    before = await level_of(shop, swap, SOHO)
    got = await receive(shop, ret["id"], SOHO, [(ret["lines"][0]["id"], 1, "RESTOCK")])
    assert got["userErrors"] == [], got
    done = got["return"]
    assert done["status"] == "CLOSED"
    new = done["exchangeOrder"]
    assert new is not None and new["id"] != order["id"]
    assert new["totalPrice"]["amount"] == ret["amount"]["amount"]  # 20.00 and its tax
    assert [n["quantity"] for n in new["lineItems"]["nodes"]] == [1]
    # Paid by the credit (a gift card of the replacement's total, spent in full).
    assert done["giftCard"]["balance"]["amount"] == "0.00"
    assert done["giftCard"]["initialValue"]["amount"] == ret["amount"]["amount"]
    assert done["refundId"] is None  # nothing left over to refund
    after = await level_of(shop, swap, SOHO)
    # Reserved and committed in the store it is handed over in (picked up: no shipping).
    assert after["committed"] - before["committed"] == 1
    view = await order_view(shop, order["id"])
    assert view["returns"][0]["exchangeOrder"]["id"] == new["id"]
    await assert_ledger_clean(shop)


async def test_dearer_exchange_needs_the_buyers_payment_first(shop: Hub) -> None:
    order, ret, _ = await _exchange(shop, "20", "35")
    line = ret["lines"][0]["id"]
    refused = await receive(shop, ret["id"], SOHO, [(line, 1, "RESTOCK")])
    assert [e["code"] for e in refused["userErrors"]] == ["EXCHANGE_PAYMENT_REQUIRED"]
    # Nothing was received.
    again = await order_view(shop, order["id"])
    assert again["returns"][0]["status"] == "OPEN"
    assert again["returns"][0]["lines"][0]["quantityReceived"] == 0
    await assert_ledger_clean(shop)
