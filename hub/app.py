"""The ASGI application: GraphQL at /graphql (HTTP, GraphiQL, websockets), health."""

from __future__ import annotations

import contextlib
import gc
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
from cross_web import HTTPException
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from hub.auth import ANONYMOUS, authenticate
from hub.db.database import Database
from hub.services import Services
from hub.settings import Settings, get_settings
from schema import build_schema
from schema.context import HubContext

log = logging.getLogger("hub")


class HubGraphQL(GraphQL):
    def __init__(self, schema: Any, settings: Settings) -> None:
        super().__init__(schema, graphql_ide="graphiql" if settings.graphiql else None)
        self.settings = settings

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        scope.setdefault("state", {})
        try:
            await super().__call__(scope, receive, send)
        finally:
            ctx = scope["state"].pop("hub_ctx", None)
            if ctx is not None:
                await ctx.close()

    async def get_context(self, request: Request | WebSocket, response: Any) -> HubContext:
        db: Database = request.app.state.db
        headers = request.headers
        rid = headers.get("x-request-id") or uuid.uuid4().hex[:16]
        ctx = HubContext(
            db=db,
            settings=self.settings,
            services=request.app.state.services,
            request=request,
            response=response,
            channel_header=headers.get("x-hub-channel"),
            request_id=rid,
        )
        request.state.hub_ctx = ctx
        if isinstance(response, Response):
            response.headers["X-Request-Id"] = rid
        auth = headers.get("authorization")
        if auth:
            scheme, _, token = auth.partition(" ")
            principal = (
                await authenticate(ctx.reader, token.strip())
                if scheme.lower() == "bearer"
                else None
            )
            if principal is None:
                raise HTTPException(401, "invalid or revoked API key")
            ctx.principal = principal
        else:
            ctx.principal = ANONYMOUS
        return ctx

    def encode_json(self, data: object) -> bytes:  # type: ignore[override]
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    db: Database = request.app.state.db
    try:
        async with db.read() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        log.warning("readiness check failed: %s", exc)
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
    return JSONResponse({"status": "ok", "database": db.dialect})


def create_app(settings: Settings | None = None, *, db: Database | None = None) -> Starlette:
    settings = settings or get_settings()
    schema = build_schema(settings)
    graphql_app = HubGraphQL(schema, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own = db is None
        app.state.db = db or Database(settings)
        app.state.services = Services(settings, app.state.db)
        await app.state.services.start()
        # Long-lived objects (schema, settings, caches) out of the collector's way, and
        # fewer young-generation passes: GC pauses otherwise dominate tail latency.
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 20, 20)
        try:
            yield
        finally:
            await app.state.services.stop()
            if own:
                await app.state.db.dispose()

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/graphql", graphql_app, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql_app),
        ],
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["*"],
                expose_headers=["X-Request-Id"],
            ),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.schema = schema
    if db is not None:
        app.state.db = db
    return app
