"""The error codes of promotion and discount-code admin (the engine's own outcomes
are :class:`~hub.domain.promotions.enums.Reason` values, not errors)."""

from __future__ import annotations

from enum import StrEnum


class PromotionCode(StrEnum):
    BLANK = "BLANK"
    INVALID = "INVALID"
    TAKEN = "TAKEN"
    NOT_FOUND = "NOT_FOUND"
    TOO_LONG = "TOO_LONG"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    IN_USE = "IN_USE"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
