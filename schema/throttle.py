"""Guessing limits on fields: gift card codes, discount codes (and sign-in, to come).

Each call of a limited field takes from the client's bucket for that limit (see
:mod:`hub.ratelimit`): every alias and every operation counts, so fifty aliases in one
request cost fifty. Over the limit the field answers a GraphQL error ``THROTTLED`` with
``extensions.retryAfter`` (seconds) and does nothing.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from hub.ratelimit import Rate


class Throttled(GraphQLError):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, extensions={"code": "THROTTLED", "retryAfter": retry_after})


async def take(info: Any, name: str, rate: Rate | None, cost: int = 1, *, what: str) -> None:
    """Take ``cost`` from the client's ``name`` bucket, or raise :class:`Throttled`."""
    ctx = info.context
    limiter = getattr(ctx, "limiter", None)
    client = getattr(ctx, "client", None)
    if rate is None or limiter is None or client is None or cost <= 0:
        return
    decision = await limiter.hit(f"{name}:{client}", rate, cost)
    if not decision.allowed:
        wait = decision.retry_after_seconds
        raise Throttled(
            f"too many {what} from this client (at most {rate.limit} per "
            f"{rate.period:g}s); retry in {wait}s",
            wait,
        )
