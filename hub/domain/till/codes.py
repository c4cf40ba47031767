"""The userErrors codes of tills, till sessions, staff PINs and receipts."""

from __future__ import annotations

from enum import StrEnum


class TillCode(StrEnum):
    """Codes beyond the common ones (BLANK, INVALID, TAKEN, TOO_LONG, NOT_FOUND)."""

    # The till is deactivated: no sign-in, no session.
    TILL_INACTIVE = "TILL_INACTIVE"
    # A PIN is 4 to 8 digits.
    PIN_INVALID = "PIN_INVALID"
    # A wrong PIN, an unknown staff user, a PIN not valid at the till's location or a
    # deactivated user: one answer.
    PIN_REJECTED = "PIN_REJECTED"
    # Too many wrong PINs in a row: the PIN is locked for a while.
    PIN_LOCKED = "PIN_LOCKED"
    # The till already has an open session (one open session per till).
    SESSION_ALREADY_OPEN = "SESSION_ALREADY_OPEN"
    # No open session at the till (cash can't be recorded, a session can't be closed).
    NO_OPEN_SESSION = "NO_OPEN_SESSION"
    # The session is closed: no more cash movements.
    SESSION_CLOSED = "SESSION_CLOSED"
    # A cash amount must be positive (a float or a count may be zero).
    AMOUNT_INVALID = "AMOUNT_INVALID"
    # Cash out beyond what the drawer should hold.
    NOT_ENOUGH_CASH = "NOT_ENOUGH_CASH"
