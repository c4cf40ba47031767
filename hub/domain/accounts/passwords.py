"""Customer passwords: the rules a new one must meet, and argon2id hashing.

Hashing runs in a worker thread (argon2 is deliberately slow and memory-hard: it would
stall the event loop). A sign-in for an unknown email verifies against a dummy hash,
so it costs the same time as a wrong password and does not tell whether the email has
an account.
"""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from hub.domain.accounts.codes import AccountCode
from hub.domain.errors import Code, fail

MIN_PASSWORD = 8
MAX_PASSWORD = 255  # the input guard's bound for a one-line text


def check_password(password: str, *path: str) -> str:
    """``password`` if a new password may be it, else the DomainError saying why."""
    where = path or ("password",)
    if len(password) < MIN_PASSWORD:
        raise fail(
            AccountCode.TOO_SHORT, f"a password is at least {MIN_PASSWORD} characters", *where
        )
    if len(password) > MAX_PASSWORD:
        raise fail(Code.TOO_LONG, f"a password is at most {MAX_PASSWORD} characters", *where)
    if password != password.strip():
        raise fail(
            AccountCode.PASSWORD_STARTS_OR_ENDS_WITH_WHITESPACE,
            "a password can't start or end with whitespace",
            *where,
        )
    if "\x00" in password:
        raise fail(Code.INVALID, "a password can't contain a NUL character", *where)
    return password


class Passwords:
    """argon2id with the settings' cost (``HUB_PASSWORD_HASH_*``)."""

    def __init__(self, time_cost: int = 2, memory_kib: int = 19_456, parallelism: int = 1):
        self.hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self.hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored``; with no ``stored`` hash (no such
        account, or one without a password yet) a dummy hash is checked, for the time
        it takes, and the answer is no."""
        if stored is None:
            if self._dummy is None:
                self._dummy = await self.hash(secrets.token_urlsafe(16))
            await asyncio.to_thread(self._check, self._dummy, password)
            return False
        return await asyncio.to_thread(self._check, stored, password)

    def _check(self, stored: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        try:
            return self.hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True
