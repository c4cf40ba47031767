"""A stand-in marketplace: the generic marketplace API of ``docs/marketplace-api.md``
kept in memory, as a Starlette app (``MarketplaceStandIn().app``).

The tests serve it with uvicorn on 127.0.0.1 and the demo mounts it under the hub's
own app; both script it through the ``/_standin`` routes or its methods (place a
buyer's order, fail the next requests, read the state). Thread-safe: the state is
changed under one lock, so a test thread may read it while the server thread serves.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

MAX_BATCH = 100
MAX_ATTRIBUTES = 50
SKU_MAX = 128
CURRENCY = re.compile(r"^[A-Z]{3}$")
Result = tuple[int, dict[str, Any]]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            err["field"] = self.field
        return {"error": err}


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _int(body: dict[str, Any], name: str, lo: int, hi: int) -> int:
    v = body.get(name)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ApiError(400, "invalid", f"{name} is an integer from {lo} to {hi}", name)
    return v


def _money(v: Any, name: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise ApiError(400, "invalid", f"{name} is {{amount, currency}}", name)
    amount = _int(v, "amount", 0, 10**9)
    cur = v.get("currency")
    if not isinstance(cur, str) or not CURRENCY.match(cur):
        raise ApiError(400, "invalid", "currency is three capital letters", f"{name}.currency")
    return {"amount": amount, "currency": cur}


def _text(body: dict[str, Any], name: str, hi: int, *, required: bool = False) -> str | None:
    v = body.get(name)
    if v is None and not required:
        return None
    if not isinstance(v, str) or (required and not v.strip()) or len(v) > hi:
        raise ApiError(400, "invalid", f"{name} is text of at most {hi} characters", name)
    return v


def _sku(sku: Any) -> str:
    if not isinstance(sku, str) or not 1 <= len(sku) <= SKU_MAX:
        raise ApiError(400, "invalid", f"sku is 1 to {SKU_MAX} characters", "sku")
    return sku


class MarketplaceStandIn:
    """The marketplace's state and its API (see the module docstring)."""

    def __init__(
        self, token: str = "standin-token", currency: str = "USD", *, buyers: int = 0
    ) -> None:
        self.token = token
        self.currency = currency
        # The demo's buyers: once offers are in stock, that many orders are placed (one
        # unit of a different offer each), so the seller has orders to import.
        self.buyers = buyers
        self.lock = threading.RLock()
        self.listings: dict[str, dict[str, Any]] = {}
        self.offers: dict[str, dict[str, Any]] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) of every /v1 request
        self.offer_writes: list[dict[str, Any]] = []  # every offer write: {"sku", ...}
        self.failures: list[int] = []  # statuses the next /v1 requests answer
        self._ids = itertools.count(1001)
        self.app = Starlette(routes=self._routes())

    # -- scripting (tests, demo) --------------------------------------------------------

    def fail_next(self, count: int, status: int = 500) -> None:
        with self.lock:
            self.failures.extend([status] * count)

    def place_order(
        self,
        lines: list[tuple[str, int]],
        *,
        buyer: dict[str, Any] | None = None,
        address: dict[str, Any] | None = None,
        shipping: int = 0,
    ) -> dict[str, Any]:
        """A buyer's order of ``lines`` (sku, quantity) at the offers' prices."""
        with self.lock:
            oid = f"MO-{next(self._ids)}"
            out_lines = []
            for i, (sku, qty) in enumerate(lines, 1):
                offer = self.offers.get(sku)
                listing = self.listings.get(sku)
                if offer is None or listing is None or listing["status"] != "active":
                    raise ApiError(409, "conflict", f"{sku} is not on sale", "lines")
                if qty > offer["quantity"]:
                    raise ApiError(409, "conflict", f"only {offer['quantity']} of {sku}", "lines")
                offer["quantity"] -= qty
                cur = offer["price"]["currency"]
                out_lines.append({
                    "id": f"{oid}-{i}", "sku": sku, "title": listing["title"], "quantity": qty,
                    "unit_price": dict(offer["price"]), "tax": {"amount": 0, "currency": cur},
                    "discount": {"amount": 0, "currency": cur},
                    "quantity_shipped": 0, "quantity_cancelled": 0,
                })  # fmt: skip
            cur = out_lines[0]["unit_price"]["currency"] if out_lines else self.currency
            at = _now()
            order = {
                "id": oid, "status": "open", "created_at": at, "updated_at": at,
                "currency": cur,
                "buyer": buyer or {"name": "Ada Lovelace", "email": f"{oid.lower()}@buyer.example",
                                   "phone": None},
                "shipping_address": address or {
                    "name": "Ada Lovelace", "line1": "1 Main St", "line2": None,
                    "city": "Newark", "region": "NJ", "postal_code": "07105", "country": "US"},
                "lines": out_lines,
                "shipping": {"amount": shipping, "currency": cur},
                "shipping_tax": {"amount": 0, "currency": cur},
                "taxes_included": False, "acknowledged": None, "shipments": [],
                "cancellation": None,
            }  # fmt: skip
            self.orders[oid] = order
            return order

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "listings": dict(self.listings),
                "offers": dict(self.offers),
                "orders": dict(self.orders),
                "requests": list(self.requests),
                "offer_writes": list(self.offer_writes),
            }

    # -- HTTP ---------------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        api = self._api
        return [
            Route("/v1/listings", api(self._list_listings), methods=["GET"]),
            Route("/v1/listings/batch", api(self._listings_batch), methods=["POST"]),
            Route("/v1/listings/{sku}", api(self._put_listing), methods=["PUT"]),
            Route("/v1/listings/{sku}", api(self._get_listing), methods=["GET"]),
            Route("/v1/listings/{sku}", api(self._end_listing), methods=["DELETE"]),
            Route("/v1/offers/batch", api(self._offers_batch), methods=["POST"]),
            Route("/v1/offers/{sku}", api(self._put_offer), methods=["PUT"]),
            Route("/v1/offers/{sku}", api(self._patch_offer), methods=["PATCH"]),
            Route("/v1/offers/{sku}", api(self._get_offer), methods=["GET"]),
            Route("/v1/orders", api(self._list_orders), methods=["GET"]),
            Route("/v1/orders/{id}", api(self._get_order), methods=["GET"]),
            Route("/v1/orders/{id}/acknowledge", api(self._acknowledge), methods=["POST"]),
            Route("/v1/orders/{id}/shipments", api(self._ship), methods=["POST"]),
            Route("/v1/orders/{id}/shipments", api(self._shipments), methods=["GET"]),
            Route("/v1/orders/{id}/shipments/{sid}", api(self._patch_ship), methods=["PATCH"]),
            Route("/v1/orders/{id}/cancel", api(self._cancel), methods=["POST"]),
            Route("/_standin/orders", self._script_order, methods=["POST"]),
            Route("/_standin/fail", self._script_fail, methods=["POST"]),
            Route("/_standin/state", self._script_state, methods=["GET"]),
        ]

    def _api(
        self, handler: Callable[[dict[str, Any], dict[str, Any], dict[str, str]], Result]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            body: dict[str, Any] = {}
            if request.method in ("POST", "PUT", "PATCH"):
                try:
                    raw = await request.json()
                except ValueError:
                    return JSONResponse(ApiError(400, "invalid", "not JSON").body(), 400)
                if not isinstance(raw, dict):
                    return JSONResponse(ApiError(400, "invalid", "an object").body(), 400)
                body = raw
            with self.lock:
                self.requests.append((request.method, request.url.path))
                if request.headers.get("authorization") != f"Bearer {self.token}":
                    err = ApiError(401, "unauthorized", "a valid bearer token is required")
                    return JSONResponse(err.body(), 401)
                if self.failures:
                    status = self.failures.pop(0)
                    code = "rate_limited" if status == 429 else "unavailable"
                    headers = {"Retry-After": "1"} if status == 429 else None
                    err = ApiError(status, code, "scripted failure")
                    return JSONResponse(err.body(), status, headers=headers)
                try:
                    status, out = handler(body, dict(request.query_params), request.path_params)
                except ApiError as exc:
                    return JSONResponse(exc.body(), exc.status)
            return JSONResponse(out, status)

        return endpoint

    # listings

    def _listing(self, sku: str, body: dict[str, Any]) -> Result:
        title = _text(body, "title", 255, required=True)
        desc = _text(body, "description", 10_000) or ""
        ref = _text(body, "product_ref", 255) or sku
        attrs = body.get("attributes") or {}
        if (
            not isinstance(attrs, dict)
            or len(attrs) > MAX_ATTRIBUTES
            or any(not isinstance(v, str | int | float | bool) for v in attrs.values())
        ):
            raise ApiError(400, "invalid", "attributes is a flat object", "attributes")
        old = self.listings.get(sku)
        new = {"sku": sku, "product_ref": ref, "title": title, "description": desc,
               "attributes": attrs, "status": "active"}  # fmt: skip
        if old is not None and {k: old[k] for k in new} == new:
            return 200, old
        self.listings[sku] = {**new, "updated_at": _now()}
        return (201 if old is None else 200), self.listings[sku]

    def _put_listing(self, body: dict[str, Any], _q: Any, p: dict[str, str]) -> Result:
        return self._listing(_sku(p["sku"]), body)

    def _get_listing(self, _b: Any, _q: Any, p: dict[str, str]) -> Result:
        got = self.listings.get(p["sku"])
        if got is None:
            raise ApiError(404, "not_found", "no such listing")
        return 200, got

    def _end_listing(self, _b: Any, _q: Any, p: dict[str, str]) -> Result:
        got = self.listings.get(p["sku"])
        if got is None:
            raise ApiError(404, "not_found", "no such listing")
        got.update(status="ended", updated_at=_now())
        if p["sku"] in self.offers:
            self.offers[p["sku"]].update(quantity=0, updated_at=_now())
        return 200, got

    def _list_listings(self, _b: Any, q: dict[str, str], _p: Any) -> Result:
        limit = self._limit(q)
        after = q.get("cursor") or ""
        skus = sorted(s for s in self.listings if s > after)
        page = skus[:limit]
        nxt = page[-1] if len(skus) > limit else None
        return 200, {"listings": [self.listings[s] for s in page], "next_cursor": nxt}

    def _batch(self, body: dict[str, Any], key: str, one: Callable[..., Result]) -> Result:
        items = body.get(key)
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
            raise ApiError(400, "invalid", f"{key} holds 1 to {MAX_BATCH} items", key)
        results: list[dict[str, Any]] = []
        for item in items:
            sku = item.get("sku") if isinstance(item, dict) else None
            try:
                sku = _sku(sku)
                before = self._snapshot(key, sku)
                status, out = one(sku, item)
                after = out if key == "listings" else self.offers.get(sku)
                kind = (
                    "created" if status == 201 else ("unchanged" if before == after else "updated")
                )
                results.append({"sku": sku, "status": kind})
            except ApiError as exc:
                results.append({"sku": sku, "status": "error", **exc.body()})
        return 200, {"results": results}

    def _snapshot(self, key: str, sku: Any) -> Any:
        got = (self.listings if key == "listings" else self.offers).get(sku)
        return dict(got) if got is not None else None

    def _listings_batch(self, body: dict[str, Any], _q: Any, _p: Any) -> Result:
        return self._batch(body, "listings", self._listing)

    # offers

    def _offer(self, sku: str, body: dict[str, Any], *, patch: bool) -> Result:
        self.offer_writes.append({**body, "sku": sku})
        old = self.offers.get(sku)
        if patch and old is None and not ("price" in body and "quantity" in body):
            raise ApiError(404, "not_found", "no offer for this sku: give price and quantity")
        listing = self.listings.get(sku)
        if listing is None:
            raise ApiError(409, "conflict", "list the sku before offering it", "sku")
        new = dict(old or {})
        if "price" in body or not patch:
            new["price"] = _money(body.get("price"), "price")
        if "quantity" in body or not patch:
            new["quantity"] = _int(body, "quantity", 0, 1_000_000)
        new["sku"] = sku
        if listing["status"] == "ended":
            new["quantity"] = 0
        if old is not None and {k: old.get(k) for k in new} == new:
            return 200, old
        new["updated_at"] = _now()
        self.offers[sku] = new
        return (201 if old is None else 200), new

    def _put_offer(self, body: dict[str, Any], _q: Any, p: dict[str, str]) -> Result:
        return self._offer(_sku(p["sku"]), body, patch=False)

    def _patch_offer(self, body: dict[str, Any], _q: Any, p: dict[str, str]) -> Result:
        return self._offer(_sku(p["sku"]), body, patch=True)

    def _get_offer(self, _b: Any, _q: Any, p: dict[str, str]) -> Result:
        got = self.offers.get(p["sku"])
        if got is None:
            raise ApiError(404, "not_found", "no such offer")
        return 200, got

    def _offers_batch(self, body: dict[str, Any], _q: Any, _p: Any) -> Result:
        got = self._batch(body, "offers", lambda sku, item: self._offer(sku, item, patch=True))
        self._buy()
        return got

    def _buy(self) -> None:
        """Place the demo buyers' orders (see ``buyers``) from the offers in stock."""
        in_stock = sorted(
            s
            for s, o in self.offers.items()
            if o["quantity"] > 0 and self.listings.get(s, {}).get("status") == "active"
        )
        while self.buyers > 0 and in_stock:
            self.buyers -= 1
            self.place_order([(in_stock.pop(0), 1)], shipping=499)

    # orders

    @staticmethod
    def _limit(q: dict[str, str]) -> int:
        try:
            limit = int(q.get("limit", "50"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            raise ApiError(400, "invalid", "limit is 1 to 100", "limit")
        return limit

    def _list_orders(self, _b: Any, q: dict[str, str], _p: Any) -> Result:
        limit = self._limit(q)
        since = q.get("updated_since") or ""
        if since:
            try:
                datetime.fromisoformat(since.replace("Z", "+00:00"))
            except ValueError:
                raise ApiError(
                    400, "invalid", "updated_since is RFC 3339", "updated_since"
                ) from None
        keys = sorted(
            (o["updated_at"], o["id"]) for o in self.orders.values() if o["updated_at"] >= since
        )
        cursor = q.get("cursor")
        if cursor:
            at, _, oid = cursor.partition("|")
            keys = [k for k in keys if k > (at, oid)]
        page = keys[:limit]
        nxt = f"{page[-1][0]}|{page[-1][1]}" if len(keys) > limit else None
        return 200, {"orders": [self.orders[k[1]] for k in page], "next_cursor": nxt}

    def _order(self, oid: str) -> dict[str, Any]:
        got = self.orders.get(oid)
        if got is None:
            raise ApiError(404, "not_found", "no such order")
        return got

    def _get_order(self, _b: Any, _q: Any, p: dict[str, str]) -> Result:
        return 200, self._order(p["id"])

    def _acknowledge(self, body: dict[str, Any], _q: Any, p: dict[str, str]) -> Result:
        order = self._order(p["id"])
        ref = _text(body, "merchant_order_id", 64, required=True)
        if order["acknowledged"] is None or order["acknowledged"]["merchant_order_id"] != ref:
            order["acknowledged"] = {"merchant_order_id": ref, "at": _now()}
            order["updated_at"] = _now()
        return 200, order

    def _ship(self, body: dict[str, Any], _q: Any, p: dict[str, str]) -> Result:
        order = self._order(p["id"])
        sid = _text(body, "shipment_id", 128, required=True)
        for s in order["shipments"]:
            if s["shipment_id"] == sid:
                return 200, s
        if order["status"] == "cancelled":
            raise ApiError(409, "conflict", "the order is cancelled")
        by_id = {ln["id"]: ln for ln in order["lines"]}
        wanted = body.get("lines")
        if not isinstance(wanted, list) or not wanted:
            raise ApiError(400, "invalid", "a shipment ships at least one line", "lines")
        for w in wanted:
            ln = by_id.get(w.get("line_id")) if isinstance(w, dict) else None
            if ln is None:
                raise ApiError(400, "invalid", "no such line in this order", "lines")
            left = ln["quantity"] - ln["quantity_shipped"] - ln["quantity_cancelled"]
            if not 1 <= _int(w, "quantity", 1, 10_000) <= left:
                raise ApiError(400, "invalid", f"{ln['id']} has {left} left to ship", "lines")
        track = self._tracking(body)
        for w in wanted:
            by_id[w["line_id"]]["quantity_shipped"] += w["quantity"]
        at = _now()
        shipment = {"shipment_id": sid, **track, "lines": wanted, "created_at": at,
                    "updated_at": at}  # fmt: skip
        order["shipments"].append(shipment)
        done = all(ln["quantity_shipped"] + ln["quantity_cancelled"] >= ln["quantity"]
                   for ln in order["lines"])  # fmt: skip
        order.update(status="shipped" if done else "partially_shipped", updated_at=at)
        return 201, shipment

    @staticmethod
    def _tracking(body: dict[str, Any]) -> dict[str, Any]:
        url = _text(body, "tracking_url", 1000)
        if url is not None and not url.startswith(("http://", "https://")):
            raise ApiError(400, "invalid", "tracking_url is http or https", "tracking_url")
        return {
            "carrier": _text(body, "carrier", 64),
            "tracking_number": _text(body, "tracking_number", 64),
            "tracking_url": url,
        }

    def _shipments(self, _b: Any, _q: Any, p: dict[str, str]) -> Result:
        return 200, {"shipments": self._order(p["id"])["shipments"]}

    def _patch_ship(self, body: dict[str, Any], _q: Any, p: dict[str, str]) -> Result:
        order = self._order(p["id"])
        found = next((s for s in order["shipments"] if s["shipment_id"] == p["sid"]), None)
        if found is None:
            raise ApiError(404, "not_found", "no such shipment")
        track = self._tracking(body)
        found.update({k: v for k, v in track.items() if k in body}, updated_at=_now())
        order["updated_at"] = found["updated_at"]
        return 200, found

    def _cancel(self, body: dict[str, Any], _q: Any, p: dict[str, str]) -> Result:
        order = self._order(p["id"])
        reason = _text(body, "reason", 255, required=True)
        if order["status"] == "cancelled":
            return 200, order
        if any(ln["quantity_shipped"] for ln in order["lines"]):
            raise ApiError(409, "conflict", "units of this order shipped")
        at = _now()
        for ln in order["lines"]:
            ln["quantity_cancelled"] = ln["quantity"] - ln["quantity_shipped"]
        order.update(status="cancelled", cancellation={"reason": reason, "at": at}, updated_at=at)
        return 200, order

    # scripting routes

    async def _script_order(self, request: Request) -> Response:
        body = await request.json()
        try:
            order = self.place_order(
                [(ln["sku"], int(ln["quantity"])) for ln in body.get("lines", [])],
                buyer=body.get("buyer"),
                address=body.get("shipping_address"),
                shipping=int(body.get("shipping", 0)),
            )
        except (ApiError, KeyError, TypeError, ValueError) as exc:
            err = exc if isinstance(exc, ApiError) else ApiError(400, "invalid", "bad order")
            return JSONResponse(err.body(), err.status)
        return JSONResponse(order, 201)

    async def _script_fail(self, request: Request) -> Response:
        body = await request.json()
        self.fail_next(int(body.get("count", 1)), int(body.get("status", 500)))
        return JSONResponse({"failing": len(self.failures)})

    async def _script_state(self, _request: Request) -> Response:
        return JSONResponse(self.state())
