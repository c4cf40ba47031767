"""Bounds on what clients send: one definition each, shared by the domain (which
checks before it writes) and the GraphQL surface (whose input guard checks every
argument before a resolver runs; see ``schema.inputs``).

- Integers: counts and quantities live in 32-bit columns (``Integer``: PostgreSQL
  ``integer``), ids in 64-bit ones. A change must keep every count within 32 bits, or
  the row could no longer be read as a GraphQL ``Int``.
- Money: minor units in 32-bit columns (prices, rates, orders) or 64-bit ones
  (promotion budgets); see :func:`hub.money.parse_amount`.
- Text: a length in characters that matches the column (``String(n)``), and no
  control characters: never NUL (PostgreSQL cannot store it), and tab, line feed and
  carriage return only in free text (notes, descriptions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hub.domain.errors import Code

INT32_MAX = 2**31 - 1
INT32_MIN = -(2**31)
INT64_MAX = 2**63 - 1

# Global ids and cursors: a primary key is at most 18 ASCII digits, so it always fits
# the 64-bit id columns (10**18 - 1 < 2**63 - 1).
MAX_ID_DIGITS = 18

# RFC 5321: a forward-path holds at most 254 characters of address.
EMAIL_MAX = 254
# The longest text a client may send anywhere (free text such as a description), so
# a guard can refuse more before looking further.
TEXT_MAX = 65_535

# Any C0 control, DEL, any C1 control, and (defensively) a lone surrogate, which no
# UTF-8 database column can hold.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# The same, less tab, line feed and carriage return.
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Text:
    """A bound on one text input: its longest length, and whether it is free text
    (which may hold tab, line feed and carriage return)."""

    max_len: int = 255
    multiline: bool = False

    def problem(self, value: str, name: str) -> tuple[Code, str] | None:
        """``(code, message)`` for a value outside this bound, else None."""
        return text_problem(value, name, self.max_len, multiline=self.multiline)


LINE = Text(255)  # the default: a String(255) column, one line


def control_character(value: str, *, multiline: bool = False) -> str | None:
    """The first control character of ``value`` that it may not hold, or None."""
    if value.isascii() and value.isprintable():
        return None
    found = (_CONTROL_IN_TEXT if multiline else _CONTROL).search(value)
    return found.group() if found else None


def describe(char: str) -> str:
    return f"U+{ord(char):04X}"


def text_problem(
    value: str, name: str, max_len: int, *, multiline: bool = False
) -> tuple[Code, str] | None:
    """``("INVALID" | "TOO_LONG", message)`` for text a field may not hold, else None."""
    bad = control_character(value, multiline=multiline)
    if bad is not None:
        allowed = (
            "only tab, line feed and carriage return are allowed"
            if multiline
            else "it must be one line of printable text"
        )
        return Code.INVALID, f"{name} contains a control character ({describe(bad)}); {allowed}"
    if len(value) > max_len:
        return Code.TOO_LONG, f"{name} is longer than {max_len} characters"
    return None


def fits_int32(value: int) -> bool:
    return INT32_MIN <= value <= INT32_MAX


def ascii_digits(raw: str, max_digits: int = MAX_ID_DIGITS) -> int | None:
    """``raw`` as a non-negative integer if it is 1 to ``max_digits`` ASCII digits,
    else None. (``str.isdigit`` and ``int`` also take other scripts' digits, such as
    ``"١٢"``, and superscripts, which ``int`` then refuses.)"""
    if 0 < len(raw) <= max_digits and raw.isascii() and raw.isdigit():
        return int(raw)
    return None
