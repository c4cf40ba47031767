"""The listing request inside one process: the hub's ASGI app called directly, no HTTP.

    python bench/inprocess_listing.py --dsn postgresql+asyncpg://.../db [--iterations 500]
    python bench/inprocess_listing.py --dsn ... --profile out.html   # pyinstrument
    python bench/inprocess_listing.py --dsn ... --compare            # compiled vs standard

The database must already hold the demo catalog (``hub seed --demo``). Each request is
``shared/contract/operations/ProductListing.graphql`` with ``{"first": 24, "channel":
"web"}`` (``--first`` to change it), sent as an ASGI ``POST /graphql`` straight to the
Starlette app, the body read back in full. What it leaves out next to
``bench/product_listing.py``: uvicorn's HTTP parsing and the socket, the load generator.
Prints the median and p90 in milliseconds, and this process's CPU time per request
(steadier than wall time on a shared machine). Used to compare library releases in scratch
venvs and to profile where a request's time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
QUERY_FILE = REPO.parent / "shared/contract/operations/ProductListing.graphql"


async def _call(app: Any, body: bytes) -> bytes:
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
    if status != 200:
        raise RuntimeError(f"HTTP {status}: {b''.join(chunks)[:300]!r}")
    return b"".join(chunks)


async def measure(
    dsn: str, iterations: int, first: int, profile: str | None, warmup: int = 50
) -> tuple[list[float], float]:
    from hub.app import create_app
    from hub.settings import load_settings

    # The cost budget off, as bench/common.py runs the servers (else it throttles).
    settings = load_settings(database_url=dsn, cost_bucket_size=0)
    app = create_app(settings)
    body = orjson.dumps(
        {"query": QUERY_FILE.read_text(), "variables": {"first": first, "channel": "web"}}
    )
    async with app.router.lifespan_context(app):
        out = orjson.loads(await _call(app, body))
        if "errors" in out:
            raise RuntimeError(out["errors"])
        for _ in range(warmup):
            await _call(app, body)
        profiler = None
        if profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0002, async_mode="enabled")
            profiler.start()
        times = []
        perf = time.perf_counter
        cpu0 = time.process_time()
        for _ in range(iterations):
            t0 = perf()
            await _call(app, body)
            times.append(perf() - t0)
        cpu = (time.process_time() - cpu0) / iterations
        if profiler is not None:
            profiler.stop()
            html = profiler.output_html()
            await asyncio.to_thread(Path(profile).write_text, html)
            print(profiler.output_text(unicode=False, color=False, show_all=False))
    gc.collect()
    return times, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dsn", default=os.environ.get("HUB_DATABASE_URL"), required=False)
    ap.add_argument("--iterations", type=int, default=500)
    ap.add_argument("--first", type=int, default=24)
    ap.add_argument("--warmup", type=int, default=50, help="requests before measuring (50)")
    ap.add_argument("--profile", help="write a pyinstrument HTML profile here")
    ap.add_argument("--uvloop", action="store_true", help="run on uvloop (as hub serve does)")
    args = ap.parse_args()
    if not args.dsn:
        ap.error("--dsn or HUB_DATABASE_URL is required")
    factory = None
    if args.uvloop:
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        times, cpu = runner.run(
            measure(args.dsn, args.iterations, args.first, args.profile, args.warmup)
        )
    times.sort()
    p50 = statistics.median(times) * 1000
    p90 = times[int(len(times) * 0.9)] * 1000
    print(
        f"in-process listing first={args.first}: p50 {p50:.2f} ms, p90 {p90:.2f} ms, "
        f"CPU {cpu * 1000:.2f} ms per request (this process)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
