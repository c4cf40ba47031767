"""``hub worker`` (arq on Redis) runs the payment reconciliation job, as a real process,
on SQLite and PostgreSQL: a gift card debit recorded for a checkout attempt that is
gone (what a process killed between the payment and the order leaves) is voided back
onto the card, the payment marked RELEASED, and ``payment.reconciled`` published once.

Redis and PostgreSQL as in ``tests/test_worker.py`` (its fixtures are reused).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from hub.db.models import CheckoutPayment
from hub.domain import giftcards as gc
from tests.helpers.processes import Process
from tests.helpers.worker import (  # noqa: F401  (fixtures)
    WAIT,
    Events,
    WorkerSetup,
    database_url,
    prefix,
    redis_url,
    worker_setup,
)

payments_t = CheckoutPayment.__table__


async def test_worker_gives_back_a_crashed_checkouts_payment(
    worker_setup: WorkerSetup,  # noqa: F811
    tmp_path: Path,
) -> None:
    env, db = await worker_setup.migrate(HUB_PAYMENT_RECONCILE_SECONDS="1")
    card, code = await gc.issue(db, amount=Decimal("80.00"), currency="USD")
    key = f"hub-pay-{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    # The attempt recorded its payment, then took it, then died: no attempt row
    # is left running, no order was written.
    async with db.transaction() as conn:
        pk = (
            await conn.execute(
                insert(payments_t)
                .values(
                    cart_id=987654,
                    attempt_key="dead-attempt",
                    provider="gift_card",
                    provider_key=key,
                    fingerprint="x" * 64,
                    reference="cart-crashed",
                    amount=2500,
                    currency="USD",
                    status="PENDING",
                    test=False,
                    created_at=now,
                    updated_at=now,
                )
                .returning(payments_t.c.id)
            )
        ).scalar_one()
    paid = await gc.GiftCardProvider(db).authorize(
        amount=2500,
        currency="USD",
        payment_method_id=code,
        reference="cart-crashed",
        idempotency_key=key,
    )
    assert paid.status == "captured"

    async def state() -> tuple[str, int]:
        async with db.read() as conn:
            status = (
                await conn.execute(select(payments_t.c.status).where(payments_t.c.id == pk))
            ).scalar_one()
            balance = (
                await conn.execute(select(gc.cards_t.c.balance).where(gc.cards_t.c.id == card.pk))
            ).scalar_one()
        return status, balance

    assert await state() == ("PENDING", 5500)
    async with Events(worker_setup.redis_url, worker_setup.prefix) as events:
        worker = Process.start(["worker"], env, tmp_path / "worker.log")
        try:
            deadline = time.monotonic() + WAIT
            while await state() != ("RELEASED", 8000):
                assert worker.proc.poll() is None, f"hub worker exited:\n{worker.output()}"
                if time.monotonic() > deadline:
                    pytest.fail(f"after {WAIT:g}s: {await state()}\n{worker.output()}")
                await asyncio.sleep(0.25)
            await asyncio.sleep(2.5)  # more runs of the job change nothing
            await asyncio.sleep(0.5)  # let the last PUBLISH reach our subscriber
        finally:
            code_ = await asyncio.to_thread(worker.stop)
    output = worker.output()
    assert code_ == 0, output
    assert "Traceback" not in output, output
    assert f"payment {pk} (cart 987654, gift_card" in output, output
    reconciled = [e for e in events.seen if e["topic"] == "payment.reconciled"]
    assert [
        (e["payload"]["paymentId"], e["payload"]["action"], e["payload"]["reason"])
        for e in reconciled
    ] == [(pk, "voided", "orphaned")]
    assert await state() == ("RELEASED", 8000)
    assert await gc.verify(db) == []
