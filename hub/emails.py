"""Email addresses from clients: one check for customers and carts.

The shape is checked by ``email-validator`` (the library pydantic uses for its email
type): a dot-atom local part (no quoting), a real domain name (IDNA, no IP literals,
no special-use names such as ``localhost`` or ``.test``), at most 254 characters in
all (RFC 5321). Deliverability is not checked: no DNS look-ups on a request.
Addresses are stored lowercased, so one address is one customer whatever its case.

Also the hook messages for customers leave by (:class:`Mailer`): account activation
and password reset links carry one-time tokens that the API never returns.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

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


# ---------------------------------------------------------------------------- sending


@dataclass(frozen=True, slots=True)
class EmailMessage:
    """A message for a customer: ``template`` names what it is
    (``customer.activation``, ``customer.password_reset``); ``data`` holds what the
    template needs (the customer's id, a one-time token, its expiry). One-time tokens
    travel only here: they are stored hashed and never returned by the API."""

    to: str
    template: str
    data: dict[str, Any] = field(default_factory=dict)


class Mailer(Protocol):
    """Where the hub hands messages for customers (the e-mail hook)."""

    async def send(self, message: EmailMessage) -> None: ...


class MemoryMailer:
    """Keeps the last ``size`` messages in this process (the default hook: a deployment
    plugs its sender in; development and the tests read them here)."""

    def __init__(self, size: int = 1000) -> None:
        self.sent: deque[EmailMessage] = deque(maxlen=size)
        self._changed = asyncio.Condition()

    async def send(self, message: EmailMessage) -> None:
        async with self._changed:
            self.sent.append(message)
            self._changed.notify_all()

    def find(self, to: str, template: str) -> list[EmailMessage]:
        return [m for m in self.sent if m.to == to and m.template == template]

    async def latest(self, to: str, template: str) -> EmailMessage:
        """The latest ``template`` message to ``to``, waiting until there is one (wrap
        it in ``asyncio.timeout``)."""
        async with self._changed:
            while not self.find(to, template):
                await self._changed.wait()
            return self.find(to, template)[-1]
