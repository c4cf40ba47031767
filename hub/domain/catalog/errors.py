"""The catalog's error codes (channels, products, variants, prices, price lists,
collections and bundles)."""

from __future__ import annotations

from enum import StrEnum


class CatalogCode(StrEnum):
    BLANK = "BLANK"
    INVALID = "INVALID"
    TAKEN = "TAKEN"
    NOT_FOUND = "NOT_FOUND"
    TOO_LONG = "TOO_LONG"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    IN_USE = "IN_USE"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
