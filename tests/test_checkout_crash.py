"""kill -9 between the payment and the order, on real ``hub serve`` processes, on
SQLite and on PostgreSQL, paying with a gift card and with Stripe (the local stand-in
of ``tests/connectors/test_payments.py``).

Process A runs the checkout and waits at the test-only pause point (the payment taken,
the order not yet written: ``HUB_TEST_CHECKOUT_PAUSE_FILE``); the test then kills its
process group with SIGKILL. Afterwards, on the surviving processes:

- the dead attempt's reservations are released once its lease lapses (seconds, not
  the 15-minute reservation lifetime);
- its payment is given back by the reconciliation job (the gift card re-credited, the
  Stripe authorization canceled through the SDK), once, with a ``payment.reconciled``
  event; or, when a retry comes first, the retry reuses it;
- a retry with a new idempotency key (or the same one) writes the order and the money
  is taken exactly once;
- stock is consistent and ``hub inventory verify`` and the gift card ledger are clean.

The figures (time from the kill to the stock released, and to the payment given
back) are printed with ``-s``.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.db.database import Database
from hub.domain import giftcards as gc
from hub.settings import load_settings
from tests.helpers.db import read_rows
from tests.helpers.processes import (
    BACKENDS,
    Process,
    database,
    hub_env,
    run_hub,
    run_hub_async,
    serve,
    wait_ready,
)
from tests.helpers.race import _stocked_variant, gql, pk
from tests.helpers.stripe import (  # noqa: F401  (fixtures)
    API_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    _fake_stripe_server,
    _no_stripe_telemetry,
    fake_stripe,
)

LEASE = 3  # seconds: HUB_CHECKOUT_LEASE_SECONDS of every process here
QUANTITY = 2

CART = """mutation($i: CartInput) { cartCreate(input: $i) {
  cart { id cost { totalAmount { amount } } } userErrors { code } } }"""
CHECKOUT = """mutation($c: ID!, $k: String!, $p: PaymentInput) {
  checkoutComplete(cartId: $c, idempotencyKey: $k, payment: $p) {
    order { id paymentStatus payments { provider status } } userErrors { code message } } }"""
ISSUE = """mutation { giftCardIssue(input: {amount: "500.00", currencyCode: "USD"}) {
  code giftCard { id } userErrors { code } } }"""
BALANCE = "query($c: String!) { giftCardBalance(code: $c) { balance { amount } } }"


@dataclass
class Cluster:
    url: str  # the database's
    env: dict[str, str]
    token: str
    tmp: Path
    stripe: FakeStripe
    procs: list[Process] = field(default_factory=list)

    def start(self, *envs: dict[str, str]) -> list[Process]:
        """``hub serve`` processes with these extra settings, started at once."""
        procs = []
        for extra in envs:
            p = serve({**self.env, **extra}, self.tmp / f"serve-{len(self.procs)}.log")
            p.pause = extra.get("HUB_TEST_CHECKOUT_PAUSE_FILE", "")  # type: ignore[attr-defined]
            self.procs.append(p)
            procs.append(p)
        wait_ready(procs, timeout=180)
        return procs

    def client(self, p: Process, admin: bool = False) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.token}"} if admin else {}
        return httpx.AsyncClient(base_url=p.url, headers=headers, timeout=60)

    async def scalar(self, sql: str, **params: Any) -> Any:
        rows = await read_rows(self.url, sql, **params)
        return rows[0][0] if rows else None

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        return await read_rows(self.url, sql, **params)


@pytest.fixture(params=BACKENDS)
def cluster(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    fake_stripe: FakeStripe,  # noqa: F811
) -> Iterator[Cluster]:
    with database(request.param, tmp_path, tag="crash") as url:
        env = hub_env(
            url,
            HUB_CHECKOUT_LEASE_SECONDS=str(LEASE),
            HUB_RESERVATION_SWEEP_SECONDS="0.5",
            HUB_STRIPE_API_KEY=API_KEY,
            HUB_STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
            HUB_STRIPE_API_BASE=fake_stripe.base_url,
            XDG_CONFIG_HOME=str(tmp_path / "config"),  # the Stripe library's telemetry id
        )
        assert "60 products" in run_hub(["seed", "--demo", "--products", "60"], env)
        token = run_hub(["apikey", "create", "--scope", "admin", "--name", "crash"], env).strip()
        c = Cluster(url, env, token, tmp_path, fake_stripe)
        try:
            yield c
        finally:
            for p in c.procs:
                p.stop()


@dataclass
class Scenario:
    provider: str  # gift_card | stripe
    cart: str = ""
    cart_pk: int = 0
    total: str = ""
    code: str = ""  # the gift card's
    card: int = 0  # the gift card's pk
    variant: str = ""
    location: str = ""

    def payment(self) -> dict[str, str]:
        if self.provider == "gift_card":
            return {"provider": "gift_card", "giftCardCode": self.code}
        return {"provider": "stripe", "paymentMethodId": "pm_card_visa"}


async def prepare(c: Cluster, a: Process, provider: str) -> Scenario:
    """A product with 10 units at a location of its own, a cart of 2, a gift card."""
    s = Scenario(provider)
    async with c.client(a, admin=True) as admin:
        s.variant, s.location = await _stocked_variant(admin, 10)
        if provider == "gift_card":
            got = (await gql(admin, ISSUE, {}))["giftCardIssue"]
            s.code, s.card = got["code"], pk(got["giftCard"]["id"])
    async with c.client(a) as shop:
        made = (
            await gql(
                shop, CART, {"i": {"lines": [{"merchandiseId": s.variant, "quantity": QUANTITY}]}}
            )
        )["cartCreate"]
    assert made["userErrors"] == [], made
    s.cart, s.total = made["cart"]["id"], made["cart"]["cost"]["totalAmount"]["amount"]
    s.cart_pk = await c.scalar("SELECT id FROM carts WHERE token = :t", t=s.cart.rsplit("/", 1)[1])
    return s


async def level(c: Cluster, s: Scenario) -> tuple[int, int, int]:
    row = (
        await c.rows(
            "SELECT on_hand, reserved, committed FROM inventory_levels "
            "WHERE variant_id = :v AND location_id = :l",
            v=pk(s.variant),
            l=pk(s.location),
        )
    )[0]
    return row.on_hand, row.reserved, row.committed


async def taken(c: Cluster, s: Scenario) -> int:
    """Money held for the cart right now, in cents: the gift card's debits not given
    back, or the stand-in's authorizations of the cart still awaiting capture."""
    if s.provider == "gift_card":
        return -int(
            await c.scalar(
                "SELECT COALESCE(SUM(amount), 0) FROM gift_card_transactions "
                "WHERE gift_card_id = :g AND kind <> 'ISSUE'",
                g=s.card,
            )
        )
    return sum(
        o["amount"]
        for o in c.stripe.objects.values()
        if o["object"] == "payment_intent"
        and o["metadata"].get("cart") == str(s.cart_pk)
        and o["status"] == "requires_capture"
    )


def intents(c: Cluster, s: Scenario) -> list[dict[str, Any]]:
    return [
        o
        for o in c.stripe.objects.values()
        if o["object"] == "payment_intent" and o["metadata"].get("cart") == str(s.cart_pk)
    ]


async def checkout(c: Cluster, p: Process, s: Scenario, key: str) -> dict[str, Any]:
    async with c.client(p) as shop:
        return (await gql(shop, CHECKOUT, {"c": s.cart, "k": key, "p": s.payment()}))[
            "checkoutComplete"
        ]


async def until(what: str, check: Any, within: float) -> float:
    """Wait until ``await check()`` is true; the seconds it took."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < within, f"{what}: not within {within}s"
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def kill_mid_checkout(c: Cluster, a: Process, s: Scenario, key: str) -> float:
    """Run the checkout on A until the payment is taken, then SIGKILL A's process
    group; the time of the kill."""
    pause = Path(a.pause)
    reached = Path(f"{pause}.reached")
    await asyncio.to_thread(reached.unlink, missing_ok=True)
    await asyncio.to_thread(pause.touch)
    request = asyncio.create_task(checkout(c, a, s, key))
    started = time.monotonic()
    while not await asyncio.to_thread(reached.exists):
        assert not request.done(), request.result()
        assert time.monotonic() - started < 60, "the checkout never reached the pause"
        await asyncio.sleep(0.05)
    a.signal(signal.SIGKILL)
    killed = time.monotonic()
    await asyncio.to_thread(a.proc.wait, 10)
    with pytest.raises(httpx.HTTPError):
        await request
    await asyncio.to_thread(pause.unlink)
    return killed


async def test_kill_9_between_payment_and_order(cluster: Cluster) -> None:
    c = cluster
    figures: list[str] = []
    # One process to kill per scenario (each waits at the pause point when its file
    # exists; none reconciles after start-up); B reconciles every half second; C
    # only at start-up (so the retries of scenarios 3 and 4 come first).
    *victims, b, c2 = c.start(
        *(
            {
                "HUB_TEST_CHECKOUT_PAUSE_FILE": str(c.tmp / f"pause-{i}"),
                "HUB_PAYMENT_RECONCILE_SECONDS": "3600",
            }
            for i in range(4)
        ),
        {"HUB_PAYMENT_RECONCILE_SECONDS": "0.5"},
        {"HUB_PAYMENT_RECONCILE_SECONDS": "3600"},
    )

    async def crash(s: Scenario, a: Process, key: str) -> float:
        before = await level(c, s)
        killed = await kill_mid_checkout(c, a, s, key)
        # What the dead process left: the money taken, the stock reserved, no order,
        # and the payment recorded before it was taken.
        assert await taken(c, s) == int(s.total.replace(".", ""))
        assert (await level(c, s))[1] == before[1] + QUANTITY
        assert await c.scalar("SELECT COUNT(*) FROM orders WHERE cart_id = :c", c=s.cart_pk) == 0
        recorded = await c.rows(
            "SELECT status, provider FROM checkout_payments WHERE cart_id = :c", c=s.cart_pk
        )
        assert [tuple(r) for r in recorded] == [("PENDING", s.provider)]
        return killed

    async def released(s: Scenario, baseline: int, killed: float) -> None:
        async def back() -> bool:
            return (await level(c, s))[1] == baseline

        await until("reservations released", back, 60)
        after = time.monotonic() - killed
        figures.append(
            f"{s.provider}: reservations released {after:.1f}s after the kill "
            f"(lease {LEASE}s, expiry every 0.5s)"
        )
        # Within the lease and a sweep (plus slack for a busy machine), never the
        # reservation lifetime (HUB_RESERVATION_TTL_SECONDS, 900s).
        assert after < LEASE + 15, after

    async def settled(s: Scenario, orders: int) -> None:
        """The order once, the money once, the stock and the ledgers consistent."""
        assert (
            await c.scalar("SELECT COUNT(*) FROM orders WHERE cart_id = :c", c=s.cart_pk) == orders
        )
        assert await taken(c, s) == int(s.total.replace(".", ""))
        on_hand, reserved, committed = await level(c, s)
        assert (on_hand, reserved, committed) == (10, 0, QUANTITY)
        if s.provider == "gift_card":
            db = Database(load_settings(database_url=c.url))
            try:
                assert await gc.verify(db) == []
            finally:
                await db.dispose()
        else:
            held = [i["id"] for i in intents(c, s) if i["status"] == "requires_capture"]
            assert len(held) == 1
            assert all(i["status"] == "canceled" for i in intents(c, s) if i["id"] not in held)

    # -- 1, 2: kill; B's jobs release the stock and give the money back; retry.
    for provider, a in zip(("gift_card", "stripe"), victims[:2], strict=True):
        s = await prepare(c, b, provider)
        baseline = (await level(c, s))[1]
        killed = await crash(s, a, uuid.uuid4().hex)
        await released(s, baseline, killed)

        async def given_back(s: Scenario = s) -> bool:
            status = await c.scalar(
                "SELECT status FROM checkout_payments WHERE cart_id = :c", c=s.cart_pk
            )
            return status == "RELEASED" and await taken(c, s) == 0

        await until("payment given back", given_back, 60)
        figures.append(
            f"{s.provider}: payment given back {time.monotonic() - killed:.1f}s after the kill"
        )
        rows = await c.rows(
            "SELECT id, status FROM checkout_payments WHERE cart_id = :c", c=s.cart_pk
        )
        assert [r.status for r in rows] == ["RELEASED"]
        events = await c.rows(
            "SELECT payload FROM outbox WHERE topic = 'payment.reconciled'",
        )
        mine = [e.payload for e in events if _payload(e.payload)["paymentId"] == rows[0].id]
        assert len(mine) == 1, mine
        assert _payload(mine[0])["reason"] == "orphaned"
        if provider == "stripe":
            assert [i["status"] for i in intents(c, s)] == ["canceled"]
        # A retry with a new key pays once and writes the order.
        out = await checkout(c, b, s, uuid.uuid4().hex)
        assert out["userErrors"] == [], out
        await settled(s, 1)

    # -- 3, 4: no reconciliation before the retry: the retry reuses the payment.
    b.stop()
    for (provider, same_key), a in zip(
        (("gift_card", False), ("stripe", True)), victims[2:], strict=True
    ):
        s = await prepare(c, c2, provider)
        baseline = (await level(c, s))[1]
        key = uuid.uuid4().hex
        killed = await crash(s, a, key)
        retry = key if same_key else uuid.uuid4().hex
        started = time.monotonic()
        while True:  # a new key waits for the dead attempt's lease to lapse
            out = await checkout(c, c2, s, retry)
            if [e["code"] for e in out["userErrors"]] != ["CHECKOUT_IN_PROGRESS"]:
                break
            assert time.monotonic() - started < 60, out
            await asyncio.sleep(0.3)
        assert out["userErrors"] == [], out
        figures.append(
            f"{provider}: {'same' if same_key else 'new'}-key retry answered "
            f"{time.monotonic() - killed:.1f}s after the kill, reusing the payment"
        )
        rows = await c.rows(
            "SELECT status, attempt_key FROM checkout_payments WHERE cart_id = :c", c=s.cart_pk
        )
        assert [tuple(r) for r in rows] == [("USED", retry)]
        if provider == "gift_card":
            kinds = await c.rows(
                "SELECT kind FROM gift_card_transactions WHERE gift_card_id = :g ORDER BY id",
                g=s.card,
            )
            assert [k.kind for k in kinds] == ["ISSUE", "DEBIT"]  # one debit, reused
        else:
            assert len(intents(c, s)) == 1  # the same authorization, reused
        await released(s, baseline, killed)
        await settled(s, 1)

    out = await run_hub_async(["inventory", "verify"], c.env)
    assert "every stock level matches the ledger" in out
    print("\n" + "\n".join(figures))


def _payload(value: Any) -> dict[str, Any]:
    import json

    return value if isinstance(value, dict) else json.loads(value)
