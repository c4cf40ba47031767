"""Benchmark the storefront's product listing page against its targets.

    python bench/product_listing.py [--products 600] [--duration 10] [--keep-db]
    python bench/product_listing.py --products 1000 --scale-products 100000 [--scale-db URL]

Creates a fresh PostgreSQL database, loads the demo catalog with ``hub seed``, starts
the hub (``hub serve``, 1 worker, later 2) and the floor app (``bench/floor_app.py``,
the same page from two hand-written SQL statements), checks that both answer the same
page, then load-tests both with ``bench/loadgen.py`` and prints every figure of issue
13's table for this page next to its target (also first: 100, the page as a persisted
GET against the POST, and with ``--scale-products`` a large catalog against this one).
See bench/README.md.

Exit status: 0 when the run completed (whatever the targets say), 1 when the hub's
page differs from the floor's or any response was an error, 2 when setup failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import math
import os
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg
import orjson
from common import (
    BENCH_DIR,
    HOST,
    BenchError,
    Server,
    add_pg_option,
    bench_database,
    create_database,
    drop_database,
    free_port,
    hub_command,
    loop_factory,
    servers,
    spawn,
    start,
    stop,
    terminate,
    wait_ready,
)
from floor_app import init_connection, render
from loadgen import Result, request_once, run

QUERY_FILE = (
    Path(__file__).resolve().parents[2] / "shared/contract/operations/ProductListing.graphql"
)
VARIABLES = {"first": 24, "channel": "web"}
PEER = "best-known open-source peer: ~19 req/s, 58 ms per request (given)"

# Targets (issue 13, item 6).
C1_P50_MS = 3.0
C10_RPS = 400.0
C10_RPS_2W = 600.0
C16_P99_MS = 25.0
MAX_RATIO = 3.0
FIRST100_RPS = 150.0
GET_OVER_POST = 1.5
SCALE_RATIO = 1.5


class Mismatch(Exception):
    """The hub's page differs from the floor's."""


# --------------------------------------------------------------------------- database


async def analyze(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("ANALYZE")
        counts = {}
        for table in ("products", "variants", "variant_prices", "product_price_ranges"):
            counts[table] = await conn.fetchval(f"SELECT count(*) FROM {table}")
        return counts
    finally:
        await conn.close()


def seed(env: dict[str, str], products: int, logdir: Path) -> str:
    cmd = [*hub_command(), "seed", "--demo", "--products", str(products)]
    log = logdir / "seed.log"
    proc = spawn(cmd, env, log)
    try:
        code = proc.wait(timeout=1800)
    except BaseException:  # timeout, Ctrl-C: don't leave the seeder running
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    text = log.read_text(errors="replace").strip()
    if code != 0:
        raise BenchError(f"`{' '.join(cmd)}` failed with {code}:\n{text[-3000:]}")
    return text.splitlines()[-1] if text else ""


# --------------------------------------------------------------------------- checks


def first_difference(a: Any, b: Any, path: str = "$") -> str | None:
    if type(a) is not type(b):
        return f"{path}: {a!r} != {b!r}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{path}.{k}: only in {'hub' if k in a else 'floor'}"
            d = first_difference(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            d = first_difference(x, y, f"{path}[{i}]")
            if d:
                return d
        if len(a) != len(b):
            return f"{path}: {len(a)} items (hub) != {len(b)} (floor)"
        return None
    return None if a == b else f"{path}: hub {a!r} != floor {b!r}"


async def fetch_json(port: int, path: str, body: bytes) -> Any:
    status, data = await request_once(HOST, port, path, body)
    if status != 200:
        raise Mismatch(f"{path} answered HTTP {status}: {data[:500]!r}")
    return orjson.loads(data)


async def check_same_page(
    hub_port: int, floor_port: int, body: bytes, reference: dict[str, Any]
) -> str:
    """Compare the hub's response with the floor's (HTTP and in-process)."""
    hub = await fetch_json(hub_port, "/graphql", body)
    if "errors" in hub:
        raise Mismatch(f"the hub answered with errors: {orjson.dumps(hub['errors'])[:1000]!r}")
    floor = await fetch_json(floor_port, "/floor", body)
    # Only `data` is compared: the hub adds `extensions` (the query's cost).
    for other, what in ((floor, "floor app"), (reference, "in-process floor")):
        diff = first_difference(hub.get("data"), other.get("data"), "$.data")
        if diff:
            raise Mismatch(f"hub and {what} differ at {diff}")
    edges = hub["data"]["products"]["edges"]
    n_variants = sum(len(e["node"]["variants"]["nodes"]) for e in edges)
    if not edges:
        raise Mismatch("the page is empty: nothing to compare (did the seeder load `web`?)")
    extra = (
        f", extensions {orjson.dumps(hub['extensions']).decode()}" if "extensions" in hub else ""
    )
    return (
        f"{len(edges)} products, {n_variants} variants, hub body {len(orjson.dumps(hub))} B, "
        f"floor body {len(orjson.dumps(floor))} B{extra}"
    )


# --------------------------------------------------------------------------- measuring


async def in_process_floor(dsn: str, iterations: int, channel: str, first: int) -> float:
    """Median seconds for the floor's two statements + orjson.dumps, no HTTP."""
    conn = await asyncpg.connect(dsn)
    try:
        await init_connection(conn)
        for _ in range(min(50, iterations)):
            await render(conn, channel, first)
        times = []
        perf = time.perf_counter
        for _ in range(iterations):
            t0 = perf()
            await render(conn, channel, first)
            times.append(perf() - t0)
        return statistics.median(times)
    finally:
        await conn.close()


async def reference_page(dsn: str, channel: str, first: int) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        await init_connection(conn)
        return orjson.loads(await render(conn, channel, first))
    finally:
        await conn.close()


async def register_persisted(port: int, query: str) -> str:
    """Register the listing as a persisted query (APQ: the text with its hash); the
    path of its GET (``?extensions=...&variables=...``)."""
    digest = hashlib.sha256(query.encode()).hexdigest()
    ext = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    body = orjson.dumps(
        {
            "query": query,
            "variables": VARIABLES,
            "operationName": "ProductListing",
            "extensions": ext,
        }
    )
    status, data = await request_once(HOST, port, "/graphql", body)
    if status != 200 or b'"errors"' in data:
        raise Mismatch(f"registering the persisted query answered {status}: {data[:300]!r}")
    params = urlencode(
        {
            "extensions": orjson.dumps(ext).decode(),
            "variables": orjson.dumps(VARIABLES).decode(),
            "operationName": "ProductListing",
        }
    )
    return f"/graphql?{params}"


def measure_large(
    args: argparse.Namespace,
    runner: asyncio.Runner,
    admin: str,
    env: dict[str, str],
    logdir: Path,
    running: list[Server],
    launch: Any,
    shut: Any,
    results: dict[str, Result],
) -> None:
    """c=1 on a catalog of ``--scale-products`` (the issue's 100,000 vs 1,000)."""
    env2 = dict(env)
    created = None
    if args.scale_db:
        env2["HUB_DATABASE_URL"] = "postgresql+asyncpg://" + args.scale_db.split("://", 1)[1]
    else:
        dbname, _dsn, env2 = bench_database(admin)
        env2["PYTHONUNBUFFERED"] = "1"
        runner.run(create_database(admin, dbname))
        created = dbname
        t0 = time.monotonic()
        print(f"bench: seeding {args.scale_products} products into {dbname}", flush=True)
        print(
            f"bench: {seed(env2, args.scale_products, logdir)} ({time.monotonic() - t0:.0f}s)",
            flush=True,
        )
    try:
        body = orjson.dumps(
            {
                "query": QUERY_FILE.read_text(),
                "variables": VARIABLES,
                "operationName": "ProductListing",
            }
        )
        cmd = [*hub_command(), "serve", "--host", HOST, "--port", "{port}", "--workers", "1"]
        saved = dict(env)
        env.clear()
        env.update(env2)
        try:
            big = launch("hub large", cmd, "/readyz")
        finally:
            env.clear()
            env.update(saved)
        res = runner.run(
            run(HOST, big.port, "/graphql", body, concurrency=1, requests=args.c1_requests)
        )
        results["hub1 c1 large"] = res
        print(f"  {'hub1 c1 large':<10} {res.summary()}", flush=True)
        shut(big)
    finally:
        if created:
            runner.run(drop_database(admin, created))


# --------------------------------------------------------------------------- report


@dataclass
class Row:
    figure: str
    value: str
    target: str = ""
    verdict: str = ""


def ms(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.2f} ms"


def verdict(ok: bool, *results: Result | None) -> str:
    errors = sum(r.errors for r in results if r is not None)
    if errors:
        return f"FAIL ({errors} errors)"
    return "PASS" if ok else "FAIL"


def floor_row(figure: str, value: str, result: Result) -> Row:
    """A figure of the floor: no target, but its errors show as a failure."""
    return Row(figure, value, "", verdict(True, result) if result.errors else "")


def report(
    args: argparse.Namespace,
    r: dict[str, Result],
    floor_inproc: float,
    counts: dict[str, int],
    page: str,
) -> list[Row]:
    h1, h10, h16 = r["hub1 c1"], r["hub1 c10"], r["hub1 c16"]
    f1, f10, f16 = r["floor c1"], r["floor c10"], r["floor c16"]
    w10, w16 = r.get("hub2 c10"), r.get("hub2 c16")
    rows = [
        Row(
            "hub 1w  p50 @ c=1",
            ms(h1.p50_ms),
            f"< {C1_P50_MS:g} ms",
            verdict(h1.p50_ms < C1_P50_MS, h1),
        ),
        Row("hub 1w  p99 @ c=1", ms(h1.p99_ms)),
        Row(
            "hub 1w  rps @ c=10",
            f"{h10.rps:.0f} req/s",
            f">= {C10_RPS:g} req/s",
            verdict(h10.rps >= C10_RPS, h10),
        ),
        Row("hub 1w  p50 / p99 @ c=10", f"{ms(h10.p50_ms)} / {ms(h10.p99_ms)}"),
        Row("hub 1w  rps @ c=16", f"{h16.rps:.0f} req/s"),
        Row("hub 1w  p50 @ c=16", ms(h16.p50_ms)),
        Row(
            "hub 1w  p99 @ c=16",
            ms(h16.p99_ms),
            f"< {C16_P99_MS:g} ms",
            verdict(h16.p99_ms < C16_P99_MS, h16),
        ),
    ]
    if w10 is not None and w16 is not None:
        rows += [
            Row(
                "hub 2w  rps @ c=10",
                f"{w10.rps:.0f} req/s",
                f">= {C10_RPS_2W:g} req/s",
                verdict(w10.rps >= C10_RPS_2W, w10),
            ),
            Row("hub 2w  p99 @ c=10", ms(w10.p99_ms)),
            Row("hub 2w  rps @ c=16", f"{w16.rps:.0f} req/s"),
            Row(
                "hub 2w  p99 @ c=16",
                ms(w16.p99_ms),
                f"< {C16_P99_MS:g} ms",
                verdict(w16.p99_ms < C16_P99_MS, w16),
            ),
        ]
    h100, hget = r.get("hub1 c10 first100"), r.get("hub1 c10 GET")
    if h100 is not None:
        rows.append(
            Row(
                "hub 1w  rps @ c=10, first: 100",
                f"{h100.rps:.0f} req/s",
                f">= {FIRST100_RPS:g} req/s",
                verdict(h100.rps >= FIRST100_RPS, h100),
            )
        )
    if hget is not None:
        ratio = hget.rps / h10.rps if h10.rps else math.inf
        rows += [
            Row("hub 1w  persisted GET rps @ c=10", f"{hget.rps:.0f} req/s"),
            Row(
                "persisted GET rps / POST rps @ c=10",
                f"{ratio:.2f}x",
                f">= {GET_OVER_POST:g}x",
                verdict(ratio >= GET_OVER_POST, hget, h10),
            ),
        ]
    big = r.get("hub1 c1 large")
    if big is not None:
        ratio = big.p50_ms / h1.p50_ms if h1.p50_ms else math.inf
        rows += [
            Row(f"hub 1w  p50 @ c=1, {args.scale_products} products", ms(big.p50_ms)),
            Row(
                f"p50 {args.scale_products} / {args.products} products",
                f"{ratio:.2f}x",
                f"<= {SCALE_RATIO:g}x",
                verdict(ratio <= SCALE_RATIO, big, h1),
            ),
        ]
    rows += [
        floor_row("floor   p50 / p99 @ c=1", f"{ms(f1.p50_ms)} / {ms(f1.p99_ms)}", f1),
        floor_row("floor   rps @ c=10", f"{f10.rps:.0f} req/s", f10),
        Row("floor   p50 / p99 @ c=10", f"{ms(f10.p50_ms)} / {ms(f10.p99_ms)}"),
        floor_row("floor   rps @ c=16", f"{f16.rps:.0f} req/s", f16),
        Row("floor   p50 / p99 @ c=16", f"{ms(f16.p50_ms)} / {ms(f16.p99_ms)}"),
        Row("floor in-process (2 SQL + dumps) median", ms(floor_inproc * 1000)),
    ]
    rps_ratio = f10.rps / h10.rps if h10.rps else math.inf
    lat_ratio = h1.p50_ms / f1.p50_ms if f1.p50_ms else math.inf
    rows += [
        Row(
            "floor rps / hub 1w rps @ c=10",
            f"{rps_ratio:.2f}x",
            f"<= {MAX_RATIO:g}x",
            verdict(rps_ratio <= MAX_RATIO, h10, f10),
        ),
        Row(
            "hub 1w p50 / floor p50 @ c=1",
            f"{lat_ratio:.2f}x",
            f"<= {MAX_RATIO:g}x",
            verdict(lat_ratio <= MAX_RATIO, h1, f1),
        ),
    ]
    width = max(len(x.figure) for x in rows)
    vw = max(len(x.value) for x in rows)
    tw = max(len(x.target) for x in rows)
    print()
    print(
        f"ProductListing (first {VARIABLES['first']}, channel {VARIABLES['channel']!r}): "
        f"{args.products} products requested; " + ", ".join(f"{v} {k}" for k, v in counts.items())
    )
    print(
        f"page: {page}; {os.cpu_count()} CPUs; {args.duration:g} s per timed run, "
        f"{args.c1_requests} requests at c=1"
    )
    print()
    print(f"{'figure':<{width}}  {'measured':>{vw}}  {'target':<{tw}}  result")
    print(f"{'-' * width}  {'-' * vw}  {'-' * tw}  ------")
    for x in rows:
        print(f"{x.figure:<{width}}  {x.value:>{vw}}  {x.target:<{tw}}  {x.verdict}".rstrip())
    print()
    print(PEER)
    return rows


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--products", type=int, default=600, help="demo catalog size (600)")
    ap.add_argument(
        "--duration", type=float, default=10.0, help="seconds per timed run at c=10 and c=16 (10)"
    )
    ap.add_argument(
        "--c1-requests",
        type=int,
        default=500,
        help="measured requests at concurrency 1 (500, at least 500 for a target)",
    )
    ap.add_argument("--inproc-iterations", type=int, default=500)
    ap.add_argument("--keep-db", action="store_true", help="don't drop the database")
    ap.add_argument("--no-workers2", action="store_true", help="skip the 2-worker hub runs")
    ap.add_argument(
        "--scale-products",
        type=int,
        default=0,
        help="also time c=1 on a catalog this large (100000 for the issue's figure, "
        "against --products 1000); seeded into a second database unless --scale-db",
    )
    ap.add_argument(
        "--scale-db",
        help="an already seeded database (postgresql://...) for --scale-products "
        "(seeding 100,000 products takes a while); kept",
    )
    ap.add_argument(
        "--continue-on-mismatch",
        action="store_true",
        help="measure even when the hub's page differs (still exits 1)",
    )
    add_pg_option(
        ap,
        help="maintenance database to create the bench database from "
        "(default $HUB_BENCH_PG or postgresql://postgres@127.0.0.1:5432/postgres)",
    )
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, terminate)
    if not QUERY_FILE.exists():
        print(f"bench: no query file at {QUERY_FILE}", file=sys.stderr)
        return 2
    query = QUERY_FILE.read_text()
    body = orjson.dumps({"query": query, "variables": VARIABLES, "operationName": "ProductListing"})
    channel, first = VARIABLES["channel"], VARIABLES["first"]

    admin = args.pg
    dbname, dsn, env = bench_database(admin)
    env["PYTHONUNBUFFERED"] = "1"

    status = 0
    created = False
    results: dict[str, Result] = {}
    with (
        asyncio.Runner(loop_factory=loop_factory()) as runner,
        tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp,
        servers() as running,
    ):
        logdir = Path(tmp)

        def measure(key: str, server: Server, path: str, **kw: Any) -> Result:
            res = runner.run(run(HOST, server.port, path, body, **kw))
            results[key] = res
            print(f"  {key:<10} {res.summary()}", flush=True)
            if res.first_error:
                print(f"    first error: {res.first_error}", flush=True)
            return res

        def launch(
            name: str, cmd: list[str], path: str, method: str = "GET", probe: bytes = b""
        ) -> Server:
            port = free_port()
            cmd = [c.replace("{port}", str(port)) for c in cmd]
            srv = start(name, cmd, env, port, logdir)
            running.append(srv)
            runner.run(wait_ready(srv, path, method, probe))
            return srv

        def shut(srv: Server) -> None:
            running.remove(srv)
            stop(srv)
            # At log level WARNING a healthy server prints only its banner line.
            lines = [
                ln
                for ln in srv.log.read_text(errors="replace").splitlines()
                if ln.strip() and not ln.startswith("hub: GraphQL and GraphiQL at")
            ]
            if lines:
                print(f"bench: {srv.name} logged {len(lines)} lines; the last:", flush=True)
                for ln in lines[-10:]:
                    print(f"    {ln[:300]}", flush=True)

        try:
            print(f"bench: database {dbname}", flush=True)
            runner.run(create_database(admin, dbname))
            created = True
            t0 = time.monotonic()
            print(
                f"bench: {seed(env, args.products, logdir)} ({time.monotonic() - t0:.1f}s)",
                flush=True,
            )
            counts = runner.run(analyze(dsn))

            inproc = runner.run(in_process_floor(dsn, args.inproc_iterations, channel, first))
            print(f"bench: in-process floor median {inproc * 1000:.2f} ms", flush=True)
            reference = runner.run(reference_page(dsn, channel, first))

            floor_cmd = [sys.executable, str(BENCH_DIR / "floor_app.py"), "--host", HOST]
            hub_cmd = [*hub_command(), "serve", "--host", HOST]
            floor = launch("floor", [*floor_cmd, "--port", "{port}"], "/floor", "POST", body)
            hub = launch(
                "hub 1 worker", [*hub_cmd, "--port", "{port}", "--workers", "1"], "/readyz"
            )

            try:
                page = runner.run(check_same_page(hub.port, floor.port, body, reference))
                print(f"bench: hub and floor agree ({page})", flush=True)
            except Mismatch as exc:
                print(f"bench: WARNING: {exc}", file=sys.stderr, flush=True)
                status = 1
                if not args.continue_on_mismatch:
                    return status
                page = "MISMATCH"

            print("bench: hub, 1 worker", flush=True)
            measure("hub1 c1", hub, "/graphql", concurrency=1, requests=args.c1_requests)
            measure("hub1 c10", hub, "/graphql", concurrency=10, duration=args.duration)
            measure("hub1 c16", hub, "/graphql", concurrency=16, duration=args.duration)
            body100 = orjson.dumps(
                {
                    "query": query,
                    "variables": {**VARIABLES, "first": 100},
                    "operationName": "ProductListing",
                }
            )
            res = runner.run(
                run(HOST, hub.port, "/graphql", body100, concurrency=10, duration=args.duration)
            )
            results["hub1 c10 first100"] = res
            print(f"  {'hub1 c10 first100':<10} {res.summary()}", flush=True)
            get_path = runner.run(register_persisted(hub.port, query))
            res = runner.run(
                run(
                    HOST,
                    hub.port,
                    get_path,
                    b"",
                    concurrency=10,
                    duration=args.duration,
                    method="GET",
                )
            )
            results["hub1 c10 GET"] = res
            print(f"  {'hub1 c10 GET':<10} {res.summary()}", flush=True)
            shut(hub)

            print("bench: floor, 1 worker", flush=True)
            measure("floor c1", floor, "/floor", concurrency=1, requests=args.c1_requests)
            measure("floor c10", floor, "/floor", concurrency=10, duration=args.duration)
            measure("floor c16", floor, "/floor", concurrency=16, duration=args.duration)

            if not args.no_workers2:
                print("bench: hub, 2 workers", flush=True)
                hub2 = launch(
                    "hub 2 workers", [*hub_cmd, "--port", "{port}", "--workers", "2"], "/readyz"
                )
                try:
                    runner.run(check_same_page(hub2.port, floor.port, body, reference))
                except Mismatch as exc:
                    print(f"bench: WARNING (2 workers): {exc}", file=sys.stderr, flush=True)
                    status = 1
                measure("hub2 c10", hub2, "/graphql", concurrency=10, duration=args.duration)
                measure("hub2 c16", hub2, "/graphql", concurrency=16, duration=args.duration)
                shut(hub2)
            shut(floor)

            if args.scale_products:
                measure_large(args, runner, admin, env, logdir, running, launch, shut, results)

            report(args, results, inproc, counts, page)
            if any(res.errors for res in results.values()):
                status = 1
        except BenchError as exc:
            print(f"bench: {exc}", file=sys.stderr)
            return 2
        finally:
            for s in reversed(running):
                stop(s)
            running.clear()
            if created and not args.keep_db:
                try:
                    runner.run(drop_database(admin, dbname))
                except Exception as exc:  # report, never mask the original error
                    print(f"bench: could not drop {dbname}: {exc}", file=sys.stderr)
            elif created:
                print(f"bench: kept database {dbname} (HUB_DATABASE_URL={env['HUB_DATABASE_URL']})")
    return status


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        sys.exit(130)
