"""Email addresses from clients: one check for customers and carts.

The shape is checked by ``email-validator`` (the library pydantic uses for its email
type): a dot-atom local part (no quoting), a real domain name (IDNA, no IP literals,
no special-use names such as ``localhost`` or ``.test``), at most 254 characters in
all (RFC 5321). Deliverability is not checked: no DNS look-ups on a request.
Addresses are stored lowercased, so one address is one customer whatever its case.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from hub.bounds import EMAIL_MAX


class InvalidEmail(ValueError):
    """``code`` is ``TOO_LONG`` or ``INVALID``; the message says what is wrong."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def normalize_email(value: str) -> str:
    """``value`` stripped, checked and lowercased; :class:`InvalidEmail` otherwise."""
    value = value.strip()
    if len(value) > EMAIL_MAX:
        raise InvalidEmail("TOO_LONG", f"an email address is at most {EMAIL_MAX} characters")
    try:
        checked = validate_email(
            value,
            check_deliverability=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
        )
    except EmailNotValidError as exc:
        raise InvalidEmail("INVALID", f"not an email address: {exc}") from None
    return checked.normalized.lower()
