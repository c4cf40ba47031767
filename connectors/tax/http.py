"""A ``TaxEngine`` that asks an external tax service over HTTP, with a fallback.

Wire format
-----------
``POST {url}/v1/tax/calculate`` with ``Content-Type: application/json`` and, when an
API key is configured, ``Authorization: Bearer <api_key>``. The body is the
``TaxRequest`` with camelCase keys; every amount is an integer in minor units of
``currency`` (``1999`` is 19.99 USD, ``1999`` is 1999 JPY)::

    {"currency": "EUR", "country": "DE", "region": null, "postalCode": "10115",
     "pricesIncludeTax": true,
     "lines": [{"lineId": "l1", "amount": 11900, "quantity": 2,
                "taxClass": "standard", "productType": ""}],
     "shipping": 495, "customerVatId": null, "customerExempt": false}

A ``200`` answer is a JSON object; amounts are non-negative integers in the same
minor units, rates decimal strings (a JSON number is accepted)::

    {"lines": [{"lineId": "l1", "tax": 1900}],
     "shippingTax": 79,
     "breakdown": [{"name": "DE VAT", "rate": "0.19", "amount": 1979}],
     "exemptReason": null,
     "totalTax": 1979}

``lines`` must name every request line exactly once and no other. ``breakdown``
(default ``[]``), ``exemptReason`` (default ``null``) and ``totalTax`` are optional;
when ``totalTax`` is given it must equal the line taxes plus ``shippingTax``.

Failures
--------
Timeouts, connection errors and ``5xx`` answers are retried ``retries`` times with a
short exponential backoff (with jitter). A ``4xx`` (or any other non-2xx) answer is not
retried: the same request would fail again. A ``2xx`` answer that breaks the format
above is a failure too, not retried. After the last failure the ``fallback`` engine
computes the tax (the result says ``source="fallback"``); without a fallback,
``TaxUnavailable`` is raised.

Caching
-------
Successful service answers are cached per basket: the key is the SHA-256 of the
request body as sorted, compact JSON, so the same basket asked again within
``cache_ttl`` seconds (default 5 minutes) is answered without a call. The cache is an
LRU of ``cache_size`` entries (0 turns it off). Identical requests made while one is
in flight share that one call. Fallback results are not cached, so the service is
asked again as soon as it is back.

One ``httpx.AsyncClient`` serves every call (keep-alive connections are reused); close
it with ``await engine.aclose()`` or use the engine as an async context manager.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import json
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from connectors.base import (
    AsyncClosing,
    TaxBreakdown,
    TaxEngine,
    TaxRequest,
    TaxResult,
    TaxUnavailable,
)

__all__ = ["HttpTaxEngine", "TaxServiceError", "request_to_wire", "result_from_wire"]

log = logging.getLogger(__name__)

PATH = "/v1/tax/calculate"


class TaxServiceError(Exception):
    """One failed exchange with the tax service (the message says what went wrong)."""


# -------------------------------------------------------------------- wire format


def request_to_wire(req: TaxRequest) -> dict[str, Any]:
    """The request body for ``req`` (see the module docstring)."""
    return {
        "currency": req.currency,
        "country": req.country,
        "region": req.region,
        "postalCode": req.postal_code,
        "pricesIncludeTax": req.prices_include_tax,
        "lines": [
            {
                "lineId": line.line_id,
                "amount": line.amount,
                "quantity": line.quantity,
                "taxClass": line.tax_class,
                "productType": line.product_type,
            }
            for line in req.lines
        ],
        "shipping": req.shipping,
        "customerVatId": req.customer_vat_id,
        "customerExempt": req.customer_exempt,
    }


def _amount(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TaxServiceError(f"{what} must be a non-negative integer (minor units), got {value!r}")
    return value


def _rate(value: object, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise TaxServiceError(f"{what} must be a decimal string, got {value!r}")
    try:
        rate = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise TaxServiceError(f"{what} must be a decimal string, got {value!r}") from None
    if not rate.is_finite() or rate < 0:
        raise TaxServiceError(f"{what} must be a finite, non-negative rate, got {value!r}")
    return rate


def result_from_wire(req: TaxRequest, data: object) -> TaxResult:
    """Check a service answer against ``req`` and turn it into a ``TaxResult``.

    Raises ``TaxServiceError`` when the answer breaks the wire format.
    """
    if not isinstance(data, dict):
        raise TaxServiceError(f"the answer must be a JSON object, got {type(data).__name__}")
    items = data.get("lines")
    if not isinstance(items, list):
        raise TaxServiceError("'lines' must be a list of {lineId, tax}")
    expected = {line.line_id for line in req.lines}
    taxes: dict[str, int] = {}
    for item in items:
        if not isinstance(item, dict):
            raise TaxServiceError(f"'lines' items must be objects, got {item!r}")
        line_id = item.get("lineId")
        if not isinstance(line_id, str) or line_id not in expected:
            raise TaxServiceError(f"'lines' names a line the request does not have: {line_id!r}")
        if line_id in taxes:
            raise TaxServiceError(f"'lines' names line {line_id!r} twice")
        taxes[line_id] = _amount(item.get("tax"), f"tax of line {line_id!r}")
    if missing := expected - taxes.keys():
        raise TaxServiceError(f"'lines' lacks lines {sorted(missing)}")
    shipping_tax = _amount(data.get("shippingTax"), "'shippingTax'")

    rows = data.get("breakdown", [])
    if not isinstance(rows, list):
        raise TaxServiceError("'breakdown' must be a list of {name, rate, amount}")
    breakdown: list[TaxBreakdown] = []
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("name"), str):
            raise TaxServiceError(f"'breakdown' items must be {{name, rate, amount}}, got {row!r}")
        breakdown.append(
            TaxBreakdown(
                name=row["name"],
                rate=_rate(row.get("rate"), f"rate of {row['name']!r}"),
                amount=_amount(row.get("amount"), f"amount of {row['name']!r}"),
            )
        )
    exempt_reason = data.get("exemptReason")
    if exempt_reason is not None and not isinstance(exempt_reason, str):
        raise TaxServiceError(f"'exemptReason' must be a string or null, got {exempt_reason!r}")

    total = sum(taxes.values()) + shipping_tax
    if "totalTax" in data and _amount(data["totalTax"], "'totalTax'") != total:
        raise TaxServiceError(
            f"'totalTax' {data['totalTax']} is not the line taxes plus shipping tax ({total})"
        )
    return TaxResult(
        lines={line.line_id: taxes[line.line_id] for line in req.lines},
        shipping_tax=shipping_tax,
        total_tax=total,
        breakdown=tuple(breakdown),
        source="service",
        exempt_reason=exempt_reason,
    )


# ------------------------------------------------------------------------- cache


class _TTLCache:
    """Least-recently-used, with entries that expire ``ttl`` seconds after they are set."""

    def __init__(self, size: int, ttl: float, clock: Callable[[], float]) -> None:
        self.size, self.ttl, self.clock = size, ttl, clock
        self._items: OrderedDict[str, tuple[float, TaxResult]] = OrderedDict()

    def get(self, key: str) -> TaxResult | None:
        item = self._items.get(key)
        if item is None:
            return None
        expires, value = item
        if self.clock() >= expires:
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return value

    def put(self, key: str, value: TaxResult) -> None:
        if self.size <= 0:
            return
        self._items[key] = (self.clock() + self.ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


def _copy(result: TaxResult) -> TaxResult:
    """A result whose ``lines`` dict the caller may change without touching the cache."""
    return dataclasses.replace(result, lines=dict(result.lines))


# ------------------------------------------------------------------------ engine


class HttpTaxEngine(AsyncClosing):
    """Tax from an external service (wire format in the module docstring).

    ``timeout`` bounds each attempt (connect, write, read); ``retries`` is the number
    of extra attempts after a timeout, connection error or 5xx, ``backoff`` the first
    pause between attempts (doubled each time). Pass ``client`` to share an
    ``httpx.AsyncClient`` (the engine then leaves closing it to you).
    """

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        timeout: float = 2.0,
        retries: int = 2,
        fallback: TaxEngine | None = None,
        cache_size: int = 1024,
        *,
        cache_ttl: float = 300.0,
        backoff: float = 0.05,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        observe: Callable[[str, str | None], None] | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        self.endpoint = url.rstrip("/") + PATH
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.fallback = fallback
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )
        self._cache = _TTLCache(cache_size, cache_ttl, clock)
        self._inflight: dict[str, asyncio.Task[TaxResult]] = {}
        # Told the outcome of every calculate: "service", "cached", "fallback" or
        # "unavailable", with the failure's message (the connector runtime's runs).
        self.observe = observe

    def _seen(self, outcome: str, message: str | None = None) -> None:
        if self.observe is not None:
            try:
                self.observe(outcome, message)
            except Exception:
                log.exception("tax: the call observer failed")

    async def aclose(self) -> None:
        for task in list(self._inflight.values()):
            task.cancel()
        self._inflight.clear()
        if self._owns_client:
            await self._client.aclose()

    def clear_cache(self) -> None:
        self._cache.clear()

    async def calculate(self, req: TaxRequest) -> TaxResult:
        body = json.dumps(request_to_wire(req), sort_keys=True, separators=(",", ":")).encode()
        key = hashlib.sha256(body).hexdigest()
        cached = self._cache.get(key)
        if cached is not None:
            self._seen("cached")
            return _copy(cached)
        try:
            result = _copy(await self._shared_call(key, req, body))
            self._seen("service")
            return result
        except TaxServiceError as exc:
            if self.fallback is None:
                self._seen("unavailable", str(exc))
                raise TaxUnavailable(
                    f"the tax service at {self.endpoint} failed ({exc}) and no fallback "
                    "engine is configured; pass fallback=RulesTaxEngine(...) or retry later"
                ) from exc
            log.warning("tax service failed, using the fallback engine: %s", exc)
            self._seen("fallback", str(exc))
            result = await self.fallback.calculate(req)
            return dataclasses.replace(result, source="fallback")

    async def _shared_call(self, key: str, req: TaxRequest, body: bytes) -> TaxResult:
        """One service call per basket at a time; callers of the same basket share it."""
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._call(req, body))
            self._inflight[key] = task
            task.add_done_callback(functools.partial(self._settle, key))
        # shield: a caller that is cancelled does not cancel the others' call.
        return await asyncio.shield(task)

    def _settle(self, key: str, task: asyncio.Task[TaxResult]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if task.cancelled():
            return
        if task.exception() is None:  # also marks a failure as seen when nobody waits
            self._cache.put(key, task.result())

    async def _call(self, req: TaxRequest, body: bytes) -> TaxResult:
        failure = TaxServiceError("no attempt made")
        for attempt in range(self.retries + 1):
            if attempt:
                delay = self.backoff * 2 ** (attempt - 1)
                await asyncio.sleep(delay * (0.5 + random.random()))
            try:
                resp = await self._client.post(self.endpoint, content=body, headers=self._headers)
            except httpx.TimeoutException as exc:
                failure = TaxServiceError(f"timed out after {self.timeout}s ({type(exc).__name__})")
                continue
            except httpx.TransportError as exc:
                failure = TaxServiceError(f"could not reach it ({type(exc).__name__}: {exc})")
                continue
            except httpx.HTTPError as exc:
                raise TaxServiceError(f"{type(exc).__name__}: {exc}") from exc
            if resp.status_code >= 500:
                failure = TaxServiceError(f"HTTP {resp.status_code} {resp.text[:200]!r}")
                continue
            if not resp.is_success:
                raise TaxServiceError(f"HTTP {resp.status_code} {resp.text[:200]!r} (not retried)")
            try:
                data = json.loads(resp.content, parse_float=Decimal)
            except ValueError:
                raise TaxServiceError(f"the answer is not JSON: {resp.text[:200]!r}") from None
            return result_from_wire(req, data)
        raise TaxServiceError(f"{failure} (after {self.retries + 1} attempts)")
