"""Permission checks on fields: a missing permission is an ACCESS_DENIED error, nothing
runs.

Every staff field names the permission it needs with :func:`needs` (the vocabulary is
:data:`hub.auth.PERMISSIONS`). A principal holds a permission through the admin scope
(all of them), a staff user's roles, a connector key (catalog, inventory, orders) or a
partner key's declared list (:class:`hub.auth.Principal`). Where a role is restricted to
some locations or channels, the resolvers check the object's location or channel with
:func:`require_location` / :func:`require_channel`: out of scope is the same
ACCESS_DENIED request error (never a userError), and nothing is written.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from hub.auth import PERMISSIONS
from schema.errors import ApiCode, ApiError


class _Needs(BasePermission):
    """Base of the generated classes: ``needed`` is the permissions the field needs."""

    needed: tuple[str, ...] = ()
    message = "access denied"
    error_extensions = {"code": str(ApiCode.ACCESS_DENIED)}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal = info.context.principal
        return all(principal.can(p) for p in self.needed)


@cache
def needs(*permissions: str) -> list[type[BasePermission]]:
    """The ``permission_classes`` of a field that needs every one of ``permissions``
    (names from :data:`hub.auth.PERMISSIONS`, e.g. ``needs("catalog:write")``)."""
    unknown = [p for p in permissions if p not in PERMISSIONS]
    if unknown or not permissions:
        raise ValueError(f"unknown permission(s) {unknown or '(none)'}; see hub.auth.PERMISSIONS")
    return gate(*permissions)


@cache
def gate(*permissions: str) -> list[type[BasePermission]]:
    """:func:`needs` without the vocabulary check: for a plugin's own permissions
    (``plugins.graphql.needs`` checks their shape)."""
    name = "Needs_" + "_".join(p.replace(":", "_") for p in permissions)
    message = f"this needs the {', '.join(permissions)} permission"
    return [type(name, (_Needs,), {"needed": tuple(permissions), "message": message})]


def needed_by(permission_classes: list[Any]) -> tuple[str, ...]:
    """The permissions a field's ``permission_classes`` need (for tests and docs)."""
    return tuple(p for c in permission_classes for p in getattr(c, "needed", ()))


def denied(what: str) -> ApiError:
    return ApiError(what, ApiCode.ACCESS_DENIED)


def require_location(info: Info, location_pk: int | None, permission: str) -> None:
    """ACCESS_DENIED unless the principal's ``permission`` reaches the location."""
    if not info.context.principal.may_location(location_pk, permission):
        raise denied(f"the {permission} permission does not reach this location")


def require_channel(info: Info, channel_pk: int | None, permission: str) -> None:
    """ACCESS_DENIED unless the principal's ``permission`` reaches the channel."""
    if not info.context.principal.may_channel(channel_pk, permission):
        raise denied(f"the {permission} permission does not reach this channel")
