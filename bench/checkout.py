"""Checkout throughput on PostgreSQL: completed checkouts per second over HTTP.

    python bench/checkout.py [--clients 16] [--duration 10] [--workers 1]

Creates a PostgreSQL database (dropped at the end), loads the demo catalog (600
products, with its promotions, price lists and shipping rates), gives a set of
variants plenty of stock at the web warehouse, starts ``hub serve`` and runs
``--clients`` concurrent buyers, each on its own keep-alive HTTP connection, in a
loop of two requests:

1. ``cartCreate`` with two lines (different variants per buyer and round), the code
   ``DEMO10`` and a buyer identity (email, country US): the hub prices the cart
   (channel prices, promotions, shipping, tax) and answers with its total;
2. ``checkoutComplete`` with a fresh idempotency key and an offline ``cash``
   payment (admin key, as a till would): the hub prices again, reserves the stock,
   records the payment and writes the order with its ``order.created`` event.

The figures are completed checkouts (orders) per second over ``--duration`` seconds
after a warm-up (target: >= 150/s with 16 buyers and 2 workers), with p50/p99 of the
whole two-request checkout, and the CPU time per checkout of the hub's processes
(target <= 8 ms) and of the database's backends, read from ``/proc`` over the timed
run (steadier than the rate on a shared machine; the load average is printed too).
Every answer must be an order: a userError or GraphQL error
fails the run. Afterwards the orders in the database must equal the checkouts
counted, and ``hub inventory verify`` must find no drift.

Needs PostgreSQL (``--pg``, default ``$HUB_BENCH_PG`` or
``postgresql://postgres@127.0.0.1:5432/postgres``; the role must be allowed to create
databases). Exit status: 0 when the run completed without errors, 1 on errors or
disagreeing books, 2 when setup failed, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    HOST,
    REPO,
    BenchError,
    add_pg_option,
    bench_database,
    create_api_key,
    create_database,
    drop_database,
    graphql_request,
    hub_command,
    percentile,
    run_hub,
    servers,
    start_hub,
    stop,
    terminate,
    wait_ready,
)
from contention import stock
from loadgen import read_response

WAREHOUSE = 1  # the demo's web warehouse (Newark)
CREATE = """mutation($i: CartInput!) { cartCreate(input: $i) {
  cart { id cost { totalAmount { amount currencyCode } } }
  userErrors { code message } } }"""
COMPLETE = """mutation($c: ID!, $k: String!, $p: PaymentInput) {
  checkoutComplete(cartId: $c, idempotencyKey: $k, payment: $p) {
    order { name totalPrice { amount } }
    userErrors { code message } } }"""


async def bench_variants(dsn: str, n: int) -> list[int]:
    """``n`` tracked, non-bundle variants of active products priced in the web channel."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            """SELECT v.id FROM variants v
                 JOIN products p ON p.id = v.product_id AND p.status = 'ACTIVE'
                 JOIN variant_prices vp ON vp.variant_id = v.id AND vp.channel_id = 1
                WHERE v.tracked AND NOT v.is_bundle
                  AND NOT EXISTS (SELECT 1 FROM inventory_lots x WHERE x.variant_id = v.id)
                  AND NOT EXISTS (SELECT 1 FROM inventory_serials x WHERE x.variant_id = v.id)
                ORDER BY v.id LIMIT $1""",
            n,
        )
        return [r["id"] for r in rows]
    finally:
        await conn.close()


TARGET_RATE = 150.0  # checkouts/s, 16 buyers, 2 workers
TARGET_CPU_MS = 8.0  # hub CPU per checkout


def _cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """Seconds of CPU (user + system) each of these local processes used so far."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / tick
    return out


def _cpu_since(before: dict[int, float]) -> float:
    """CPU used since ``before`` by the processes still alive (one that exited
    meanwhile is left out: its last figure is gone)."""
    now = _cpu_by_pid(list(before))
    return sum(max(now[p] - before[p], 0.0) for p in now)


def _group(pgid: int) -> list[int]:
    """The processes of a process group (the hub and its workers)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                out.append(int(d.name))
    return out


async def backend_pids(dsn: str) -> list[int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        return [r["pid"] for r in rows]
    finally:
        await conn.close()


async def count_orders(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM orders"))
    finally:
        await conn.close()


async def buyers(
    port: int,
    token: str,
    clients: int,
    duration: float,
    variants: list[int],
    warmup: int,
    on_start: Any = None,
) -> tuple[int, float, list[float]]:
    """(completed checkouts, seconds, latencies of each two-request checkout);
    ``on_start()`` is called when the timed run starts."""
    done = 0
    latencies: list[float] = []
    start_at: list[float] = []
    ready = asyncio.Barrier(clients)

    async def call(reader: Any, writer: Any, query: str, variables: dict) -> dict:
        writer.write(
            graphql_request(port, token, orjson.dumps({"query": query, "variables": variables}))
        )
        status, data, _ = await read_response(reader)
        doc = orjson.loads(data)
        if status != 200 or doc.get("errors"):
            raise BenchError(f"HTTP {status}: {data[:300]!r}")
        return doc["data"]

    async def client(n: int) -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            i = 0

            async def one() -> None:
                nonlocal i
                i += 1
                a = variants[(n * 7 + i) % len(variants)]
                b = variants[(n * 7 + i + 3) % len(variants)]
                created = await call(
                    reader,
                    writer,
                    CREATE,
                    {
                        "i": {
                            "lines": [
                                {"merchandiseId": f"gid://hub/ProductVariant/{a}", "quantity": 1},
                                {"merchandiseId": f"gid://hub/ProductVariant/{b}", "quantity": 2},
                            ],
                            "discountCodes": ["DEMO10"],
                            "buyerIdentity": {
                                "email": f"buyer{n}@example.com",
                                "countryCode": "US",
                            },
                        }
                    },
                )
                out = created["cartCreate"]
                if out["userErrors"]:
                    raise BenchError(f"cartCreate: {out['userErrors']}")
                res = await call(
                    reader,
                    writer,
                    COMPLETE,
                    {
                        "c": out["cart"]["id"],
                        "k": f"bench-{n}-{i}-{secrets.token_hex(4)}",
                        "p": {"provider": "cash", "reference": f"till-{n}"},
                    },
                )
                got = res["checkoutComplete"]
                if got["userErrors"] or got["order"] is None:
                    raise BenchError(f"checkoutComplete: {got['userErrors']}")
                if (
                    got["order"]["totalPrice"]["amount"]
                    != out["cart"]["cost"]["totalAmount"]["amount"]
                ):
                    raise BenchError("the order's total differs from the cart's")

            for _ in range(warmup):
                await one()
            await ready.wait()
            if not start_at:
                if on_start is not None:
                    await on_start()
                start_at.append(time.perf_counter())
            deadline = start_at[0] + duration
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                await one()
                latencies.append(time.perf_counter() - t0)
                done += 1
        finally:
            writer.close()

    await asyncio.gather(*(client(n) for n in range(clients)))
    return done, time.perf_counter() - start_at[0], latencies


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds measured (10)")
    ap.add_argument("--workers", type=int, default=1, help="hub serve --workers (1)")
    ap.add_argument("--warmup", type=int, default=3, help="checkouts per buyer before timing")
    add_pg_option(ap)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, terminate)
    dbname, dsn, env = bench_database(args.pg)
    env.pop("HUB_REDIS_URL", None)
    # Every buyer here comes from one address with the same discount code: the
    # guessing limit on code checks (60 per 5 minutes) would throttle the benchmark.
    env.setdefault("HUB_RATE_LIMIT_DISCOUNT_CODES", "off")
    created = False
    status = 0
    with (
        asyncio.Runner() as runner,
        tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp,
        servers() as running,
    ):
        run = runner.run
        try:
            run(create_database(args.pg, dbname))
            created = True
            print("seeding the demo catalog ...", flush=True)
            run_hub(["seed", "--demo"], env)
            token = create_api_key(env, "admin", "till")
            variants = run(bench_variants(dsn, 64))
            if len(variants) < 8:
                raise BenchError("the demo catalog has too few sellable variants")
            for v in variants:
                run(stock(dsn, v, WAREHOUSE, 1_000_000))
            srv = start_hub(f"hub-{args.workers}w", env, Path(tmp), workers=args.workers)
            port = srv.port
            running.append(srv)
            run(wait_ready(srv, "/readyz"))
            before = run(count_orders(dsn))
            cpu0: dict[str, Any] = {}

            async def on_start() -> None:
                cpu0["hub"] = _cpu_by_pid(_group(srv.proc.pid))
                cpu0["pg"] = _cpu_by_pid(await backend_pids(dsn))

            done, secs, lat = run(
                buyers(port, token, args.clients, args.duration, variants, args.warmup, on_start)
            )
            hub_cpu = _cpu_since(cpu0["hub"])
            pg_cpu = _cpu_since(cpu0["pg"])
            load = os.getloadavg()
            warm = args.clients * args.warmup
            orders = run(count_orders(dsn)) - before
            stop(srv)
            running.remove(srv)
            verify = subprocess.run(
                [*hub_command(), "inventory", "verify"],
                env=env,
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=600,
            )
            rate = done / secs if secs > 0 else 0.0
            print()
            print(
                f"checkout throughput, PostgreSQL, hub serve --workers {args.workers}, "
                f"{args.clients} buyers over HTTP, cash payment"
            )
            met = "PASS" if rate >= TARGET_RATE else "FAIL"
            print(
                f"  completed checkouts: {done} in {secs:.1f} s = {rate:,.1f}/s  "
                f"(target >= {TARGET_RATE:g}/s with 16 buyers, 2 workers: {met})"
            )
            per = hub_cpu / done * 1000 if done else float("nan")
            print(
                f"  hub CPU per checkout: {per:.1f} ms  (target <= {TARGET_CPU_MS:g} ms: "
                f"{'PASS' if per <= TARGET_CPU_MS else 'FAIL'}); PostgreSQL backends: "
                f"{pg_cpu / done * 1000 if done else float('nan'):.1f} ms"
            )
            print(
                f"  load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
                f"on {os.cpu_count()} CPUs (other work skews the rate, less the CPU figures)"
            )
            print(
                f"  per checkout (cartCreate + checkoutComplete): p50 "
                f"{percentile(lat, 50) * 1000:.1f} ms, p99 {percentile(lat, 99) * 1000:.1f} ms"
            )
            books_ok = orders == done + warm and verify.returncode == 0
            print(
                f"  orders written: {orders} (= {done} timed + {warm} warm-up: "
                f"{'yes' if orders == done + warm else 'NO'}); inventory verify: "
                f"{'no drift' if verify.returncode == 0 else 'DRIFT'}"
            )
            if not books_ok:
                print(verify.stdout[-2000:], verify.stderr[-2000:])
                status = 1
        except BenchError as exc:
            print(f"bench failed: {exc}", file=sys.stderr)
            for srv in running:  # the server's side of it (an internal error's traceback)
                print(f"--- {srv.name} log (last 60 lines)\n{srv.log_tail(60)}", file=sys.stderr)
            status = 1 if created else 2
        except KeyboardInterrupt:
            status = 130
        finally:
            for srv in list(running):
                stop(srv)
            if created:
                run(drop_database(args.pg, dbname))
    return status


if __name__ == "__main__":
    sys.exit(main())
