"""The "floor": the product listing page with nothing in the way.

A minimal Starlette app with one route, ``POST /floor``, that answers the
ProductListing query (``first`` products of a channel, by id) with two hand-written SQL
statements on a raw asyncpg pool and ``orjson``: no ORM, no GraphQL. Its response is
byte-for-byte the shape of the hub's GraphQL response (``{"data": {"products": ...}}``),
so the two can be compared and load-tested the same way.

Run it like the hub runs (uvicorn, warning log level, no access log, uvloop and
httptools when installed)::

    HUB_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/hub_bench \\
        python bench/floor_app.py --port 8100

The body may carry ``{"variables": {"first": 24, "channel": "web"}}``; both default.
"""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import AsyncIterator
from functools import lru_cache
from typing import Any

import asyncpg
import orjson
from babel.numbers import get_currency_precision
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

MAX_VARIANTS = 10
MAX_OPTIONS = 3

# The page: active products priced in the channel (they have a price-range row), by id.
# The channel is looked up in scalar subqueries (init plans) so the price-range primary
# key (channel_id, product_id) is walked in product order: the cost doesn't grow with
# the catalog, as it does with a plain join to `channels` (hash join + sort).
PRODUCTS_SQL = """
SELECT p.id, p.handle, p.title, p.vendor, p.options,
       r.min_amount, r.max_amount, r.channel_id,
       (SELECT currency FROM channels WHERE handle = $1) AS currency
FROM product_price_ranges r
JOIN products p ON p.id = r.product_id
WHERE r.channel_id = (SELECT id FROM channels WHERE handle = $1) AND p.status = 'ACTIVE'
ORDER BY r.product_id
LIMIT $2
"""

# Every variant of those products with its price in the channel (if any). Prices carry
# their product id, so the page's prices are one range of (channel_id, product_id).
VARIANTS_SQL = """
SELECT v.product_id, v.id, v.sku, v.title, v.option1, v.option2, v.option3,
       vp.amount, vp.compare_at_amount
FROM variants v
LEFT JOIN variant_prices vp
       ON vp.variant_id = v.id AND vp.channel_id = $2 AND vp.product_id = ANY($1::bigint[])
WHERE v.product_id = ANY($1::bigint[])
ORDER BY v.product_id, v.position, v.id
"""


def dsn_from_env() -> str:
    url = os.environ.get("HUB_DATABASE_URL", "")
    if not url.startswith(("postgresql+asyncpg://", "postgresql://")):
        raise SystemExit("floor: set HUB_DATABASE_URL to a postgresql+asyncpg:// URL")
    return "postgresql://" + url.split("://", 1)[1]


async def init_connection(conn: asyncpg.Connection) -> None:
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(
            typ,
            schema="pg_catalog",
            encoder=lambda v: orjson.dumps(v).decode(),
            decoder=orjson.loads,
        )


async def create_pool(dsn: str, max_size: int = 20) -> asyncpg.Pool:
    """Sized like the hub's engine (pool 10 + overflow 10)."""
    return await asyncpg.create_pool(
        dsn, min_size=min(10, max_size), max_size=max_size, init=init_connection
    )


@lru_cache(maxsize=64)
def _exponent(currency: str) -> int:
    return get_currency_precision(currency)


def money(minor: int, currency: str) -> dict[str, str]:
    exp = _exponent(currency)
    if exp == 0:
        amount = str(minor)
    else:
        sign = "-" if minor < 0 else ""
        whole, frac = divmod(abs(minor), 10**exp)
        amount = f"{sign}{whole}.{frac:0{exp}d}"
    return {"amount": amount, "currencyCode": currency}


def product_cursor(pk: int) -> str:
    # The hub's keyset cursor for sort key ID, ascending.
    raw = orjson.dumps(["P:ID:0", pk, pk])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def fetch_page(conn: asyncpg.Connection, channel: str, first: int) -> dict[str, Any]:
    """The ``data`` of the ProductListing response, from two statements."""
    rows = await conn.fetch(PRODUCTS_SQL, channel, first + 1)
    has_next = len(rows) > first
    rows = rows[:first]
    if not rows:
        return {"products": {"pageInfo": {"hasNextPage": False, "endCursor": None}, "edges": []}}
    currency = rows[0]["currency"]
    by_product: dict[int, list[Any]] = {r["id"]: [] for r in rows}
    for v in await conn.fetch(VARIANTS_SQL, list(by_product), rows[0]["channel_id"]):
        by_product[v[0]].append(v)

    edges = []
    for r in rows:
        pk = r["id"]
        names = [o["name"] for o in r["options"][:MAX_OPTIONS]]
        variants = by_product[pk]
        nodes = []
        for _, vid, sku, title, o1, o2, o3, amount, compare_at in variants[:MAX_VARIANTS]:
            values = (o1, o2, o3)
            nodes.append(
                {
                    "id": f"gid://hub/ProductVariant/{vid}",
                    "sku": sku,
                    "title": title,
                    "availableForSale": amount is not None,
                    "price": money(amount, currency) if amount is not None else None,
                    "compareAtPrice": (
                        money(compare_at, currency)
                        if amount is not None and compare_at is not None
                        else None
                    ),
                    "selectedOptions": [
                        {"name": n, "value": values[i]}
                        for i, n in enumerate(names)
                        if values[i] is not None
                    ],
                }
            )
        cursor = product_cursor(pk)
        edges.append(
            {
                "cursor": cursor,
                "node": {
                    "id": f"gid://hub/Product/{pk}",
                    "handle": r["handle"],
                    "title": r["title"],
                    "vendor": r["vendor"],
                    # Listed products are active, so "can be bought" is "some variant priced".
                    "availableForSale": any(v[7] is not None for v in variants),
                    "priceRange": {
                        "minVariantPrice": money(r["min_amount"], currency),
                        "maxVariantPrice": money(r["max_amount"], currency),
                    },
                    "variants": {"nodes": nodes},
                },
            }
        )
    return {
        "products": {
            "pageInfo": {"hasNextPage": has_next, "endCursor": edges[-1]["cursor"]},
            "edges": edges,
        }
    }


async def render(conn: asyncpg.Connection, channel: str = "web", first: int = 24) -> bytes:
    """The whole response body, as the floor route sends it."""
    return orjson.dumps({"data": await fetch_page(conn, channel, first)})


async def floor(request: Request) -> Response:
    body = await request.body()
    variables: dict[str, Any] = {}
    if body:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return Response(
                b'{"errors":[{"message":"invalid JSON"}]}', 400, media_type="application/json"
            )
        variables = (doc.get("variables") if isinstance(doc, dict) else None) or {}
    first = variables.get("first", 24)
    channel = variables.get("channel", "web")
    if not isinstance(first, int) or not 0 <= first <= 250 or not isinstance(channel, str):
        return Response(
            b'{"errors":[{"message":"bad variables"}]}', 400, media_type="application/json"
        )
    async with request.app.state.pool.acquire() as conn:
        content = await render(conn, channel, first)
    return Response(content, media_type="application/json")


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    app.state.pool = await create_pool(dsn_from_env())
    try:
        yield
    finally:
        await app.state.pool.close()


app = Starlette(routes=[Route("/floor", floor, methods=["POST"])], lifespan=lifespan)


def main() -> None:
    import argparse

    import uvicorn

    ap = argparse.ArgumentParser(description="Serve the floor app (POST /floor).")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8100)
    ap.add_argument("--workers", type=int, default=1)
    a = ap.parse_args()
    dsn_from_env()  # fail fast on a missing or foreign database URL
    kwargs: dict[str, Any] = {}
    if a.workers > 1:
        target: Any = "bench.floor_app:app"
        kwargs["workers"] = a.workers
        kwargs["app_dir"] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    else:
        target = app
    # Same server settings as `hub serve`: loop/http "auto" pick uvloop and httptools.
    uvicorn.run(target, host=a.host, port=a.port, log_level="warning", access_log=False, **kwargs)


if __name__ == "__main__":
    main()
