"""A stand-in for a remote ERP/CRM REST API (the REST connector's tests).

A Starlette app served by uvicorn in a thread on a free 127.0.0.1 port. Its wire
format (what ``docs/rest-connector.md`` uses as the worked example):

``GET /products`` — cursor pagination: ``?cursor=<c>&limit=<n>`` answers
  ``{"data": [product...], "meta": {"next_cursor": "<c>" | null}}``; a product is
  ``{"code", "family", "name", "price": "19.99", "active", "stock": [{"warehouse",
  "qty"}], "updated_at"}``; ``?updated_since=<ts>`` keeps products with
  ``updated_at >= ts``.
``GET /stock`` — page pagination: ``?page=<p>&per_page=<n>`` (pages from 1) answers
  ``{"results": [{"sku", "warehouse", "on_hand"}], "page": p}``.
``GET /contacts`` — offset pagination: ``?offset=<o>&limit=<n>`` answers
  ``{"items": [contact...], "total": <n>}``; a contact is ``{"id", "email", "phone",
  "first", "last", "optin", "tags", "modified"}``; ``?modified_since=<ts>`` filters.
``POST /orders``, ``POST /movements``, ``POST /customers``, ``PUT /customers/{id}`` —
  record the JSON
  body with its headers, answer ``201 {"ok": true}``.

Auth: ``state.auth`` is ``None`` (open), ``("bearer", token)``, ``("header", name,
token)`` or ``("basic", user, password)``; a request without the right credentials
gets ``401``. Faults: ``state.faults`` is a list consumed one per request (any path):
``"500"`` answers 500, ``"slow"`` answers after ``state.slow_seconds`` (longer than the
client's timeout; recorded with status 0), ``"ok"`` answers normally.
``state.requests`` records every request (method, path, query, answered status).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.helpers.serving import listening_socket, serve_on, url_of


@dataclass
class Received:
    method: str
    path: str
    body: Any
    headers: dict[str, str]


@dataclass
class RestStandIn:
    url: str = ""
    auth: tuple[str, ...] | None = None
    faults: list[str] = field(default_factory=list)
    slow_seconds: float = 2.0
    products: list[dict[str, Any]] = field(default_factory=list)
    stock: list[dict[str, Any]] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str], int]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    push_status: int = 201

    def reset(self) -> None:
        self.auth = None
        self.faults.clear()
        self.products.clear()
        self.stock.clear()
        self.contacts.clear()
        self.requests.clear()
        self.received.clear()
        self.push_status = 201

    def statuses(self, path: str) -> list[int]:
        return [s for _, p, _, s in self.requests if p == path]


def _authorized(state: RestStandIn, request: Request) -> bool:
    if state.auth is None:
        return True
    style, *args = state.auth
    if style == "bearer":
        return request.headers.get("authorization") == f"Bearer {args[0]}"
    if style == "header":
        return request.headers.get(args[0]) == args[1]
    expected = base64.b64encode(f"{args[0]}:{args[1]}".encode()).decode()
    return request.headers.get("authorization") == f"Basic {expected}"


def _since(rows: list[dict[str, Any]], key: str, since: str | None) -> list[dict[str, Any]]:
    return [r for r in rows if since is None or str(r[key]) >= since]


def _app(state: RestStandIn) -> Starlette:
    async def gate(request: Request) -> Response | None:
        fault = state.faults.pop(0) if state.faults else "ok"
        status = 200
        answer: Response | None = None
        if fault == "slow":  # recorded as status 0: the client gives up before the answer
            state.requests.append((request.method, request.url.path, dict(request.query_params), 0))
            await asyncio.sleep(state.slow_seconds)
            return JSONResponse({"error": "too late"}, 504)
        if not _authorized(state, request):
            status, answer = 401, JSONResponse({"error": "unauthorized"}, 401)
        elif fault == "500":
            status, answer = 500, JSONResponse({"error": "boom"}, 500)
        state.requests.append(
            (request.method, request.url.path, dict(request.query_params), status)
        )
        return answer

    async def products(request: Request) -> Response:
        if (refused := await gate(request)) is not None:
            return refused
        q = request.query_params
        rows = _since(state.products, "updated_at", q.get("updated_since"))
        start = int(q.get("cursor") or 0)
        limit = int(q.get("limit") or 2)
        page = rows[start : start + limit]
        nxt = str(start + limit) if start + limit < len(rows) else None
        return JSONResponse({"data": page, "meta": {"next_cursor": nxt}})

    async def stock(request: Request) -> Response:
        if (refused := await gate(request)) is not None:
            return refused
        page = int(request.query_params.get("page") or 1)
        size = int(request.query_params.get("per_page") or 2)
        rows = state.stock[(page - 1) * size : page * size]
        return JSONResponse({"results": rows, "page": page})

    async def contacts(request: Request) -> Response:
        if (refused := await gate(request)) is not None:
            return refused
        q = request.query_params
        rows = _since(state.contacts, "modified", q.get("modified_since"))
        offset, limit = int(q.get("offset") or 0), int(q.get("limit") or 2)
        return JSONResponse({"items": rows[offset : offset + limit], "total": len(rows)})

    async def push(request: Request) -> Response:
        if (refused := await gate(request)) is not None:
            return refused
        body = await request.json()
        state.received.append(
            Received(request.method, request.url.path, body, dict(request.headers))
        )
        return JSONResponse({"ok": True}, state.push_status)

    return Starlette(
        routes=[
            Route("/products", products),
            Route("/stock", stock),
            Route("/contacts", contacts),
            Route("/orders", push, methods=["POST"]),
            Route("/movements", push, methods=["POST"]),
            Route("/customers", push, methods=["POST"]),
            Route("/customers/{id}", push, methods=["PUT"]),
        ]
    )


@contextmanager
def serve_rest_standin() -> Iterator[RestStandIn]:
    sock = listening_socket()
    state = RestStandIn(url=url_of(sock))
    with serve_on(sock, _app(state), join=5, log_level="warning", timeout_graceful_shutdown=1):
        yield state
