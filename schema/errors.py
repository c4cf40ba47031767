"""Errors on the GraphQL surface.

Business failures are ``userErrors`` entries (see :class:`UserError`). Problems with
the request itself (a bad id, a bad cursor, a page too large, a missing scope) are
GraphQL errors with a stable ``extensions.code``.
"""

from __future__ import annotations

from collections.abc import Sequence

import strawberry
from graphql import GraphQLError

from hub.domain.errors import DomainError
from hub.domain.errors import UserError as DomainUserError


@strawberry.type(description="A business failure: a stable `code` and the input `field` path.")
class UserError:
    field: list[str] | None
    message: str
    code: str


def user_errors(errors: Sequence[DomainUserError]) -> list[UserError]:
    return [
        UserError(field=list(e.field) if e.field else None, message=e.message, code=e.code)
        for e in errors
    ]


def from_domain(exc: DomainError) -> list[UserError]:
    return user_errors(exc.errors)


def invalid_field(field: str, message: str, code: str = "INVALID") -> list[UserError]:
    return [UserError(field=[field], message=message, code=code)]


class ApiError(GraphQLError):
    """A request error with a stable ``extensions.code``; shown to clients as is."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message, extensions={"code": code})
