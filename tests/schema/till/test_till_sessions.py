"""Till sessions, on SQLite and PostgreSQL, over GraphQL.

A session opens with a float; cash sales at the till (checkout with the till's token,
or a cash tender whose reference is the till's code) and cash refunds of its orders go
in its drawer, with cash in and out; closing with the counted cash records the
expected cash (float + cash sales - change - refunds + in - out) and the over/short.
One open session per till, also when opened concurrently."""

from __future__ import annotations

import asyncio

from hub.demo import NEWARK
from tests.helpers.carts import create, stocked_variant
from tests.helpers.checkout import checkout
from tests.helpers.client import Hub
from tests.helpers.orders import refund
from tests.helpers.staff import uid
from tests.helpers.till import (
    CLOSE,
    GET_SESSION,
    MOVE,
    OPEN,
    SESSIONS,
    codes,
    make_till,
    minor,
    pk,
    till_staff,
    till_token,
)


async def _cash_sale(hub: Hub, location: int, reference: str, token: str) -> dict:
    vid = await stocked_variant(hub, {location: 5}, price="12.50")
    cid = (await create(hub, {"lines": [{"merchandiseId": vid, "quantity": 2}]}))["cart"]["id"]
    out = await checkout(hub, cid, uid(), {"provider": "cash", "reference": reference}, token)
    assert out["userErrors"] == [], out
    return out["order"]


async def test_session_arithmetic_with_sales_refunds_and_cash(hub: Hub) -> None:
    till, code, location = await make_till(hub)
    _user, address = await till_staff(hub, [location])
    token = await till_token(hub, till, address)
    opened = await hub.gql(OPEN, {"t": till, "f": 10_000}, token=token)
    session = opened["data"]["tillSessionOpen"]["tillSession"]
    assert session["status"] == "OPEN" and session["expectedCash"] == 10_000, opened
    sid = session["id"]
    again = await hub.gql(OPEN, {"t": till, "f": 500}, token=token)
    assert codes(again["data"]["tillSessionOpen"]) == ["SESSION_ALREADY_OPEN"]

    # A cash sale at the till (its token), and one with the admin key naming the till.
    sale1 = await _cash_sale(hub, pk(location), "drawer", token)
    sale2 = await _cash_sale(hub, pk(location), code, hub.admin_token)
    paid1, paid2 = minor(sale1["totalPrice"]["amount"]), minor(sale2["totalPrice"]["amount"])
    assert paid1 > 0 and paid2 > 0
    # A card-free sale elsewhere (no till) adds nothing.
    await _cash_sale(hub, NEWARK, f"not-a-till-{uid()}", hub.admin_token)
    # 3.00 given back in cash for the first sale.
    back = await refund(hub, sale1["id"], uid(), amount="3")
    assert back["userErrors"] == [] and back["refund"]["status"] == "SUCCESS", back
    moved = await hub.gql(MOVE, {"s": sid, "k": "CASH_IN", "a": 500, "r": "coins"}, token=token)
    assert moved["data"]["tillCashMovement"]["userErrors"] == [], moved
    moved = await hub.gql(MOVE, {"s": sid, "k": "CASH_OUT", "a": 300, "r": "bank"}, token=token)
    assert moved["data"]["tillCashMovement"]["userErrors"] == [], moved
    expected = 10_000 + paid1 + paid2 - 300 + 500 - 300
    got = moved["data"]["tillCashMovement"]["tillSession"]
    assert got["expectedCash"] == expected, got
    totals = {t["kind"]: t["amount"] for t in got["totals"]}
    assert totals == {
        "FLOAT": 10_000,
        "SALE_CASH": paid1 + paid2,
        "REFUND_CASH": 300,
        "CASH_IN": 500,
        "CASH_OUT": 300,
    }, totals

    # Bad movements: nothing written.
    before = await hub.scalar("SELECT COUNT(*) FROM till_cash_movements")
    for v, want in (
        ({"s": sid, "k": "CASH_OUT", "a": expected + 1}, "NOT_ENOUGH_CASH"),
        ({"s": sid, "k": "CASH_IN", "a": 0}, "AMOUNT_INVALID"),
        ({"s": sid, "k": "CASH_IN", "a": -5}, "AMOUNT_INVALID"),
    ):
        res = await hub.gql(MOVE, v, token=token)
        assert codes(res["data"]["tillCashMovement"]) == [want], res
    assert await hub.scalar("SELECT COUNT(*) FROM till_cash_movements") == before

    closed = await hub.gql(CLOSE, {"s": sid, "c": expected - 250}, token=token)
    session = closed["data"]["tillSessionClose"]["tillSession"]
    assert session["status"] == "CLOSED", closed
    assert session["expectedCash"] == expected
    assert session["countedCash"] == expected - 250 and session["overShort"] == -250
    assert session["closedById"] == _user
    # Closed: no more cash, no second close; a new session may open.
    res = await hub.gql(MOVE, {"s": sid, "k": "CASH_IN", "a": 100}, token=token)
    assert codes(res["data"]["tillCashMovement"]) == ["SESSION_CLOSED"]
    res = await hub.gql(CLOSE, {"s": sid, "c": 0}, token=token)
    assert codes(res["data"]["tillSessionClose"]) == ["SESSION_CLOSED"]
    # A refund after the close does not change the closed session.
    await refund(hub, sale2["id"], uid(), amount="1")
    read = await hub.gql(GET_SESSION, {"id": sid}, token=token)
    assert read["data"]["tillSession"]["expectedCash"] == expected
    assert read["data"]["tillSession"]["overShort"] == -250
    reopened = await hub.gql(OPEN, {"t": till, "f": 0}, token=token)
    assert reopened["data"]["tillSessionOpen"]["userErrors"] == [], reopened
    page = await hub.gql(SESSIONS, {"t": till, "n": 1}, token=token)
    first = page["data"]["tillSessions"]
    assert [n["status"] for n in first["nodes"]] == ["OPEN"] and first["pageInfo"]["hasNextPage"]
    page = await hub.gql(SESSIONS, {"t": till, "n": 1, "a": first["pageInfo"]["endCursor"]},
                         token=token)  # fmt: skip
    assert [n["id"] for n in page["data"]["tillSessions"]["nodes"]] == [sid]


async def test_concurrent_opens_leave_one_open_session(hub: Hub) -> None:
    till, _code, location = await make_till(hub)
    _user, address = await till_staff(hub, [location])
    token = await till_token(hub, till, address)
    results = await asyncio.gather(
        *[hub.gql(OPEN, {"t": till, "f": 1000 + i}, token=token) for i in range(6)]
    )
    payloads = [r["data"]["tillSessionOpen"] for r in results]
    opened = [p for p in payloads if p["userErrors"] == []]
    assert len(opened) == 1, payloads
    assert all(codes(p) == ["SESSION_ALREADY_OPEN"] for p in payloads if p not in opened)
    assert (
        await hub.scalar(
            "SELECT COUNT(*) FROM till_sessions WHERE till_id = :t AND status = 'OPEN'",
            t=pk(till),
        )
        == 1
    )
    # Only the winner's float is in a drawer.
    assert (
        await hub.scalar("SELECT COUNT(*) FROM till_cash_movements WHERE till_id = :t", t=pk(till))
        == 1
    )


async def test_cash_sale_without_an_open_session_is_not_booked(hub: Hub) -> None:
    till, _code, location = await make_till(hub)
    _user, address = await till_staff(hub, [location])
    token = await till_token(hub, till, address)
    sale = await _cash_sale(hub, pk(location), "drawer", token)
    assert sale["paymentStatus"] == "PAID"
    assert (
        await hub.scalar("SELECT COUNT(*) FROM till_cash_movements WHERE till_id = :t", t=pk(till))
        == 0
    )
    # The order is still the till's (its receipt names it).
    assert await hub.scalar(
        "SELECT till_id FROM till_orders WHERE order_id = :o", o=pk(sale["id"])
    ) == pk(till)
