"""Calling the domain from resolvers: keyset pages whose bad cursors are request errors.
(Writes: :func:`schema.errors.run_write`.)"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from hub.domain.paging import CursorValue, InvalidCursor, decode_cursor
from schema.errors import ApiError
from schema.relay import ConnectionValue


async def keyset_page(fetch: Awaitable[tuple[list[Any], list[str], bool, bool]]) -> ConnectionValue:
    """A domain keyset page, (records, cursors, has_next, has_previous), as a
    connection; a cursor the domain can't read is an ``INVALID_CURSOR`` error."""
    try:
        recs, cursors, has_next, has_prev = await fetch
    except InvalidCursor as exc:
        raise ApiError(str(exc), "INVALID_CURSOR") from None
    return ConnectionValue(recs, cursors, has_next, has_prev)


def after_cursor(
    after: str | None, kind: str, value_type: CursorValue | None = None
) -> tuple[Any, int] | None:
    """The (value, key) of an ``after`` cursor of ``kind`` (None without one); one the
    hub didn't make for this list, or without the ``value_type`` asked for, is an
    ``INVALID_CURSOR`` error."""
    if after is None:
        return None
    try:
        value, pk = decode_cursor(after, kind, value_type)
    except InvalidCursor as exc:
        raise ApiError(str(exc), "INVALID_CURSOR") from None
    if value_type == "int32" and not isinstance(value, int):
        raise ApiError("invalid cursor", "INVALID_CURSOR")
    return value, pk
