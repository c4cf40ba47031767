"""Permission checks on fields: a missing permission is an ACCESS_DENIED error, nothing
runs.

Every staff field names the permission it needs with :func:`needs` (the vocabulary is
:data:`hub.auth.PERMISSIONS`). Today a principal holds a permission when it has the
admin scope; scoped staff roles (issue 12) decide it per role, channel and location.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from hub.auth import PERMISSIONS
from schema.errors import ApiCode


class StaffOnly(BasePermission):
    message = "this needs an API key with the admin scope"
    error_extensions = {"code": str(ApiCode.ACCESS_DENIED)}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return info.context.principal.is_staff


@cache
def needs(*permissions: str) -> list[type[BasePermission]]:
    """The ``permission_classes`` of a field that needs every one of ``permissions``
    (names from :data:`hub.auth.PERMISSIONS`, e.g. ``needs("catalog:write")``)."""
    unknown = [p for p in permissions if p not in PERMISSIONS]
    if unknown or not permissions:
        raise ValueError(f"unknown permission(s) {unknown or '(none)'}; see hub.auth.PERMISSIONS")
    return [StaffOnly]


# The permission list of the staff-only (admin) fields of every schema module.
ADMIN: list[type[BasePermission]] = [StaffOnly]
