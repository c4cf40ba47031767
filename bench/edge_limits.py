"""What the cost budget costs: one limiter hit (in-process and Redis), and the listing
page in-process with the budget off, in-process and on Redis.

    python bench/edge_limits.py [--redis redis://127.0.0.1:6379/0] [--iterations 400]

Uses a throwaway SQLite database with the demo catalog (600 products) and the contract
ProductListing document (first: 24). Figures on a shared machine are noisy: compare
the rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from hub.app import create_app
from hub.db.database import Database
from hub.db.migrate import upgrade
from hub.demo import seed_demo
from hub.ratelimit import MemoryLimiter, Rate, RedisLimiter
from hub.settings import load_settings

LISTING = (
    Path(__file__).resolve().parents[2] / "shared/contract/operations/ProductListing.graphql"
).read_text()


async def limiter_hits(redis_url: str, n: int) -> tuple[float, float]:
    rate = Rate(200_000, 10)
    mem = MemoryLimiter()
    t = time.perf_counter()
    for i in range(n * 50):
        await mem.hit(f"k{i % 100}", rate, 1154)
    mem_us = (time.perf_counter() - t) / (n * 50) * 1e6
    red = RedisLimiter(redis_url, f"bench-{uuid.uuid4().hex[:8]}:rl:")
    try:
        await red.hit("warm", rate)
        t = time.perf_counter()
        for i in range(n):
            await red.hit(f"k{i % 100}", rate, 1154)
        red_us = (time.perf_counter() - t) / n * 1e6
    finally:
        await red.aclose()
    return mem_us, red_us


async def listing_median(url: str, n: int, **overrides: object) -> float:
    settings = load_settings(database_url=url, **overrides)
    db = Database(settings)
    app = create_app(settings, db=db)
    body = {"query": LISTING, "variables": {"first": 24, "channel": "web"}}
    times = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as c:
            for _ in range(30):
                await c.post("/graphql", json=body)
            for _ in range(n):
                t = time.perf_counter()
                resp = await c.post("/graphql", json=body)
                times.append(time.perf_counter() - t)
                assert resp.status_code == 200 and "errors" not in resp.json(), resp.text[:200]
    await db.dispose()
    return statistics.median(times) * 1000


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--iterations", type=int, default=400)
    args = ap.parse_args()
    mem_us, red_us = await limiter_hits(args.redis, 2000)
    print(f"limiter hit, in-process: {mem_us:8.2f} us")
    print(f"limiter hit, Redis:      {red_us:8.2f} us (one EVALSHA round trip)")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        db = Database(load_settings(database_url=url))
        await upgrade(db.engine)
        await seed_demo(db, 600)
        await db.dispose()
        big = {"cost_restore_rate": 100_000_000, "cost_bucket_size": 100_000_000}
        rows = [
            ("budget off", await listing_median(url, args.iterations, cost_bucket_size=0)),
            ("budget in-process", await listing_median(url, args.iterations, **big)),
            (
                "budget on Redis",
                await listing_median(
                    url,
                    args.iterations,
                    redis_url=args.redis,
                    redis_prefix=f"bench-{uuid.uuid4().hex[:8]}",
                    **big,
                ),
            ),
        ]
    for name, ms in rows:
        print(f"ProductListing in-process, SQLite, {name:18s} p50 {ms:6.2f} ms")


if __name__ == "__main__":
    asyncio.run(main())
