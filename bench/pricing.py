"""Benchmark pricing a cart: load the promotions from the database, run the engine.

    python bench/pricing.py [--db postgresql|sqlite] [--promotions 500] [--lines 50]

Creates a fresh database (a PostgreSQL database ``hub_bench_pricing_<random>``, or a
SQLite file in a temporary directory), migrates it, stores ``--promotions`` ACTIVE
promotions of every kind (plus three code promotions whose codes the cart enters),
then prices one ``--lines``-line basket ``--iterations`` times, each time as checkout
would: ``promotions.active_promotions`` on a pooled connection (two statements
cold, one warm) and ``promotions.apply``. Prints the median and p99 of the whole,
and of each half, next to the target, and drops the database at the end.
See bench/README.md.

Exit status: 0 when the run completed (whatever the target says), 2 when setup failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
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

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import create_async_engine

from hub.db.database import Database
from hub.db.migrate import upgrade
from hub.db.tables import codes_t, promotions_t
from hub.domain.promotions import (
    Basket,
    BasketLine,
    Context,
    active_promotions,
    apply,
    build_promotion,
)
from hub.settings import load_settings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loadgen import percentile

TARGET_P99_MS = 20.0
CURRENCY = "USD"
PRODUCTS = 5000  # the store's catalog the promotions and the basket draw from
COLLECTIONS = range(1, 41)
TYPES = ("Sweater", "T-Shirt", "Jacket", "Pants", "Shirt", "Socks", "Hat", "Bag", "Kitchen")
TAGS = ("new", "organic", "summer", "winter", "bestseller", "gift", "sale", "eco")
CODES = ("BENCH10", "BENCH-VIP", "BENCH-SHIP")
EVERY = ["PRODUCT", "ORDER", "SHIPPING"]
NOT_PRODUCT = ["ORDER", "SHIPPING"]


def _products(rng: random.Random, k: int) -> dict[str, Any]:
    return {"product_ids": rng.sample(range(1, PRODUCTS + 1), k)}


def _definition(rng: random.Random, n: int, scenario: str) -> dict[str, Any]:
    """One promotion of a large store's mix (``store``), or of a store where every
    promotion is eligible and stacks with every other (``stacking``, the worst case)."""
    conditions: list[dict[str, Any]] = []
    combines = EVERY
    group = None
    roll = rng.random() if scenario == "store" else 1.0
    pct = str(rng.choice((5, 10, 15, 20, 25)))
    if scenario == "stacking":
        return _stacking(rng, n)
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
        target = {"product_types": [rng.choice(TYPES)], **_products(rng, 2)}
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


def _stacking(rng: random.Random, n: int) -> dict[str, Any]:
    """Every kind, broad targets, everything combines: nearly all of them apply."""
    kind = n % 9
    broad = {"product_types": [rng.choice(TYPES)]}
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


def _rows(count: int, now: datetime, scenario: str) -> list[dict[str, Any]]:
    rng = random.Random(7)
    rows = []
    currency = CURRENCY
    for n in range(count + len(CODES)):
        definition = _definition(rng, n, scenario)
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


def _basket(lines: int) -> Basket:
    rng = random.Random(11)
    return Basket(
        CURRENCY,
        tuple(
            BasketLine(
                line_id=f"line-{i}",
                variant_id=1000 + i,
                product_id=rng.randrange(1, PRODUCTS + 1),
                quantity=rng.choice((1, 1, 1, 2, 3, 5)),
                unit_price=rng.randrange(900, 25000),
                collection_ids=frozenset(rng.sample(COLLECTIONS, rng.randrange(0, 2))),
                tags=frozenset(rng.sample(TAGS, rng.randrange(0, 3))),
                product_type=rng.choice(TYPES),
            )
            for i in range(lines)
        ),
        shipping=995,
    )


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


async def main(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    try:
        cm = fresh_database(args.db, args.pg)
        url = await cm.__aenter__()
    except Exception as exc:
        print(f"setup failed: {exc}", file=sys.stderr)
        return 2
    db = None
    try:
        db = Database(load_settings(database_url=url))
        await upgrade(db.engine)
        rows = _rows(args.promotions, now, args.scenario)
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
        basket = _basket(args.lines)
        ctx = Context("web", "US", 42, frozenset({"vip"}), None, False, now, codes=CODES)

        async def once() -> tuple[float, float, Any]:
            t0 = time.perf_counter()
            async with db.read() as conn:
                promotions = await active_promotions(
                    conn,
                    currency=CURRENCY,
                    codes=CODES,
                    customer_key="bench@example.com",
                    now=now,
                )
            t1 = time.perf_counter()
            result = apply(basket, ctx, promotions)
            t2 = time.perf_counter()
            return (t1 - t0) * 1000, (t2 - t1) * 1000, (promotions, result)

        cold_load, _, (promotions, result) = await once()
        for _ in range(args.warmup):
            await once()
        loads, applies, totals = [], [], []
        for _ in range(args.iterations):
            load, engine, _ = await once()
            loads.append(load)
            applies.append(engine)
            totals.append(load + engine)
    finally:
        if db is not None:
            await db.dispose()
        await cm.__aexit__(None, None, None)

    print(
        f"pricing a {args.lines}-line basket against {len(promotions)} loaded promotions "
        f"({args.promotions} automatic + {len(CODES)} by code, scenario {args.scenario}) "
        f"on {args.db}, "
        f"{args.iterations} runs after {args.warmup} warm-up"
    )
    print(
        f"  {len(result.allocations)} promotions applied, discount "
        f"{Decimal(result.discount_total) / 100} + shipping "
        f"{Decimal(result.shipping_discount) / 100} of {Decimal(result.subtotal) / 100} {CURRENCY}"
    )
    print(f"  cold first load (parses {len(promotions)} definitions): {cold_load:.1f} ms")
    print(f"  {'figure':<36}{'p50 ms':>9}{'p99 ms':>9}   target")
    verdict = "PASS" if percentile(totals, 99) < TARGET_P99_MS else "FAIL"
    for label, values, target in (
        ("active_promotions + apply", totals, f"p99 < {TARGET_P99_MS:g} ms  {verdict}"),
        ("  active_promotions (warm cache)", loads, "-"),
        ("  apply (engine)", applies, "-"),
    ):
        p50, p99 = statistics.median(values), percentile(values, 99)
        print(f"  {label:<36}{p50:>9.2f}{p99:>9.2f}   {target}")
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
    ap.add_argument("--iterations", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=50)
    return ap.parse_args()


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main(parse())))
    except KeyboardInterrupt:
        sys.exit(130)
