"""Checkout after a crash, in-process, on SQLite and PostgreSQL.

A checkout is stopped dead between its payment and its order (its request task is
cancelled at the test-only pause point, so it runs no undo at all and its heartbeat
stops: what a process killed there leaves behind). Then: its lease lapses within
seconds and the expiry job releases its reservations; a retry with the same key takes
the attempt over; a retry with a new key reuses the payment (same way of paying) or
releases it (another way) and never takes a second one; the reconciliation job gives
back what no order used, once, with a ``payment.reconciled`` event; the gift card
ledger and the stock ledger still balance. ``tests/test_checkout_crash.py`` does the
same with ``kill -9`` on real ``hub serve`` processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from hub.demo import NEWARK
from hub.domain import giftcards as gc
from hub.domain.inventory import verify
from tests.helpers.app import hub_of
from tests.helpers.carts import create, stocked_variant, uid
from tests.helpers.checkout import CHECKOUT, level, orders_of, outbox_payloads
from tests.helpers.client import Hub, served_again
from tests.helpers.giftcards import balance, issue
from tests.helpers.stripe import (  # noqa: F401  (fixtures)
    API_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    _fake_stripe_server,
    _no_stripe_telemetry,
    fake_stripe,
)

LEASE = 1.0


@dataclass
class Shop:
    hub: Hub
    client: httpx.AsyncClient
    app: Any
    pause: Path

    async def gql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        resp = await self.client.post("/graphql", json={"query": query, "variables": variables})
        assert resp.status_code == 200, resp.text
        return resp.json()

    async def checkout(self, cid: str, key: str, payment: dict[str, Any]) -> dict[str, Any]:
        res = await self.gql(CHECKOUT, {"c": cid, "k": key, "p": payment})
        assert "errors" not in res, res
        return res["data"]["checkoutComplete"]

    async def crash(self, cid: str, key: str, payment: dict[str, Any]) -> None:
        """Run a checkout up to the point between payment and order, then stop it
        dead: no undo, no more lease renewals."""
        self.pause.touch()
        reached = f"{self.pause}.reached"
        with contextlib.suppress(FileNotFoundError):
            os.remove(reached)
        task = asyncio.create_task(self.checkout(cid, key, payment))
        deadline = time.monotonic() + 20
        while not await asyncio.to_thread(os.path.exists, reached):
            assert not task.done(), task.result()
            assert time.monotonic() < deadline, "the checkout never reached the pause"
            await asyncio.sleep(0.02)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        self.pause.unlink()  # lets the pause's thread end; the checkout is gone

    async def reconcile(self) -> int:
        settled: int = await hub_of(self.app).reconcile_payments()
        return settled

    async def release_expired(self) -> int:
        released: int = await hub_of(self.app).inventory.release_expired()
        return released


@pytest.fixture
async def shop(hub: Hub, fake_stripe: FakeStripe, tmp_path: Path) -> AsyncIterator[Shop]:  # noqa: F811
    async with served_again(
        hub,
        stripe_api_key=API_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=fake_stripe.base_url,
        checkout_lease_seconds=LEASE,
        payment_reconcile_seconds=3600,  # the tests run it themselves
        test_checkout_pause_file=str(tmp_path / "pause"),
    ) as served:
        # Both apps on this database reconcile on their own schedule too: these tests
        # decide when reconciliation runs (two reconcilers at once are tested below).
        hub_of(served.app).jobs.reconcile_payments = None
        theirs = hub_of(hub.app).jobs.reconcile_payments
        hub_of(hub.app).jobs.reconcile_payments = None
        try:
            yield Shop(hub, served.client, served.app, tmp_path / "pause")
        finally:
            hub_of(hub.app).jobs.reconcile_payments = theirs


async def payment_rows(hub: Hub, cid: str) -> list[Any]:
    token = cid.rsplit("/", 1)[1]
    async with hub.db.read() as conn:
        return list(
            (
                await conn.execute(
                    text(
                        "SELECT p.id, p.status, p.attempt_key, p.intent_id, p.order_id, "
                        "p.provider FROM checkout_payments p JOIN carts c ON c.id = p.cart_id "
                        "WHERE c.token = :t ORDER BY p.id"
                    ),
                    {"t": token},
                )
            ).all()
        )


async def reconciled_events(hub: Hub, payment_pks: set[int]) -> list[dict[str, Any]]:
    reconciled = await outbox_payloads(hub, "payment.reconciled")
    return [p for p in reconciled if p["paymentId"] in payment_pks]


async def ledger(hub: Hub, card_gid: str) -> list[tuple[str, int]]:
    pk = int(card_gid.rsplit("/", 1)[1])
    rows = await hub.rows(
        "SELECT kind, amount FROM gift_card_transactions WHERE gift_card_id = :c ORDER BY id",
        c=pk,
    )
    return [(r.kind, r.amount) for r in rows]


async def lapse() -> None:
    await asyncio.sleep(LEASE + 0.3)


async def test_same_key_takes_over_a_dead_attempt_and_reuses_its_payment(shop: Shop) -> None:
    hub = shop.hub
    card = await issue(hub, "500.00")
    vid = await stocked_variant(hub, {NEWARK: 5})
    cid = (await create(hub, {"lines": [{"merchandiseId": vid, "quantity": 2}]}))["cart"]["id"]
    before = await level(hub, vid)
    key = uid()
    pay = {"provider": "gift_card", "giftCardCode": card["code"]}
    await shop.crash(cid, key, pay)
    # What the dead attempt left: the card debited, the stock reserved, no order.
    debited = await ledger(hub, card["giftCard"]["id"])
    assert [k for k, _ in debited] == ["ISSUE", "DEBIT"]
    assert (await level(hub, vid))[1] == before[1] + 2
    assert await orders_of(hub, cid) == 0
    assert [r.status for r in await payment_rows(hub, cid)] == ["PENDING"]

    # The same key takes the attempt over (after its lease lapsed, not after the
    # reservation lifetime), reuses its payment and writes the order.
    started = time.monotonic()
    out = await shop.checkout(cid, key, pay)
    assert out["userErrors"] == [], out
    assert time.monotonic() - started < 10
    assert out["order"]["paymentStatus"] == "PAID"
    assert await ledger(hub, card["giftCard"]["id"]) == debited  # no second debit
    rows = await payment_rows(hub, cid)
    assert [(r.status, r.attempt_key) for r in rows] == [("USED", key)]
    assert await orders_of(hub, cid) == 1
    # The dead attempt's reservations lapsed with its lease and are released.
    await shop.release_expired()
    on_hand, reserved, committed = await level(hub, vid)
    assert (on_hand, reserved, committed - before[2]) == (before[0], before[1], 2)
    assert await verify(hub.db) == [] and await gc.verify(hub.db) == []


async def test_a_new_key_reuses_the_payment_that_pays_the_same_way(shop: Shop) -> None:
    hub = shop.hub
    card = await issue(hub, "500.00")
    vid = await stocked_variant(hub, {NEWARK: 5})
    cid = (await create(hub, {"lines": [{"merchandiseId": vid, "quantity": 1}]}))["cart"]["id"]
    pay = {"provider": "gift_card", "giftCardCode": card["code"]}
    await shop.crash(cid, uid(), pay)
    debited = await ledger(hub, card["giftCard"]["id"])
    # Until the dead attempt's lease lapses, the cart is still held by it.
    busy = await shop.checkout(cid, uid(), pay)
    assert [e["code"] for e in busy["userErrors"]] == ["CHECKOUT_IN_PROGRESS"]
    await lapse()
    key = uid()
    out = await shop.checkout(cid, key, pay)
    assert out["userErrors"] == [], out
    assert await ledger(hub, card["giftCard"]["id"]) == debited  # reused: one debit
    assert [(r.status, r.attempt_key) for r in await payment_rows(hub, cid)] == [("USED", key)]
    assert await shop.reconcile() == 0  # nothing left to give back
    assert await gc.verify(hub.db) == []


async def test_reconciliation_gives_back_a_dead_attempts_debit_once(shop: Shop) -> None:
    hub = shop.hub
    card = await issue(hub, "500.00")
    vid = await stocked_variant(hub, {NEWARK: 5})
    made = await create(hub, {"lines": [{"merchandiseId": vid, "quantity": 2}]})
    cid = made["cart"]["id"]
    total = made["cart"]["cost"]["totalAmount"]["amount"]
    before = await level(hub, vid)
    pay = {"provider": "gift_card", "giftCardCode": card["code"]}
    await shop.crash(cid, uid(), pay)
    assert (await balance(hub, card["code"]))["balance"]["amount"] != "500.00"
    assert await shop.reconcile() == 0  # the attempt's lease still holds: not an orphan
    await lapse()
    # Two reconcilers at once (two processes, say): the debit is voided once.
    settled = await asyncio.gather(shop.reconcile(), shop.reconcile())
    assert sum(settled) <= 1  # one of them did it (or the app's own job, just before)
    assert (await balance(hub, card["code"]))["balance"]["amount"] == "500.00"
    rows = await payment_rows(hub, cid)
    assert [r.status for r in rows] == ["RELEASED"]
    kinds = [k for k, _ in await ledger(hub, card["giftCard"]["id"])]
    assert kinds == ["ISSUE", "DEBIT", "VOID"]
    events = await reconciled_events(hub, {rows[0].id})
    assert len(events) == 1
    assert {k: events[0][k] for k in ("provider", "action", "reason", "test")} == {
        "provider": "gift_card",
        "action": "voided",
        "reason": "orphaned",
        "test": False,
    }
    assert await shop.reconcile() == 0  # idempotent: nothing more happens
    assert len(await reconciled_events(hub, {rows[0].id})) == 1
    # The reservations go with the lease; a retry with a new key then pays once.
    # (released here, or by the app's own expiry job just before: the level says which
    # ever did it, the stock is back)
    await shop.release_expired()
    assert (await level(hub, vid))[1] == before[1]
    out = await shop.checkout(cid, uid(), pay)
    assert out["userErrors"] == [], out
    left = (await balance(hub, card["code"]))["balance"]["amount"]
    assert float(left) == pytest.approx(500 - float(total))
    kinds = [k for k, _ in await ledger(hub, card["giftCard"]["id"])]
    assert kinds == ["ISSUE", "DEBIT", "VOID", "DEBIT"]
    assert await orders_of(hub, cid) == 1
    assert await verify(hub.db) == [] and await gc.verify(hub.db) == []


async def test_a_new_card_releases_the_earlier_authorization_first(
    shop: Shop,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    hub = shop.hub
    vid = await stocked_variant(hub, {NEWARK: 5})
    cid = (await create(hub, {"lines": [{"merchandiseId": vid}]}))["cart"]["id"]
    await shop.crash(cid, uid(), {"provider": "stripe", "paymentMethodId": "pm_card_visa"})
    (first,) = fake_stripe.created_intents
    assert fake_stripe.intent(first)["status"] == "requires_capture"
    await lapse()
    out = await shop.checkout(
        cid, uid(), {"provider": "stripe", "paymentMethodId": "pm_card_mastercard"}
    )
    assert out["userErrors"] == [], out
    second = fake_stripe.created_intents[-1]
    assert second != first
    # The earlier authorization was canceled through Stripe before the new one.
    assert fake_stripe.intent(first)["status"] == "canceled"
    assert fake_stripe.intent(second)["status"] == "requires_capture"
    held = [
        i
        for i in fake_stripe.created_intents
        if fake_stripe.intent(i)["status"] == "requires_capture"
    ]
    assert held == [second]
    rows = await payment_rows(hub, cid)
    assert [(r.status, r.intent_id) for r in rows] == [("RELEASED", first), ("USED", second)]
    events = await reconciled_events(hub, {rows[0].id})
    assert [(e["action"], e["reason"], e["intentId"]) for e in events] == [
        ("canceled", "superseded", first)
    ]
    assert await shop.reconcile() == 0


async def test_an_unknown_outcome_is_replayed_never_charged_twice(
    shop: Shop,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    """Stripe took the payment but the answer was lost (the response dropped, then
    500s until the library gives up): the checkout answers PAYMENT_UNAVAILABLE and
    keeps the payment's record; the reconciliation job replays the call with the same
    idempotency key, finds the authorization and cancels it."""
    hub = shop.hub
    vid = await stocked_variant(hub, {NEWARK: 5})
    cid = (await create(hub, {"lines": [{"merchandiseId": vid}]}))["cart"]["id"]
    before = await level(hub, vid)
    fake_stripe.fail_next(1, "drop")
    fake_stripe.fail_next(5, "500")
    pay = {"provider": "stripe", "paymentMethodId": "pm_card_visa"}
    out = await shop.checkout(cid, uid(), pay)
    assert [e["code"] for e in out["userErrors"]] == ["PAYMENT_UNAVAILABLE"], out
    fake_stripe.faults.clear()
    (taken,) = fake_stripe.created_intents
    assert fake_stripe.intent(taken)["status"] == "requires_capture"  # money is held
    assert await level(hub, vid) == before  # the stock is not
    assert [r.status for r in await payment_rows(hub, cid)] == ["PENDING"]
    assert await shop.reconcile() == 1
    assert fake_stripe.intent(taken)["status"] == "canceled"
    assert fake_stripe.created_intents == [taken]  # the replay found it; nothing new
    rows = await payment_rows(hub, cid)
    assert [(r.status, r.intent_id) for r in rows] == [("RELEASED", taken)]
    assert len(await reconciled_events(hub, {rows[0].id})) == 1


async def test_a_provider_down_is_tried_again_and_blocks_no_other_payment(
    shop: Shop,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    """Stripe down while reconciling: the payment stays as it is with the reason, the
    gift card orphan beside it is given back all the same, and the next run, Stripe
    back, gives back the Stripe one. A payment of a provider this process lacks is
    left to a process that has it."""
    hub = shop.hub
    card = await issue(hub, "300.00")
    vid = await stocked_variant(hub, {NEWARK: 6})
    carts = [
        (await create(hub, {"lines": [{"merchandiseId": vid}]}))["cart"]["id"] for _ in range(2)
    ]
    await shop.crash(carts[0], uid(), {"provider": "stripe", "paymentMethodId": "pm_card_visa"})
    await shop.crash(carts[1], uid(), {"provider": "gift_card", "giftCardCode": card["code"]})
    (intent,) = fake_stripe.created_intents
    token = carts[0].rsplit("/", 1)[1]
    async with hub.db.transaction() as conn:
        await conn.execute(
            text(
                "INSERT INTO checkout_payments (cart_id, attempt_key, provider, provider_key, "
                "fingerprint, reference, amount, currency, status, test, created_at, "
                "updated_at) SELECT id, 'gone', 'elsewhere', :k, 'f', 'r', 100, 'USD', "
                "'PENDING', false, updated_at, updated_at FROM carts WHERE token = :t"
            ),
            {"k": f"hub-pay-{uid()}", "t": token},
        )
    await lapse()
    fake_stripe.fail_next(50, "500")
    await shop.reconcile()
    stripe_row, other = await payment_rows(hub, carts[0])
    assert stripe_row.status == "PENDING" and other.status == "PENDING"
    assert fake_stripe.intent(intent)["status"] == "requires_capture"
    error = await hub.scalar(
        "SELECT last_error FROM checkout_payments WHERE id = :i", i=stripe_row.id
    )
    assert "Stripe failed" in error
    assert (
        await hub.scalar("SELECT last_error FROM checkout_payments WHERE id = :i", i=other.id)
        is None
    )  # never tried: no provider "elsewhere" here
    # The gift card's was given back regardless.
    assert [r.status for r in await payment_rows(hub, carts[1])] == ["RELEASED"]
    assert (await balance(hub, card["code"]))["balance"]["amount"] == "300.00"
    fake_stripe.faults.clear()
    await shop.reconcile()
    assert [r.status for r in await payment_rows(hub, carts[0])] == ["RELEASED", "PENDING"]
    assert fake_stripe.intent(intent)["status"] == "canceled"
    async with hub.db.transaction() as conn:  # not ours to keep around
        await conn.execute(text("DELETE FROM checkout_payments WHERE id = :i"), {"i": other.id})
    await shop.release_expired()
