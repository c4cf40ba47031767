"""The userErrors codes of staff users and roles."""

from __future__ import annotations

from enum import StrEnum


class StaffCode(StrEnum):
    """Codes beyond the common ones (BLANK, INVALID, TAKEN, TOO_LONG, NOT_FOUND)."""

    # A wrong password, an unknown email or a deactivated user: one answer.
    UNIDENTIFIED_STAFF = "UNIDENTIFIED_STAFF"
    # A name that is not one of hub.auth.PERMISSIONS.
    UNKNOWN_PERMISSION = "UNKNOWN_PERMISSION"
    # The user is deactivated: it can't be given roles or tokens.
    STAFF_DEACTIVATED = "STAFF_DEACTIVATED"
