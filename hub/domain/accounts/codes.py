"""The userErrors codes of customer accounts (the hosted storefront APIs' names)."""

from __future__ import annotations

from enum import StrEnum


class AccountCode(StrEnum):
    """Codes beyond the common ones (BLANK, INVALID, TAKEN, TOO_LONG, NOT_FOUND)."""

    # A wrong password, an unknown email or an account without a password: one answer.
    UNIDENTIFIED_CUSTOMER = "UNIDENTIFIED_CUSTOMER"
    CUSTOMER_DISABLED = "CUSTOMER_DISABLED"
    # The profile was merged into another (``customerMerge``): sign in to that one.
    CUSTOMER_MERGED = "CUSTOMER_MERGED"
    # An access, reset or activation token that is unknown, used, revoked or expired.
    TOKEN_INVALID = "TOKEN_INVALID"
    ALREADY_ENABLED = "ALREADY_ENABLED"
    TOO_SHORT = "TOO_SHORT"
    PASSWORD_STARTS_OR_ENDS_WITH_WHITESPACE = "PASSWORD_STARTS_OR_ENDS_WITH_WHITESPACE"
    # Too many attempts (sign-in, recovery, token checks): retry after a while.
    THROTTLED = "THROTTLED"
    # The request has no signed-in customer (a customer access token).
    UNAUTHENTICATED = "UNAUTHENTICATED"
