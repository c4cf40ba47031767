"""Business failures a client can act on: raised inside a transaction (so it rolls
back and nothing is half-written) and returned as ``userErrors`` with a stable code.

A code is a member of a ``StrEnum``: :class:`Code` holds the codes every domain uses;
a domain package with codes of its own adds its own enum (``InventoryCode``, ...),
exported from its ``__init__`` (one with none exports :class:`Code` under its own name,
as ``CatalogCode`` does). The schema turns the union of them into the GraphQL enum
``UserErrorCode`` (``schema.errors``); a member's value is the string clients see."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.exc import IntegrityError


class Code(StrEnum):
    """The codes common to every domain."""

    BLANK = "BLANK"
    INVALID = "INVALID"
    TAKEN = "TAKEN"
    NOT_FOUND = "NOT_FOUND"
    TOO_LONG = "TOO_LONG"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    IN_USE = "IN_USE"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"


@dataclass(frozen=True, slots=True)
class UserError:
    field: Sequence[str] | None  # the input path, in the domain's own terms
    message: str
    code: StrEnum


@dataclass
class DomainError(Exception):
    errors: list[UserError] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(f"{e.code}: {e.message}" for e in self.errors)


def fail(code: StrEnum, message: str, *path: str) -> DomainError:
    return DomainError([UserError(list(path) or None, message, code)])


def refused_write(
    exc: IntegrityError,
    field: str,
    taken: str,
    invalid: str,
    *,
    missing: tuple[str, str] | None = None,
) -> DomainError:
    """The userError of a write a constraint refused: ``TAKEN`` (``taken`` on ``field``)
    when a unique constraint did; with ``missing`` (message, field), ``NOT_FOUND`` when a
    foreign key did; else ``INVALID`` (``invalid`` on ``field``)."""
    msg = str(exc.orig).lower()
    if "unique" in msg or "duplicate" in msg:
        return fail(Code.TAKEN, taken, field)
    if missing is not None and "foreign key" in msg:
        return fail(Code.NOT_FOUND, *missing)
    return fail(Code.INVALID, invalid, field)


class Errors:
    """Collects validation failures, then raises them together."""

    def __init__(self) -> None:
        self.items: list[UserError] = []

    def add(self, code: StrEnum, message: str, *path: str) -> None:
        self.items.append(UserError(list(path) or None, message, code))

    def require(
        self, data: object, names: Iterable[str], label: Callable[[str], str] = str
    ) -> None:
        """``BLANK`` "<label> is required" on each field of ``names`` that ``data`` (an
        input object) leaves None."""
        for name in names:
            if getattr(data, name) is None:
                self.add(Code.BLANK, f"{label(name)} is required", name)

    def raise_if_any(self) -> None:
        if self.items:
            raise DomainError(list(self.items))
