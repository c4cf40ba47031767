"""kill -9 between two payments of a split tender, on real ``hub serve`` processes, on
SQLite and PostgreSQL: a gift card (taken first, the hub's own) and a Stripe card
(the local stand-in).

Process A takes the gift card, then waits at the test-only pause point (before the
card: ``HUB_TEST_CHECKOUT_PAUSE_FILE``) and is killed there. Afterwards:

1. with the reconciliation job running: the gift card is re-credited, the card's
   recorded payment settled (nothing left held), the stock released; a retry with a
   new key takes each payment once and writes the order;
2. with a retry before any reconciliation (the same key): the retry adopts both
   recorded payments, so the gift card is debited once, not twice.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.db.database import Database
from hub.domain import giftcards as gc
from hub.settings import load_settings
from tests.helpers.processes import Process, run_hub_async
from tests.helpers.race import gql
from tests.test_checkout_crash import (  # noqa: F401  (the cluster fixture and its stand-in)
    QUANTITY,
    Cluster,
    Scenario,
    _fake_stripe_server,
    _no_stripe_telemetry,
    cluster,
    fake_stripe,
    level,
    prepare,
    until,
)

SPLIT = """mutation($c: ID!, $k: String!, $p: [CheckoutPaymentInput!]) {
  checkoutComplete(cartId: $c, idempotencyKey: $k, payments: $p) {
    order { id paymentStatus payments { provider status } } userErrors { code message } } }"""
GIFT = 500  # cents the gift card pays


def tenders(s: Scenario) -> list[dict[str, Any]]:
    card = int(s.total.replace(".", "")) - GIFT
    return [
        {"method": "CARD", "provider": "stripe", "paymentMethodId": "pm_card_visa",
         "amount": f"{card / 100:.2f}"},
        {"method": "GIFT_CARD", "giftCardCode": s.code, "amount": f"{GIFT / 100:.2f}"},
    ]  # fmt: skip


async def pay(c: Cluster, p: Process, s: Scenario, key: str) -> dict[str, Any]:
    async with c.client(p) as shop:
        out: dict[str, Any] = (await gql(shop, SPLIT, {"c": s.cart, "k": key, "p": tenders(s)}))[
            "checkoutComplete"
        ]
        return out


async def debited(c: Cluster, s: Scenario) -> int:
    """What the gift card gave and did not get back, in cents."""
    return -int(
        await c.scalar(
            "SELECT COALESCE(SUM(amount), 0) FROM gift_card_transactions "
            "WHERE gift_card_id = :g AND kind <> 'ISSUE'",
            g=s.card,
        )
    )


def intents(c: Cluster, s: Scenario, status: str | None = None) -> list[dict[str, Any]]:
    return [
        o
        for o in c.stripe.objects.values()
        if o["object"] == "payment_intent"
        and o["metadata"].get("cart") == str(s.cart_pk)
        and (status is None or o["status"] == status)
    ]


async def kill_between_payments(c: Cluster, a: Process, s: Scenario, key: str) -> None:
    pause = Path(a.pause)  # type: ignore[attr-defined]
    reached = Path(f"{pause}.reached")
    await asyncio.to_thread(reached.unlink, missing_ok=True)
    await asyncio.to_thread(pause.touch)
    request = asyncio.create_task(pay(c, a, s, key))
    started = time.monotonic()
    while not await asyncio.to_thread(reached.exists):
        assert not request.done(), request.result()
        assert time.monotonic() - started < 60, "the checkout never reached the pause"
        await asyncio.sleep(0.05)
    a.signal(signal.SIGKILL)
    await asyncio.to_thread(a.proc.wait, 10)
    with pytest.raises(httpx.HTTPError):
        await request
    await asyncio.to_thread(pause.unlink)
    # Left behind: the gift card debited, the card not yet tried, no order.
    assert await debited(c, s) == GIFT
    assert intents(c, s) == []
    assert await c.scalar("SELECT COUNT(*) FROM orders WHERE cart_id = :c", c=s.cart_pk) == 0
    rows = await c.rows(
        "SELECT provider, status FROM checkout_payments WHERE cart_id = :c ORDER BY id",
        c=s.cart_pk,
    )
    assert [tuple(r) for r in rows] == [("gift_card", "PENDING"), ("stripe", "PENDING")]


async def paid_once(c: Cluster, s: Scenario) -> None:
    assert await c.scalar("SELECT COUNT(*) FROM orders WHERE cart_id = :c", c=s.cart_pk) == 1
    assert await debited(c, s) == GIFT
    held = intents(c, s, "requires_capture")
    assert len(held) == 1 and held[0]["amount"] == int(s.total.replace(".", "")) - GIFT
    assert all(i["status"] == "canceled" for i in intents(c, s) if i is not held[0])

    async def settled() -> bool:  # the dead attempt's reservations lapse within seconds
        return await level(c, s) == (10, 0, QUANTITY)

    await until("stock committed once, nothing reserved", settled, 60)
    db = Database(load_settings(database_url=c.url))
    try:
        assert await gc.verify(db) == []
    finally:
        await db.dispose()


async def test_kill_9_between_two_payments(cluster: Cluster) -> None:  # noqa: F811
    c = cluster
    a1, a2, b, c2 = c.start(
        *(
            {
                "HUB_TEST_CHECKOUT_PAUSE_FILE": str(c.tmp / f"pause-{i}"),
                "HUB_PAYMENT_RECONCILE_SECONDS": "3600",
            }
            for i in range(2)
        ),
        {"HUB_PAYMENT_RECONCILE_SECONDS": "0.5"},
        {"HUB_PAYMENT_RECONCILE_SECONDS": "3600"},
    )
    # 1. B's jobs release the stock and give the gift card back; a new key pays once.
    s = await prepare(c, b, "gift_card")
    baseline = await level(c, s)
    await kill_between_payments(c, a1, s, uuid.uuid4().hex)

    async def given_back() -> bool:
        open_ = await c.scalar(
            "SELECT COUNT(*) FROM checkout_payments WHERE cart_id = :c "
            "AND status IN ('PENDING', 'AUTHORIZED')",
            c=s.cart_pk,
        )
        return open_ == 0 and await debited(c, s) == 0 and await level(c, s) == baseline

    await until("payments settled and stock released", given_back, 60)
    assert intents(c, s, "requires_capture") == []  # nothing left held on the card
    out = await pay(c, b, s, uuid.uuid4().hex)
    assert out["userErrors"] == [], out
    assert [p["provider"] for p in out["order"]["payments"]] == ["gift_card", "stripe"]
    await paid_once(c, s)

    # 2. No reconciliation before the retry (same key): it adopts both payments.
    b.stop()
    s = await prepare(c, c2, "gift_card")
    key = uuid.uuid4().hex
    await kill_between_payments(c, a2, s, key)
    started = time.monotonic()
    while True:  # the dead attempt's lease lapses within seconds
        out = await pay(c, c2, s, key)
        if [e["code"] for e in out["userErrors"]] != ["CHECKOUT_IN_PROGRESS"]:
            break
        assert time.monotonic() - started < 60, out
        await asyncio.sleep(0.3)
    assert out["userErrors"] == [], out
    rows = await c.rows(
        "SELECT provider, status FROM checkout_payments WHERE cart_id = :c ORDER BY id",
        c=s.cart_pk,
    )
    assert [tuple(r) for r in rows] == [("gift_card", "USED"), ("stripe", "USED")]
    kinds = await c.rows(
        "SELECT kind FROM gift_card_transactions WHERE gift_card_id = :g ORDER BY id", g=s.card
    )
    assert [k.kind for k in kinds] == ["ISSUE", "DEBIT"]  # one debit, reused
    await paid_once(c, s)
    out_ = await run_hub_async(["inventory", "verify"], c.env)
    assert "every stock level matches the ledger" in out_
