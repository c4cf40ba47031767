"""The ASGI application: GraphQL at /graphql (HTTP, GraphiQL, websockets), health."""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson
from cross_web import HTTPException
from graphql import GraphQLError, parse, validate
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.types.unset import UNSET, UnsetType

from hub import graphiql
from hub.auth import ANONYMOUS, API_KEY, Principal, PrincipalCache, authenticate
from hub.composition import build_hub, demo_routes, webhook_routes
from hub.container import Hub
from hub.db.database import Database, Reader
from hub.db.outage import database_unavailable
from hub.edge import BodyLimit, BodyTooLarge, EdgeError, client_address, error_response, json_error
from hub.heap import settle_heap
from hub.persisted import (
    PersistedQueries,
    PublicAnswers,
    not_registered,
    resolve_request,
    sha256_hex,
)
from hub.ratelimit import Limiter, create_limiter
from hub.sessions import OpenSockets
from hub.settings import Settings, get_settings
from hub.websockets import SocketRefusal, TextWebSocketAdapter
from plugins import Plugin
from plugins.host import load_plugins
from schema import UNAVAILABLE_MESSAGE, build_schema, fanout
from schema.context import HubContext

log = logging.getLogger("hub")


class HubGraphQL(GraphQL[HubContext, None]):
    """strawberry's ASGI view with the hub's edge: API keys (with a limit on failed
    attempts per address), JSON errors with codes for every refusal (see
    :mod:`hub.edge`), request bounds before parsing, the database outage as 503, and
    the websocket handlers of :mod:`hub.websockets`."""

    websocket_adapter_class = TextWebSocketAdapter
    # The edge's guarded handlers (hub.websockets), which also tell the context they
    # serve it, so identical subscriptions share one execution per event (schema.fanout).
    graphql_transport_ws_handler_class = fanout.TransportWSHandler
    graphql_ws_handler_class = fanout.LegacyWSHandler

    def __init__(self, schema: Any, settings: Settings, limiter: Limiter | None = None) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql else None,
            # Browsers' storefronts may open subscriptions from the CORS origins; keys,
            # not cookies, carry identity, so another origin gains nothing ambient.
            allowed_origins=settings.cors_origins,
        )
        self.settings = settings
        self.principals = PrincipalCache(settings.auth_cache_seconds)
        self.limiter = limiter
        self.sessions: OpenSockets | None = None  # set while the app runs
        self.ide = graphiql.PageCache(graphiql.assets_dir(settings.graphiql_assets_dir))
        self.persisted: PersistedQueries | None = None  # set while the app runs
        ttl = min(settings.persisted_query_local_seconds, settings.persisted_query_max_age)
        self.answers = PublicAnswers(ttl) if settings.persisted_queries and ttl > 0 else None

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL, its scripts from the hub once `hub graphiql install` put them there."""
        return HTMLResponse(self.ide.page(request.scope.get("root_path", "")))

    def should_render_graphql_ide(self, request: Any) -> bool:
        # A persisted query's GET has no `query` but its `extensions`: an API call.
        if request.query_params.get("extensions") is not None:
            return False
        return super().should_render_graphql_ide(request)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        state = scope.setdefault("state", {})
        try:
            if scope["type"] == "http":
                await self._http(scope, receive, send)
            else:
                await super().__call__(scope, receive, send)
        finally:
            ctx = state.pop("hub_ctx", None)
            if ctx is not None:
                await ctx.close()

    async def _http(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope=scope, receive=receive)
        rid = (request.headers.get("x-request-id") or os.urandom(8).hex())[:64]
        scope["state"]["request_id"] = rid
        cache_key = self.answers.key(request) if self.answers is not None else None
        if cache_key is not None:
            kept = self.answers.get(cache_key)  # type: ignore[union-attr]
            if kept is not None:
                body, status, headers = kept
                answer = Response(body, status, headers={**headers, "X-Request-Id": rid})
                await answer(scope, receive, send)
                return
        try:
            response = await self.run(request)
            self.cache_headers(request, response)
            if cache_key is not None and response.headers.get("cache-control", "").startswith(
                "public"
            ):
                self.answers.put(cache_key, response)  # type: ignore[union-attr]
        except HTTPException as exc:
            response = error_response(exc, rid)
        except BodyTooLarge:
            raise  # BodyLimit answers 413
        except Exception as exc:
            if database_unavailable(exc):
                log.warning("request %s: database unavailable: %s", rid, exc)
                response = json_error(
                    503, UNAVAILABLE_MESSAGE, headers={"Retry-After": "2", "X-Request-Id": rid}
                )
            else:
                log.exception("request %s failed", rid)
                response = json_error(
                    500,
                    "Internal error; quote the X-Request-Id response header to support",
                    headers={"X-Request-Id": rid},
                )
        await response(scope, receive, send)

    # ------------------------------------------------------------------ context, keys

    async def get_context(self, request: Request | WebSocket, response: Any) -> HubContext:
        hub: Hub = request.app.state.hub
        headers = request.headers
        rid = request.scope["state"].get("request_id") or uuid.uuid4().hex[:16]
        ctx = HubContext(
            hub=hub,
            request=request,
            response=response,
            channel_header=headers.get("x-hub-channel"),
            request_id=rid,
        )
        request.state.hub_ctx = ctx
        address = client_address(request.scope)
        ctx.client = f"ip:{address}"
        ctx.address = address
        ctx.limiter = self.limiter
        if isinstance(response, Response):
            response.headers["X-Request-Id"] = rid
        if isinstance(request, WebSocket):
            # Websockets authenticate on connection_init (see on_ws_connect), which
            # can refuse the connection properly; until then, and without a key, the
            # connection is an anonymous storefront.
            ctx.connection_params = None
            ctx.principal = ANONYMOUS
            return ctx
        auth = headers.get("authorization")
        if auth:
            ctx.principal = await self.authenticate(ctx.reader, auth, address)
            ctx.client = ctx.principal.client
            pk = ctx.principal.key_pk
            if ctx.principal.kind == API_KEY and pk in self.settings.cost_per_buyer_keys:
                # A server-side storefront's key: its budgets and limits per shopper.
                buyer = headers.get("x-hub-buyer") or address
                ctx.client = f"key:{pk}:buyer:{buyer[:64]}"
        else:
            ctx.principal = ANONYMOUS
        return ctx

    async def authenticate(self, reader: Reader, auth: object, address: str) -> Principal:
        """The principal of an ``Authorization`` value, or EdgeError: 401 for a bad key,
        429 after too many bad keys from ``address``, 503 if the database is down."""
        scheme, _, token = auth.partition(" ") if isinstance(auth, str) else ("", "", "")
        token = token.strip() if scheme.lower() == "bearer" else ""
        hit = self.principals.get_token(token) if token else None
        if hit is not None:
            return hit
        rate, limiter = self.settings.rate_limit_auth_failures, self.limiter
        key = f"authfail:{address}"
        if rate is not None and limiter is not None:
            decision = await limiter.peek(key, rate)
            if not decision.allowed:
                wait = decision.retry_after_seconds
                raise EdgeError(
                    429,
                    f"too many failed API key attempts from this address; retry in {wait}s",
                    "THROTTLED",
                    headers={"Retry-After": str(wait)},
                    retryAfter=wait,
                )
        try:
            principal = await authenticate(reader, token, self.principals) if token else None
        except Exception as exc:
            if database_unavailable(exc):
                raise EdgeError(503, UNAVAILABLE_MESSAGE, headers={"Retry-After": "2"}) from exc
            raise
        if principal is None:
            if rate is not None and limiter is not None:
                await limiter.hit(key, rate)
            raise EdgeError(
                401,
                "invalid, revoked or expired API key or customer access token; send "
                "Authorization: Bearer hub_... (or hubca_...)",
                "UNAUTHENTICATED",
            )
        return principal

    async def on_ws_connect(self, context: HubContext) -> UnsetType:
        """``connection_init`` of both websocket protocols: the API key (and channel) from
        its payload, ``{"authorization": "Bearer hub_..."}`` or ``{"headers":
        {"Authorization": ...}}``, else from the handshake's headers. An unknown or revoked
        key refuses the connection (graphql-transport-ws: close 4403; graphql-ws:
        connection_error); no key is an anonymous storefront."""
        params = context.connection_params
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
        try:
            principal = await self.authenticate(
                context.reader, auth, client_address(context.request.scope)
            )
        except EdgeError as exc:
            if exc.status_code == 401:
                raise ConnectionRejectionError(
                    {"message": exc.reason, "extensions": {"code": exc.code}}
                ) from None
            close = 4429 if exc.status_code == 429 else 1013  # 1013: try again later
            raise SocketRefusal(close, exc.reason, exc.code, exc.extensions) from None
        finally:
            await context.reader.close()  # hold no connection while the socket idles
        context.principal = principal
        context.client = principal.client
        context.token = auth  # re-checked before every operation
        return UNSET

    async def socket_still_authorized(self, context: HubContext) -> bool:
        """Whether the key a socket was opened with still stands (cached per process for
        HUB_AUTH_CACHE_SECONDS; revocations reach the cache at once via the bus)."""
        auth = context.token
        if auth is None:
            return True
        if context.revoked:
            return False
        reader = Reader(context.db)  # not the context's: operations may be using it
        try:
            principal = await self.authenticate(reader, auth, client_address(context.request.scope))
        except EdgeError as exc:
            # The database being down says nothing about the key: let the operation run
            # (and fail with SERVICE_UNAVAILABLE if it needs the database).
            return exc.status_code == 503
        finally:
            await reader.close()
        return principal.credential == context.principal.credential

    # ----------------------------------------------------------------- request bounds

    def operation_too_large(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        """A GraphQL error (as sent) if an operation's query or variables are too large."""
        try:
            self._check_bounds(payload.get("query"), payload.get("variables"))
        except EdgeError as exc:
            return {"message": exc.reason, "extensions": {"code": exc.code}}
        return None

    async def operation_not_registered(
        self, payload: dict[str, Any], ctx: HubContext
    ) -> dict[str, Any] | None:
        """Allow-list mode on websockets: a GraphQL error (as sent) for an operation
        that isn't registered (callers with the admin scope excepted)."""
        if not self.settings.persisted_queries_only or ctx.principal.is_staff:
            return None
        query = payload.get("query")
        store = self.persisted
        if isinstance(query, str) and store is not None:
            if await store.get(sha256_hex(query)) is not None:
                return None
        exc = not_registered()
        return {"message": exc.reason, "extensions": {"code": exc.code}}

    def _check_bounds(self, query: object, variables: object) -> None:
        s = self.settings
        if isinstance(query, str) and len(query) > s.max_query_length:
            raise EdgeError(
                413,
                f"the query is {len(query)} characters; the limit is {s.max_query_length} "
                "(HUB_MAX_QUERY_LENGTH)",
                "QUERY_TOO_LARGE",
            )
        if variables:
            size = len(orjson.dumps(variables))
            if size > s.max_variables_bytes:
                raise EdgeError(
                    413,
                    f"the variables are {size} bytes as JSON; the limit is "
                    f"{s.max_variables_bytes} (HUB_MAX_VARIABLES_BYTES)",
                    "VARIABLES_TOO_LARGE",
                )

    def parse_json(self, data: str | bytes) -> Any:
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise EdgeError(400, f"the body is not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise EdgeError(
                400,
                "expected a JSON object (batched operations, a JSON array, are not "
                "supported: send one operation per request)",
            )
        return value

    async def parse_http_body(self, request: Any) -> GraphQLRequestData:
        data = await self._json_post(request) or await super().parse_http_body(request)
        assert isinstance(data, GraphQLRequestData)  # batches are refused by parse_json
        persisted = (data.extensions or {}).get("persistedQuery")
        if persisted is not None and data.query is None:
            data.query = ""  # the text comes from the store (execute_single)
        elif not isinstance(data.query, str) or not data.query.strip():
            raise EdgeError(400, 'no GraphQL query: send {"query": "..."}')
        if not isinstance(data.operation_name, str | None):
            raise EdgeError(400, "`operationName` must be a string or null")
        self._check_bounds(data.query, data.variables)
        return data

    async def _json_post(self, request: Any) -> GraphQLRequestData | None:
        """strawberry's parsing of the common request, a plain JSON POST, without its
        content-type parser (``email.message``, the largest cost of a small request);
        None for anything else (strawberry's parsing then)."""
        if request.method != "POST":
            return None
        ctype = (request.content_type or "").partition(";")[0].strip().lower()
        if ctype != "application/json" or self._get_stream_transport_from_headers(request.headers):
            return None
        body = self.parse_json(await request.get_body())
        query, variables, extensions = (
            body.get("query"),
            body.get("variables"),
            body.get("extensions"),
        )
        if not isinstance(query, str | None):
            raise HTTPException(
                400, "The GraphQL operation's `query` must be a string or null, if provided."
            )
        if not isinstance(variables, dict | None):
            raise HTTPException(
                400,
                "The GraphQL operation's `variables` must be an object or null, if provided.",
            )
        if not isinstance(extensions, dict | None):
            raise HTTPException(
                400,
                "The GraphQL operation's `extensions` must be an object or null, if provided.",
            )
        return GraphQLRequestData(
            query=query,
            variables=variables,
            operation_name=body.get("operationName"),
            extensions=extensions,
            protocol="http",
        )

    # -------------------------------------------------------------- persisted queries

    async def execute_single(  # type: ignore[override]  # strawberry's keywords, passed on
        self, request: Any, request_adapter: Any, sub_response: Any, context: Any, **kw: Any
    ) -> Any:
        """Persisted queries (:mod:`hub.persisted`) before strawberry runs the request,
        and a client's registration after its text validated."""
        data: GraphQLRequestData = kw.pop("request_data")
        data = await self.persisted_request(request_adapter.method, context, data)
        result = await super().execute_single(
            request=request,
            request_adapter=request_adapter,
            sub_response=sub_response,
            context=context,
            request_data=data,
            **kw,
        )
        if context.register and context.document_valid and self.persisted:
            await self.persisted.register(context.persisted, data.operation_name)
        return result

    async def persisted_request(
        self, method: str, ctx: HubContext, data: GraphQLRequestData
    ) -> GraphQLRequestData:
        """See :func:`hub.persisted.resolve_request`."""
        return await resolve_request(self.settings, self.persisted, method, ctx, data)

    async def process_result(self, request: Any, result: Any) -> Any:
        if result.errors:
            ctx = getattr(request.state, "hub_ctx", None)
            if ctx is not None:
                ctx.public = False  # only clean answers are cached publicly
        return await super().process_result(request, result)

    def cache_headers(self, request: Request, response: Response) -> None:
        """Cache-Control of a GET: public for an anonymous persisted catalog read that
        answered cleanly (``HUB_PERSISTED_QUERY_MAX_AGE``), else no-store."""
        if request.method != "GET" or "cache-control" in response.headers:
            return
        ctx = getattr(request.state, "hub_ctx", None)
        if ctx is not None and ctx.public and response.status_code == 200:
            age = self.settings.persisted_query_max_age
            response.headers["Cache-Control"] = f"public, max-age={age}"
        else:
            response.headers["Cache-Control"] = "private, no-store"
        response.headers["Vary"] = "Authorization, X-Hub-Channel, Origin"

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)


def invalid_operations(settings: Settings, texts: list[str]) -> list[tuple[int, str]]:
    """(index, first error) of each text that isn't a valid document for the schema
    (for `hub persisted-queries load`)."""
    host = load_plugins()
    gql = build_schema(settings, host.active, on_error=host.fail)._schema
    bad: list[tuple[int, str]] = []
    for i, source in enumerate(texts):
        try:
            errors = validate(gql, parse(source))
        except GraphQLError as exc:
            errors = [exc]
        if errors:
            bad.append((i, errors[0].message))
    return bad


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request, given: Database | None = None) -> Response:
    """Ready to serve: the database answers and the event bus is connected (503 with
    the reason otherwise). Also the bus and event-log state, who runs the background
    jobs, and this process's live event-bus subscribers (websocket subscriptions).
    Before start-up (no hub yet) only the database the app was ``given`` is checked."""
    hub: Hub | None = getattr(request.app.state, "hub", None)
    db = hub.db if hub is not None else given
    if db is None:
        return JSONResponse({"status": "starting"}, 503)
    body: dict[str, Any] = {"status": "ok", "database": db.dialect, "process": os.getpid()}
    try:
        async with db.read() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        log.warning("readiness check failed: %s", exc)
        body.update(status="unavailable", database="unreachable")
    if hub is None:
        body["subscribers"] = 0
        return JSONResponse(body, 200 if body["status"] == "ok" else 503)
    body.update(hub.status())
    # Live subscriptions: those following the bus, plus the members of groups served
    # by one leader each (schema.fanout).
    shared = fanout.broadcaster(hub)
    # The hub's own listeners (revocations, hub.sessions; plugins' event handlers; the
    # tax connector following its instance) are not counted.
    own = (
        hub.sessions.bus_subscriptions
        + hub.plugins.bus_subscriptions
        + getattr(hub.tax, "bus_subscriptions", 0)
    )
    body["subscribers"] = hub.bus.subscriber_count - own - shared.leaders + shared.live
    body["subscriptionGroups"] = shared.leaders
    if not hub.bus.healthy:
        body["status"] = "unavailable"
    return JSONResponse(body, 200 if body["status"] == "ok" else 503)


def create_app(
    settings: Settings | None = None,
    *,
    db: Database | None = None,
    plugins: Sequence[Plugin] = (),
) -> Starlette:
    """The hub's ASGI app; ``plugins``: loaded after the installed ones (tests, embedding)."""
    settings = settings or get_settings()
    limiter = create_limiter(settings)
    # The installed plugins: each logged with its version and state; one that fails to
    # load or to join the schema is left out (plugins.host).
    plugin_host = load_plugins(plugins)
    schema = build_schema(settings, plugin_host.active, limiter=limiter, on_error=plugin_host.fail)
    plugin_host.log_report()
    graphql_app = HubGraphQL(schema, settings, limiter)

    async def ready(request: Request) -> Response:
        return await readyz(request, db)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own = db is None
        hub = app.state.hub = build_hub(settings, db or Database(settings))
        hub.plugins = plugin_host
        for connector_type in plugin_host.connector_types():  # a plugin's connector types
            hub.integrations.register(connector_type)
        await hub.start()
        graphql_app.sessions = hub.sessions
        graphql_app.persisted = PersistedQueries(hub.db, settings.persisted_query_cache_size)
        settle_heap()  # GC pauses otherwise dominate tail latency (hub.heap)
        try:
            yield
        finally:
            graphql_app.sessions = None
            await limiter.aclose()
            await hub.aclose()
            if own:
                await hub.db.dispose()

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", ready),
            Route("/graphql", graphql_app, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql_app),
            *webhook_routes(),
            *demo_routes(settings),
            *(
                [
                    Mount(
                        "/graphiql",
                        graphiql.AssetFiles(directory=graphql_app.ide.folder, check_dir=False),
                    )
                ]
                if settings.graphiql
                else []
            ),
        ],
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["*"],
                expose_headers=["X-Request-Id", "Retry-After"],
            ),
            Middleware(BodyLimit, max_bytes=settings.max_body_bytes),
        ],
        lifespan=lifespan,
    )
    return app
