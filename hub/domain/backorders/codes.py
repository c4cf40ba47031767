"""The backorder package's codes and policies."""

from __future__ import annotations

from enum import StrEnum


class BackorderCode(StrEnum):
    """Refusals of the inventory policy's writes."""

    EXPECTED_DATE_REQUIRED = "EXPECTED_DATE_REQUIRED"
    BACKORDER_LIMIT_BELOW_BACKORDERED = "BACKORDER_LIMIT_BELOW_BACKORDERED"


class InventoryPolicy(StrEnum):
    DENY = "DENY"
    BACKORDER = "BACKORDER"
    PREORDER = "PREORDER"
