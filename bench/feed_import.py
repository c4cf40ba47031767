"""The file feed import benchmark: how many rows per second the ``file_feed`` connector
imports, end to end (reading and parsing the CSV, row hashes, the hub's catalog and
stock writes), on SQLite and on PostgreSQL.

    python bench/feed_import.py                         # 100,000 rows, both databases
    python bench/feed_import.py --rows 20000 --backend sqlite

For each database: a fresh one (a temporary SQLite file; a new PostgreSQL database
``hub_bench_feed_<random>`` on ``--pg``, dropped at the end unless ``--keep-db``),
migrated, with the demo's channels and locations (``seed_demo`` with 10 products).
The feed is one CSV file of ``--rows`` variants: products of 4 sizes each, a title and
description, a GTIN barcode, weight, prices in the ``web`` (USD) and ``eu`` (EUR)
channels and stock at two warehouses. Three runs of the connector's ``sync``, each
with the real gateway (``hub.domain.integrations.gateway.Gateway``) and run context:

1. **first import**: every row is new (products, variants, prices, ranges, levels with
   their ledger rows and outbox events);
2. **re-import, 1% changed**: the file rewritten with the price and stock of 1% of the
   rows changed; every row is read, parsed and hashed, the changed ones written;
3. **unchanged**: the same file again (skipped by its stamp).

Each line prints rows/s = rows in the file / wall time of the run, and the items the
run read, wrote and rejected. At the end ``verify`` (``hub inventory verify``) must
find no drift, and the product and variant counts must match the feed, or the script
exits 1. Events are written to the outbox; nothing publishes them (no bus running).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from connectors.base import Event  # noqa: E402
from connectors.erp.file_feed import FileFeedConnector  # noqa: E402
from hub.db.database import Database  # noqa: E402
from hub.db.migrate import upgrade  # noqa: E402
from hub.demo import seed_demo  # noqa: E402
from hub.domain.integrations.admin import ConnectorInput, create  # noqa: E402
from hub.domain.integrations.context import RunCtx  # noqa: E402
from hub.domain.integrations.gateway import Gateway  # noqa: E402
from hub.domain.inventory import verify  # noqa: E402
from hub.settings import load_settings  # noqa: E402

PG = os.environ.get("HUB_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SIZES = ("S", "M", "L", "XL")
HEADER = (
    "sku,product_handle,product_title,description,active,barcode,option:Size,weight_grams,"
    "tax_class,price:web,price:eu,stock:wh-newark,stock:wh-rotterdam\n"
)


def gtin13(n: int) -> str:
    """A valid EAN-13 for ``n`` (12 digits and the check digit)."""
    body = f"210{n:09d}"  # not the demo's 200 range: barcodes are unique per installation
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def feed_csv(rows: int, changed_every: int = 0) -> str:
    """The feed: ``rows`` variants; with ``changed_every`` n, every n-th row has another
    price and stock."""
    out = [HEADER]
    for i in range(rows):
        product = i // len(SIZES)
        size = SIZES[i % len(SIZES)]
        bump = 1 if changed_every and i % changed_every == 0 else 0
        price = 1000 + product % 500 + bump * 7
        stock = (i * 7) % 50 + bump * 3
        out.append(
            f"BF-{product:06d}-{size},bench-{product:06d},Bench product {product},"
            f'"A product of the benchmark, number {product}",true,{gtin13(i)},{size},'
            f"{200 + i % 300},standard,{price / 100:.2f},{price * 9 // 1000:.2f},"
            f"{stock},{stock // 2}\n"
        )
    return "".join(out)


async def _publish(events: Any) -> None:  # the outbox keeps them; no bus in the bench
    return None


async def make_instance(db: Database, folder: Path) -> int:
    """A ``file_feed`` instance (its row hashes belong to it)."""
    inp = ConnectorInput(name="bench-feed", type_name="file_feed", config={"folder": str(folder)})
    async with db.transaction() as conn:
        return await create(conn, {"file_feed": FileFeedConnector}, inp)


async def run_sync(
    db: Database, instance: int, folder: Path, cursor: str | None
) -> tuple[RunCtx, float]:
    gateway = Gateway(db, _publish)
    ctx = RunCtx(instance, {"folder": str(folder)}, cursor, gateway, "MANUAL", name="bench")
    gateway.run = ctx
    started = time.perf_counter()
    await FileFeedConnector().sync(ctx)
    return ctx, time.perf_counter() - started


def _line(backend: str, what: str, rows: int, ctx: RunCtx, seconds: float) -> str:
    out = ctx.out
    return (
        f"{backend:<10} {what:<24} {rows / seconds:>9,.0f} rows/s  {seconds:7.2f} s   "
        f"read {out.items_read:>7,}  written {out.items_written:>7,}  "
        f"rejected {out.error_count}"
    )


async def bench(backend: str, url: str, rows: int, folder: Path) -> bool:
    db = Database(load_settings(database_url=url))
    try:
        await upgrade(db.engine)
        await seed_demo(db, 10)
        path = folder / "feed.csv"
        await asyncio.to_thread(path.write_text, feed_csv(rows))
        instance = await make_instance(db, folder)
        ctx, secs = await run_sync(db, instance, folder, None)
        print(_line(backend, "first import", rows, ctx, secs), flush=True)
        ok = ctx.out.items_written == rows and ctx.out.error_count == 0
        await asyncio.to_thread(path.write_text, feed_csv(rows, changed_every=100))
        os.utime(path, ns=(time.time_ns(), time.time_ns()))
        ctx, secs = await run_sync(db, instance, folder, ctx.out.cursor)
        print(_line(backend, "re-import, 1% changed", rows, ctx, secs), flush=True)
        ok = ok and ctx.out.items_written == len(range(0, rows, 100))
        ctx, secs = await run_sync(db, instance, folder, ctx.out.cursor)
        print(_line(backend, "unchanged file", rows, ctx, secs), flush=True)
        ok = ok and ctx.out.items_read == 0
        drift = await verify(db)
        async with db.read() as conn:
            variants = await conn.scalar(
                text("SELECT count(*) FROM variants WHERE sku LIKE 'BF-%'")
            )
        if drift or variants != rows:
            print(f"{backend}: CHECK FAILED: drift {drift[:3]}, {variants} variants", flush=True)
            ok = False
        return ok
    finally:
        await db.dispose()


async def pg_admin(sql: str, server: str) -> None:
    eng = create_async_engine(
        server.replace("postgresql://", "postgresql+asyncpg://", 1), isolation_level="AUTOCOMMIT"
    )
    try:
        async with eng.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await eng.dispose()


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--pg", default=PG, help="the PostgreSQL server (may create databases)")
    ap.add_argument("--keep-db", action="store_true")
    args = ap.parse_args()
    ok = True
    with tempfile.TemporaryDirectory(prefix="hub-feed-bench-") as tmp:
        if args.backend in ("sqlite", "both"):
            feed = Path(tmp, "sqlite-feed")
            await asyncio.to_thread(feed.mkdir)
            url = f"sqlite+aiosqlite:///{tmp}/bench.db"
            ok = await bench("sqlite", url, args.rows, feed) and ok
        if args.backend in ("postgresql", "both"):
            name = f"hub_bench_feed_{secrets.token_hex(4)}"
            await pg_admin(f'CREATE DATABASE "{name}"', args.pg)
            try:
                feed = Path(tmp, "pg-feed")
                await asyncio.to_thread(feed.mkdir)
                base = args.pg.rsplit("/", 1)[0].replace(
                    "postgresql://", "postgresql+asyncpg://", 1
                )
                ok = await bench("postgresql", f"{base}/{name}", args.rows, feed) and ok
            finally:
                if not args.keep_db:
                    await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', args.pg)
    return 0 if ok else 1


if __name__ == "__main__":
    _ = Event  # the connector's events type (imported so a broken port fails here first)
    sys.exit(asyncio.run(main()))
