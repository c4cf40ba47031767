"""Calling the domain from resolvers: writes whose userErrors carry API paths, and
keyset pages whose bad cursors are request errors.

The domain names the fields of its errors in its own terms, snake_case as its inputs
(``("prices", "0", "compare_at_amount")``); the API shows the input's camelCase path
(``["prices", "0", "compareAtAmount"]``). :func:`run_mapped` runs a write like
:func:`schema.errors.run_write` and maps the paths of its userErrors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from strawberry.types import Info

from hub.domain.paging import CursorValue, InvalidCursor, decode_cursor
from schema.errors import ApiError, UserError, run_write
from schema.relay import ConnectionValue


def camel(name: str) -> str:
    """``compare_at_amount`` -> ``compareAtAmount``; names without ``_`` stay as they are."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def graphql_path(field: Sequence[str], renames: Mapping[str, str], depth: int | None) -> list[str]:
    """The API path of a domain error's ``field``: each segment renamed (``renames``,
    domain name -> snake_case API name) and camelCased; only the first ``depth``
    segments when given (deeper ones are data keys, e.g. a definition's JSON)."""
    cut = len(field) if depth is None else depth
    head = [camel(renames.get(part, part)) for part in field[:cut]]
    return [*head, *field[cut:]]


async def run_mapped(
    info: Info,
    fn: Callable[[], Awaitable[Any]],
    *,
    renames: Mapping[str, str] | None = None,
    depth: int | None = None,
) -> tuple[Any, list[UserError]]:
    """:func:`run_write`, with the userErrors' fields as API paths."""
    done, errs = await run_write(info, fn)
    names = renames or {}
    return done, [
        UserError(
            field=None if e.field is None else graphql_path(e.field, names, depth),
            message=e.message,
            code=e.code,
        )
        for e in errs
    ]


# The domain's ``currency`` is the inputs' ``currencyCode`` (prices, price lists, promotions).
CURRENCY_CODE: Mapping[str, str] = {"currency": "currency_code"}

Write = Callable[[Info, Callable[[], Awaitable[Any]]], Awaitable[tuple[Any, list[UserError]]]]
"""A module's way to run a domain write: its result and its userErrors with API paths."""


def mapped_writer(renames: Mapping[str, str], depth: int | None = None) -> Write:
    """A :data:`Write` that is :func:`run_mapped` with these ``renames`` and ``depth``."""

    async def write(info: Info, fn: Callable[[], Awaitable[Any]]) -> tuple[Any, list[UserError]]:
        return await run_mapped(info, fn, renames=renames, depth=depth)

    return write


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
