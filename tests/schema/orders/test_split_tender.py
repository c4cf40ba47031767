"""Split tender over GraphQL, on SQLite and PostgreSQL: ``checkoutComplete(payments:)``
pays one order with several methods (gift card, card, cash, terminal, store credit),
taking the hub's own first; cash reports its change due; bad input answers userErrors
with stable codes and writes nothing; a failure of one method gives back what the
others took; refunds go back to each payment in the order it was taken."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from hub.demo import NEWARK, ROTTERDAM
from hub.domain.inventory import verify
from tests.helpers.accounts import verified_customer
from tests.helpers.carts import create, stocked_variant, uid
from tests.helpers.checkout import level, orders_of
from tests.helpers.client import Hub, served_again
from tests.helpers.giftcards import balance, issue
from tests.helpers.orders import ORDER, cancel, capture, pk, refund
from tests.helpers.staff import key_with_roles
from tests.helpers.till import OPEN as TILL_OPEN
from tests.helpers.till import make_till, till_staff, till_token

SPLIT = f"""mutation($c: ID!, $k: String!, $p: [CheckoutPaymentInput!], $one: PaymentInput) {{
  checkoutComplete(cartId: $c, idempotencyKey: $k, payments: $p, payment: $one) {{
    order {{ {ORDER}
             payments {{ provider tendered {{ amount }} changeDue {{ amount }} }} }}
    changeDue {{ amount currencyCode }}
    userErrors {{ field message code }} }} }}"""


@pytest.fixture
async def till(hub: Hub) -> AsyncIterator[Hub]:
    """The same database served with the test card provider on."""
    async with served_again(hub, test_payments=True) as served:
        yield served


async def split(
    hub: Hub,
    cid: str,
    key: str,
    payments: list[dict[str, Any]] | None,
    token: str | None = None,
    one: dict[str, Any] | None = None,
) -> dict[str, Any]:
    res = await hub.gql(SPLIT, {"c": cid, "k": key, "p": payments, "one": one}, token=token)
    assert "errors" not in res, res
    out: dict[str, Any] = res["data"]["checkoutComplete"]
    return out


async def cart(hub: Hub, quantity: int = 3, price: str = "10") -> tuple[str, str, Decimal]:
    """A guest cart of ``quantity`` units: (cart id, variant id, its total)."""
    vid = await stocked_variant(hub, {NEWARK: 10}, price=price)
    made = await create(hub, {"lines": [{"merchandiseId": vid, "quantity": quantity}]})
    return made["cart"]["id"], vid, Decimal(made["cart"]["cost"]["totalAmount"]["amount"])


def money(order_: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(t["kind"], t["provider"], t["amount"]["amount"]) for t in order_["transactions"]]


async def left(hub: Hub, code: str) -> Decimal:
    got = await balance(hub, code)
    assert got is not None
    return Decimal(got["balance"]["amount"])


async def test_gift_card_card_and_cash_pay_one_order_and_refund_in_order(till: Hub) -> None:
    cid, vid, total = await cart(till)
    gift = await issue(till, "5")
    card_part = Decimal("10.00")
    cash_part = total - Decimal(5) - card_part
    assert cash_part > 0
    key = uid()
    tenders = [  # given card first: the gift card is still taken first (the hub's own)
            {"method": "CARD", "provider": "test", "paymentMethodId": "pm_card_visa",
             "amount": str(card_part)},
            {"method": "CASH", "amount": str(cash_part), "cashTendered": str(cash_part + 3),
             "reference": "drawer-1"},
            {"method": "GIFT_CARD", "giftCardCode": gift["code"], "amount": "5"},
    ]  # fmt: skip
    # Concurrent duplicates (one key): one order, each payment taken once.
    outs = await asyncio.gather(
        *(split(till, cid, key, tenders, till.admin_token) for _ in range(4))
    )
    assert all(o["userErrors"] == [] for o in outs), outs
    assert len({o["order"]["id"] for o in outs}) == 1
    assert all(o["changeDue"] == {"amount": "3.00", "currencyCode": "USD"} for o in outs)
    assert await orders_of(till, cid) == 1
    out = outs[0]
    placed = out["order"]
    assert out["changeDue"] == {"amount": "3.00", "currencyCode": "USD"}
    assert [p["provider"] for p in placed["payments"]] == ["gift_card", "test", "cash"]
    assert placed["payments"][2]["tendered"] == {"amount": f"{cash_part + 3:.2f}"}
    assert placed["payments"][2]["changeDue"] == {"amount": "3.00"}
    assert placed["payments"][0]["tendered"] is None
    assert placed["paymentStatus"] == "AUTHORIZED"  # the card is held until captured
    assert money(placed) == [
        ("SALE", "gift_card", "5.00"),
        ("AUTHORIZATION", "test", "10.00"),
        ("SALE", "cash", f"{cash_part:.2f}"),
    ]
    assert await left(till, gift["code"]) == 0
    assert await level(till, vid) == (10, 0, 3)
    got = await capture(till, placed["id"], uid())
    assert got["userErrors"] == [], got
    assert got["captured"]["amount"] == "10.00"
    assert got["order"]["paymentStatus"] == "PAID"

    # A partial refund goes to the gift card first, then on to the card.
    part = await refund(till, placed["id"], uid(), amount="7")
    assert part["userErrors"] == [], part
    refunds = [t for t in money(part["order"]) if t[0] == "REFUND"]
    assert refunds == [("REFUND", "gift_card", "5.00"), ("REFUND", "test", "2.00")]
    assert await left(till, gift["code"]) == 5  # re-credited
    # The rest: what is left of the card, then the cash (recorded at its till).
    rest = await refund(till, placed["id"], uid(), amount=str(total - 7))
    assert rest["userErrors"] == [], rest
    refunds = [t for t in money(rest["order"]) if t[0] == "REFUND"]
    assert refunds[2:] == [("REFUND", "test", "8.00"), ("REFUND", "cash", f"{cash_part:.2f}")]
    cash_refund = [t for t in rest["order"]["transactions"] if t["kind"] == "REFUND"][-1]
    assert cash_refund["reference"] == "drawer-1"
    assert rest["order"]["paymentStatus"] == "REFUNDED"
    over = await refund(till, placed["id"], uid(), amount="0.01")
    assert [e["code"] for e in over["userErrors"]] == ["REFUND_EXCEEDS_CAPTURED"]
    # The same key still answers the order and its change.
    again = await split(till, cid, key, tenders, till.admin_token)
    assert again["order"]["id"] == placed["id"]
    assert again["changeDue"] == {"amount": "3.00", "currencyCode": "USD"}
    assert await left(till, gift["code"]) == 5  # not debited again
    assert await verify(till.db) == []


async def test_bad_tenders_are_refused_and_nothing_is_written(hub: Hub) -> None:
    cid, vid, total = await cart(hub)
    one = await issue(hub, "100")
    before = (await level(hub, vid), await left(hub, one["code"]))
    rows = await hub.scalar("SELECT COUNT(*) FROM checkout_payments")
    cases: list[tuple[list[dict[str, Any]], str | None, str, list[str]]] = [
        # sum below the total
        ([{"method": "GIFT_CARD", "giftCardCode": one["code"], "amount": "1"}],
         None, "TENDER_SUM_MISMATCH", ["payments"]),
        # the same gift card twice
        ([{"method": "GIFT_CARD", "giftCardCode": one["code"], "amount": "1"},
          {"method": "GIFT_CARD", "giftCardCode": one["code"].lower(),
           "amount": str(total - 1)}],
         None, "TENDER_DUPLICATE_GIFT_CARD", ["payments", "1", "giftCardCode"]),
        # cash at a storefront (no staff key)
        ([{"method": "GIFT_CARD", "giftCardCode": one["code"], "amount": "1"},
          {"method": "CASH", "amount": str(total - 1), "reference": "d"}],
         None, "TENDER_NOT_ALLOWED", ["payments", "1", "method"]),
        # cash handed over below its amount
        ([{"method": "CASH", "amount": str(total), "cashTendered": "1", "reference": "d"}],
         hub.admin_token, "TENDER_CASH_SHORT", ["payments", "0", "cashTendered"]),
        # store credit on a guest's cart
        ([{"method": "STORE_CREDIT", "amount": str(total),
           "storeCreditId": one["giftCard"]["id"]}],
         hub.admin_token, "TENDER_STORE_CREDIT_INVALID", ["payments", "0", "storeCreditId"]),
        # a zero amount, and a field of another method
        ([{"method": "CASH", "amount": "0", "reference": "d"},
          {"method": "CASH", "amount": str(total), "reference": "d"}],
         hub.admin_token, "INVALID", ["payments", "0", "amount"]),
        ([{"method": "TERMINAL", "amount": str(total), "giftCardCode": "X"}],
         hub.admin_token, "INVALID", ["payments", "0", "giftCardCode"]),
    ]  # fmt: skip
    for payments, token, code, field in cases:
        out = await split(hub, cid, uid(), payments, token)
        assert out["order"] is None
        assert [(e["code"], e["field"]) for e in out["userErrors"]] == [(code, field)], out
    both = await split(
        hub,
        cid,
        uid(),
        [{"method": "CASH", "amount": str(total), "reference": "d"}],
        hub.admin_token,
        one={"provider": "cash", "reference": "d"},
    )
    assert [e["code"] for e in both["userErrors"]] == ["INVALID"]
    assert (await level(hub, vid), await left(hub, one["code"])) == before
    assert await hub.scalar("SELECT COUNT(*) FROM checkout_payments") == rows
    assert await orders_of(hub, cid) == 0


async def test_a_failed_method_gives_back_what_the_others_took(till: Hub) -> None:
    cid, vid, total = await cart(till)
    good = await issue(till, "4")
    poor = await issue(till, "1")
    before = await level(till, vid)
    # A declined card after a gift card: the gift card is re-credited.
    out = await split(
        till,
        cid,
        uid(),
        [
            {"method": "GIFT_CARD", "giftCardCode": good["code"], "amount": "4"},
            {"method": "CARD", "provider": "test", "paymentMethodId": "pm_card_chargeDeclined",
             "amount": str(total - 4)},
        ],
    )  # fmt: skip
    assert out["order"] is None
    assert [(e["code"], e["field"]) for e in out["userErrors"]] == [
        ("PAYMENT_DECLINED", ["payments", "1"])
    ]
    assert await left(till, good["code"]) == 4
    assert await level(till, vid) == before
    # A gift card short of funds after another: the first is given back, the card
    # (taken after the hub's own) never authorized.
    out = await split(
        till,
        cid,
        uid(),
        [
            {"method": "CARD", "provider": "test", "paymentMethodId": "pm_card_visa",
             "amount": str(total - 6)},
            {"method": "GIFT_CARD", "giftCardCode": good["code"], "amount": "4"},
            {"method": "GIFT_CARD", "giftCardCode": poor["code"], "amount": "2"},
        ],
    )  # fmt: skip
    assert [(e["code"], e["field"]) for e in out["userErrors"]] == [
        ("GIFT_CARD_INSUFFICIENT_FUNDS", ["payments", "2"])
    ]
    assert (await left(till, good["code"]), await left(till, poor["code"])) == (4, 1)
    rows = await till.rows(
        "SELECT p.provider, p.status, p.last_error FROM checkout_payments p "
        "JOIN carts c ON c.id = p.cart_id WHERE c.token = :t ORDER BY p.id",
        t=cid.rsplit("/", 1)[1],
    )
    assert [(r.provider, r.status) for r in rows] == [
        ("gift_card", "RELEASED"),  # re-credited
        ("test", "FAILED"),  # declined
        ("gift_card", "RELEASED"),
        ("gift_card", "FAILED"),  # short of funds
        ("test", "FAILED"),  # never tried: nothing taken
    ], rows
    assert await level(till, vid) == before
    assert await orders_of(till, cid) == 0
    # The cart is still usable: the same gift card and a good card pay it.
    key = uid()
    tenders = [
        {"method": "GIFT_CARD", "giftCardCode": good["code"], "amount": "4"},
        {"method": "CARD", "provider": "test", "paymentMethodId": "pm_card_visa",
         "amount": str(total - 4)},
    ]  # fmt: skip
    ok = await split(till, cid, key, tenders)
    assert ok["userErrors"] == [], ok
    assert ok["changeDue"] is None
    again = await split(till, cid, key, tenders)
    assert again["order"]["id"] == ok["order"]["id"]
    assert await left(till, good["code"]) == 0  # taken once
    assert await orders_of(till, cid) == 1


async def test_till_tenders_need_the_orders_permission_at_the_location(hub: Hub) -> None:
    cid, _vid, total = await cart(hub)
    pay = [
        {"method": "TERMINAL", "amount": "5", "reference": "auth-1"},
        {"method": "CASH", "amount": str(total - 5), "cashTendered": str(total - 5),
         "reference": "drawer-2"},
    ]  # fmt: skip
    elsewhere = await key_with_roles(hub, ["orders"], locations=[ROTTERDAM])
    out = await split(hub, cid, uid(), pay, elsewhere)
    assert [(e["code"], e["field"]) for e in out["userErrors"]] == [
        ("TENDER_NOT_ALLOWED", ["payments", "0", "method"])
    ]
    no_orders = await key_with_roles(hub, ["inventory"], locations=[NEWARK])
    out = await split(hub, cid, uid(), pay, no_orders)
    assert [e["code"] for e in out["userErrors"]] == ["TENDER_NOT_ALLOWED"]
    here = await key_with_roles(hub, ["orders"], locations=[NEWARK])
    out = await split(hub, cid, uid(), pay, here)
    assert out["userErrors"] == [], out
    assert out["changeDue"] == {"amount": "0.00", "currencyCode": "USD"}
    assert [p["provider"] for p in out["order"]["payments"]] == ["terminal", "cash"]
    assert out["order"]["paymentStatus"] == "PAID"


async def test_store_credit_pays_at_a_till_and_is_recredited_on_refund(hub: Hub) -> None:
    customer, _address, token = await verified_customer(hub)
    other, _, _ = await verified_customer(hub)
    vid = await stocked_variant(hub, {NEWARK: 10})
    made = await create(hub, {"lines": [{"merchandiseId": vid, "quantity": 2}]}, token=token)
    assert made["userErrors"] == [], made
    cid, total = made["cart"]["id"], Decimal(made["cart"]["cost"]["totalAmount"]["amount"])
    mine = await issue(hub, "6", customerId=customer)
    theirs = await issue(hub, "50", customerId=other)
    cash = str(total - 6)
    # Another customer's store credit is refused; the customer may not spend it alone
    # from a storefront key either (store credit is taken at a till).
    out = await split(
        hub,
        cid,
        uid(),
        [{"method": "STORE_CREDIT", "storeCreditId": theirs["giftCard"]["id"], "amount": "6"},
         {"method": "CASH", "amount": cash, "reference": "drawer-3"}],
        hub.admin_token,
    )  # fmt: skip
    assert [(e["code"], e["field"]) for e in out["userErrors"]] == [
        ("TENDER_STORE_CREDIT_INVALID", ["payments", "0", "storeCreditId"])
    ]
    pay = [
        {"method": "CASH", "amount": cash, "cashTendered": str(total - 6 + Decimal("0.5")),
         "reference": "drawer-3"},
        {"method": "STORE_CREDIT", "storeCreditId": mine["giftCard"]["id"], "amount": "6"},
    ]  # fmt: skip
    out = await split(hub, cid, uid(), pay, token)
    assert [e["code"] for e in out["userErrors"]] == ["TENDER_NOT_ALLOWED"]
    # The single payment argument never spends store credit (its owner is not checked
    # there), whoever asks.
    out = await split(
        hub,
        cid,
        uid(),
        None,
        hub.admin_token,
        one={"provider": "store_credit", "paymentMethodId": str(pk(mine["giftCard"]["id"]))},
    )
    assert [(e["code"], e["field"]) for e in out["userErrors"]] == [
        ("INVALID", ["payment", "provider"])
    ]
    assert await left(hub, mine["code"]) == 6
    out = await split(hub, cid, uid(), pay, hub.admin_token)
    assert out["userErrors"] == [], out
    assert out["changeDue"]["amount"] == "0.50"
    placed = out["order"]
    assert [p["provider"] for p in placed["payments"]] == ["store_credit", "cash"]
    assert placed["paymentStatus"] == "PAID"
    assert await left(hub, mine["code"]) == 0
    # A full refund: the store credit first (back on the customer's card), then cash.
    back = await refund(hub, placed["id"], uid(), amount=str(total))
    assert back["userErrors"] == [], back
    assert [t for t in money(back["order"]) if t[0] == "REFUND"] == [
        ("REFUND", "store_credit", "6.00"),
        ("REFUND", "cash", f"{total - 6:.2f}"),
    ]
    assert await left(hub, mine["code"]) == 6
    assert (await left(hub, theirs["code"])) == 50


async def test_cash_of_a_split_sale_goes_in_the_till_session(hub: Hub) -> None:
    till, _code, location = await make_till(hub)
    _user, address = await till_staff(hub, [location])
    token = await till_token(hub, till, address)
    opened = await hub.gql(TILL_OPEN, {"t": till, "f": 10_000}, token=token)
    sid = opened["data"]["tillSessionOpen"]["tillSession"]["id"]
    vid = await stocked_variant(hub, {pk(location): 5})
    made = await create(hub, {"lines": [{"merchandiseId": vid, "quantity": 2}]})
    cid, total = made["cart"]["id"], Decimal(made["cart"]["cost"]["totalAmount"]["amount"])
    gift = await issue(hub, "2")
    cash = total - 2
    out = await split(
        hub,
        cid,
        uid(),
        [{"method": "CASH", "amount": str(cash), "cashTendered": str(cash + 5),
          "reference": "drawer"},
         {"method": "GIFT_CARD", "giftCardCode": gift["code"], "amount": "2"}],
        token,
    )  # fmt: skip
    assert out["userErrors"] == [], out
    assert out["changeDue"]["amount"] == "5.00"
    res = await hub.gql(
        "query($id: ID!) { tillSession(id: $id) { expectedCash totals { kind amount } } }",
        {"id": sid},
        token=token,
    )
    session = res["data"]["tillSession"]
    totals = {t["kind"]: t["amount"] for t in session["totals"]}
    cents = int(cash * 100)
    assert totals == {"FLOAT": 10_000, "SALE_CASH": cents + 500, "CHANGE": 500}, totals
    assert session["expectedCash"] == 10_000 + cents  # the change went back out


async def test_cancelling_a_split_order_voids_the_card_and_recredits_the_gift_card(
    till: Hub,
) -> None:
    cid, vid, total = await cart(till)
    gift = await issue(till, "8")
    out = await split(
        till,
        cid,
        uid(),
        [{"method": "GIFT_CARD", "giftCardCode": gift["code"], "amount": "8"},
         {"method": "CARD", "provider": "test", "paymentMethodId": "pm_card_visa",
          "amount": str(total - 8)}],
    )  # fmt: skip
    assert out["userErrors"] == [], out
    assert await left(till, gift["code"]) == 0
    done = await cancel(till, out["order"]["id"], refund=True)
    assert done["userErrors"] == [], done
    moves = {(t[0], t[1]) for t in money(done["order"])}
    assert ("VOID", "test") in moves and ("REFUND", "gift_card") in moves, moves
    assert await left(till, gift["code"]) == 8
    assert await level(till, vid) == (10, 0, 0)
