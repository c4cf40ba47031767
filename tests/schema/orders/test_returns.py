"""Returns anywhere over GraphQL, on SQLite and PostgreSQL: a split order shipped from
two locations and partly returned in a third store (restocked there); each validation
failure has its code and writes nothing; concurrent returns of one line never exceed
what was fulfilled; receipts restock, quarantine or dispose through the ledger; store
credit; a customer's request approved or declined; ``Order.returns`` at a pinned
statement count. ``hub inventory verify`` stays clean after each scenario."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from hub.demo import BROOKLYN, CHICAGO, NEWARK, SOHO
from tests.helpers.checkout import outbox_payloads
from tests.helpers.client import Hub, served_again
from tests.helpers.returns import (
    ORDER,
    RETURN_REQUEST,
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

CARD = {"provider": "test", "paymentMethodId": "pm_card_visa"}


@pytest.fixture
async def shop(hub: Hub) -> AsyncIterator[Hub]:
    """The same database served with the test payment provider on."""
    async with served_again(hub, test_payments=True) as served:
        yield served


async def _snapshot(hub: Hub, order_gid: str) -> tuple:
    """What a refused return must leave untouched."""
    pk = int(order_gid.rsplit("/", 1)[1])
    returns = await hub.scalar("SELECT count(*) FROM returns WHERE order_id = :o", o=pk)
    lines = await hub.rows(
        "SELECT id, quantity_returned FROM order_lines WHERE order_id = :o ORDER BY id", o=pk
    )
    events = await hub.scalar("SELECT count(*) FROM order_events WHERE order_id = :o", o=pk)
    return returns, [tuple(r) for r in lines], events


async def test_split_order_returned_in_a_third_store(shop: Hub) -> None:
    vid = await new_variant(shop, {NEWARK: 1, CHICAGO: 1}, price="40")
    order = await place(shop, [(vid, 2)], CARD)
    shipped = await ship_all(shop, order["id"])
    assert sorted(shipped) == sorted({NEWARK, CHICAGO}), shipped  # split across two
    line = order["lines"][0]["id"]
    before = await level_of(shop, vid, SOHO)
    out = await open_return(
        shop,
        {
            "o": order["id"],
            "l": [
                {"orderLineId": line, "quantity": 1, "reason": "SIZE_TOO_SMALL", "note": "tight"}
            ],
            "r": "STORE_CREDIT",
            "loc": loc(SOHO),
        },
    )
    assert out["userErrors"] == [], out
    ret = out["return"]
    assert ret["status"] == "OPEN" and ret["source"] == "STAFF"
    assert ret["locationId"] == loc(SOHO)
    assert ret["amount"]["amount"] == "40.00"
    assert ret["lines"][0]["reason"] == "SIZE_TOO_SMALL" and ret["lines"][0]["note"] == "tight"
    view = await order_view(shop, order["id"])
    assert view["fulfillmentStatus"] == "PARTIALLY_RETURNED"
    got = await receive(shop, ret["id"], SOHO, [(ret["lines"][0]["id"], 1, "RESTOCK")])
    assert got["userErrors"] == [], got
    assert got["return"]["status"] == "CLOSED"
    assert got["return"]["receivedLocationId"] == loc(SOHO)
    assert got["return"]["lines"][0]["quantityRestocked"] == 1
    # Store credit: a gift card worth the units, its code shown once.
    assert got["giftCardCode"]
    assert got["return"]["giftCard"]["balance"]["amount"] == "40.00"
    after = await level_of(shop, vid, SOHO)
    assert after["on_hand"] == before["on_hand"] + 1  # restocked in the third store
    kinds = await shop.rows(
        "SELECT kind FROM order_events WHERE order_id = :o ORDER BY id",
        o=int(order["id"].rsplit("/", 1)[1]),
    )
    assert [k[0] for k in kinds][-3:] == [
        "return.created",
        "return.received",
        "return.store_credit",
    ]
    assert any(p["orderId"] == order["id"] for p in await outbox_payloads(shop, "return.received"))
    await assert_ledger_clean(shop)


async def test_validation_failures_have_codes_and_write_nothing(shop: Hub) -> None:
    vid = await new_variant(shop, {NEWARK: 3})
    order = await place(shop, [(vid, 2)], CARD)
    other = await place(shop, [(vid, 1)], CARD)
    line = order["lines"][0]["id"]

    async def refused(lines: list[dict], code: str, **extra: object) -> None:
        before = await _snapshot(shop, order["id"])
        out = await open_return(
            shop, {"o": order["id"], "l": lines, "r": "REFUND", "loc": loc(NEWARK), **extra}
        )
        assert out["return"] is None
        assert [e["code"] for e in out["userErrors"]] == [code], out
        assert await _snapshot(shop, order["id"]) == before

    one = {"orderLineId": line, "quantity": 1, "reason": "DAMAGED"}
    # Nothing shipped yet: nothing to return.
    await refused([one], "RETURN_QUANTITY_EXCEEDED")
    await ship_all(shop, order["id"])
    # A line of another order.
    await refused([{**one, "orderLineId": other["lines"][0]["id"]}], "NOT_RETURNABLE")
    # More than was bought and shipped.
    await refused([{**one, "quantity": 3}], "RETURN_QUANTITY_EXCEEDED")
    await refused([{**one, "quantity": 0}], "INVALID")
    await refused([one], "EXCHANGE_LINES_REQUIRED", r="EXCHANGE")
    # Outside the channel's return window (counted from the fulfillment).
    pk = int(order["id"].rsplit("/", 1)[1])
    async with shop.db.transaction() as conn:
        from sqlalchemy import text

        await conn.execute(
            text(
                "UPDATE fulfillments SET created_at = created_at - INTERVAL '40 days' "
                "WHERE order_id = :o"
                if shop.db.dialect == "postgresql"
                else "UPDATE fulfillments SET created_at = datetime(created_at, '-40 days') "
                "WHERE order_id = :o"
            ),
            {"o": pk},
        )
    await refused([one], "RETURN_WINDOW_CLOSED")
    await assert_ledger_clean(shop)


async def test_concurrent_returns_never_exceed_what_was_fulfilled(shop: Hub) -> None:
    vid = await new_variant(shop, {NEWARK: 3})
    order = await place(shop, [(vid, 3)], CARD)
    await ship_all(shop, order["id"])
    line = order["lines"][0]["id"]

    async def one() -> dict:
        return await open_return(
            shop,
            {
                "o": order["id"],
                "l": [{"orderLineId": line, "quantity": 2, "reason": "UNWANTED"}],
                "r": "REFUND",
                "loc": loc(NEWARK),
            },
        )

    results = await asyncio.gather(*(one() for _ in range(4)))
    ok = [r for r in results if r["return"] is not None]
    assert len(ok) == 1, results
    assert all(
        [e["code"] for e in r["userErrors"]] == ["RETURN_QUANTITY_EXCEEDED"]
        for r in results
        if r["return"] is None
    )
    returned = await shop.scalar(
        "SELECT quantity_returned FROM order_lines WHERE id = :i", i=int(line.rsplit("/", 1)[1])
    )
    assert returned == 2
    await assert_ledger_clean(shop)


async def test_quarantine_and_dispose_through_the_ledger(shop: Hub) -> None:
    vid = await new_variant(shop, {NEWARK: 3})
    order = await place(shop, [(vid, 3)], CARD)
    await ship_all(shop, order["id"])
    out = await open_return(
        shop,
        {
            "o": order["id"],
            "l": [{"orderLineId": order["lines"][0]["id"], "quantity": 3, "reason": "DEFECTIVE"}],
            "r": "STORE_CREDIT",
            "loc": loc(BROOKLYN),
        },
    )
    ret = out["return"]
    rl = ret["lines"][0]["id"]
    before = await level_of(shop, vid, BROOKLYN)
    got = await receive(shop, ret["id"], BROOKLYN, [(rl, 1, "QUARANTINE")])
    assert got["return"]["status"] == "PARTIALLY_RECEIVED" and got["giftCardCode"] is None
    # No such location: refused, nothing received.
    nowhere = await receive(shop, ret["id"], 999999, [(rl, 1, "RESTOCK")])
    assert [e["code"] for e in nowhere["userErrors"]] == ["NOT_FOUND"]
    assert nowhere["userErrors"][0]["field"] == ["locationId"]
    assert nowhere["return"]["lines"][0]["quantityReceived"] == 1
    got = await receive(shop, ret["id"], BROOKLYN, [(rl, 1, "DISPOSE"), (rl, 1, "RESTOCK")])
    assert got["userErrors"] == [], got
    line = got["return"]["lines"][0]
    assert (line["quantityQuarantined"], line["quantityDisposed"], line["quantityRestocked"]) == (
        1,
        1,
        1,
    )
    after = await level_of(shop, vid, BROOKLYN)
    assert after["on_hand"] - before["on_hand"] == 2  # restocked + quarantined (held)
    assert after["quarantined"] - before["quarantined"] == 1
    reasons = await shop.rows(
        "SELECT reason FROM inventory_movements WHERE reference = :r ORDER BY id",
        r=f"return:{ret['id']}",
    )
    assert [r[0] for r in reasons] == ["returned", "returned", "return_disposed", "returned"]
    # Nothing more to receive.
    again = await receive(shop, ret["id"], BROOKLYN, [(rl, 1, "RESTOCK")])
    assert [e["code"] for e in again["userErrors"]] == ["RETURN_NOT_RECEIVABLE"]
    await assert_ledger_clean(shop)


async def test_customer_request_approved_or_declined(shop: Hub) -> None:
    _, key = await customer_key(shop)
    _, stranger = await customer_key(shop)
    vid = await new_variant(shop, {NEWARK: 4})
    order = await place(shop, [(vid, 2)], CARD, token=key)
    await ship_all(shop, order["id"])
    lines = [{"orderLineId": order["lines"][0]["id"], "quantity": 1, "reason": "WRONG_ITEM"}]
    res = await shop.gql(
        RETURN_REQUEST, {"o": order["id"], "l": lines, "r": "REFUND"}, token=stranger
    )
    assert [e["code"] for e in res["data"]["returnRequest"]["userErrors"]] == ["ACCESS_DENIED"]
    res = await shop.gql(RETURN_REQUEST, {"o": order["id"], "l": lines, "r": "REFUND"}, token=key)
    first = res["data"]["returnRequest"]["return"]
    assert first["status"] == "REQUESTED" and first["source"] == "CUSTOMER"
    res = await shop.gql(RETURN_REQUEST, {"o": order["id"], "l": lines, "r": "REFUND"}, token=key)
    second = res["data"]["returnRequest"]["return"]
    # Staff decline one: its unit may be returned again; approve the other.
    dec = await shop.admin(
        "mutation($id: ID!) { returnDecline(returnId: $id) { return { status } "
        "userErrors { code } } }",
        {"id": second["id"]},
    )
    assert dec["data"]["returnDecline"] == {"return": {"status": "DECLINED"}, "userErrors": []}
    again = await shop.admin(
        "mutation($id: ID!) { returnDecline(returnId: $id) { return { status } "
        "userErrors { code } } }",
        {"id": second["id"]},
    )
    assert [e["code"] for e in again["data"]["returnDecline"]["userErrors"]] == [
        "RETURN_NOT_PENDING"
    ]
    app = await shop.admin(
        "mutation($id: ID!, $l: ID) { returnApprove(returnId: $id, locationId: $l) { "
        "return { status locationId } userErrors { code } } }",
        {"id": first["id"], "l": loc(NEWARK)},
    )
    assert app["data"]["returnApprove"] == {
        "return": {"status": "OPEN", "locationId": loc(NEWARK)},
        "userErrors": [],
    }
    returned = await shop.scalar(
        "SELECT quantity_returned FROM order_lines WHERE id = :i",
        i=int(order["lines"][0]["id"].rsplit("/", 1)[1]),
    )
    assert returned == 1
    # The customer sees its own order's returns.
    mine = await shop.gql(ORDER, {"id": order["id"]}, token=key)
    assert [r["status"] for r in mine["data"]["order"]["returns"]] == ["OPEN", "DECLINED"]
    await assert_ledger_clean(shop)


async def test_order_returns_statement_count_is_flat(shop: Hub) -> None:
    vid = await new_variant(shop, {NEWARK: 6})
    orders = []
    for _ in range(3):
        o = await place(shop, [(vid, 2)], CARD)
        await ship_all(shop, o["id"])
        for _ in range(2):
            out = await open_return(
                shop,
                {
                    "o": o["id"],
                    "l": [{"orderLineId": o["lines"][0]["id"], "quantity": 1, "reason": "OTHER"}],
                    "r": "STORE_CREDIT",
                    "loc": loc(NEWARK),
                },
            )
            assert out["userErrors"] == [], out
        orders.append(o["id"])
    query = """query($ids: [ID!]!) { nodes(ids: $ids) { ... on Order { id
      returns { id status flags { code } lines { id quantity reason } exchangeOrder { id }
                giftCard { id } refund { id } }
      substitutions { id } } } }"""
    await shop.admin(query, {"ids": orders[:1]})  # warm up: the API key is then cached
    counts = []
    for n in (1, 3):
        with shop.count_statements() as seen:
            res = await shop.admin(query, {"ids": orders[:n]})
        assert "errors" not in res, res
        assert all(len(o["returns"]) == 2 for o in res["data"]["nodes"])
        counts.append(len(seen))
    # orders, their returns, the returns' lines, the orders' substitutions: whatever
    # the number of orders (a gift card or an exchange order adds one batch each).
    assert counts == [4, 4], counts
