"""The hub's GraphQL pieces a plugin's types may use (part of the plugin API):
``Money`` (the hub's ``Money`` type) and :func:`money` to make one, and ``needs``, the
``permission_classes`` of a staff field (``needs("orders")``)."""

from __future__ import annotations

from typing import cast

from hub.money import Money as _Money
from schema.catalog import MoneyType as Money
from schema.permissions import needs


def money(minor: int, currency: str) -> Money:
    """``minor`` units of ``currency`` as a GraphQL ``Money``."""
    return cast(Money, _Money(minor, currency))


__all__ = ["Money", "money", "needs"]
