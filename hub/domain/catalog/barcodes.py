"""Barcodes on variants: GTINs (GTIN-8, UPC-A/GTIN-12, EAN-13/GTIN-13, GTIN-14) with
their check digits, and internal (store-printed) barcodes.

Every barcode has one *key*, the normal form kept in ``variants.barcode_key`` under a
unique index, so one product can't be entered twice under two spellings:

- a GTIN is any code that, once spaces and dashes are dropped, is all digits: it must
  be 8, 12, 13 or 14 digits with a valid GS1 check digit (``stdnum.ean``); its key is
  the GTIN-14 (left-padded with zeros), so the UPC-A ``036000291452``, its EAN-13
  ``0036000291452`` and the GTIN-14 ``00036000291452`` are one barcode;
- an internal barcode is 1 to 64 printable characters without whitespace that is not
  all digits (``SHOP-000123``, ``2XQ9``); it is kept as given, case-sensitive, and
  its key is ``I:`` followed by the code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from stdnum import ean
from stdnum.exceptions import ValidationError

GTIN_LENGTHS = (8, 12, 13, 14)
INTERNAL_MAX = 64
INTERNAL_PREFIX = "I:"


class BarcodeCode(StrEnum):
    """Why a barcode was refused."""

    BARCODE_INVALID = "BARCODE_INVALID"
    BARCODE_TAKEN = "BARCODE_TAKEN"


@dataclass(frozen=True, slots=True)
class Barcode:
    text: str  # what is stored and shown: the GTIN's digits, or the internal code
    key: str  # the unique normal form
    kind: str  # "GTIN" or "INTERNAL"


def _digits(code: str) -> str:
    return code.replace(" ", "").replace("-", "")


def parse_barcode(code: str) -> Barcode:
    """The barcode ``code`` spells, or ``ValueError`` saying why it is not one."""
    raw = code.strip()
    compact = _digits(raw)
    if compact.isascii() and compact.isdigit():
        if len(compact) not in GTIN_LENGTHS:
            raise ValueError("a GTIN has 8, 12, 13 or 14 digits")
        try:
            ean.validate(compact)
        except ValidationError:
            raise ValueError("the GTIN's check digit is wrong") from None
        return Barcode(compact, compact.zfill(14), "GTIN")
    if not raw or len(raw) > INTERNAL_MAX:
        raise ValueError(f"an internal barcode has 1 to {INTERNAL_MAX} characters")
    if not raw.isprintable() or any(c.isspace() for c in raw):
        raise ValueError("an internal barcode has printable characters and no spaces")
    return Barcode(raw, INTERNAL_PREFIX + raw, "INTERNAL")


def barcode_key(code: str) -> str | None:
    """The key of ``code`` in any spelling, or None if it is not a barcode."""
    try:
        return parse_barcode(code).key
    except ValueError:
        return None
