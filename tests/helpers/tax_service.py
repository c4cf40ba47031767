"""A stand-in tax service for connector tests: ``POST /v1/tax/calculate`` in the wire
format of ``connectors.tax.http`` (flat 10% on every line and on shipping), served by
uvicorn in a thread on a free 127.0.0.1 port. It counts its calls, records the
Authorization headers, and answers 500 while ``failing`` is set."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.helpers.serving import listening_socket, serve_on, url_of


@dataclass
class TaxStandIn:
    url: str
    api_key: str
    calls: int = 0
    failing: bool = False
    delay: float = 0.0  # seconds before each answer
    auth: list[str | None] = field(default_factory=list)


def _ten_percent(amount: int, inclusive: bool) -> int:
    rate = Decimal("0.10")
    raw = amount * rate / (1 + rate) if inclusive else amount * rate
    return int(raw.to_integral_value(rounding=ROUND_HALF_EVEN))


def _app(state: TaxStandIn) -> Starlette:
    async def calculate(request: Request) -> Response:
        state.calls += 1
        state.auth.append(request.headers.get("authorization"))
        if state.delay:
            await asyncio.sleep(state.delay)
        if state.failing:
            return JSONResponse({"error": "internal"}, status_code=500)
        if request.headers.get("authorization") != f"Bearer {state.api_key}":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        body = await request.json()
        inclusive = body["pricesIncludeTax"]
        lines = [
            {"lineId": i["lineId"], "tax": _ten_percent(i["amount"], inclusive)}
            for i in body["lines"]
        ]
        shipping = _ten_percent(body["shipping"], inclusive)
        total = sum(i["tax"] for i in lines) + shipping
        return JSONResponse(
            {
                "lines": lines,
                "shippingTax": shipping,
                "breakdown": [{"name": "Stand-in tax", "rate": "0.10", "amount": total}],
                "totalTax": total,
            }
        )

    return Starlette(routes=[Route("/v1/tax/calculate", calculate, methods=["POST"])])


@contextmanager
def tax_stand_in(api_key: str = "stand-in-key") -> Iterator[TaxStandIn]:
    sock = listening_socket()
    state = TaxStandIn(url=url_of(sock), api_key=api_key)
    with serve_on(sock, _app(state), join=5, log_level="warning", timeout_graceful_shutdown=1):
        yield state
