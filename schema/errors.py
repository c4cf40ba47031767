"""Errors on the GraphQL surface.

Business failures are ``userErrors`` entries (see :class:`UserError`): their ``code`` is
the GraphQL enum :data:`UserErrorCode`, the union of the domain packages' code enums
(:data:`CODE_ENUMS`; a code's value is its name, so answers read as they always did).
Problems with the request itself (a bad id, a bad cursor, a page too large, a missing
scope) are GraphQL errors with a stable ``extensions.code`` (:class:`ApiCode`).

Every resolver module uses the same two helpers: :func:`decode_id` for an id it was
given and :func:`run_write` for a domain write whose failures become ``userErrors``.
The domain names the field a failure is about in its own terms (snake_case, dotted
indexes: ``("prices", "0", "compare_at_amount")``); :func:`run_write` answers it as the
API input's path (``["prices", "0", "compareAtAmount"]``) by :func:`api_path`, with the
call's ``renames`` where the API names a field otherwise.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from enum import StrEnum
from typing import TypeVar

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from hub import ids
from hub.domain.accounts import AccountCode
from hub.domain.carts import CartCode
from hub.domain.catalog import CatalogCode
from hub.domain.checkout import CheckoutCode
from hub.domain.customers import CustomerCode
from hub.domain.errors import Code, DomainError
from hub.domain.errors import UserError as DomainUserError
from hub.domain.giftcards import GiftCardCode
from hub.domain.integrations import ConnectorCode
from hub.domain.inventory import InventoryCode
from hub.domain.loyalty import LoyaltyCode
from hub.domain.orders import OrderCode
from hub.domain.promotions import PromotionCode
from hub.domain.staff import StaffCode
from hub.domain.till.codes import TillCode
from hub.domain.webhooks import WebhookCode

T = TypeVar("T")


class ApiCode(StrEnum):
    """``extensions.code`` of the GraphQL errors the schema layer raises itself."""

    ACCESS_DENIED = "ACCESS_DENIED"
    BAD_REQUEST = "BAD_REQUEST"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    CHANNEL_NOT_FOUND = "CHANNEL_NOT_FOUND"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    INVALID_CURSOR = "INVALID_CURSOR"
    INVALID_ID = "INVALID_ID"
    INVALID_PAGE = "INVALID_PAGE"
    NO_CHANNEL = "NO_CHANNEL"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    SUBSCRIBER_OVERFLOW = "SUBSCRIBER_OVERFLOW"
    THROTTLED = "THROTTLED"
    UNAVAILABLE = "UNAVAILABLE"


# Every enum whose members a userError may carry as its code: the common codes and
# each domain's (tests/schema/test_error_codes.py finds any domain enum missing here).
CODE_ENUMS: tuple[type[StrEnum], ...] = (
    Code,
    CatalogCode,
    PromotionCode,
    InventoryCode,
    CartCode,
    CheckoutCode,
    GiftCardCode,
    OrderCode,
    CustomerCode,
    AccountCode,
    LoyaltyCode,
    WebhookCode,
    ConnectorCode,
    StaffCode,
    TillCode,
)


def _union(enums: Sequence[type[StrEnum]]) -> type[StrEnum]:
    """One enum of every value of ``enums``, each named by its value (a value shared
    by two domains is one member)."""
    values = dict.fromkeys(str(m.value) for e in enums for m in e)
    return StrEnum("UserErrorCode", {v: v for v in values})  # type: ignore[return-value]  # functional API: mypy can't see the members


UserErrorCode = strawberry.enum(
    _union(CODE_ENUMS),
    name="UserErrorCode",
    description="A userError's stable code (the same strings as ever).",
)


@strawberry.type(description="A business failure: a stable `code` and the input `field` path.")
class UserError:
    field: list[str] | None
    message: str
    code: UserErrorCode  # type: ignore[valid-type]  # built from CODE_ENUMS at import
    retry_after: int | None = strawberry.field(
        default=None, description="THROTTLED: seconds until the same attempt may succeed."
    )


def user_errors(errors: Sequence[DomainUserError]) -> list[UserError]:
    return [
        UserError(
            field=list(e.field) if e.field else None,
            message=e.message,
            code=UserErrorCode(e.code),
        )
        for e in errors
    ]


def from_domain(exc: DomainError) -> list[UserError]:
    return user_errors(exc.errors)


def invalid_field(field: str, message: str, code: StrEnum = Code.INVALID) -> list[UserError]:
    return [UserError(field=[field], message=message, code=UserErrorCode(code))]


def decode_id(gid: str, type_name: str | tuple[str, ...], *path: str) -> int:
    """The primary key of the global id ``gid`` of ``type_name`` (or one of several).

    With ``path`` (an input's field, e.g. ``"entries.0.variantId"`` or ``"lines", "0",
    "merchandiseId"``) a malformed or foreign id is a :class:`DomainError` with code
    ``INVALID`` on that path, which :func:`run_write` returns as a userError; without,
    an argument's bad id is an :class:`ApiError` ``INVALID_ID``.
    """
    try:
        return ids.decode(gid, type_name)[1]
    except ids.InvalidId as exc:
        if path:
            raise DomainError([DomainUserError(list(path), str(exc), Code.INVALID)]) from None
        raise ApiError(str(exc), ApiCode.INVALID_ID) from None


# The name the admin resolvers know it by: decode_id(gid, type, field).
field_pk = decode_id


def api_name(name: str, renames: Mapping[str, str] | None = None) -> str:
    """A domain field name as the API spells it: renamed by ``renames`` (domain name ->
    API name, either spelling), then camelCased (``compare_at_amount`` ->
    ``compareAtAmount``); names without ``_`` (indexes, names already in API terms,
    ``components.0.variantId``) stay as they are."""
    if renames:
        name = renames.get(name, name)
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def api_path(
    field: Sequence[str] | None,
    renames: Mapping[str, str] | None = None,
    depth: int | None = None,
) -> list[str] | None:
    """The API path of a domain error's ``field`` (None without one): each segment as
    :func:`api_name` spells it; only the first ``depth`` segments when given (deeper
    ones are data keys, e.g. a promotion definition's JSON; ``depth=0`` serves the
    domain's names as they are)."""
    if not field:
        return None
    cut = len(field) if depth is None else depth
    return [*(api_name(part, renames) for part in field[:cut]), *field[cut:]]


def api_errors(
    exc: DomainError, renames: Mapping[str, str] | None = None, depth: int | None = None
) -> DomainError:
    """The same refusal (codes, messages, order), its fields as API paths."""
    return DomainError(
        [DomainUserError(api_path(e.field, renames, depth), e.message, e.code) for e in exc.errors]
    )


# The domain's ``currency`` is the inputs' ``currencyCode`` (prices, price lists,
# promotions, shipping rates).
CURRENCY_CODE: Mapping[str, str] = {"currency": "currencyCode"}


async def run_write(
    info: Info,
    fn: Callable[[], Awaitable[T]],
    *,
    renames: Mapping[str, str] | None = None,
    depth: int | None = None,
    release_reader: bool = True,
) -> tuple[T | None, list[UserError]]:
    """Run a domain write: its result and no userErrors, or None and the userErrors of
    its :class:`DomainError` (a bad input id included, see :func:`decode_id`), their
    fields as API paths (:func:`api_path` with ``renames`` and ``depth``)."""
    if release_reader:
        # Hand the read connection back before the write takes one: a request holding
        # two connections can starve the pool under load.
        await info.context.reader.close()
    try:
        return await fn(), []
    except DomainError as exc:
        return None, from_domain(api_errors(exc, renames, depth))


class ApiError(GraphQLError):
    """A request error with a stable ``extensions.code``; shown to clients as is."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message, extensions={"code": str(code)})
