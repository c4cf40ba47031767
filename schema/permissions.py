"""Scope checks on fields: a missing scope is an ACCESS_DENIED error, nothing runs."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from schema.errors import ApiCode


class StaffOnly(BasePermission):
    message = "this needs an API key with the admin scope"
    error_extensions = {"code": str(ApiCode.ACCESS_DENIED)}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return info.context.principal.is_staff


# The permission list of the staff-only (admin) fields of every schema module.
ADMIN: list[type[BasePermission]] = [StaffOnly]
