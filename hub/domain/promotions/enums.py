"""Stable codes: the class a discount belongs to, and why a promotion did not apply.

Both are ``StrEnum``: each member *is* its string, so results compare equal to plain
strings (``status.reason == "EXPIRED"``) and serialise as-is. Never rename a member;
clients map these codes to messages."""

from __future__ import annotations

from enum import StrEnum


class DiscountClass(StrEnum):
    """Which class a discount is; classes are applied in this order."""

    PRODUCT = "PRODUCT"  # changes line prices
    ORDER = "ORDER"  # applies to the subtotal left after product discounts
    SHIPPING = "SHIPPING"  # applies to the shipping amount


class Reason(StrEnum):
    """Why a promotion (or an entered code) did not apply."""

    UNKNOWN_CODE = "UNKNOWN_CODE"
    DUPLICATE_CODE = "DUPLICATE_CODE"
    NOT_STARTED = "NOT_STARTED"
    EXPIRED = "EXPIRED"
    WRONG_CURRENCY = "WRONG_CURRENCY"
    WRONG_CHANNEL = "WRONG_CHANNEL"
    WRONG_COUNTRY = "WRONG_COUNTRY"
    CUSTOMER_NOT_ELIGIBLE = "CUSTOMER_NOT_ELIGIBLE"
    FIRST_ORDER_ONLY = "FIRST_ORDER_ONLY"
    CODE_REQUIRED = "CODE_REQUIRED"
    MIN_SUBTOTAL_NOT_MET = "MIN_SUBTOTAL_NOT_MET"
    MIN_QUANTITY_NOT_MET = "MIN_QUANTITY_NOT_MET"
    NO_MATCHING_ITEMS = "NO_MATCHING_ITEMS"
    USAGE_LIMIT_REACHED = "USAGE_LIMIT_REACHED"
    BUDGET_EXHAUSTED = "BUDGET_EXHAUSTED"
    NOT_COMBINABLE = "NOT_COMBINABLE"
    BETTER_DEAL_APPLIED = "BETTER_DEAL_APPLIED"
    NO_DISCOUNT = "NO_DISCOUNT"  # eligible, but nothing left to discount
