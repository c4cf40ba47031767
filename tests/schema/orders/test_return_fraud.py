"""Return fraud flags over GraphQL, on SQLite and PostgreSQL: each rule raises its
flag (shown on the return, on the timeline and as a ``return.flagged`` event) and
never blocks the return; serial-numbered returns are checked against the serials
sold. ``hub inventory verify`` stays clean."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hub.demo import NEWARK, SOHO
from tests.helpers.carts import uid
from tests.helpers.checkout import outbox_payloads
from tests.helpers.client import Hub, served_again
from tests.helpers.inventory import op
from tests.helpers.returns import (
    assert_ledger_clean,
    customer_key,
    loc,
    new_variant,
    open_return,
    place,
    receive,
    ship_all,
)

CARD = {"provider": "test", "paymentMethodId": "pm_card_visa"}


@pytest.fixture
async def shop(hub: Hub) -> AsyncIterator[Hub]:
    """Test payments on; low thresholds: more than 2 units or 50.00 in 30 days, and
    40.00 received away from the purchase location."""
    async with served_again(
        hub,
        test_payments=True,
        return_fraud_max_items=2,
        return_fraud_max_amount=5000,
        return_fraud_location_amount=4000,
    ) as served:
        yield served


def codes(ret: dict) -> list[str]:
    return [f["code"] for f in ret["flags"]]


def _line(order: dict, q: int = 1, **kw: object) -> list[dict]:
    return [{"orderLineId": order["lines"][0]["id"], "quantity": q, "reason": "UNWANTED", **kw}]


async def test_frequent_and_high_amount_returns_across_locations(shop: Hub) -> None:
    _, key = await customer_key(shop)
    vid = await new_variant(shop, {NEWARK: 6}, price="15")
    first = await place(shop, [(vid, 2)], CARD, token=key)
    second = await place(shop, [(vid, 2)], CARD, token=key)
    for o in (first, second):
        await ship_all(shop, o["id"])
    out = await open_return(
        shop, {"o": first["id"], "l": _line(first, 2), "r": "STORE_CREDIT", "loc": loc(NEWARK)}
    )
    assert out["userErrors"] == [] and codes(out["return"]) == []  # 2 units, 30.00: fine
    out = await open_return(
        shop, {"o": second["id"], "l": _line(second, 2), "r": "STORE_CREDIT", "loc": loc(SOHO)}
    )
    ret = out["return"]
    # 4 units (> 2) and 60.00 (> 50.00) in 30 days, across two orders: flagged, not blocked.
    assert out["userErrors"] == [] and ret["status"] == "OPEN"
    assert sorted(codes(ret)) == ["FREQUENT_RETURNS", "HIGH_RETURN_AMOUNT"]
    data = {f["code"]: f["data"] for f in ret["flags"]}
    assert data["FREQUENT_RETURNS"]["units"] == 4
    assert data["HIGH_RETURN_AMOUNT"]["amount"] == 6000
    events = [
        p for p in await outbox_payloads(shop, "return.flagged") if p["returnId"] == ret["id"]
    ]
    assert sorted(p["flag"] for p in events) == ["FREQUENT_RETURNS", "HIGH_RETURN_AMOUNT"]
    assert all(p["orderId"] == second["id"] for p in events)
    await assert_ledger_clean(shop)


async def test_received_away_from_the_purchase_for_a_high_amount(shop: Hub) -> None:
    cheap = await new_variant(shop, {NEWARK: 2}, price="5")
    dear = await new_variant(shop, {NEWARK: 2}, price="45")
    small = await place(shop, [(cheap, 1)], CARD)
    big = await place(shop, [(dear, 1)], CARD)
    for o in (small, big):
        await ship_all(shop, o["id"])
    # Opened by mail (no location); received in a store. A web order was bought nowhere.
    a = (await open_return(shop, {"o": small["id"], "l": _line(small), "r": "STORE_CREDIT"}))[
        "return"
    ]
    b = (await open_return(shop, {"o": big["id"], "l": _line(big), "r": "STORE_CREDIT"}))["return"]
    assert codes(a) == [] and codes(b) == []
    got_a = await receive(shop, a["id"], SOHO, [(a["lines"][0]["id"], 1, "RESTOCK")])
    got_b = await receive(shop, b["id"], SOHO, [(b["lines"][0]["id"], 1, "RESTOCK")])
    assert codes(got_a["return"]) == []  # 5.00: below the threshold
    assert codes(got_b["return"]) == ["LOCATION_MISMATCH"]
    flag = got_b["return"]["flags"][0]["data"]
    assert flag["locationId"] == loc(SOHO) and flag["purchaseLocationId"] is None
    assert got_b["return"]["status"] == "CLOSED"  # flagged, still resolved
    await assert_ledger_clean(shop)


async def test_serials_checked_and_a_serial_returned_twice_is_flagged(shop: Hub) -> None:
    vid = await new_variant(shop, {})
    sn = f"SN-{uid()}"
    got = await op(
        shop,
        "inventoryReceive",
        {
            "variantId": vid,
            "locationId": loc(NEWARK),
            "quantity": 2,
            "serialNumbers": [sn, f"SN-{uid()}"],
        },
    )
    assert got["userErrors"] == [], got
    order = await place(shop, [(vid, 1)], CARD)
    await ship_all(shop, order["id"], {vid: [sn]})
    base = {"o": order["id"], "r": "STORE_CREDIT", "loc": loc(NEWARK)}
    missing = await open_return(shop, {**base, "l": _line(order)})
    assert [e["code"] for e in missing["userErrors"]] == ["SERIAL_REQUIRED"]
    wrong = await open_return(shop, {**base, "l": _line(order, serialNumber="SN-NOT-SOLD")})
    assert [e["code"] for e in wrong["userErrors"]] == ["SERIAL_MISMATCH"]
    assert wrong["userErrors"][0]["field"] == ["lines", "0", "serialNumber"]
    ok = await open_return(shop, {**base, "l": _line(order, serialNumber=sn)})
    assert ok["userErrors"] == [] and codes(ok["return"]) == []
    ret = ok["return"]
    await receive(shop, ret["id"], NEWARK, [(ret["lines"][0]["id"], 1, "RESTOCK")])
    status = await shop.scalar(
        "SELECT status FROM inventory_serials WHERE serial_number = :s", s=sn
    )
    assert status == "ON_HAND"  # back in stock with its unit
    # Sold again, returned again: flagged.
    again = await place(shop, [(vid, 1)], CARD)
    await ship_all(shop, again["id"], {vid: [sn]})
    out = await open_return(
        shop, {"o": again["id"], "r": "STORE_CREDIT", "l": _line(again, serialNumber=sn)}
    )
    assert out["userErrors"] == [] and codes(out["return"]) == ["SERIAL_RETURNED_BEFORE"]
    assert out["return"]["flags"][0]["data"]["earlierReturnId"] == ret["id"]
    await assert_ledger_clean(shop)
