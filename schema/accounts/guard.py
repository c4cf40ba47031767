"""Brute-force limits of the account operations, on the shared limiter.

Each attempt takes one unit from every bucket it counts against before anything is
checked: per account (a hash of the email, or the customer id) and per client address.
Aliases and operations count one each, so fifty aliased sign-ins in one document are
fifty attempts (batched requests, a JSON array, are refused at the edge). Over a limit
the attempt answers a userError ``THROTTLED`` with ``retryAfter`` (seconds), also sent as
the response's ``Retry-After`` header, and does nothing.
"""

from __future__ import annotations

import hashlib

from strawberry.types import Info

from hub.domain.accounts import AccountCode
from hub.ratelimit import Rate
from schema.errors import UserError, UserErrorCode

Bucket = tuple[str, Rate | None, str | None]


def account_key(value: str) -> str:
    """A bucket key for an account (an email, a customer id): hashed, so the limiter's
    store holds no email addresses."""
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]


def by_address(info: Info) -> str | None:
    ctx = info.context
    return ctx.address or ctx.client


async def attempt(info: Info, what: str, *buckets: Bucket) -> list[UserError]:
    """Take one attempt from each ``(name, rate, who)`` bucket; [] when allowed, else
    the THROTTLED userError (``what`` names the attempts in its message)."""
    ctx = info.context
    limiter = ctx.limiter
    if limiter is None:
        return []
    wait = 0
    for name, rate, who in buckets:
        if rate is None or who is None:
            continue
        decision = await limiter.hit(f"account:{name}:{who}", rate)
        if not decision.allowed:
            wait = max(wait, decision.retry_after_seconds)
    if not wait:
        return []
    response = ctx.response
    headers = getattr(response, "headers", None)
    if headers is not None:
        headers["Retry-After"] = str(wait)
    return [
        UserError(
            field=None,
            message=f"too many {what}; retry in {wait}s",
            code=UserErrorCode(AccountCode.THROTTLED),
            retry_after=wait,
        )
    ]
