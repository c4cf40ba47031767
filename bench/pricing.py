"""Benchmark pricing a cart against many promotions, as a ``cart`` query prices it.

    python bench/pricing.py [--db postgresql|sqlite] [--scenario store|stacking]
                            [--promotions 500] [--lines 50] [--products 600]

Creates a fresh database (a PostgreSQL database ``hub_bench_pricing_<random>``, or a
SQLite file in a temporary directory), migrates it, loads the demo catalog
(``--products``, without its demo promotions), stores ``--promotions`` ACTIVE
promotions (plus three code promotions whose codes the cart enters) of a large
store's mix (``store``: a few apply to a cart) or of a store where every one applies
and stacks (``stacking``), creates a cart of ``--lines`` lines (the codes entered, a
buyer in the US), then prices it ``--iterations`` times the way the ``cart`` query
does: ``view_cart`` (the cart read, its facts loaded, delivery planned,
``active_promotions`` and the engine's ``apply`` run, tax added, totals) on a pooled
read connection. Prints the median and p99 of that whole path next to the target, and
of its promotions parts (``active_promotions``, ``apply``), with the load average, and
drops the database at the end. See bench/README.md.

Exit status: 0 when the run completed (whatever the target says), 2 when setup failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import pstats
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import create_async_engine

import hub.domain.carts.pricing as cart_pricing
from hub.auth import ANONYMOUS
from hub.composition import tax_engine
from hub.db.database import Database
from hub.db.migrate import upgrade
from hub.db.tables import (
    channels_t,
    codes_t,
    prices_t,
    products_t,
    promotions_t,
    variants_t,
)
from hub.demo.seed import seed_demo
from hub.domain.carts.model import BuyerIdentity, LineInput
from hub.domain.carts.service import Carts, view_cart
from hub.domain.catalog import ChannelRecord
from hub.domain.promotions import build_promotion
from hub.heap import settle_heap
from hub.settings import load_settings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loadgen import percentile

# Issue 13's targets, for pricing the cart (the whole path a cart query runs).
TARGETS = {
    "store": ("50-line cart x 500 promotions (store scenario), p99 < 10 ms", 10.0),
    "stacking": ("stacking scenario (every promotion applies), p99 < 50 ms", 50.0),
}
CURRENCY = "USD"
PRODUCTS = 5000  # the product ids the store's promotions name (the catalog holds fewer)
COLLECTIONS = range(1, 41)
CODES = ("BENCH10", "BENCH-VIP", "BENCH-SHIP")
EVERY = ["PRODUCT", "ORDER", "SHIPPING"]
NOT_PRODUCT = ["ORDER", "SHIPPING"]


def _products(rng: random.Random, k: int) -> dict[str, Any]:
    return {"product_ids": rng.sample(range(1, PRODUCTS + 1), k)}


def _definition(
    rng: random.Random, n: int, scenario: str, types: tuple[str, ...]
) -> dict[str, Any]:
    """One promotion of a large store's mix (``store``), or of a store where every
    promotion is eligible and stacks with every other (``stacking``, the worst case)."""
    conditions: list[dict[str, Any]] = []
    combines = EVERY
    group = None
    roll = rng.random() if scenario == "store" else 1.0
    pct = str(rng.choice((5, 10, 15, 20, 25)))
    if scenario == "stacking":
        return _stacking(rng, n, types)
    if roll < 0.60:  # a markdown on a few products
        klass = "PRODUCT"
        action: dict[str, Any] = {
            "type": "percent_off",
            "percent": pct,
            "target": _products(rng, rng.randrange(3, 11)),
        }
    elif roll < 0.75:  # a collection promotion, often with a minimum
        klass = "PRODUCT"
        target = {"collection_ids": [rng.choice(COLLECTIONS)]}
        if rng.random() < 0.5:
            conditions.append({"type": "min_quantity", "quantity": 3, "target": target})
        action = {"type": "percent_off", "percent": pct, "target": target}
        combines = NOT_PRODUCT if rng.random() < 0.5 else EVERY
        group = "collection-deals" if rng.random() < 0.5 else None
    elif roll < 0.85:  # multi-buys on a product type
        klass = "PRODUCT"
        target = {"product_types": [rng.choice(types)], **_products(rng, 2)}
        action = rng.choice(
            (
                {"type": "buy_x_get_y", "buy": target, "buy_qty": 2, "get": target, "get_qty": 1},
                {"type": "mix_and_match", "target": target, "n": 3, "price": 5000},
                {
                    "type": "volume_tiers",
                    "target": target,
                    "tiers": [{"min_quantity": 3, "percent": "10"}],
                },
            )
        )
        combines = NOT_PRODUCT
    elif roll < 0.90:  # order level: one best deal
        klass = "ORDER"
        action = rng.choice(
            (
                {"type": "percent_off", "percent": pct},
                {"type": "fixed_off", "amount": rng.choice((500, 1000, 2000))},
                {
                    "type": "tiered_spend",
                    "tiers": [
                        {"threshold": 10000, "amount": 500},
                        {"threshold": 30000, "percent": "8"},
                    ],
                },
            )
        )
        conditions.append({"type": "min_subtotal", "amount": rng.choice((5000, 20000, 90000))})
        group = "order-deals"
    elif roll < 0.95:  # for other channels or segments
        klass = "ORDER"
        action = {"type": "percent_off", "percent": pct}
        conditions.append(
            rng.choice(
                (
                    {"type": "channel", "channels": [rng.choice(("app", "pos"))]},
                    {"type": "customer_segment", "segments": ["wholesale"]},
                    {"type": "first_order"},
                )
            )
        )
        group = "order-deals"
    else:  # shipping
        klass = "SHIPPING"
        action = {"type": "free_shipping"}
        conditions.append({"type": "min_subtotal", "amount": rng.choice((5000, 7500, 15000))})
        group = "shipping-deals"
    return {
        "conditions": conditions,
        "action": action,
        "combination": {"class": klass, "combines_with": combines, "best_deal_group": group},
    }


def _stacking(rng: random.Random, n: int, types: tuple[str, ...]) -> dict[str, Any]:
    """Every kind, broad targets, everything combines: nearly all of them apply."""
    kind = n % 9
    broad = {"product_types": [rng.choice(types)]}
    klass = "PRODUCT"
    pct = str(rng.choice((5, 10, 15, 20)))
    actions: list[dict[str, Any]] = [
        {"type": "percent_off", "percent": pct, "target": broad},
        {"type": "percent_off", "percent": pct},
        {"type": "fixed_off", "amount": 500, "target": broad},
        {"type": "buy_x_get_y", "buy": broad, "buy_qty": 2, "get": broad, "get_qty": 1},
        {"type": "tiered_spend", "tiers": [{"threshold": 10000, "amount": 500}]},
        {"type": "volume_tiers", "target": broad, "tiers": [{"min_quantity": 2, "percent": "5"}]},
        {"type": "mix_and_match", "target": broad, "n": 3, "price": 5000},
        {
            "type": "bundle_price",
            "required": [{"target": broad, "quantity": 1}, {"target": broad, "quantity": 1}],
            "price": 6000,
        },
        {"type": "free_shipping"},
    ]
    if kind in (1, 4):
        klass = "ORDER"
    elif kind == 8:
        klass = "SHIPPING"
    return {
        "conditions": [],
        "action": actions[kind],
        "combination": {"class": klass, "combines_with": EVERY},
    }


def _rows(count: int, now: datetime, scenario: str, types: tuple[str, ...]) -> list[dict[str, Any]]:
    rng = random.Random(7)
    rows = []
    currency = CURRENCY
    for n in range(count + len(CODES)):
        definition = _definition(rng, n, scenario, types)
        code = n >= count
        row = {
            "id": n + 1,
            "title": f"bench {n}",
            "status": "ACTIVE",
            "method": "CODE" if code else "AUTOMATIC",
            "priority": rng.randrange(100),
            "definition": definition,
            "currency": currency,
            "starts_at": now - timedelta(days=1) if n % 7 == 0 else None,
            "ends_at": now + timedelta(days=30) if n % 5 == 0 else None,
            "usage_limit": 1_000_000 if n % 4 == 0 else None,
            "per_customer_limit": 5 if n % 11 == 0 else None,
            "budget": 10_000_000 if n % 6 == 0 else None,
            "spent": 0,
            "times_used": 0,
            "created_at": now,
            "updated_at": now,
        }
        build_promotion(  # validate as the admin API would
            id=row["id"],
            title=row["title"],
            priority=row["priority"],
            definition=definition,
            currency=currency,
            starts_at=row["starts_at"],
            ends_at=row["ends_at"],
        )
        rows.append(row)
    return rows


@contextlib.asynccontextmanager
async def fresh_database(kind: str, pg: str) -> AsyncIterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite+aiosqlite:///{tmp}/bench.db"
        return
    server = pg.replace("postgresql://", "postgresql+asyncpg://", 1)
    name = f"hub_bench_pricing_{secrets.token_hex(4)}"
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield f"{server.rsplit('/', 1)[0]}/{name}"
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def _catalog(db: Database, products: int) -> tuple[tuple[str, ...], ChannelRecord]:
    """The demo catalog without its demo promotions; its product types and the web
    channel."""
    await seed_demo(db, products)
    async with db.transaction() as conn:
        await conn.execute(delete(codes_t))
        await conn.execute(delete(promotions_t))
        types = tuple(
            sorted(
                t
                for t in (
                    await conn.execute(select(products_t.c.product_type).distinct())
                ).scalars()
                if t
            )
        )
        channel = ChannelRecord(
            (await conn.execute(select(channels_t).where(channels_t.c.handle == "web"))).one()
        )
    return types, channel


async def _cart(db: Database, channel: ChannelRecord, lines: int) -> str:
    """A cart of ``lines`` lines of different products priced in the channel, the
    bench codes entered, a buyer in the US; its token."""
    async with db.read() as conn:
        one_per_product = (
            select(func.min(variants_t.c.id))
            .join(products_t, products_t.c.id == variants_t.c.product_id)
            .join(prices_t, prices_t.c.variant_id == variants_t.c.id)
            .where(products_t.c.status == "ACTIVE", prices_t.c.channel_id == channel.pk)
            .group_by(variants_t.c.product_id)
            .order_by(func.min(variants_t.c.id))
        )
        vpks = list((await conn.execute(one_per_product)).scalars())
    rng = random.Random(11)
    picked = sorted(rng.sample(vpks, min(lines, len(vpks))))
    carts = Carts(db, ttl=timedelta(hours=1))
    state, _ = await carts.create_state(
        channel,
        ANONYMOUS,
        lines=[LineInput(v, rng.choice((1, 1, 1, 2, 3, 5))) for v in picked],
        codes=CODES,
        buyer=BuyerIdentity(email="bench@example.com", country_code="US"),
    )
    return str(state.cart.token)


class _Timed:
    """Wraps a function the pricing pipeline calls, adding up the time spent in it."""

    def __init__(self, fn: Any) -> None:
        self.fn, self.spent = fn, 0.0

    def take(self) -> float:
        spent, self.spent = self.spent, 0.0
        return spent * 1000


class _TimedSync(_Timed):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.spent += time.perf_counter() - t0


class _TimedAsync(_Timed):
    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return await self.fn(*args, **kwargs)
        finally:
            self.spent += time.perf_counter() - t0


async def main(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    try:
        cm = fresh_database(args.db, args.pg)
        url = await cm.__aenter__()
    except Exception as exc:
        print(f"setup failed: {exc}", file=sys.stderr)
        return 2
    db = None
    # The pipeline's promotions stages, timed where cart pricing calls them.
    engine = _TimedSync(cart_pricing.apply)
    loading = _TimedAsync(cart_pricing.active_promotions)
    cart_pricing.apply = engine  # type: ignore[assignment]
    cart_pricing.active_promotions = loading  # type: ignore[assignment]
    try:
        settings = load_settings(database_url=url)
        db = Database(settings)
        await upgrade(db.engine)
        types, channel = await _catalog(db, args.products)
        rows = _rows(args.promotions, now, args.scenario, types)
        async with db.transaction() as conn:
            await conn.execute(insert(promotions_t), rows)
            await conn.execute(
                insert(codes_t),
                [
                    {
                        "promotion_id": args.promotions + 1 + i,
                        "code": code.lower(),
                        "display_code": code,
                        "usage_limit": None,
                        "times_used": 0,
                        "created_at": now,
                    }
                    for i, code in enumerate(CODES)
                ],
            )
            if db.dialect == "postgresql":
                await conn.execute(text("ANALYZE"))
        token = await _cart(db, channel, args.lines)
        tax = tax_engine(settings)

        async def once() -> tuple[float, float, float, float, Any]:
            t0, c0 = time.perf_counter(), time.thread_time()
            priced = await view_cart(db, token, ANONYMOUS, tax_engine=tax)
            total = (time.perf_counter() - t0) * 1000
            cpu = (time.thread_time() - c0) * 1000
            return total, cpu, loading.take(), engine.take(), priced

        settle_heap()  # the GC set-up of a hub serve process (hub.heap)
        cold, _, _, _, priced = await once()
        if priced is None or priced.result is None:
            raise RuntimeError("the bench cart did not price")
        for _ in range(args.warmup):
            await once()
        load_before = os.getloadavg()
        totals, cpus, loads, applies = [], [], [], []
        profiler = cProfile.Profile() if args.profile else None
        if profiler is not None:
            profiler.enable()
        for _ in range(args.iterations):
            total, cpu, load, spent, _ = await once()
            totals.append(total)
            cpus.append(cpu)
            loads.append(load)
            applies.append(spent)
        if profiler is not None:
            profiler.disable()
        load_after = os.getloadavg()
    finally:
        cart_pricing.apply = engine.fn
        cart_pricing.active_promotions = loading.fn
        if db is not None:
            await db.dispose()
        await cm.__aexit__(None, None, None)

    result = priced.result
    sellable = sum(1 for ln in priced.lines if ln.sellable)
    print(
        f"pricing a {len(priced.lines)}-line cart ({sellable} sellable) against "
        f"{len(priced.promotions)} loaded promotions ({args.promotions} automatic + "
        f"{len(CODES)} by code, scenario {args.scenario}) on {args.db}, "
        f"{args.iterations} runs after {args.warmup} warm-up"
    )
    print(
        f"  {len(result.allocations)} promotions applied, discount "
        f"{Decimal(result.discount_total) / 100} + shipping "
        f"{Decimal(result.shipping_discount) / 100} of {Decimal(result.subtotal) / 100} "
        f"{CURRENCY}; total {Decimal(priced.total) / 100}"
    )
    print(f"  cold first pricing (parses {len(priced.promotions)} definitions): {cold:.1f} ms")
    print(
        "  load average (1, 5, 15 min) before the timed runs "
        + ", ".join(f"{v:.2f}" for v in load_before)
        + "; after "
        + ", ".join(f"{v:.2f}" for v in load_after)
    )
    label, target = TARGETS[args.scenario]
    print(f"  {'figure':<44}{'p50 ms':>9}{'p99 ms':>9}   target")
    verdict = "PASS" if percentile(totals, 99) < target else "FAIL"
    engine_verdict = "PASS" if percentile(applies, 99) < target else "FAIL"
    for name, values, note in (
        ("cart pricing (view_cart: the cart query)", totals, f"{label}  {verdict}"),
        ("  hub CPU of it (this thread's CPU time)", cpus, "the same work on a quiet machine"),
        ("  of which active_promotions (warm cache)", loads, "-"),
        ("  of which apply (the engine)", applies, f"engine alone: {engine_verdict}"),
    ):
        p50, p99 = statistics.median(values), percentile(values, 99)
        print(f"  {name:<44}{p50:>9.2f}{p99:>9.2f}   {note}")
    if profiler is not None:
        print(f"\nprofile of the {args.iterations} timed runs (cProfile, top 25 by own time):")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return 0


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    ap.add_argument(
        "--pg",
        default=os.environ.get("HUB_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL server URL (a role that may create databases)",
    )
    ap.add_argument("--promotions", type=int, default=500)
    ap.add_argument(
        "--scenario",
        choices=("store", "stacking"),
        default="store",
        help="store: a large store's mix, a few apply to a cart; stacking: all of them do",
    )
    ap.add_argument("--lines", type=int, default=50)
    ap.add_argument("--products", type=int, default=600, help="demo catalog size")
    ap.add_argument("--profile", action="store_true", help="cProfile the timed runs")
    ap.add_argument("--iterations", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=50)
    return ap.parse_args()


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main(parse())))
    except KeyboardInterrupt:
        sys.exit(130)
