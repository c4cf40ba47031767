"""Domain field names as the API spells them.

The domain names the input a failure is about in its own terms (``buyer_identity``,
``lines.0.merchandise_id``); a userError's ``field`` is the path in the GraphQL input
(``buyerIdentity``, ``lines.0.merchandiseId``). Each segment is camel-cased (indexes
and names already camel-cased are kept), unless the resolver renames it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import TypeVar

from hub.domain.errors import DomainError, UserError

T = TypeVar("T")


def api_name(name: str, renames: Mapping[str, str] | None = None) -> str:
    if renames and name in renames:
        return renames[name]
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def api_path(
    path: Sequence[str] | None, renames: Mapping[str, str] | None = None
) -> list[str] | None:
    return [api_name(p, renames) for p in path] if path else None


def api_errors(exc: DomainError, renames: Mapping[str, str] | None = None) -> DomainError:
    """The same failures, their fields as GraphQL input paths."""
    return DomainError(
        [UserError(api_path(e.field, renames), e.message, e.code) for e in exc.errors]
    )


async def in_api_terms(call: Awaitable[T], renames: Mapping[str, str] | None = None) -> T:
    """Await a domain call; a DomainError it raises comes out with GraphQL paths."""
    try:
        return await call
    except DomainError as exc:
        raise api_errors(exc, renames) from None
