"""Errors on the GraphQL surface.

Business failures are ``userErrors`` entries (see :class:`UserError`). Problems with
the request itself (a bad id, a bad cursor, a page too large, a missing scope) are
GraphQL errors with a stable ``extensions.code``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from hub import ids
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


class BadFieldId(Exception):
    """A malformed or foreign global id in a mutation's input: a userError on ``field``."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message


def field_pk(gid: str, type_name: str, field: str) -> int:
    """The primary key of an input's global id, or :class:`BadFieldId` naming ``field``."""
    try:
        return ids.decode_pk(gid, type_name)
    except ids.InvalidId as exc:
        raise BadFieldId(field, str(exc)) from None


async def run_write(info: Info, fn: Callable[[], Awaitable[Any]]) -> tuple[Any, list[UserError]]:
    """Run an admin write: its result and no userErrors, or None and the userErrors of
    its DomainError or BadFieldId."""
    # Hand the read connection back before the write takes one: a request holding
    # two connections can starve the pool under load.
    await info.context.reader.close()
    try:
        return await fn(), []
    except DomainError as exc:
        return None, from_domain(exc)
    except BadFieldId as exc:
        return None, invalid_field(exc.field, exc.message)


class ApiError(GraphQLError):
    """A request error with a stable ``extensions.code``; shown to clients as is."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message, extensions={"code": code})
