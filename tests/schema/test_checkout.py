"""checkoutComplete on SQLite and PostgreSQL, paying through the local Stripe stand-in
(tests/connectors/test_payments.py): a decline releases the stock and leaves the cart
usable; one idempotency key makes one order, also under concurrent duplicates; a cart
whose stock ran out gets INSUFFICIENT_STOCK naming its lines; webhooks are verified
and applied once; the ledger still balances."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from hub.demo import NEWARK
from hub.domain.inventory import verify
from tests.helpers.carts import create, restock, stocked_variant, uid
from tests.helpers.checkout import (
    checkout,
    level,
    orders_of,
    outbox_payloads,
)
from tests.helpers.client import Hub, served_again
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
    """The same database served by an app configured for the Stripe stand-in."""
    async with served_again(
        hub,
        stripe_api_key=API_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=fake_stripe.base_url,
    ) as served:
        yield served


async def test_decline_releases_stock_and_the_cart_stays_usable(
    shop: Hub,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    vid = await stocked_variant(shop, {NEWARK: 3})
    cid = (await create(shop, {"lines": [{"merchandiseId": vid, "quantity": 2}]}))["cart"]["id"]
    before = await level(shop, vid)
    out = await checkout(
        shop, cid, uid(), {"provider": "stripe", "paymentMethodId": "pm_card_chargeDeclined"}
    )
    assert out["order"] is None
    assert [e["code"] for e in out["userErrors"]] == ["PAYMENT_DECLINED"]
    assert "generic_decline" in out["userErrors"][0]["message"]
    assert await level(shop, vid) == before  # reservation released
    assert await orders_of(shop, cid) == 0
    # The cart is usable: change it, then pay with a good card (same key is fine too).
    add = await shop.gql(
        """mutation($c: ID!) { cartNoteUpdate(cartId: $c, note: "second try") {
        cart { status } userErrors { code } } }""",
        {"c": cid},
    )
    assert add["data"]["cartNoteUpdate"] == {"cart": {"status": "ACTIVE"}, "userErrors": []}
    ok = await checkout(shop, cid, uid(), {"provider": "stripe", "paymentMethodId": "pm_card_visa"})
    assert ok["userErrors"] == [], ok
    order = ok["order"]
    assert order["paymentStatus"] == "AUTHORIZED"
    assert order["payments"][0]["provider"] == "stripe"
    assert order["payments"][0]["amount"]["amount"] == order["totalPrice"]["amount"]
    on_hand, reserved, committed = await level(shop, vid)
    assert (on_hand, reserved - before[1], committed - before[2]) == (before[0], 0, 2)
    intent = fake_stripe.intent(fake_stripe.created_intents[-1])
    assert intent["capture_method"] == "manual"
    assert intent["status"] == "requires_capture"
    # A completed cart can't be checked out again with another key.
    again = await checkout(
        shop, cid, uid(), {"provider": "stripe", "paymentMethodId": "pm_card_visa"}
    )
    assert [e["code"] for e in again["userErrors"]] == ["ALREADY_COMPLETED"]


async def test_same_key_returns_the_same_order_once(shop: Hub, fake_stripe: FakeStripe) -> None:  # noqa: F811
    vid = await stocked_variant(shop, {NEWARK: 10})
    cid = (await create(shop, {"lines": [{"merchandiseId": vid, "quantity": 1}]}))["cart"]["id"]
    key = uid()
    pay = {"provider": "stripe", "paymentMethodId": "pm_card_visa"}
    first = await checkout(shop, cid, key, pay)
    second = await checkout(shop, cid, key, pay)
    assert first["userErrors"] == [] and first["order"] == second["order"]
    assert await orders_of(shop, cid) == 1
    assert len(fake_stripe.created_intents) == 1

    # Concurrent duplicates of a new cart's checkout: one order, every answer names it.
    cid = (await create(shop, {"lines": [{"merchandiseId": vid, "quantity": 2}]}))["cart"]["id"]
    key = uid()
    before = await level(shop, vid)
    outs = await asyncio.gather(*(checkout(shop, cid, key, pay) for _ in range(8)))
    names = {o["order"]["name"] for o in outs if o["order"]}
    assert all(o["userErrors"] == [] for o in outs), outs
    assert len(names) == 1
    assert await orders_of(shop, cid) == 1
    after = await level(shop, vid)
    assert after[2] - before[2] == 2  # committed once


async def test_stock_ran_out_names_the_lines(hub: Hub) -> None:
    scarce = await stocked_variant(hub, {NEWARK: 2})
    plenty = await stocked_variant(hub, {NEWARK: 9})
    slow = await create(
        hub,
        {
            "lines": [
                {"merchandiseId": scarce, "quantity": 2},
                {"merchandiseId": plenty, "quantity": 1},
            ]
        },
    )
    fast = await create(hub, {"lines": [{"merchandiseId": scarce, "quantity": 2}]})
    pay = {"provider": "cash", "reference": "till-1"}
    won = await checkout(hub, fast["cart"]["id"], uid(), pay, token=hub.admin_token)
    assert won["userErrors"] == []
    before = await level(hub, plenty)
    lost = await checkout(hub, slow["cart"]["id"], uid(), pay, token=hub.admin_token)
    assert lost["order"] is None
    line = slow["cart"]["lines"]["nodes"][0]["id"]
    assert [(e["code"], e["field"]) for e in lost["userErrors"]] == [
        ("INSUFFICIENT_STOCK", ["lines", line])
    ]
    assert await level(hub, plenty) == before  # nothing of the other line was reserved
    cart = await hub.gql(
        "query($id: ID!) { cart(id: $id) { status warnings { code target } } }",
        {"id": slow["cart"]["id"]},
    )
    assert cart["data"]["cart"]["status"] == "ACTIVE"
    assert ("MERCHANDISE_OUT_OF_STOCK", line) in {
        (w["code"], w["target"]) for w in cart["data"]["cart"]["warnings"]
    }
    await restock(hub, scarce)


async def test_payment_rules(hub: Hub) -> None:
    vid = await stocked_variant(hub, {NEWARK: 5})
    cid = (await create(hub, {"lines": [{"merchandiseId": vid}]}))["cart"]["id"]
    out = await checkout(hub, cid, uid(), {"provider": "cash", "reference": "x"})
    assert [e["code"] for e in out["userErrors"]] == ["ACCESS_DENIED"]  # tills only
    out = await checkout(hub, cid, uid(), None)
    assert [e["code"] for e in out["userErrors"]] == ["PAYMENT_REQUIRED"]
    out = await checkout(hub, cid, uid(), {"provider": "stripe", "paymentMethodId": "pm_x"})
    assert [e["code"] for e in out["userErrors"]] == ["INVALID"]  # not configured here
    for bad_key in ("", "k" * 256, "key\x00", "tab\tkey"):
        out = await checkout(
            hub, cid, bad_key, {"provider": "cash", "reference": "x"}, hub.admin_token
        )
        # over-long input is TOO_LONG everywhere (schema/inputs.py), the rest INVALID
        code = "TOO_LONG" if len(bad_key) > 255 else "INVALID"
        assert [(e["code"], e["field"]) for e in out["userErrors"]] == [
            (code, ["idempotencyKey"])
        ], bad_key
    # Payment fields a client can send are checked before anything is written.
    for payment, field in (
        ({"provider": "cash", "reference": "r" * 256}, "reference"),
        ({"provider": "cash", "reference": "drawer\x00"}, "reference"),
        ({"provider": "stripe", "paymentMethodId": "pm_" + "x" * 300}, "paymentMethodId"),
        ({"provider": "gift_card", "giftCardCode": "ABCD\x00EFGH"}, "giftCardCode"),
    ):
        out = await checkout(hub, cid, uid(), payment, hub.admin_token)
        code = "TOO_LONG" if max(len(v) for v in payment.values()) > 255 else "INVALID"
        assert [(e["code"], e["field"]) for e in out["userErrors"]] == [
            (code, ["payment", field])
        ], out
    out = await checkout(hub, cid, uid(), {"provider": "cash", "reference": "x"}, hub.admin_token)
    assert out["userErrors"] == [] and out["order"]["paymentStatus"] == "PAID"


async def test_webhooks_are_verified_and_applied_once(shop: Hub, fake_stripe: FakeStripe) -> None:  # noqa: F811
    vid = await stocked_variant(shop, {NEWARK: 5})
    cid = (await create(shop, {"lines": [{"merchandiseId": vid}]}))["cart"]["id"]
    out = await checkout(
        shop, cid, uid(), {"provider": "stripe", "paymentMethodId": "pm_card_visa"}
    )
    order = out["order"]
    intent_id = fake_stripe.created_intents[-1]
    payload = _event({"id": intent_id, "object": "payment_intent", "status": "succeeded"})

    bad = await shop.client.post(
        "/webhooks/stripe",
        content=payload,
        headers={"stripe-signature": _sign(payload, secret="whsec_wrong")},
    )
    assert bad.status_code == 400
    unsigned = await shop.client.post("/webhooks/stripe", content=payload)
    assert unsigned.status_code == 400

    good = await shop.client.post(
        "/webhooks/stripe", content=payload, headers={"stripe-signature": _sign(payload)}
    )
    assert good.status_code == 200 and good.json()["outcome"] == "updated"
    q = "query($id: ID!) { order(id: $id) { paymentStatus payments { status } } }"
    res = await shop.admin(q, {"id": order["id"]})
    assert res["data"]["order"] == {"paymentStatus": "PAID", "payments": [{"status": "CAPTURED"}]}

    replay = await shop.client.post(
        "/webhooks/stripe", content=payload, headers={"stripe-signature": _sign(payload)}
    )
    assert replay.status_code == 200 and replay.json()["outcome"] == "duplicate"
    # A late, older event never moves the status back.
    late = _event(
        {"id": intent_id, "object": "payment_intent", "status": "requires_capture"},
        "payment_intent.amount_capturable_updated",
    )
    res_late = await shop.client.post(
        "/webhooks/stripe", content=late, headers={"stripe-signature": _sign(late)}
    )
    assert res_late.json()["outcome"] == "unchanged"
    refund = _event(
        {"id": "ch_x", "object": "charge", "payment_intent": intent_id, "refunded": True},
        "charge.refunded",
    )
    r = await shop.client.post(
        "/webhooks/stripe", content=refund, headers={"stripe-signature": _sign(refund)}
    )
    assert r.json()["outcome"] == "updated"
    res = await shop.admin(q, {"id": order["id"]})
    assert res["data"]["order"]["paymentStatus"] == "REFUNDED"
    assert json.loads(payload)["id"] != json.loads(refund)["id"]


async def test_order_event_and_ledger_balance(hub: Hub) -> None:
    vid = await stocked_variant(hub, {NEWARK: 4})
    cid = (await create(hub, {"lines": [{"merchandiseId": vid, "quantity": 3}]}))["cart"]["id"]
    pay = {"provider": "terminal", "reference": "auth-778"}
    out = await checkout(hub, cid, uid(), pay, hub.admin_token)
    assert out["userErrors"] == []
    pk = int(out["order"]["id"].rsplit("/", 1)[1])
    assert out["order"]["name"] == f"#{1000 + pk}"
    mine = [p for p in await outbox_payloads(hub, "order.created") if p["orderId"] == pk]
    assert len(mine) == 1
    assert mine[0]["lines"] == [
        {"variantId": int(vid.rsplit("/", 1)[1]), "sku": mine[0]["lines"][0]["sku"], "quantity": 3}
    ]
    assert await verify(hub.db) == []


async def test_webhook_bodies_that_are_not_events_and_future_timestamps_are_refused(
    shop: Hub,
) -> None:
    """A correctly signed body that is no Stripe event answers 400 with a clear error,
    never a 500 from inside the Stripe library; a timestamp beyond the tolerance in
    the future is refused like one beyond it in the past; nothing is recorded."""
    import time

    seen = await shop.scalar("SELECT COUNT(*) FROM payment_webhook_events")
    for body in (
        b"[1, 2, 3]",
        b'"payment_intent.succeeded"',
        b"42",
        b"null",
        b"not json",
        b'{"object": "v2.core.event", "id": "evt_x", "type": "x"}',
        b'{"object": "event", "id": ["evt_x"], "type": "payment_intent.succeeded"}',
        json.dumps({"object": "event", "id": "evt_q", "type": "t", "data": [1]}).encode(),
    ):
        resp = await shop.client.post(
            "/webhooks/stripe", content=body, headers={"stripe-signature": _sign(body)}
        )
        if body.startswith(b'{"object": "event", "id": "evt_q"'):
            # An event whose data is not an object concerns no payment: ignored.
            assert resp.status_code == 200 and resp.json()["outcome"] == "ignored", resp.text
            continue
        assert resp.status_code == 400, (body, resp.text)
        assert resp.json()["code"] == "webhook_payload_invalid", resp.text
    bad_utf8 = b'{"object": "event", "id": "\xff"}'
    resp = await shop.client.post(
        "/webhooks/stripe", content=bad_utf8, headers={"stripe-signature": "t=1,v1=00"}
    )
    assert resp.status_code == 400

    payload = _event({"id": "pi_future", "object": "payment_intent", "status": "succeeded"})
    for offset, status in ((3600, 400), (301, 400), (-301, 400), (30, 200), (-30, 200)):
        resp = await shop.client.post(
            "/webhooks/stripe",
            content=payload,
            headers={"stripe-signature": _sign(payload, timestamp=int(time.time()) + offset)},
        )
        assert resp.status_code == status, (offset, resp.text)
        if status == 400:
            assert resp.json()["code"] == "webhook_signature_invalid"
    assert await shop.scalar("SELECT COUNT(*) FROM payment_webhook_events") == seen + 2


async def test_status_fields_are_uppercase_enums(hub: Hub) -> None:
    """Payment status (lowercase strings before) and the other closed sets of values
    on orders, payments, carts and gift cards are GraphQL enums."""
    q = """query($t: String!) { __type(name: $t) { fields { name
      type { kind name ofType { kind name } } } } }"""
    want = {
        "OrderPayment": {"status": "PaymentStatus"},
        "Order": {"status": "OrderStatus", "paymentStatus": "OrderPaymentStatus"},
        "Cart": {"status": "CartStatus"},
        "GiftCard": {"status": "GiftCardStatus"},
        "GiftCardTransaction": {"kind": "GiftCardTransactionKind"},
    }
    for type_name, fields in want.items():
        res = await hub.gql(q, {"t": type_name})
        by_name = {f["name"]: f["type"] for f in res["data"]["__type"]["fields"]}
        for field, enum in fields.items():
            t = by_name[field]
            t = t["ofType"] if t["kind"] == "NON_NULL" else t
            assert (t["kind"], t["name"]) == ("ENUM", enum), (type_name, field, t)
    values = await hub.gql('{ __type(name: "PaymentStatus") { enumValues { name } } }')
    names = [v["name"] for v in values["data"]["__type"]["enumValues"]]
    assert "CAPTURED" in names and all(n == n.upper() for n in names)
