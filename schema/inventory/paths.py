"""The domain names the fields of its errors in its own terms (``variant_id``,
``zone_pk``); the API names them as its inputs do (``variantId``, ``zoneId``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace

from hub.domain.errors import DomainError
from schema.errors import UserError as UserErrorType
from schema.errors import from_domain

_SNAKE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+")


def graphql_name(segment: str, names: Mapping[str, str] | None = None) -> str:
    """A domain field name as its GraphQL input is named: ``names`` first, else
    variant_id -> variantId (names already in GraphQL terms, ids and indices stay as
    they are)."""
    if names and segment in names:
        return names[segment]
    if not _SNAKE.fullmatch(segment):
        return segment
    head, *rest = segment.split("_")
    return head + "".join(r.title() for r in rest)


def graphql_errors(exc: DomainError, names: Mapping[str, str] | None = None) -> list[UserErrorType]:
    """The userErrors of a domain refusal, its fields mapped to GraphQL paths."""
    mapped = [
        replace(e, field=[graphql_name(f, names) for f in e.field]) if e.field else e
        for e in exc.errors
    ]
    return from_domain(DomainError(mapped))


def graphql_paths(
    errors: list[UserErrorType], names: Mapping[str, str] | None = None
) -> list[UserErrorType]:
    """:func:`graphql_errors` of userErrors already made."""
    for e in errors:
        if e.field:
            e.field = [graphql_name(f, names) for f in e.field]
    return errors
