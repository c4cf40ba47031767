"""The checkout of ``bench/checkout.py`` inside one process: CPU and statements per
checkout, and where the time goes.

    python bench/checkout_inprocess.py [--iterations 300] [--buyers 1]
    python bench/checkout_inprocess.py --profile /tmp/checkout.html   # pyinstrument
    python bench/checkout_inprocess.py --dsn postgresql://postgres@127.0.0.1/hub_x  # kept db

Creates a PostgreSQL database like ``bench/checkout.py`` does (the demo catalog, 64
variants with a million units each at the web warehouse, an admin key), unless
``--dsn`` names one that already has them (then nothing is dropped). Then it sends the
bench's checkout (``cartCreate`` with two lines, ``DEMO10`` and a buyer, then
``checkoutComplete`` with a cash payment) as ASGI requests straight to the hub's
Starlette app: no uvicorn, no socket, no load generator. ``--buyers`` runs that many
buyers concurrently on the one event loop.

Prints, per checkout: this process's CPU time (the hub's work plus a small ASGI
driver: steadier than wall time on a shared machine), the PostgreSQL backends' CPU
(read from ``/proc`` for the backends of this database, when the server is local),
the SQL statements of each request, and the wall time. Exit status 1 if any request
failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import orjson

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from checkout import COMPLETE, CREATE, WAREHOUSE, bench_variants  # noqa: E402
from common import (  # noqa: E402
    PG,
    BenchError,
    bench_database,
    create_api_key,
    create_database,
    drop_database,
    percentile,
    run_hub,
)
from contention import stock  # noqa: E402

CPU_TARGET_MS = 8.0


async def call(app: Any, token: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    body = orjson.dumps({"query": query, "variables": variables})
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"hub"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"authorization", f"Bearer {token}".encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    sent = False
    chunks: list[bytes] = []
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    data = b"".join(chunks)
    doc = orjson.loads(data)
    if status != 200 or doc.get("errors"):
        raise BenchError(f"HTTP {status}: {data[:300]!r}")
    return doc["data"]


async def checkout(app: Any, token: str, n: int, i: int, variants: list[int]) -> None:
    a = variants[(n * 7 + i) % len(variants)]
    b = variants[(n * 7 + i + 3) % len(variants)]
    created = (
        await call(
            app,
            token,
            CREATE,
            {
                "i": {
                    "lines": [
                        {"merchandiseId": f"gid://hub/ProductVariant/{a}", "quantity": 1},
                        {"merchandiseId": f"gid://hub/ProductVariant/{b}", "quantity": 2},
                    ],
                    "discountCodes": ["DEMO10"],
                    "buyerIdentity": {"email": f"buyer{n}@example.com", "countryCode": "US"},
                }
            },
        )
    )["cartCreate"]
    if created["userErrors"]:
        raise BenchError(f"cartCreate: {created['userErrors']}")
    done = (
        await call(
            app,
            token,
            COMPLETE,
            {
                "c": created["cart"]["id"],
                "k": f"bench-{n}-{i}-{secrets.token_hex(4)}",
                "p": {"provider": "cash", "reference": f"till-{n}"},
            },
        )
    )["checkoutComplete"]
    if done["userErrors"] or done["order"] is None:
        raise BenchError(f"checkoutComplete: {done['userErrors']}")
    if done["order"]["totalPrice"]["amount"] != created["cart"]["cost"]["totalAmount"]["amount"]:
        raise BenchError("the order's total differs from the cart's")


@contextlib.contextmanager
def counting(engine: Any) -> Iterator[list[str]]:
    """The statements the requests run (not the app's ``hub-...`` background tasks)."""
    from sqlalchemy import event

    seen: list[str] = []

    def on_exec(conn, cursor, statement, params, context, executemany) -> None:
        task = asyncio.current_task()
        if task is not None and task.get_name().startswith("hub-"):
            return
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", on_exec)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", on_exec)


def backend_cpu(pids: list[int]) -> float:
    """Seconds of CPU (user + system) the given local processes used so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / tick


async def backends(dsn: str, dbname: str) -> list[int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            dbname,
        )
        return [r["pid"] for r in rows]
    finally:
        await conn.close()


async def measure(args: argparse.Namespace, dsn: str, dbname: str, token: str) -> int:
    from hub.app import create_app
    from hub.settings import load_settings

    os.environ["HUB_RATE_LIMIT_DISCOUNT_CODES"] = "off"
    os.environ["HUB_COST_BUCKET_SIZE"] = "0"
    settings = load_settings(database_url="postgresql+asyncpg://" + dsn.split("://", 1)[1])
    app = create_app(settings)
    variants = await bench_variants(dsn, 64)
    async with app.router.lifespan_context(app):
        hub = app.state.hub
        engine = hub.db.engine
        for i in range(args.warmup):
            await checkout(app, token, 0, i, variants)
        # Statements of one checkout, request by request.
        with counting(engine) as seen:
            await call(app, token, "{ __typename }", {})
        base = len(seen)
        with counting(engine) as seen:
            await checkout(app, token, 0, 10_000, variants)
        print(f"statements per checkout (both requests): {len(seen) - 2 * base}")
        if args.show_statements:
            for s in seen:
                print("   ", " ".join(s.split())[:160])
        pids = await backends(dsn, dbname)
        profiler = None
        counter = None
        if args.calls:
            import cProfile

            counter = cProfile.Profile()
            counter.enable()
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0002, async_mode="enabled")
            profiler.start()
        per = args.iterations // args.buyers
        pg0 = backend_cpu(pids)
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        lat: list[float] = []

        async def buyer(n: int) -> None:
            for i in range(per):
                s = time.perf_counter()
                await checkout(app, token, n, 20_000 + i, variants)
                lat.append(time.perf_counter() - s)

        await asyncio.gather(*(buyer(n) for n in range(args.buyers)))
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        pids = sorted(set(pids) | set(await backends(dsn, dbname)))
        pg = backend_cpu(pids) - pg0
        if counter is not None:
            import pstats

            counter.disable()
            calls = pstats.Stats(counter).total_calls  # type: ignore[attr-defined]
            print(f"  Python function calls per checkout: {calls / (per * args.buyers):,.0f}")
        if profiler is not None:
            profiler.stop()
            await asyncio.to_thread(Path(args.profile).write_text, profiler.output_html())
            print(profiler.output_text(unicode=False, color=False, show_all=False))
    n = per * args.buyers
    cpu_ms = cpu / n * 1000
    print(
        f"in-process checkout, {args.buyers} buyer(s), {n} checkouts: "
        f"{n / wall:.1f}/s, p50 {percentile(lat, 50) * 1000:.1f} ms"
    )
    verdict = "PASS" if cpu_ms <= CPU_TARGET_MS else "FAIL"
    print(
        f"  hub CPU per checkout: {cpu_ms:.2f} ms  (target <= {CPU_TARGET_MS:g} ms: {verdict}; "
        "includes the ASGI driver, no uvicorn)"
    )
    print(f"  PostgreSQL backends' CPU per checkout: {pg / n * 1000:.2f} ms")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--buyers", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--profile", help="write a pyinstrument HTML profile here")
    ap.add_argument("--show-statements", action="store_true")
    ap.add_argument(
        "--calls",
        action="store_true",
        help="count Python function calls per checkout (cProfile: nearly deterministic, slower)",
    )
    ap.add_argument("--dsn", help="a database already set up by this script (--keep-db)")
    ap.add_argument("--keep-db", action="store_true")
    ap.add_argument("--pg", default=PG)
    ap.add_argument("--uvloop", action="store_true", help="run on uvloop (as hub serve does)")
    args = ap.parse_args(argv)
    factory = None
    if args.uvloop:
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        run = runner.run
        created = False
        try:
            if args.dsn:
                dsn = args.dsn
                dbname = dsn.rsplit("/", 1)[1]
                env = dict(os.environ)
                env["HUB_DATABASE_URL"] = "postgresql+asyncpg://" + dsn.split("://", 1)[1]
                env["HUB_LOG_LEVEL"] = "WARNING"
            else:
                dbname, dsn, env = bench_database(args.pg)
                run(create_database(args.pg, dbname))
                created = not args.keep_db
                print("seeding the demo catalog ...", flush=True)
                run_hub(["seed", "--demo"], env)
                for v in run(bench_variants(dsn, 64)):
                    run(stock(dsn, v, WAREHOUSE, 1_000_000))
                if args.keep_db:
                    print(f"database kept: --dsn {dsn}")
            token = create_api_key(env, "admin", "till")
            return run(measure(args, dsn, dbname, token))
        except BenchError as exc:
            print(f"bench failed: {exc}", file=sys.stderr)
            return 1
        finally:
            if created:
                run(drop_database(args.pg, dbname))


if __name__ == "__main__":
    sys.exit(main())
