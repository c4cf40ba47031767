"""The money of returns and substitutions over GraphQL, on SQLite and PostgreSQL, with
Stripe through its SDK against the local stand-in: a split order fulfilled from two
locations, partly returned in a third store and refunded to the original card;
exchanges cheaper (the rest refunded) and dearer (the buyer pays the replacement, the
credit refunded); substitutions approved (cheaper: refunded; dearer: captured) and
declined (cancelled, stock released, refunded). ``hub inventory verify`` stays clean."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from hub.demo import CHICAGO, NEWARK, SOHO
from tests.helpers.client import Hub, served_again
from tests.helpers.fulfillment import order as fulfilment_view
from tests.helpers.orders import ORDER as MONEY
from tests.helpers.orders import capture
from tests.helpers.returns import (
    assert_ledger_clean,
    customer_key,
    level_of,
    loc,
    new_variant,
    open_return,
    order_view,
    place,
    receive,
    ship_all,
)
from tests.helpers.stripe import (  # noqa: F401  (fixtures)
    API_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    _fake_stripe_server,
    _no_stripe_telemetry,
    fake_stripe,
)

STRIPE = {"provider": "stripe", "paymentMethodId": "pm_card_visa"}
TEST_CARD = {"provider": "test", "paymentMethodId": "pm_card_visa"}
SUBSTITUTE = """mutation($l: ID!, $v: ID!, $q: Int!, $n: String) {
  fulfillmentOrderLineSubstitute(fulfillmentOrderLineId: $l, variantId: $v, quantity: $q,
    note: $n) { substitution { id status quantity unitPrice { amount } variantId
      originalVariantId } userErrors { field message code } } }"""
DECIDE = """mutation($s: ID!) { substitution%s(substitutionId: $s) {
  substitution { id status decidedAt } userErrors { field message code } } }"""


@pytest.fixture
async def shop(hub: Hub, fake_stripe: FakeStripe) -> AsyncIterator[Hub]:  # noqa: F811
    async with served_again(
        hub,
        stripe_api_key=API_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=fake_stripe.base_url,
        test_payments=True,
    ) as served:
        yield served


async def money(hub: Hub, order_id: str) -> dict[str, Any]:
    res = await hub.admin(f"query($id: ID!) {{ order(id: $id) {{ {MONEY} }} }}", {"id": order_id})
    assert "errors" not in res, res
    got: dict[str, Any] = res["data"]["order"]
    return got


async def test_split_order_returned_in_a_third_store_and_refunded(
    shop: Hub,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    vid = await new_variant(shop, {NEWARK: 1, CHICAGO: 1}, price="40")
    order = await place(shop, [(vid, 2)], STRIPE)
    cap = await capture(shop, order["id"], "all")
    assert cap["userErrors"] == [], cap
    assert sorted(await ship_all(shop, order["id"])) == [NEWARK, CHICAGO]
    before = await level_of(shop, vid, SOHO)
    out = await open_return(
        shop,
        {
            "o": order["id"],
            "l": [{"orderLineId": order["lines"][0]["id"], "quantity": 1, "reason": "DAMAGED"}],
            "r": "REFUND",
            "loc": loc(SOHO),
        },
    )
    assert out["userErrors"] == [], out
    ret = out["return"]
    got = await receive(shop, ret["id"], SOHO, [(ret["lines"][0]["id"], 1, "RESTOCK")])
    assert got["userErrors"] == [], got
    assert got["return"]["status"] == "CLOSED" and got["return"]["refundId"]
    assert (await level_of(shop, vid, SOHO))["on_hand"] == before["on_hand"] + 1
    view = await money(shop, order["id"])
    assert view["paymentStatus"] == "PARTIALLY_REFUNDED"
    assert [r["amount"]["amount"] for r in view["refunds"]] == ["40.00"]
    assert view["refunds"][0]["id"] == got["return"]["refundId"] == got["return"]["refund"]["id"]
    assert got["return"]["refund"]["amount"]["amount"] == "40.00"
    assert view["payments"][0]["amountRefunded"]["amount"] == "40.00"
    intent = fake_stripe.intent(fake_stripe.created_intents[-1])
    charge = fake_stripe.objects[intent["latest_charge"]]
    assert charge["amount_refunded"] == 4000  # on the original card, through the SDK
    assert (await order_view(shop, order["id"]))["fulfillmentStatus"] == "PARTIALLY_RETURNED"
    await assert_ledger_clean(shop)


async def _exchange(shop: Hub, price: str, replacement: str) -> tuple[dict, dict]:
    """A one-unit order picked up in SoHo (Stripe, captured), and an exchange opened
    there for one unit of a new variant priced ``replacement``."""
    vid = await new_variant(shop, {SOHO: 1}, price=price)
    swap = await new_variant(shop, {SOHO: 2}, price=replacement)
    order = await place(shop, [(vid, 1)], STRIPE, pickup=SOHO)
    assert (await capture(shop, order["id"], "all"))["userErrors"] == []
    await ship_all(shop, order["id"])
    out = await open_return(
        shop,
        {
            "o": order["id"],
            "l": [{"orderLineId": order["lines"][0]["id"], "quantity": 1, "reason": "UNWANTED"}],
            "r": "EXCHANGE",
            "loc": loc(SOHO),
            "x": [{"variantId": swap, "quantity": 1}],
        },
    )
    assert out["userErrors"] == [], out
    return order, out["return"]


async def test_cheaper_exchange_refunds_the_rest(shop: Hub) -> None:
    order, ret = await _exchange(shop, "30", "20")
    got = await receive(shop, ret["id"], SOHO, [(ret["lines"][0]["id"], 1, "RESTOCK")])
    assert got["userErrors"] == [], got
    done = got["return"]
    credit = float(ret["amount"]["amount"])
    total = float(done["exchangeOrder"]["totalPrice"]["amount"])
    assert total < credit
    # The replacement paid by the credit (a gift card spent in full) ...
    assert float(done["giftCard"]["initialValue"]["amount"]) == total
    assert done["giftCard"]["balance"]["amount"] == "0.00"
    # ... and the rest refunded to the original card.
    view = await money(shop, order["id"])
    assert [float(r["amount"]["amount"]) for r in view["refunds"]] == [round(credit - total, 2)]
    assert done["refundId"] == view["refunds"][0]["id"]
    await assert_ledger_clean(shop)


async def test_dearer_exchange_is_paid_by_the_buyer(shop: Hub) -> None:
    order, ret = await _exchange(shop, "20", "35")
    got = await receive(
        shop, ret["id"], SOHO, [(ret["lines"][0]["id"], 1, "RESTOCK")], payment=TEST_CARD
    )
    assert got["userErrors"] == [], got
    done = got["return"]
    new = done["exchangeOrder"]
    assert float(new["totalPrice"]["amount"]) > float(ret["amount"]["amount"])
    assert done["giftCard"] is None
    # The whole credit goes back to the original card: the buyer pays the difference.
    view = await money(shop, order["id"])
    assert [r["amount"]["amount"] for r in view["refunds"]] == [ret["amount"]["amount"]]
    exchange = await money(shop, new["id"])
    assert exchange["payments"][0]["provider"] == "test"
    assert exchange["payments"][0]["amount"]["amount"] == new["totalPrice"]["amount"]
    await assert_ledger_clean(shop)


async def _substitutable(shop: Hub, price: str, sub_price: str, quantity: int = 2) -> dict:
    """A customer's order of ``quantity`` units at ``price`` (Stripe, authorized), not
    yet picked, and a substitute variant priced ``sub_price``, both at Newark."""
    _, key = await customer_key(shop)
    vid = await new_variant(shop, {NEWARK: quantity}, price=price)
    sub = await new_variant(shop, {NEWARK: 5}, price=sub_price)
    order = await place(shop, [(vid, quantity)], STRIPE, token=key)
    fo = (await fulfilment_view(shop, order["id"]))["fulfillmentOrders"][0]
    return {"order": order, "key": key, "vid": vid, "sub": sub, "fo": fo}


async def _propose(shop: Hub, s: dict, quantity: int) -> dict:
    res = await shop.admin(
        SUBSTITUTE,
        {"l": s["fo"]["lines"][0]["id"], "v": s["sub"], "q": quantity, "n": "out of blue"},
    )
    out = res["data"]["fulfillmentOrderLineSubstitute"]
    assert out["userErrors"] == [], out
    return out["substitution"]


async def _decide(shop: Hub, sub_id: str, verb: str, token: str) -> dict:
    res = await shop.gql(DECIDE % verb, {"s": sub_id}, token=token)
    assert "errors" not in res, res
    got: dict = res["data"][f"substitution{verb}"]
    return got


async def test_cheaper_substitute_approved_is_refunded(shop: Hub) -> None:
    s = await _substitutable(shop, "20", "15")
    assert (await capture(shop, s["order"]["id"], "all"))["userErrors"] == []
    before = await level_of(shop, s["sub"], NEWARK)
    proposed = await _propose(shop, s, 2)
    assert proposed["status"] == "PROPOSED" and proposed["unitPrice"]["amount"] == "15.00"
    _, stranger = await customer_key(shop)
    other = await _decide(shop, proposed["id"], "Approve", stranger)
    assert [e["code"] for e in other["userErrors"]] == ["NOT_FOUND"]
    ok = await _decide(shop, proposed["id"], "Approve", s["key"])
    assert ok["userErrors"] == [] and ok["substitution"]["status"] == "APPROVED"
    again = await _decide(shop, proposed["id"], "Decline", s["key"])
    assert [e["code"] for e in again["userErrors"]] == ["SUBSTITUTION_NOT_PROPOSED"]
    # The commitment moved to the substitute, at the same location.
    assert (await level_of(shop, s["vid"], NEWARK))["committed"] == 0
    assert (await level_of(shop, s["sub"], NEWARK))["committed"] == before["committed"] + 2
    view = await money(shop, s["order"]["id"])
    assert [r["amount"]["amount"] for r in view["refunds"]] == ["10.00"]
    # Picking ships the substitute.
    await ship_all(shop, s["order"]["id"])
    assert (await level_of(shop, s["sub"], NEWARK))["on_hand"] == before["on_hand"] - 2
    await assert_ledger_clean(shop)


async def test_dearer_substitute_approved_is_captured(shop: Hub) -> None:
    s = await _substitutable(shop, "20", "25")
    proposed = await _propose(shop, s, 1)  # one of the two units
    ok = await _decide(shop, proposed["id"], "Approve", s["key"])
    assert ok["userErrors"] == [], ok
    fo = (await fulfilment_view(shop, s["order"]["id"]))["fulfillmentOrders"][0]
    assert sorted(ln["quantity"] for ln in fo["lines"]) == [1, 1]  # the line was split
    view = await money(shop, s["order"]["id"])
    captures = [t for t in view["transactions"] if t["kind"] == "CAPTURE"]
    assert [t["amount"]["amount"] for t in captures] == ["5.00"]
    assert (await level_of(shop, s["vid"], NEWARK))["committed"] == 1
    await assert_ledger_clean(shop)


async def test_declined_substitute_cancels_and_refunds_the_units(shop: Hub) -> None:
    s = await _substitutable(shop, "20", "25")
    assert (await capture(shop, s["order"]["id"], "all"))["userErrors"] == []
    proposed = await _propose(shop, s, 2)
    before = await level_of(shop, s["sub"], NEWARK)
    got = await _decide(shop, proposed["id"], "Decline", s["key"])
    assert got["userErrors"] == [] and got["substitution"]["status"] == "DECLINED"
    fo = (await fulfilment_view(shop, s["order"]["id"]))["fulfillmentOrders"][0]
    assert fo["lines"][0]["quantityCancelled"] == 2
    assert (await level_of(shop, s["vid"], NEWARK))["committed"] == 0  # released
    assert await level_of(shop, s["sub"], NEWARK) == before  # untouched
    view = await money(shop, s["order"]["id"])
    assert [r["amount"]["amount"] for r in view["refunds"]] == ["40.00"]
    assert view["paymentStatus"] == "PARTIALLY_REFUNDED"  # the units; shipping is not asked
    await assert_ledger_clean(shop)


async def test_substitution_refusals_write_nothing(shop: Hub) -> None:
    s = await _substitutable(shop, "20", "25")
    line = s["fo"]["lines"][0]["id"]
    unpriced = await new_variant(shop, {NEWARK: 3})
    async with shop.db.transaction() as conn:
        from sqlalchemy import text

        await conn.execute(
            text("DELETE FROM variant_prices WHERE variant_id = :v"),
            {"v": int(unpriced.rsplit("/", 1)[1])},
        )

    async def refused(v: dict, code: str) -> None:
        res = await shop.admin(SUBSTITUTE, {"l": line, "v": s["sub"], "q": 1, **v})
        out = res["data"]["fulfillmentOrderLineSubstitute"]
        assert out["substitution"] is None and [e["code"] for e in out["userErrors"]] == [code]

    await refused({"q": 3}, "NOT_SUBSTITUTABLE")  # more than is left to pick
    await refused({"v": unpriced}, "SUBSTITUTE_UNAVAILABLE")
    await refused({"v": s["vid"]}, "INVALID")  # the same variant
    proposed = await _propose(shop, s, 2)
    await refused({}, "NOT_SUBSTITUTABLE")  # one awaits the customer already
    # The substitute sells out before the customer approves: refused, nothing moves.
    drained = await shop.admin(
        """mutation($v: ID!, $l: ID!) { inventoryAdjust(input: {variantId: $v, locationId: $l,
        delta: -5, reason: "correction"}) { userErrors { code } } }""",
        {"v": s["sub"], "l": loc(NEWARK)},
    )
    assert drained["data"]["inventoryAdjust"]["userErrors"] == []
    before = await level_of(shop, s["vid"], NEWARK)
    got = await _decide(shop, proposed["id"], "Approve", s["key"])
    assert [e["code"] for e in got["userErrors"]] == ["SUBSTITUTE_UNAVAILABLE"]
    assert await level_of(shop, s["vid"], NEWARK) == before
    view = await order_view(shop, s["order"]["id"])
    assert [x["status"] for x in view["substitutions"]] == ["PROPOSED"]
    # Declining still works.
    assert (await _decide(shop, proposed["id"], "Decline", s["key"]))["userErrors"] == []
    await assert_ledger_clean(shop)
