"""The HTTP client of the generic marketplace API (``docs/marketplace-api.md``), on
httpx. Every call answers the decoded JSON or raises :class:`MarketplaceError`:
``retryable`` for an outage (connection refused, timeout, 429, 5xx), so a run fails
and the runtime tries again later; otherwise the item is wrong (400, 404, 409) and the
caller records it and goes on."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx

BATCH = 100


class MarketplaceError(Exception):
    def __init__(self, status: int | None, code: str, message: str) -> None:
        super().__init__(f"{status or 'no answer'} {code}: {message}")
        self.status, self.code, self.message = status, code, message

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status == 429 or self.status >= 500


class MarketplaceClient:
    """One run's client (``async with MarketplaceClient(...) as api``)."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 10.0) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout,
        )

    async def __aenter__(self) -> MarketplaceClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            resp = await self._http.request(method, path, json=json, params=params)
        except httpx.HTTPError as exc:
            raise MarketplaceError(None, "unavailable", str(exc) or type(exc).__name__) from exc
        if resp.is_success:
            try:
                return resp.json()
            except ValueError:
                raise MarketplaceError(resp.status_code, "invalid_answer", "not JSON") from None
        code, message = "unavailable", resp.reason_phrase
        try:
            err = resp.json().get("error") or {}
            code, message = str(err.get("code") or code), str(err.get("message") or message)
            if err.get("field"):
                message = f"{err['field']}: {message}"
        except (ValueError, AttributeError):
            pass
        raise MarketplaceError(resp.status_code, code, message)

    # -- listings and offers ------------------------------------------------------------

    async def put_listings(self, listings: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Upsert listings in batches of 100; the per-item results, in order."""
        return await self._batched("/v1/listings/batch", "listings", listings)

    async def put_offers(self, offers: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return await self._batched("/v1/offers/batch", "offers", offers)

    async def _batched(
        self, path: str, key: str, items: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for i in range(0, len(items), BATCH):
            got = await self.call("POST", path, json={key: list(items[i : i + BATCH])})
            out.extend(got.get("results") or [])
        return out

    async def listings_page(
        self, cursor: str | None = None, *, limit: int = 50
    ) -> tuple[list[dict[str, Any]], str | None]:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        got = await self.call("GET", "/v1/listings", params=params)
        return list(got.get("listings") or []), got.get("next_cursor")

    async def end_listing(self, sku: str) -> None:
        await self.call("DELETE", f"/v1/listings/{quote(sku, safe='')}")

    # -- orders -------------------------------------------------------------------------

    async def orders_since(
        self, updated_since: str | None, *, limit: int = 100
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """The pages of orders updated at or after ``updated_since`` (all: None)."""
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": limit}
            if updated_since:
                params["updated_since"] = updated_since
            if cursor:
                params["cursor"] = cursor
            got = await self.call("GET", "/v1/orders", params=params)
            yield list(got.get("orders") or [])
            cursor = got.get("next_cursor")
            if not cursor:
                return

    async def order(self, order_id: str) -> dict[str, Any]:
        return dict(await self.call("GET", f"/v1/orders/{quote(order_id, safe='')}"))

    async def acknowledge(self, order_id: str, merchant_order_id: str) -> None:
        await self.call(
            "POST",
            f"/v1/orders/{quote(order_id, safe='')}/acknowledge",
            json={"merchant_order_id": merchant_order_id},
        )

    async def ship(self, order_id: str, shipment: dict[str, Any]) -> dict[str, Any]:
        path = f"/v1/orders/{quote(order_id, safe='')}/shipments"
        return dict(await self.call("POST", path, json=shipment))

    async def update_tracking(
        self, order_id: str, shipment_id: str, tracking: dict[str, Any]
    ) -> dict[str, Any]:
        path = f"/v1/orders/{quote(order_id, safe='')}/shipments/{quote(shipment_id, safe='')}"
        return dict(await self.call("PATCH", path, json=tracking))

    async def cancel(self, order_id: str, reason: str) -> dict[str, Any]:
        path = f"/v1/orders/{quote(order_id, safe='')}/cancel"
        return dict(await self.call("POST", path, json={"reason": reason}))
