"""The hub's GraphQL pieces a plugin's types may use (part of the plugin API):
``Money`` (the hub's ``Money`` type) and :func:`money` to make one, and :func:`needs`,
the ``permission_classes`` of a staff field."""

from __future__ import annotations

import re
from typing import cast

from strawberry.permission import BasePermission

from hub.auth import PERMISSIONS
from hub.money import Money as _Money
from schema.catalog import MoneyType as Money
from schema.permissions import gate

_PLUGIN_PERMISSION = re.compile(r"^[a-z][a-z0-9_-]{0,31}:[a-z][a-z0-9_-]{0,31}$")


def money(minor: int, currency: str) -> Money:
    """``minor`` units of ``currency`` as a GraphQL ``Money``."""
    return cast(Money, _Money(minor, currency))


def needs(*permissions: str) -> list[type[BasePermission]]:
    """The ``permission_classes`` of a field that needs every one of ``permissions``:
    the hub's (``hub.auth.PERMISSIONS``, e.g. ``"orders"``) or the plugin's own, which it
    declares in ``Plugin.permissions`` (``"giftwrap:read"``). Today a principal holds a
    permission through the admin scope, a staff role that lists it, or a partner key
    that holds it (``hub.auth.Principal.can``)."""
    own = [p for p in permissions if p not in PERMISSIONS]
    bad = [p for p in own if not _PLUGIN_PERMISSION.match(p)]
    if bad or not permissions:
        raise ValueError(f"unknown permission(s) {bad or '(none)'}: the hub's or 'area:action'")
    return gate(*permissions)


__all__ = ["Money", "money", "needs"]
