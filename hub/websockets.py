"""The websocket edge: both GraphQL websocket protocols, strict about what they accept.

strawberry's handlers, with:

- **messages checked before use**: a message that isn't an object with a known
  ``type``, or a ``subscribe``/``start`` whose payload isn't an object with a string
  ``query`` (and an object or null ``variables``, a string or null ``operationName``)
  is a protocol error, never a traceback and never a silent completion.
  graphql-transport-ws closes with 4400 and the reason, as its specification says;
  the legacy graphql-ws answers ``connection_error`` (unreadable message) or an
  ``error`` for the operation, as subscriptions-transport-ws servers do.
- **size**: a frame over ``HUB_MAX_BODY_BYTES`` closes the socket with 1009 (uvicorn's
  ``ws_max_size`` refuses it first when served by ``hub serve``); a query over
  ``HUB_MAX_QUERY_LENGTH`` or variables over ``HUB_MAX_VARIABLES_BYTES`` are refused
  for that operation before anything is parsed.
- **the key checked for the life of the socket**: every operation is authorized
  against the key's current state (the per-process key cache), and the socket is
  registered with :class:`hub.sessions.OpenSockets`, which closes it with 4403 when
  the key is revoked or expires; its subscriptions stop with it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Mapping
from typing import Any, cast

import orjson
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import (
    NonTextMessageReceived,
    WebSocketDisconnected,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import (
    ConnectionErrorMessage,
    ErrorMessage,
    OperationMessage,
)

from hub.settings import Settings

CLOSE_TOO_BIG = 1009
TRANSPORT_TYPES = frozenset({"connection_init", "ping", "pong", "subscribe", "complete"})
LEGACY_TYPES = frozenset({"connection_init", "connection_terminate", "start", "stop"})


class _BadJson:
    """A frame that isn't JSON (kept in the stream so handlers answer per protocol)."""


BAD_JSON = _BadJson()


class TextWebSocketAdapter(ASGIWebSocketAdapter):
    """Text frames out (GraphQL websocket clients refuse binary ones); frames in checked
    for size and type before they are decoded."""

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object]:
        settings: Settings = getattr(self.view, "settings")  # noqa: B009  (the hub's view)
        limit = settings.max_body_bytes
        ws = self.ws
        try:
            while ws.application_state != WebSocketState.DISCONNECTED:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                if text is None:
                    raise NonTextMessageReceived
                if len(text) > limit:  # characters: at least as many bytes
                    await self.close(CLOSE_TOO_BIG, f"message over {limit} bytes")
                    return
                try:
                    yield self.view.decode_json(text)
                except ValueError:
                    yield BAD_JSON
        except (WebSocketDisconnect, RuntimeError):  # closed under us (e.g. 4403)
            return

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except (WebSocketDisconnect, RuntimeError) as exc:
            raise WebSocketDisconnected from exc

    async def close(self, code: int, reason: str) -> None:
        with contextlib.suppress(RuntimeError):  # already closed
            await self.ws.close(code=code, reason=reason[:120])


class SocketRefusal(Exception):
    """Raised by ``on_ws_connect`` to close the socket with ``code`` (4429 throttled,
    1013 try again later) instead of the protocol's plain refusal."""

    def __init__(self, code: int, reason: str, error_code: str, extensions: dict[str, Any]):
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.payload: dict[str, object] = {
            "message": reason,
            "extensions": {"code": error_code, **extensions},
        }


def _operation_problem(payload: object) -> str | None:
    """Why a subscribe/start payload is malformed, or None."""
    if not isinstance(payload, dict):
        return "the payload must be an object"
    query = payload.get("query")
    if not isinstance(query, str) or not query:
        return "payload.query must be a non-empty string"
    if not isinstance(payload.get("variables"), dict | None):
        return "payload.variables must be an object or null"
    if not isinstance(payload.get("operationName"), str | None):
        return "payload.operationName must be a string or null"
    if not isinstance(payload.get("extensions"), dict | None):
        return "payload.extensions must be an object or null"
    return None


class _Guarded:
    """What both handlers share: the socket's registration and per-operation checks."""

    view: Any
    context: Any
    websocket: Any
    _hub_handle: int | None = None

    async def _hub_stop(self) -> None:
        raise NotImplementedError

    async def close_forbidden(self, code: int, reason: str) -> None:
        """Called by :class:`hub.sessions.OpenSockets`: stop every operation, then close."""
        self.context.revoked = True
        await self._hub_stop()
        await self.websocket.close(code, reason)

    def register(self) -> None:
        sessions = self.view.sessions
        if sessions is not None:
            self._hub_handle = sessions.add(self.context.principal, self.close_forbidden)

    def unregister(self) -> None:
        sessions = self.view.sessions
        if sessions is not None:
            sessions.remove(self.context.principal, self._hub_handle)

    async def allowed(self, payload: dict[str, Any]) -> tuple[bool, dict[str, Any] | None]:
        """(socket still usable, error for this operation or None)."""
        if not await self.view.socket_still_authorized(self.context):
            await self.close_forbidden(4403, "the API key was revoked or expired")
            return False, None
        error = self.view.operation_too_large(payload)
        if error is None:
            error = await self.view.operation_not_registered(payload, self.context)
        return True, error


class TransportWSHandler(_Guarded, BaseGraphQLTransportWSHandler[Any, None]):
    """graphql-transport-ws (the graphql-ws library's protocol)."""

    async def handle(self) -> None:
        try:
            await super().handle()
        finally:
            self.unregister()

    async def handle_message(self, message: Any) -> None:
        if message is BAD_JSON:
            await self.handle_invalid_message("WebSocket message must be valid JSON")
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self.handle_invalid_message("a message must be an object with a string type")
            return
        kind = message["type"]
        if kind not in TRANSPORT_TYPES:
            await self.handle_invalid_message(f"Unknown message type: {kind[:40]}")
            return
        if kind in ("subscribe", "complete") and (
            not isinstance(message.get("id"), str) or not message["id"]
        ):
            await self.handle_invalid_message(f"a {kind} message needs a string id")
            return
        if kind == "connection_init" and message.get("payload") is None:
            message = {**message, "payload": {}}  # payload is optional
        if kind == "subscribe":
            problem = _operation_problem(message.get("payload"))
            if problem is not None:
                await self.handle_invalid_message(f"Invalid subscribe message: {problem}")
                return
            if self.connection_acknowledged:
                usable, error = await self.allowed(message["payload"])
                if not usable:
                    return
                if error is not None:
                    if message["id"] in self.operations:
                        await self.websocket.close(4409, f"Subscriber for {message['id']} exists")
                        return
                    refusal = {"id": message["id"], "type": "error", "payload": [error]}
                    # arg-type: an error's payload is a list of errors on the wire;
                    # strawberry's TypedDict says one.
                    await self.send_message(refusal)  # type: ignore[arg-type]
                    return
        await super().handle_message(message)
        if kind == "connection_init" and self.connection_acknowledged and self._hub_handle is None:
            self.register()

    async def handle_connection_init(self, message: Any) -> None:
        try:
            await super().handle_connection_init(message)
        except SocketRefusal as exc:
            await self.websocket.close(exc.code, exc.reason)

    async def _hub_stop(self) -> None:
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)


class LegacyWSHandler(_Guarded, BaseGraphQLWSHandler[Any, None]):
    """graphql-ws (subscriptions-transport-ws, older Apollo clients)."""

    async def handle(self) -> None:
        try:
            await super().handle()
        finally:
            self.unregister()

    async def handle_message(self, message: Any) -> None:
        if message is BAD_JSON or not isinstance(message, dict):
            await self._connection_error("a message must be a JSON object")
            return
        kind = message.get("type")
        op_id = message.get("id")
        if not isinstance(kind, str) or kind not in LEGACY_TYPES:
            await self._error(op_id, "Invalid message type!")
            return
        if kind in ("start", "stop") and not isinstance(op_id, str):
            await self._connection_error(f"a {kind} message needs a string id")
            return
        if kind == "start":
            problem = _operation_problem(message.get("payload"))
            if problem is not None:
                await self._error(op_id, f"Invalid start message: {problem}")
                return
            if self.connection_acknowledged:
                usable, error = await self.allowed(message["payload"])
                if not usable:
                    return
                if error is not None:
                    await self.send_message(
                        ErrorMessage(type="error", id=cast(str, op_id), payload=cast(Any, error))
                    )
                    return
        # Checked above: a JSON object of a known type, with an id where one is needed.
        await super().handle_message(cast(OperationMessage, message))
        if kind == "connection_init" and self.connection_acknowledged and self._hub_handle is None:
            self.register()

    async def handle_connection_init(self, message: Any) -> None:
        try:
            await super().handle_connection_init(message)
        except SocketRefusal as exc:
            with contextlib.suppress(WebSocketDisconnected):
                await self.send_message(
                    ConnectionErrorMessage(type="connection_error", payload=exc.payload)
                )
            await self.websocket.close(exc.code, exc.reason)

    async def _connection_error(self, message: str) -> None:
        payload: dict[str, object] = {"message": message, "extensions": {"code": "BAD_REQUEST"}}
        with contextlib.suppress(WebSocketDisconnected):
            await self.send_message(
                ConnectionErrorMessage(type="connection_error", payload=payload)
            )

    async def _error(self, op_id: object, message: str) -> None:
        out: dict[str, Any] = {
            "type": "error",
            "payload": {"message": message, "extensions": {"code": "BAD_REQUEST"}},
        }
        if isinstance(op_id, str):
            out["id"] = op_id
        with contextlib.suppress(WebSocketDisconnected):
            await self.send_message(cast(ErrorMessage, out))  # without an id when it had none

    async def _hub_stop(self) -> None:
        if self.keep_alive_task:
            self.keep_alive_task.cancel()
        await self.cleanup()
