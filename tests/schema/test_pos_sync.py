"""posSync: a till's offline transactions over GraphQL, on SQLite and PostgreSQL:
duplicates, out-of-order arrival, concurrent tills, partially failing batches, the
oversold state and the count that settles it; the ledger stays clean throughout."""

from __future__ import annotations

import asyncio
import json
import uuid

from tests.helpers.client import Hub
from tests.helpers.orders import assert_ledger_clean
from tests.helpers.pos_sync import discrepancies, on_hand, sale, store_with_stock, sync

AT = "2026-12-01T10:00:00Z"
ORDER_MONEY = """query($id: ID!) { node(id: $id) { ... on Order { paymentStatus
  refunds { amount { amount } status lines { quantity } } } } }"""


def _till() -> str:
    return f"till-{uuid.uuid4().hex[:6]}"


async def _pos_rows(hub: Hub, till: str) -> int:
    return int(
        await hub.scalar(f"SELECT COUNT(*) FROM pos_sync_transactions WHERE till_id = '{till}'")
    )


async def _orders(hub: Hub, till: str) -> int:
    return int(
        await hub.scalar(
            f"SELECT COUNT(*) FROM orders WHERE source = 'pos' AND external_id LIKE '{till}:%'"
        )
    )


async def test_duplicate_and_oversold_sale_then_the_count_settles_it(hub: Hub) -> None:
    loc, (v,) = await store_with_stock(hub, 1)
    till = _till()
    batch = [sale("s1", v, 1), sale("s2", v, 2, at="2026-12-01T10:05:00+01:00"), sale("s1", v, 1)]
    got = await sync(hub, loc, till, batch)
    assert got["userErrors"] == []
    r1, r2, dup = got["results"]
    assert (r1["status"], r1["replayed"], r1["conflicts"]) == ("ACCEPTED", False, [])
    assert r2["status"] == "ACCEPTED_WITH_CONFLICTS"
    assert [c["code"] for c in r2["conflicts"]] == ["OVERSOLD"]
    assert r2["conflicts"][0]["onHand"] == -2
    assert dup["replayed"] is True and dup["order"]["id"] == r1["order"]["id"]
    # Handed over when sold: nothing left for the store to pick or hand over.
    assert r1["order"]["fulfillmentStatus"] == r2["order"]["fulfillmentStatus"] == "FULFILLED"
    assert (
        r1["order"]["totalPrice"]["amount"] == "10.00"
        or float(r1["order"]["totalPrice"]["amount"]) == 10
    )
    assert await on_hand(hub, v, loc) == -2
    assert await _orders(hub, till) == 2
    found = await discrepancies(hub, loc)
    assert [(d["onHand"], d["shortfall"], d["level"]["variant"]["id"]) for d in found] == [
        (-2, 2, v)
    ]
    # The whole batch again: every result is the stored one, nothing moves.
    again = await sync(hub, loc, till, batch)
    assert [r["replayed"] for r in again["results"]] == [True, True, True]
    assert [r["status"] for r in again["results"]] == [r1["status"], r2["status"], r1["status"]]
    assert await on_hand(hub, v, loc) == -2 and await _orders(hub, till) == 2
    await assert_ledger_clean(hub)
    count = {
        "clientTransactionId": "c1", "kind": "STOCK_COUNT",
        "occurredAt": "2026-12-01T18:00:00+01:00",
        "counts": [{"variantId": v, "quantity": 0}],
    }  # fmt: skip
    got = await sync(hub, loc, till, [count])
    assert got["results"][0]["status"] == "ACCEPTED", got
    assert await on_hand(hub, v, loc) == 0
    assert await discrepancies(hub, loc) == []
    await assert_ledger_clean(hub)


async def test_price_and_promotion_differences_are_flagged_not_repriced(hub: Hub) -> None:
    loc, (v,) = await store_with_stock(hub, 5)
    till = _till()
    ghost_promo = "gid://hub/Promotion/987654321"
    tx = sale("p1", v, 2, price="12")
    tx["lines"][0]["promotionIds"] = [ghost_promo]
    got = await sync(hub, loc, till, [tx, sale("p2", v, 1, price="10")])
    flagged, clean = got["results"]
    assert flagged["status"] == "ACCEPTED_WITH_CONFLICTS"
    codes = {c["code"]: c for c in flagged["conflicts"]}
    assert set(codes) == {"PRICE_DIFFERS", "PROMOTION_UNKNOWN"}
    assert (codes["PRICE_DIFFERS"]["tillPrice"], codes["PRICE_DIFFERS"]["hubPrice"]) == (1200, 1000)
    assert float(flagged["order"]["totalPrice"]["amount"]) == 24  # the till's price, kept
    assert clean["status"] == "ACCEPTED" and clean["conflicts"] == []
    review = await hub.scalar(
        "SELECT COUNT(*) FROM order_events e JOIN orders o ON o.id = e.order_id "
        f"WHERE e.kind = 'pos.review' AND o.external_id = '{till}:p1'"
    )
    assert review == 1
    assert await on_hand(hub, v, loc) == 2


async def test_a_partially_failing_batch_applies_the_good_ones(hub: Hub) -> None:
    loc, (v,) = await store_with_stock(hub, 10)
    till = _till()
    batch = [
        sale("ok1", v, 1),
        sale("no-variant", "gid://hub/ProductVariant/987654321", 1),
        sale("bad-id", "not-an-id", 1),
        {"clientTransactionId": "no-lines", "kind": "SALE", "occurredAt": "2026-12-01T10:00:00Z"},
        sale("neg", v, -3),
        sale("bad id with spaces", v, 1),
        sale("naive-time", v, 1, at="2026-12-01T10:00:00"),
        {"clientTransactionId": "cash1", "kind": "CASH_MOVEMENT", "occurredAt": AT,
         "cash": {"kind": "CASH_IN", "amount": "50"}},
        {"clientTransactionId": "ret-no-orig", "kind": "RETURN", "occurredAt": AT,
         "returnedLines": [{"variantId": v, "quantity": 1}]},
        # refused by the order import after its record was written: all rolled back
        {**sale("bad-discount", v, 1), "lines": [
            {"variantId": v, "quantity": 1, "unitPrice": "10", "totalDiscount": "100"}]},
        sale("ok2", v, 2),
    ]  # fmt: skip
    got = await sync(hub, loc, till, batch)
    assert got["userErrors"] == []
    res = {r["clientTransactionId"]: r for r in got["results"]}
    assert [r["clientTransactionId"] for r in got["results"]] == [
        t["clientTransactionId"] for t in batch
    ]
    assert res["ok1"]["status"] == res["ok2"]["status"] == "ACCEPTED"
    expect = {
        "no-variant": "UNKNOWN_VARIANT", "bad-id": "INVALID_TRANSACTION",
        "no-lines": "INVALID_TRANSACTION", "neg": "INVALID_TRANSACTION",
        "bad id with spaces": "INVALID_TRANSACTION", "naive-time": "INVALID_TRANSACTION",
        "cash1": "UNKNOWN_TILL", "ret-no-orig": "INVALID_TRANSACTION",
        "bad-discount": "INVALID_TRANSACTION",
    }  # fmt: skip
    assert {k: (res[k]["status"], res[k]["code"]) for k in expect} == {
        k: ("REJECTED", c) for k, c in expect.items()
    }
    assert all(res[k]["message"] for k in expect)
    # Nothing of the rejected ones is written: two records, two orders, three units.
    assert await _pos_rows(hub, till) == 2 and await _orders(hub, till) == 2
    assert await on_hand(hub, v, loc) == 7
    await assert_ledger_clean(hub)


async def test_out_of_order_returns_and_counts(hub: Hub) -> None:
    loc, (v,) = await store_with_stock(hub, 5)
    till = _till()
    ret = {
        "clientTransactionId": "r1", "kind": "RETURN", "occurredAt": "2026-12-01T11:00:00Z",
        "originalClientTransactionId": "s1", "returnedLines": [{"variantId": v, "quantity": 1}],
        "payments": [{"method": "CASH", "amount": "10"}],
    }  # fmt: skip
    early = await sync(hub, loc, till, [ret])
    assert (early["results"][0]["status"], early["results"][0]["code"]) == (
        "REJECTED", "ORIGINAL_NOT_SYNCED",
    )  # fmt: skip
    assert await _pos_rows(hub, till) == 0
    # The sale arrives, then the return again: accepted, the unit back on hand.
    got = await sync(hub, loc, till, [sale("s1", v, 2, at="2026-12-01T10:00:00Z")])
    assert got["results"][0]["status"] == "ACCEPTED"
    assert await on_hand(hub, v, loc) == 3
    got = await sync(hub, loc, till, [ret])
    assert got["results"][0]["status"] == "ACCEPTED", got
    assert got["results"][0]["order"]["fulfillmentStatus"] == "PARTIALLY_RETURNED"
    assert await on_hand(hub, v, loc) == 4
    # Returning more than the sale sold: accepted (the units are here), flagged.
    more = {**ret, "clientTransactionId": "r1b", "returnedLines": [{"variantId": v, "quantity": 2}]}
    got = await sync(hub, loc, till, [more])
    assert [c["code"] for c in got["results"][0]["conflicts"]] == ["NOT_IN_ORIGINAL"]
    assert await on_hand(hub, v, loc) == 6
    # In one batch, the return listed before its sale: the till's time orders them.
    got = await sync(hub, loc, till, [
        {**ret, "clientTransactionId": "r2", "originalClientTransactionId": "s2",
         "occurredAt": "2026-12-01T12:30:00Z"},
        sale("s2", v, 1, at="2026-12-01T12:00:00Z"),
    ])  # fmt: skip
    assert [r["status"] for r in got["results"]] == ["ACCEPTED", "ACCEPTED"], got
    assert await on_hand(hub, v, loc) == 6
    # A count at 14:00 counted 10; a sale at 13:00 arriving after it moves nothing (the
    # count saw it); a count at 15:00 arriving after a 16:00 sale keeps that sale.
    count = lambda cid, at, q: {  # noqa: E731
        "clientTransactionId": cid, "kind": "STOCK_COUNT", "occurredAt": at,
        "counts": [{"variantId": v, "quantity": q}],
    }  # fmt: skip
    got = await sync(hub, loc, till, [count("c1", "2026-12-01T14:00:00Z", 10)])
    assert got["results"][0]["status"] == "ACCEPTED" and await on_hand(hub, v, loc) == 10
    late = await sync(hub, loc, till, [sale("s3", v, 1, at="2026-12-01T13:00:00Z")])
    assert [c["code"] for c in late["results"][0]["conflicts"]] == ["COUNTED_AFTER"]
    assert await on_hand(hub, v, loc) == 10
    await sync(hub, loc, till, [sale("s4", v, 3, at="2026-12-01T16:00:00Z")])
    assert await on_hand(hub, v, loc) == 7
    got = await sync(hub, loc, till, [count("c2", "2026-12-01T15:00:00Z", 6)])
    assert got["results"][0]["status"] == "ACCEPTED"
    assert await on_hand(hub, v, loc) == 3  # counted 6, less the 3 sold at 16:00
    await assert_ledger_clean(hub)


async def test_exchange_takes_back_and_sells(hub: Hub) -> None:
    loc, (a, b) = await store_with_stock(hub, 3, variants=2)
    till = _till()
    first = await sync(hub, loc, till, [sale("s1", a, 1)])
    got = await sync(hub, loc, till, [{
        "clientTransactionId": "x1", "kind": "EXCHANGE", "occurredAt": "2026-12-01T11:00:00Z",
        "originalClientTransactionId": "s1",
        "returnedLines": [{"variantId": a, "quantity": 1}],
        "lines": [{"variantId": b, "quantity": 1, "unitPrice": "10"}],
        "payments": [{"method": "CARD", "amount": "10", "reference": "auth-1"}],
    }])  # fmt: skip
    r = got["results"][0]
    assert r["status"] == "ACCEPTED", r
    assert await on_hand(hub, a, loc) == 3 and await on_hand(hub, b, loc) == 2
    assert await _orders(hub, till) == 2
    # The return half is a refund of the first sale, worth the unit taken back.
    view = (await hub.admin(ORDER_MONEY, {"id": first["results"][0]["order"]["id"]}))["data"]
    assert view["node"]["paymentStatus"] == "REFUNDED"
    assert [r["amount"]["amount"] for r in view["node"]["refunds"]] == ["10.00"]
    # A split tender: one payment per method, as taken.
    split = sale("s3", b, 2)
    split["payments"] = [
        {"method": "CASH", "amount": "5"},
        {"method": "CARD", "amount": "15", "reference": "auth-2"},
    ]
    got = await sync(hub, loc, till, [split])
    assert got["results"][0]["status"] == "ACCEPTED", got
    paid = await hub.rows(
        "SELECT p.amount, p.reference FROM payments p JOIN orders o ON o.id = p.order_id "
        "WHERE o.external_id = :x ORDER BY p.id",
        x=f"{till}:s3",
    )
    assert [tuple(r) for r in paid] == [(500, "CASH"), (1500, "CARD:auth-2")]
    await assert_ledger_clean(hub)


async def test_concurrent_tills_lose_no_units_and_apply_each_sale_once(hub: Hub) -> None:
    loc, (v, w) = await store_with_stock(hub, 5, variants=2)
    tills = [_till(), _till()]

    async def till_run(till: str, k: int) -> dict:
        lines = [
            {"variantId": v, "quantity": 1, "unitPrice": "10"},
            {"variantId": w, "quantity": 1, "unitPrice": "10"},
        ]
        if k % 2:
            lines.reverse()  # the other lock order
        tx = {"clientTransactionId": f"t{k}", "kind": "SALE",
              "occurredAt": f"2026-12-01T10:{k:02d}:00Z", "lines": lines,
              "payments": [{"method": "CASH", "amount": "20"}]}  # fmt: skip
        return await sync(hub, loc, till, [tx])

    # Each till's six sales, each sent twice at once (a till retrying on a timeout).
    jobs = [till_run(t, k) for t in tills for k in range(6) for _ in range(2)]
    out = await asyncio.gather(*jobs)
    results = [r for o in out for r in o["results"]]
    assert all(
        r["status"] == "ACCEPTED_WITH_CONFLICTS" or r["status"] == "ACCEPTED" for r in results
    ), results
    assert sum(1 for r in results if not r["replayed"]) == 12
    assert await on_hand(hub, v, loc) == 5 - 12 and await on_hand(hub, w, loc) == 5 - 12
    for t in tills:
        assert await _pos_rows(hub, t) == 6 and await _orders(hub, t) == 6
    found = await discrepancies(hub, loc)
    assert sorted(d["shortfall"] for d in found) == [7, 7]
    await assert_ledger_clean(hub)


async def test_bounds_and_permissions(hub: Hub) -> None:
    loc, (v,) = await store_with_stock(hub, 1)
    too_many = [sale(f"b{i}", v) for i in range(101)]
    got = await sync(hub, loc, _till(), too_many)
    assert got["results"] == [] and [e["code"] for e in got["userErrors"]] == ["BATCH_TOO_LARGE"]
    bad_till = await sync(hub, loc, "till with spaces", [sale("z", v)])
    assert [e["code"] for e in bad_till["userErrors"]] == ["INVALID"]
    res = await hub.gql(
        "mutation($l: ID!, $b: [PosTransactionInput!]!) { posSync(locationId: $l, "
        'tillId: "t", batch: $b) { results { status } } }',
        {"l": loc, "b": [sale("s", v)]},
        token=hub.storefront_token,
    )
    assert res["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
    res = await hub.gql(
        "query($l: ID!) { inventoryDiscrepancies(locationId: $l) { onHand } }",
        {"l": loc},
        token=hub.storefront_token,
    )
    assert res["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
    assert await on_hand(hub, v, loc) == 1


async def test_a_store_associate_syncs_at_their_store_only(hub: Hub) -> None:
    from tests.helpers.staff import make_role, make_user, staff_token

    loc, (v,) = await store_with_stock(hub, 3)
    other, _ = await store_with_stock(hub, 0)
    pk = int(loc.rsplit("/", 1)[1])
    role = await make_role(hub, ["orders"], locations=[pk])
    _, address = await make_user(hub, [role])
    token = await staff_token(hub, address)
    till = _till()
    count = {
        "clientTransactionId": "c1", "kind": "STOCK_COUNT", "occurredAt": AT,
        "counts": [{"variantId": v, "quantity": 9}],
    }  # fmt: skip
    got = await sync(hub, loc, till, [sale("s1", v), count], token=token)
    assert [(r["status"], r["code"]) for r in got["results"]] == [
        ("ACCEPTED", None), ("REJECTED", "NOT_PERMITTED"),
    ]  # fmt: skip
    assert await on_hand(hub, v, loc) == 2  # the count (it needs inventory) did nothing
    res = await hub.gql(
        "mutation($l: ID!, $b: [PosTransactionInput!]!) { posSync(locationId: $l, "
        'tillId: "t", batch: $b) { results { status } } }',
        {"l": other, "b": [sale("s2", v)]},
        token=token,
    )
    assert res["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
    assert await on_hand(hub, v, loc) == 2


async def test_cash_goes_through_the_till_drawer(hub: Hub) -> None:
    from tests.helpers.till import GET_SESSION, OPEN, admin_ok, make_till

    loc, (v,) = await store_with_stock(hub, 5)
    till_id, code, _ = await make_till(hub, loc)
    no_session = await sync(hub, loc, code, [sale("early", v, 1)])
    early = no_session["results"][0]
    assert early["status"] == "ACCEPTED_WITH_CONFLICTS"  # the sale stands, cash flagged
    assert [c["code"] for c in early["conflicts"]] == ["CASH_NOT_RECORDED"]
    session = (await admin_ok(hub, OPEN, {"t": till_id, "f": 10000}, "tillSessionOpen"))[
        "tillSession"
    ]
    batch = [
        sale("s1", v, 2),  # 20.00 cash in
        {"clientTransactionId": "out1", "kind": "CASH_MOVEMENT", "occurredAt": AT,
         "cash": {"kind": "CASH_OUT", "amount": "5"}},
        {"clientTransactionId": "r1", "kind": "RETURN", "occurredAt": "2026-12-01T11:00:00Z",
         "originalClientTransactionId": "s1", "returnedLines": [{"variantId": v, "quantity": 1}],
         "payments": [{"method": "CASH", "amount": "10"}]},
    ]  # fmt: skip
    got = await sync(hub, loc, code, batch)
    assert [r["status"] for r in got["results"]] == ["ACCEPTED"] * 3, got
    again = await sync(hub, loc, code, batch)
    assert all(r["replayed"] for r in again["results"])
    res = await hub.admin(GET_SESSION, {"id": session["id"]})
    assert res["data"]["tillSession"]["expectedCash"] == 10000 + 2000 - 500 - 1000
    bad = await sync(hub, loc, code, [
        {"clientTransactionId": "out2", "kind": "CASH_MOVEMENT", "occurredAt": AT,
         "cash": {"kind": "FLOAT", "amount": "5"}},
    ])  # fmt: skip
    assert bad["results"][0]["code"] == "INVALID_TRANSACTION"


async def test_a_synced_return_is_a_settled_refund_of_the_sale(hub: Hub) -> None:
    loc, (v,) = await store_with_stock(hub, 5)
    till = _till()
    sold = sale("s1", v, 3)  # 30.00: 10 in cash, 20 on a card
    sold["payments"] = [
        {"method": "CASH", "amount": "10"},
        {"method": "CARD", "amount": "20", "reference": "auth-9"},
    ]
    got = await sync(hub, loc, till, [sold])
    order_id = got["results"][0]["order"]["id"]
    ret = {
        "clientTransactionId": "r1", "kind": "RETURN", "occurredAt": "2026-12-01T11:00:00Z",
        "originalClientTransactionId": "s1", "returnedLines": [{"variantId": v, "quantity": 1}],
        "payments": [{"method": "CARD", "amount": "10", "reference": "auth-9"}],
    }  # fmt: skip
    got = await sync(hub, loc, till, [ret])
    assert got["results"][0]["status"] == "ACCEPTED", got
    view = (await hub.admin(ORDER_MONEY, {"id": order_id}))["data"]["node"]
    assert view["paymentStatus"] == "PARTIALLY_REFUNDED"
    assert view["refunds"] == [
        {"amount": {"amount": "10.00"}, "status": "SUCCESS", "lines": [{"quantity": 1}]}
    ]
    # The card tender went back to the card payment, the cash one untouched.
    paid = await hub.rows(
        "SELECT p.reference, p.amount_refunded FROM payments p JOIN orders o ON "
        "o.id = p.order_id WHERE o.external_id = :x ORDER BY p.id",
        x=f"{till}:s1",
    )
    assert [tuple(r) for r in paid] == [("CASH", 0), ("CARD:auth-9", 1000)]
    # Replaying the return changes nothing.
    again = await sync(hub, loc, till, [ret])
    assert again["results"][0]["replayed"] is True
    view = (await hub.admin(ORDER_MONEY, {"id": order_id}))["data"]["node"]
    assert len(view["refunds"]) == 1 and view["paymentStatus"] == "PARTIALLY_REFUNDED"
    assert await on_hand(hub, v, loc) == 3
    # A return giving back more than is left of what was paid: rejected, nothing written.
    over = {**ret, "clientTransactionId": "r2", "payments": [{"method": "CASH", "amount": "25"}]}
    got = await sync(hub, loc, till, [over])
    assert (got["results"][0]["status"], got["results"][0]["code"]) == (
        "REJECTED", "REFUND_EXCEEDS_CAPTURED",
    )  # fmt: skip
    assert await on_hand(hub, v, loc) == 3
    view = (await hub.admin(ORDER_MONEY, {"id": order_id}))["data"]["node"]
    assert len(view["refunds"]) == 1
    # The rest, in cash: the order is refunded in full.
    rest = {**ret, "clientTransactionId": "r3", "returnedLines": [{"variantId": v, "quantity": 2}],
            "payments": [{"method": "CASH", "amount": "20"}]}  # fmt: skip
    got = await sync(hub, loc, till, [rest])
    assert got["results"][0]["status"] == "ACCEPTED", got
    view = (await hub.admin(ORDER_MONEY, {"id": order_id}))["data"]["node"]
    assert view["paymentStatus"] == "REFUNDED"
    assert sorted(r["amount"]["amount"] for r in view["refunds"]) == ["10.00", "20.00"]
    await assert_ledger_clean(hub)


PROMO_CREATE = """mutation($i: PromotionInput!) { promotionCreate(input: $i) {
  promotion { id } userErrors { field code message } } }"""


async def _percent_off(hub: Hub, variant: str, percent: str) -> str:
    from hub import ids

    definition = {
        "conditions": [],
        "action": {"type": "percent_off", "percent": percent,
                   "target": {"variant_ids": [ids.decode_pk(variant, "ProductVariant")]}},
        "combination": {"class": "PRODUCT", "combines_with": ["ORDER", "SHIPPING"]},
    }  # fmt: skip
    i = {"title": f"Till {uuid.uuid4().hex[:6]}", "status": "ACTIVE", "definition": definition}
    out = (await hub.admin(PROMO_CREATE, {"i": i}))["data"]["promotionCreate"]
    assert out["userErrors"] == [], out
    return str(out["promotion"]["id"])


async def test_discounts_are_checked_against_the_promotions_engine(hub: Hub) -> None:
    loc, (v,) = await store_with_stock(hub, 10)
    promo = await _percent_off(hub, v, "20")  # automatic: 20% off this variant
    till = _till()

    def discounted(cid: str, off: str, promos: list[str]) -> dict:
        tx = sale(cid, v, 2)  # 2 x 10.00
        tx["lines"][0].update(totalDiscount=off, promotionIds=promos)
        tx["payments"] = [{"method": "CASH", "amount": str(20 - int(off))}]
        return tx

    got = await sync(hub, loc, till, [
        discounted("ok", "4", [promo]),  # what the engine gives: 4.00
        discounted("greedy", "8", [promo]),  # twice that
        sale("missed", v, 2),  # the till forgot the automatic promotion
    ])  # fmt: skip
    ok, greedy, missed = got["results"]
    assert (ok["status"], ok["conflicts"]) == ("ACCEPTED", []), ok
    assert greedy["status"] == "ACCEPTED_WITH_CONFLICTS"
    flags = [(c["code"], c["promotionId"], c["tillDiscount"], c["hubDiscount"])
             for c in greedy["conflicts"]]  # fmt: skip
    assert flags == [("PROMOTION_DIFFERS", None, 800, 400), ("PROMOTION_DIFFERS", promo, 800, 400)]
    assert float(greedy["order"]["totalPrice"]["amount"]) == 12  # the till's discount, kept
    assert [(c["code"], c["tillDiscount"], c["hubDiscount"]) for c in missed["conflicts"]] == [
        ("PROMOTION_DIFFERS", 0, 400)
    ]
    assert float(missed["order"]["totalPrice"]["amount"]) == 20  # not re-priced
    # The review is on the orders' timelines, with the flag.
    rows = await hub.rows(
        "SELECT o.external_id, e.data FROM order_events e JOIN orders o ON o.id = e.order_id "
        "WHERE e.kind = 'pos.review' AND o.external_id LIKE :t ORDER BY o.external_id",
        t=f"{till}:%",
    )
    assert [r[0] for r in rows] == [f"{till}:greedy", f"{till}:missed"]
    for _, data in rows:
        data = json.loads(data) if isinstance(data, str) else data
        assert "PROMOTION_DIFFERS" in {c["code"] for c in data["conflicts"]}
