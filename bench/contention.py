"""Contention on one hot SKU: reservations per second on PostgreSQL, and oversell (must be 0).

    python bench/contention.py [--clients 16] [--duration 10] [--stock 400]

Creates a PostgreSQL database (dropped at the end), loads a small demo catalog and:

1. **The floor**: ``--clients`` asyncpg connections in this process run, as fast as
   PostgreSQL lets them, the statement pair a reservation needs at its core on one
   hot (variant, location) row: ``BEGIN; UPDATE inventory_levels SET reserved =
   reserved + 1 ... WHERE ... AND available >= 1 RETURNING ...; INSERT INTO
   inventory_movements ...; COMMIT``. Committed reservations per second.
2. **The hub**: ``hub serve`` (1 worker, then 2) and ``--clients`` keep-alive HTTP
   clients sending the ``inventoryReserve`` mutation (quantity 1, a fresh idempotency
   key per request, a connector-scoped key) for another hot row. Reservations per
   second, p50/p99 latency; the target is at least 75% of the floor's rate.
3. **Oversell**: ``--stock`` units on a fresh row, and the same clients sending twice as
   many reservations at it (on the floor and on the hub): exactly ``--stock`` must
   succeed, the rest fail with ``INSUFFICIENT_STOCK``, and the row, the active
   reservations and the ledger must agree; then ``hub inventory verify`` must find no
   drift.

Needs PostgreSQL (``--pg``, default ``$HUB_BENCH_PG`` or
``postgresql://postgres@127.0.0.1:5432/postgres``; the role must be allowed to create
databases). Exit status: 0 when the run completed with zero oversell (whatever the
rate verdict), 1 when anything was oversold or the books disagree, 2 when setup failed,
130 when interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import signal
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
    BenchError,
    add_pg_option,
    bench_database,
    create_api_key,
    create_database,
    drop_database,
    graphql_request,
    percentile,
    run_hub,
    servers,
    start_hub,
    stop,
    terminate,
    wait_ready,
)
from loadgen import read_response

TARGET_SHARE = 0.75  # the hub must reach at least 75% of the floor's rate (issue 13)
RESERVE = """mutation Reserve($i: InventoryReserveInput!) {
  inventoryReserve(input: $i) {
    reservation { token }
    level { reserved available }
    userErrors { code message }
  }
}"""
FLOOR_UPDATE = """
UPDATE inventory_levels
   SET reserved = reserved + 1, updated_at = now()
 WHERE variant_id = $1 AND location_id = $2
   AND on_hand - committed - reserved - quarantined - safety_stock >= 1
RETURNING reserved"""
FLOOR_LEDGER = """
INSERT INTO inventory_movements
  (variant_id, location_id, reason, d_on_hand, d_committed, d_reserved, d_incoming,
   d_quarantined, actor, reference, created_at)
VALUES ($1, $2, 'reserved', 0, 0, 1, 0, 0, 'bench', $3, now())"""


# --------------------------------------------------------------------------- floor


async def floor(dsn: str, clients: int, duration: float, vpk: int, lpk: int, attempts: int | None):
    """(committed, refused, seconds): the statement pair on ``clients`` connections, for
    ``duration`` seconds or until ``attempts`` in all have been made."""
    conns = [await asyncpg.connect(dsn) for _ in range(clients)]
    left = [attempts]
    won = refused = 0
    try:
        for c in conns:
            await c.execute("SELECT 1")
        deadline = time.perf_counter() + duration

        async def worker(conn: asyncpg.Connection) -> None:
            nonlocal won, refused
            while time.perf_counter() < deadline:
                if left[0] is not None:
                    if left[0] <= 0:
                        return
                    left[0] -= 1
                async with conn.transaction():
                    row = await conn.fetchrow(FLOOR_UPDATE, vpk, lpk)
                    if row is None:
                        refused += 1
                        continue
                    await conn.execute(FLOOR_LEDGER, vpk, lpk, f"floor:{secrets.token_hex(6)}")
                won += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in conns))
        return won, refused, time.perf_counter() - t0
    finally:
        for c in conns:
            await c.close()


# --------------------------------------------------------------------------- hub


async def hub_run(
    port: int,
    token: str,
    clients: int,
    duration: float,
    vid: str,
    lid: str,
    attempts: int | None,
) -> tuple[int, dict[str, int], float, list[float]]:
    """(reserved, refusals by code, seconds, latencies) over ``clients`` keep-alive
    connections."""
    left = [attempts]
    won = 0
    refused: dict[str, int] = {}
    latencies: list[float] = []
    deadline = time.perf_counter() + duration

    async def client(n: int) -> None:
        nonlocal won
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            i = 0
            while time.perf_counter() < deadline:
                if left[0] is not None:
                    if left[0] <= 0:
                        return
                    left[0] -= 1
                i += 1
                variables = {
                    "i": {
                        "variantId": vid,
                        "locationId": lid,
                        "quantity": 1,
                        "idempotencyKey": f"bench-{n}-{i}-{secrets.token_hex(4)}",
                    }
                }
                body = orjson.dumps({"query": RESERVE, "variables": variables})
                t0 = time.perf_counter()
                writer.write(graphql_request(port, token, body))
                status, data, _ = await read_response(reader)
                latencies.append(time.perf_counter() - t0)
                doc = orjson.loads(data)
                if status != 200 or doc.get("errors"):
                    raise BenchError(f"HTTP {status}: {data[:300]!r}")
                out = doc["data"]["inventoryReserve"]
                if out["userErrors"]:
                    for e in out["userErrors"]:
                        refused[e["code"]] = refused.get(e["code"], 0) + 1
                else:
                    won += 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    return won, refused, time.perf_counter() - t0, latencies


async def gql(port: int, token: str, query: str, variables: dict[str, Any]) -> Any:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(
            graphql_request(port, token, orjson.dumps({"query": query, "variables": variables}))
        )
        status, data, _ = await read_response(reader)
    finally:
        writer.close()
    doc = orjson.loads(data)
    if status != 200 or doc.get("errors"):
        raise BenchError(f"HTTP {status}: {data[:300]!r}")
    return doc["data"]


# --------------------------------------------------------------------------- books


async def hot_rows(dsn: str, n: int) -> list[tuple[int, int]]:
    """``n`` distinct (variant, location) pairs of tracked, non-bundle variants, each at
    a location of its own choosing, stocked with nothing else going on."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            """SELECT v.id AS v, (SELECT min(id) FROM locations WHERE active) AS l
                 FROM variants v
                WHERE v.tracked AND NOT v.is_bundle
                  AND NOT EXISTS (SELECT 1 FROM inventory_lots x WHERE x.variant_id = v.id)
                  AND NOT EXISTS (SELECT 1 FROM inventory_serials x WHERE x.variant_id = v.id)
                ORDER BY v.id LIMIT $1""",
            n,
        )
        return [(r["v"], r["l"]) for r in rows]
    finally:
        await conn.close()


async def stock(dsn: str, vpk: int, lpk: int, units: int) -> None:
    """Make the row hold exactly ``units`` available: clear it through the ledger (so
    the books stay rebuildable) and receive ``units``."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute(
                """INSERT INTO inventory_levels (variant_id, location_id, on_hand, committed,
                     reserved, incoming, quarantined, safety_stock, reorder_point, updated_at)
                   VALUES ($1, $2, 0, 0, 0, 0, 0, 0, 0, now())
                   ON CONFLICT (variant_id, location_id) DO NOTHING""",
                vpk,
                lpk,
            )
            lv = await conn.fetchrow(
                "SELECT * FROM inventory_levels WHERE variant_id = $1 AND location_id = $2 "
                "FOR UPDATE",
                vpk,
                lpk,
            )
            d = {
                "on_hand": units - lv["on_hand"],
                "committed": -lv["committed"],
                "reserved": -lv["reserved"],
                "quarantined": -lv["quarantined"],
            }
            await conn.execute(
                """UPDATE inventory_levels SET on_hand = $3, committed = 0, reserved = 0,
                     quarantined = 0, safety_stock = 0, updated_at = now()
                   WHERE variant_id = $1 AND location_id = $2""",
                vpk,
                lpk,
                units,
            )
            await conn.execute(
                """INSERT INTO inventory_movements (variant_id, location_id, reason, d_on_hand,
                     d_committed, d_reserved, d_incoming, d_quarantined, actor, created_at)
                   VALUES ($1, $2, 'counted', $3, $4, $5, 0, $6, 'bench', now())""",
                vpk,
                lpk,
                d["on_hand"],
                d["committed"],
                d["reserved"],
                d["quarantined"],
            )
            await conn.execute(
                "UPDATE reservations SET status = 'RELEASED' "
                "WHERE variant_id = $1 AND location_id = $2 AND status = 'ACTIVE'",
                vpk,
                lpk,
            )
    finally:
        await conn.close()


async def books(dsn: str, vpk: int, lpk: int) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        lv = await conn.fetchrow(
            "SELECT on_hand, reserved, committed, quarantined, safety_stock "
            "FROM inventory_levels WHERE variant_id = $1 AND location_id = $2",
            vpk,
            lpk,
        )
        ledger = await conn.fetchval(
            "SELECT coalesce(sum(d_reserved), 0) FROM inventory_movements "
            "WHERE variant_id = $1 AND location_id = $2",
            vpk,
            lpk,
        )
        active = await conn.fetchval(
            "SELECT count(*) FROM reservations WHERE variant_id = $1 AND location_id = $2 "
            "AND status = 'ACTIVE'",
            vpk,
            lpk,
        )
        return {**dict(lv), "ledger_reserved": int(ledger), "active_reservations": int(active)}
    finally:
        await conn.close()


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per timed run (10)")
    ap.add_argument("--stock", type=int, default=400, help="units in the oversell runs (400)")
    ap.add_argument("--no-workers2", action="store_true", help="skip the 2-worker hub run")
    add_pg_option(ap)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, terminate)
    dbname, dsn, env = bench_database(args.pg)
    env.pop("HUB_REDIS_URL", None)
    created = False
    oversold = False
    rows: list[tuple[str, str, str]] = []
    with (
        asyncio.Runner() as runner,
        tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp,
        servers() as running,
    ):
        run = runner.run
        try:
            run(create_database(args.pg, dbname))
            created = True
            print("seeding a small demo catalog ...", flush=True)
            run_hub(["seed", "--demo", "--products", "60"], env)
            token = create_api_key(env, "connector", "bench")
            hot = run(hot_rows(dsn, 6))
            if len(hot) < 6:
                raise BenchError("the demo catalog has too few tracked variants")
            big = 10_000_000

            # ------------------------------------------------------------ floor
            vpk, lpk = hot[0]
            run(stock(dsn, vpk, lpk, big))
            won, _, secs = run(floor(dsn, args.clients, args.duration, vpk, lpk, None))
            floor_rate = won / secs
            print(f"  floor: {won} reservations in {secs:.1f} s = {floor_rate:,.0f}/s", flush=True)
            rows.append(
                (
                    f"floor (UPDATE + ledger INSERT), {args.clients} conns",
                    f"{floor_rate:,.0f}/s",
                    "",
                )
            )

            vpk, lpk = hot[1]
            run(stock(dsn, vpk, lpk, args.stock))
            won, refused, _ = run(floor(dsn, args.clients, 600, vpk, lpk, 2 * args.stock))
            b = run(books(dsn, vpk, lpk))
            ok = won == args.stock and b["reserved"] == args.stock == b["ledger_reserved"]
            oversold |= not ok
            rows.append(
                (
                    f"floor oversell: {2 * args.stock} tries for {args.stock} units",
                    f"{won} won, {refused} refused, oversold {max(0, won - args.stock)}",
                    "PASS" if ok else "FAIL",
                )
            )

            # ------------------------------------------------------------ hub
            workers = [1] if args.no_workers2 else [1, 2]
            for n, w in enumerate(workers):
                srv = start_hub(f"hub-{w}w", env, Path(tmp), workers=w)
                port = srv.port
                running.append(srv)
                run(wait_ready(srv, "/readyz"))
                vpk, lpk = hot[2 + 2 * n]
                run(stock(dsn, vpk, lpk, big))
                vid = f"gid://hub/ProductVariant/{vpk}"
                lid = f"gid://hub/Location/{lpk}"
                # warm-up: connections, caches, prepared statements
                run(hub_run(port, token, args.clients, 2, vid, lid, 200))
                won, refused, secs, lat = run(
                    hub_run(port, token, args.clients, args.duration, vid, lid, None)
                )
                rate = won / secs
                share = rate / floor_rate
                verdict = "PASS" if share >= TARGET_SHARE else "FAIL"
                print(
                    f"  hub {w}w: {won} reservations in {secs:.1f} s = {rate:,.0f}/s, "
                    f"p50 {percentile(lat, 50) * 1000:.1f} ms, "
                    f"p99 {percentile(lat, 99) * 1000:.1f} ms"
                    + (f", refused {refused}" if refused else ""),
                    flush=True,
                )
                rows.append(
                    (
                        f"hub {w} worker(s), {args.clients} clients",
                        f"{rate:,.0f}/s = {share:.0%} of floor "
                        f"(p50 {percentile(lat, 50) * 1000:.1f} ms, "
                        f"p99 {percentile(lat, 99) * 1000:.1f} ms)",
                        f">= {TARGET_SHARE:.0%} of floor  {verdict}",
                    )
                )

                vpk, lpk = hot[3 + 2 * n]
                run(stock(dsn, vpk, lpk, args.stock))
                vid = f"gid://hub/ProductVariant/{vpk}"
                lid = f"gid://hub/Location/{lpk}"
                won, refused, _, _ = run(
                    hub_run(port, token, args.clients, 600, vid, lid, 2 * args.stock)
                )
                b = run(books(dsn, vpk, lpk))
                ok = (
                    won == args.stock
                    and b["reserved"] == args.stock
                    and b["active_reservations"] == args.stock
                    and b["ledger_reserved"] == args.stock
                    and set(refused) <= {"INSUFFICIENT_STOCK"}
                    and sum(refused.values()) == args.stock
                )
                oversold |= not ok
                rows.append(
                    (
                        f"hub {w}w oversell: {2 * args.stock} tries for {args.stock} units",
                        f"{won} won, refused {refused}, oversold {max(0, won - args.stock)}; "
                        f"row reserved {b['reserved']}, active {b['active_reservations']}, "
                        f"ledger {b['ledger_reserved']}",
                        "PASS" if ok else "FAIL",
                    )
                )
                running.remove(srv)
                stop(srv)

            verify = run_hub(["inventory", "verify"], env).strip()
            clean = "every stock level matches the ledger" in verify
            oversold |= not clean
            rows.append(
                ("hub inventory verify", verify.splitlines()[-1][:70], "PASS" if clean else "FAIL")
            )
        except BenchError as exc:
            print(f"bench: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return 130
        finally:
            for s in list(running):
                running.remove(s)
                stop(s)
            if created:
                with contextlib.suppress(Exception):
                    run(drop_database(args.pg, dbname))

    print()
    print(f"Hot-SKU contention on PostgreSQL ({args.clients} concurrent clients)")
    for name, figure, target in rows:
        print(f"  {name:<46} {figure}  {target}")
    return 1 if oversold else 0


if __name__ == "__main__":
    sys.exit(main())
