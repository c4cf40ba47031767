"""The HTTP edge: errors as GraphQL JSON, the body size limit, who the client is.

Every refusal of the HTTP edge is a GraphQL JSON body with a code and the right status:

| status | code | when |
| --- | --- | --- |
| 400 | ``BAD_REQUEST`` | body not JSON, not an object, ``query`` not a string, bad ``variables`` |
| 401 | ``UNAUTHENTICATED`` | unknown, revoked or expired API key |
| 405 | ``METHOD_NOT_ALLOWED`` | not GET/POST, or a mutation over GET |
| 413 | ``PAYLOAD_TOO_LARGE``, ``QUERY_TOO_LARGE``, ``VARIABLES_TOO_LARGE`` | over the limits |
| 415 | ``UNSUPPORTED_MEDIA_TYPE`` | a POST that isn't ``application/json`` |
| 429 | ``THROTTLED`` | too many failed key attempts, cost budget spent (``Retry-After``) |
| 503 | ``SERVICE_UNAVAILABLE`` | the database can't be reached (``Retry-After``) |
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("hub.edge")

_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "THROTTLED",
    500: "INTERNAL_SERVER_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


class EdgeError(HTTPException):
    """A refusal at the edge: status, message, ``extensions.code`` and headers."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(status, message)
        self.code = code or _CODES.get(status, "BAD_REQUEST")
        self.headers = headers or {}
        self.extensions = extensions


def json_error(
    status: int,
    message: str,
    code: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Response:
    body = {
        "errors": [
            {
                "message": message,
                "extensions": {"code": code or _CODES.get(status, "BAD_REQUEST"), **extensions},
            }
        ]
    }
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


def error_response(exc: HTTPException, request_id: str | None = None) -> Response:
    """The JSON answer to an HTTPException raised by strawberry's view or ours."""
    headers = dict(getattr(exc, "headers", None) or {})
    if request_id:
        headers["X-Request-Id"] = request_id
    if exc.status_code == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="hub"')
    code = getattr(exc, "code", None)
    if code is None:
        code = _CODES.get(exc.status_code, "BAD_REQUEST")
        if exc.status_code == 400 and "content type" in exc.reason.lower():
            return json_error(415, exc.reason, "UNSUPPORTED_MEDIA_TYPE", headers=headers)
        if exc.status_code == 400 and "not allowed" in exc.reason.lower():
            return json_error(405, exc.reason, "METHOD_NOT_ALLOWED", headers=headers)
    extensions = getattr(exc, "extensions", None) or {}
    return json_error(exc.status_code, exc.reason, code, headers=headers, **extensions)


def client_address(scope: Scope) -> str:
    """The client's address (uvicorn has already applied trusted proxy headers)."""
    client = scope.get("client")
    return client[0] if client else "unknown"


class BodyTooLarge(Exception):
    """Raised by the body-limited ``receive``; :class:`BodyLimit` answers 413."""


class BodyLimit:
    """Refuses request bodies over ``max_bytes`` with 413 before reading them whole: at
    once by Content-Length, else (chunked) as soon as the bytes read pass the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0 or declared > limit:
                    await self._refuse(scope, receive, send, bad_header=declared < 0)
                    return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, *, bad_header: bool = False
    ) -> None:
        if bad_header:
            response = json_error(400, "the Content-Length header is not a valid length")
        else:
            response = json_error(
                413,
                f"the request body is over {self.max_bytes} bytes (HUB_MAX_BODY_BYTES)",
                "PAYLOAD_TOO_LARGE",
                headers={"Connection": "close"},
            )
        await response(scope, receive, send)
