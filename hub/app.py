"""The ASGI application: GraphQL at /graphql (HTTP, GraphiQL, websockets), health."""

from __future__ import annotations

import contextlib
import gc
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
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
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.types.unset import UNSET, UnsetType

from hub.auth import ANONYMOUS, PrincipalCache, authenticate
from hub.commerce import Commerce, stripe_webhook
from hub.db.database import Database
from hub.services import Services
from hub.settings import Settings, get_settings
from schema import build_schema
from schema.context import HubContext

log = logging.getLogger("hub")


class _TextWebSocketAdapter(ASGIWebSocketAdapter):
    """Websocket messages as text frames: both GraphQL websocket protocols are text, and
    clients (graphql-ws, Apollo) refuse binary frames, which ``encode_json`` returning
    bytes (orjson, right for HTTP bodies) would otherwise produce."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class HubGraphQL(GraphQL):
    websocket_adapter_class = _TextWebSocketAdapter

    def __init__(self, schema: Any, settings: Settings) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql else None,
            # Browsers' storefronts may open subscriptions from the CORS origins; keys,
            # not cookies, carry identity, so another origin gains nothing ambient.
            allowed_origins=settings.cors_origins,
        )
        self.settings = settings
        self.principals = PrincipalCache(settings.auth_cache_seconds)

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
        if isinstance(request, WebSocket):
            # Websockets authenticate on connection_init (see on_ws_connect), which
            # can refuse the connection properly; until then, and without a key, the
            # connection is an anonymous storefront.
            ctx.connection_params = None  # type: ignore[attr-defined]
            ctx.principal = ANONYMOUS
            return ctx
        auth = headers.get("authorization")
        if auth:
            scheme, _, token = auth.partition(" ")
            principal = (
                await authenticate(ctx.reader, token.strip(), self.principals)
                if scheme.lower() == "bearer"
                else None
            )
            if principal is None:
                raise HTTPException(401, "invalid or revoked API key")
            ctx.principal = principal
        else:
            ctx.principal = ANONYMOUS
        return ctx

    async def on_ws_connect(self, context: HubContext) -> UnsetType:
        """``connection_init`` of both websocket protocols: the API key (and channel) from
        its payload, ``{"authorization": "Bearer hub_..."}`` or ``{"headers":
        {"Authorization": ...}}``, else from the handshake's headers. An unknown or revoked
        key refuses the connection (graphql-transport-ws: close 4403; graphql-ws:
        connection_error); no key is an anonymous storefront."""
        params = context.connection_params  # type: ignore[attr-defined]
        params = params if isinstance(params, dict) else {}
        given = {str(k).lower(): v for k, v in params.items()}
        nested = given.get("headers")
        if isinstance(nested, dict):
            given = {**{str(k).lower(): v for k, v in nested.items()}, **given}
        handshake = context.request.headers
        auth = given.get("authorization") or handshake.get("authorization")
        channel = given.get("x-hub-channel") or given.get("channel")
        if channel is not None:
            if not isinstance(channel, str):
                raise ConnectionRejectionError({"message": "channel must be a string"})
            context.channel_header = channel
        if not auth:
            return UNSET
        scheme, _, token = auth.partition(" ") if isinstance(auth, str) else ("", "", "")
        try:
            principal = (
                await authenticate(context.reader, token.strip())
                if scheme.lower() == "bearer"
                else None
            )
        finally:
            await context.reader.close()  # hold no connection while the socket idles
        if principal is None:
            raise ConnectionRejectionError({"message": "invalid or revoked API key"})
        context.principal = principal
        return UNSET

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
    # Live event-bus subscribers of this process (websocket subscriptions): lets
    # operators and tests see that closed connections leave none behind.
    services = getattr(request.app.state, "services", None)
    subscribers = services.bus.subscriber_count if services is not None else 0
    return JSONResponse({"status": "ok", "database": db.dialect, "subscribers": subscribers})


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
        app.state.commerce = Commerce(settings, app.state.db, app.state.services.publish)
        app.state.services.reconcile_payments = app.state.commerce.reconcile_payments
        # Long-lived objects (schema, settings, caches) out of the collector's way, and
        # fewer young-generation passes: GC pauses otherwise dominate tail latency.
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 20, 20)
        try:
            yield
        finally:
            await app.state.commerce.aclose()
            await app.state.services.stop()
            if own:
                await app.state.db.dispose()

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/graphql", graphql_app, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql_app),
            Route("/webhooks/stripe", stripe_webhook, methods=["POST"]),
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
