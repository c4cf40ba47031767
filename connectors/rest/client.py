"""HTTP for the REST connector: auth, retries with backoff, and the three pagination
styles.

Timeouts, connection errors, ``429`` and ``5xx`` answers are retried ``retries`` times
with exponential backoff and jitter (``stamina``, a small, typed, maintained wrapper of
``tenacity``: no hand-written sleep loop); any other non-2xx answer is final. Every
failure is a :class:`RestError` with a stable ``code``: ``UNAUTHORIZED`` (401, 403),
``HTTP_ERROR`` (another status), ``UNREACHABLE`` (timeouts, refused connections),
``BAD_RESPONSE`` (not JSON, or no list where the items should be), ``TOO_MANY_PAGES``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import stamina

from connectors.rest.config import Pull, RestConfig
from connectors.rest.expressions import Expression

USER_AGENT = "commerce-hub-rest-connector/1"


class RestError(Exception):
    def __init__(self, code: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


def _retryable(exc: Exception) -> bool:
    return isinstance(exc, RestError) and exc.retryable


class RestClient:
    """One run's HTTP client for a config (``async with``)."""

    def __init__(self, config: RestConfig, *, transport: httpx.AsyncBaseTransport | None = None):
        self.config = config
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **config.headers}
        auth: httpx.Auth | None = None
        style = config.auth.style
        if style == "bearer":
            headers["Authorization"] = f"Bearer {config.token}"
        elif style == "header":
            headers[config.auth.header] = config.token or ""
        elif style == "basic":
            auth = httpx.BasicAuth(config.auth.username or "", config.password or "")
        self._http = httpx.AsyncClient(
            base_url=config.base_url,
            headers=headers,
            auth=auth,
            timeout=config.timeout_seconds,
            transport=transport,
            follow_redirects=False,
        )
        self.attempts = 0  # requests sent, retries included

    async def __aenter__(self) -> RestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """The decoded JSON answer (None when empty), retried as the module says."""
        cfg = self.config
        tries = 0
        try:
            async for attempt in stamina.retry_context(
                on=_retryable,
                attempts=cfg.retries + 1,
                timeout=None,
                wait_initial=cfg.backoff_seconds,
                wait_max=max(cfg.backoff_seconds * 8, cfg.backoff_seconds),
                wait_jitter=cfg.backoff_seconds,
            ):
                with attempt:
                    tries += 1
                    self.attempts += 1
                    return await self._once(method, path, params, json, headers)
        except RestError as exc:
            if exc.retryable and tries > 1:
                raise RestError(
                    exc.code, f"{exc} (after {tries} attempts)", retryable=True
                ) from None
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: Any,
        headers: Mapping[str, str] | None,
    ) -> Any:
        where = f"{method} {path}"
        try:
            resp = await self._http.request(
                method,
                path,
                params=dict(params) if params else None,
                json=body,
                headers=dict(headers) if headers else None,
            )
        except httpx.TimeoutException:
            raise RestError(
                "UNREACHABLE",
                f"{where}: no answer in {self.config.timeout_seconds}s",
                retryable=True,
            ) from None
        except httpx.TransportError as exc:
            raise RestError(
                "UNREACHABLE", f"{where}: {type(exc).__name__}", retryable=True
            ) from None
        status = resp.status_code
        if status in (401, 403):
            raise RestError("UNAUTHORIZED", f"{where}: HTTP {status} (check the credentials)")
        if status == 429 or status >= 500:
            raise RestError("HTTP_ERROR", f"{where}: HTTP {status}", retryable=True)
        if not 200 <= status < 300:
            raise RestError("HTTP_ERROR", f"{where}: HTTP {status}: {resp.text[:200]}")
        if not resp.content:
            return None
        try:
            return resp.json()
        except ValueError:
            raise RestError("BAD_RESPONSE", f"{where}: the answer is not JSON") from None

    async def pages(self, pull: Pull, since: Any = None) -> AsyncIterator[list[Any]]:
        """The records of ``pull``, a page at a time (``since``: the high-water mark of
        an incremental pull)."""
        p = pull.pagination
        items_of = Expression(pull.items)
        next_of = Expression(p.next_cursor) if p.next_cursor else None
        base: dict[str, Any] = {k: _param(v) for k, v in pull.params.items()}
        if pull.incremental is not None and since is not None:
            base[pull.incremental.param] = _param(since)
        if p.size_param:
            base[p.size_param] = p.size
        cursor: Any = None
        page, offset = p.first_page, 0
        for _ in range(p.max_pages):
            params = dict(base)
            if p.style == "cursor" and cursor is not None:
                params[p.cursor_param] = cursor
            elif p.style == "page":
                params[p.page_param] = page
            elif p.style == "offset":
                params[p.offset_param] = offset
            body = await self.request("GET", pull.path, params=params)
            try:
                items = items_of(body)
            except ValueError as exc:
                raise RestError("BAD_RESPONSE", f"GET {pull.path}: items: {exc}") from None
            if items is None:
                items = []
            if not isinstance(items, list):
                raise RestError(
                    "BAD_RESPONSE", f"GET {pull.path}: items ({pull.items}) is not a list"
                )
            yield items
            if p.style == "none":
                return
            if p.style == "cursor":
                assert next_of is not None
                following = next_of(body)
                if following in (None, "") or following == cursor:
                    return
                cursor = following
                continue
            short = p.size_param is not None and len(items) < p.size
            if not items or short:
                return
            page += 1
            offset += len(items)
        raise RestError(
            "TOO_MANY_PAGES", f"GET {pull.path}: more than {p.max_pages} pages (max_pages)"
        )


def _param(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value
