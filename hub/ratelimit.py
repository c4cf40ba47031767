"""Rate limits: one small API over a leaky bucket, in this process or shared through Redis.

``await limiter.hit(key, rate, cost)`` takes ``cost`` units from the bucket of ``key``
and answers a :class:`Decision`: allowed or not, what is left, and when to retry. A
:class:`Rate` is ``limit`` units per ``period`` seconds: the bucket holds ``limit`` and
refills continuously at ``limit / period`` units a second, so a client may burst up to
``limit`` and then goes on at the restore rate (the hosted commerce APIs' cost bucket).

The algorithm is GCRA (the generic cell rate algorithm), a leaky bucket kept as one
number per key: the time at which the bucket will be full again. Taking ``n`` units
moves that time ``n / restore_rate`` seconds on; a hit is refused when it would move it
more than ``period`` past now. A refused hit changes nothing.

Backends:

- :class:`MemoryLimiter`: one process (the embedded default, or Redis unreachable).
- :class:`RedisLimiter`: shared by every hub process using the same Redis and
  ``HUB_REDIS_PREFIX``; one round trip per hit (a Lua script run with EVALSHA, on the
  Redis server's clock). If Redis fails, it falls back to a per-process bucket for a
  few seconds and logs it, rather than failing requests or letting everything through.

Why not the ``limits`` library (alisaifee/limits): it is async and can use redis-py, and
it has weighted hits, but its strategies are fixed, moving and sliding windows (no
leaky bucket with a restore rate to report), ``hit`` answers only a bool (remaining and
reset need a second call, a second round trip on the hot path), and its moving window
stores one entry per unit of cost (a 1,000-point query would write 1,000 entries).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("hub.ratelimit")

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*(s|sec|second|m|min|minute|h|hour)s?\s*$")
_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


@dataclass(frozen=True, slots=True)
class Rate:
    """``limit`` units per ``period`` seconds (bucket size ``limit``)."""

    limit: int
    period: float

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= 1_000_000_000 or not 0 < self.period <= 86_400 * 30:
            raise ValueError(
                "a rate needs a limit from 1 to 1,000,000,000 and a period of up to 30 days"
            )

    @property
    def restore_rate(self) -> float:
        """Units restored per second."""
        return self.limit / self.period

    @classmethod
    def parse(cls, text: str) -> Rate | None:
        """``"20/60s"``, ``"100/5m"``, ``"1000/h"``; ``"off"`` (or ``"0"``) is no limit."""
        t = text.strip().lower()
        if t in ("off", "0", "none", "false", ""):
            return None
        m = _RATE.match(t)
        if m is None:
            raise ValueError(
                f"expected LIMIT/PERIOD such as 20/60s, 100/5m or 1000/1h, or off (got {text!r})"
            )
        period = float(m.group(2) or 1) * _UNITS[m.group(3)]
        return cls(int(m.group(1)), period)

    def __str__(self) -> str:
        return f"{self.limit}/{self.period:g}s"


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    remaining: float  # units in the bucket after this hit (before it, if refused)
    retry_after: float  # seconds until the same hit would be allowed; 0 when allowed
    limit: int

    @property
    def retry_after_seconds(self) -> int:
        """Whole seconds for a Retry-After header (at least 1 when refused)."""
        return 0 if self.allowed else max(1, math.ceil(self.retry_after))


class Limiter(Protocol):
    async def hit(self, key: str, rate: Rate, cost: float = 1) -> Decision:
        """Take ``cost`` units from ``key``'s bucket if they are there."""
        ...

    async def peek(self, key: str, rate: Rate, cost: float = 1) -> Decision:
        """What :meth:`hit` would answer, changing nothing."""
        ...

    async def aclose(self) -> None: ...


def _gcra(tat: float, now: float, rate: Rate, cost: float) -> tuple[bool, float, float, float]:
    """(allowed, remaining, retry_after, new_tat) for one hit at ``now``."""
    interval = rate.period / rate.limit
    tat = max(tat, now)
    new_tat = tat + cost * interval
    allow_at = new_tat - rate.period
    if allow_at > now + 1e-9:
        if cost > rate.limit:  # can never fit: say so with a full period
            return False, (rate.period - (tat - now)) / interval, rate.period, tat
        return False, (rate.period - (tat - now)) / interval, allow_at - now, tat
    return True, (rate.period - (new_tat - now)) / interval, 0.0, new_tat


class MemoryLimiter:
    """Buckets in this process (monotonic clock); expired buckets are dropped as it grows."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._tat: dict[str, float] = {}
        self.max_keys = max_keys

    async def hit(self, key: str, rate: Rate, cost: float = 1) -> Decision:
        return self.hit_now(key, rate, cost)

    async def peek(self, key: str, rate: Rate, cost: float = 1) -> Decision:
        return self.hit_now(key, rate, cost, dry=True)

    def hit_now(self, key: str, rate: Rate, cost: float = 1, *, dry: bool = False) -> Decision:
        now = time.monotonic()
        allowed, remaining, retry, new_tat = _gcra(self._tat.get(key, now), now, rate, cost)
        if allowed and not dry and cost > 0:
            if len(self._tat) >= self.max_keys and key not in self._tat:
                self._prune(now)
            self._tat[key] = new_tat
        return Decision(allowed, max(remaining, 0.0), retry, rate.limit)

    def _prune(self, now: float) -> None:
        self._tat = {k: t for k, t in self._tat.items() if t > now}
        if len(self._tat) >= self.max_keys:  # all live: forget the oldest half
            keep = sorted(self._tat.items(), key=lambda kv: kv[1])[len(self._tat) // 2 :]
            self._tat = dict(keep)

    async def aclose(self) -> None:
        return None


# KEYS[1]: the bucket. ARGV: emission interval (ms per unit), period (ms), cost, dry (0/1).
# Returns {allowed, remaining, retry_after_ms} (numbers as strings: Lua floats would be
# truncated to integers on the way out).
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + cost * interval
local allow_at = new_tat - period
if allow_at > now then
  local retry = allow_at - now
  if cost * interval > period then retry = period end
  return {0, tostring((period - (tat - now)) / interval), tostring(retry)}
end
if ARGV[4] == '0' and cost > 0 then
  redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil(new_tat - now) + 1)
end
return {1, tostring((period - (new_tat - now)) / interval), '0'}
"""


class RedisLimiter:
    """Buckets in Redis, shared by every process with the same ``prefix``."""

    def __init__(
        self,
        url: str,
        prefix: str,
        *,
        timeout: float = 0.5,
        pause_after_failure: float = 2.0,
    ) -> None:
        import redis.asyncio as aioredis

        self.prefix = prefix
        self._client = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            client_name="hub-ratelimit",
        )
        self._script = self._client.register_script(_SCRIPT)
        self._fallback = MemoryLimiter()
        self._pause = pause_after_failure
        self._down_until = 0.0
        self._warned_at = -math.inf

    async def hit(self, key: str, rate: Rate, cost: float = 1) -> Decision:
        return await self._call(key, rate, cost, dry=False)

    async def peek(self, key: str, rate: Rate, cost: float = 1) -> Decision:
        return await self._call(key, rate, cost, dry=True)

    async def _call(self, key: str, rate: Rate, cost: float, *, dry: bool) -> Decision:
        now = time.monotonic()
        if now < self._down_until:
            return self._fallback.hit_now(key, rate, cost, dry=dry)
        interval_ms = rate.period * 1000 / rate.limit
        try:
            allowed, remaining, retry_ms = await self._script(
                keys=[f"{self.prefix}{key}"],
                args=[repr(interval_ms), repr(rate.period * 1000), repr(float(cost)), int(dry)],
            )
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:  # Redis down or slow: this process's own buckets
            self._down_until = now + self._pause
            if now - self._warned_at > 60:
                self._warned_at = now
                log.warning(
                    "rate limits: Redis unavailable (%s); limiting per process meanwhile", exc
                )
            return self._fallback.hit_now(key, rate, cost, dry=dry)
        return Decision(
            bool(int(allowed)),
            max(float(remaining), 0.0),
            float(retry_ms) / 1000,
            rate.limit,
        )

    async def aclose(self) -> None:
        await self._client.aclose()


def create_limiter(settings: Any) -> Limiter:
    """Redis-backed when ``HUB_REDIS_URL`` is set, else in this process."""
    if settings.redis_url:
        return RedisLimiter(settings.redis_url, f"{settings.redis_prefix}:rl:")
    return MemoryLimiter()
