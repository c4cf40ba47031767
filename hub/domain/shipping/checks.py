"""Checks shared by shipping zones and rates: handles, names, and what a constraint
violation of either means."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from hub.domain.errors import Code, DomainError, Errors, fail
from hub.domain.handles import HANDLE_RE


def check_handle(errs: Errors, handle: str | None) -> None:
    if handle is None:
        return
    if not handle:
        errs.add(Code.BLANK, "handle can't be blank", "handle")
    elif len(handle) > 64:
        errs.add(Code.TOO_LONG, "handle is longer than 64 characters", "handle")
    elif not HANDLE_RE.match(handle):
        errs.add(Code.INVALID, "handle must be lowercase letters, digits and dashes", "handle")


def check_name(errs: Errors, value: str | None, path: str) -> None:
    if value is None:
        return
    if not value.strip():
        errs.add(Code.BLANK, f"{path} can't be blank", path)
    elif len(value) > 255:
        errs.add(Code.TOO_LONG, f"{path} is longer than 255 characters", path)
    elif "\x00" in value:
        errs.add(Code.INVALID, f"{path} contains a NUL character", path)


def integrity_error(exc: IntegrityError, what: str) -> DomainError:
    msg = str(exc.orig).lower()
    if "unique" in msg or "duplicate" in msg:
        return fail(Code.TAKEN, f"{what} handle is already taken", "handle")
    if "foreign key" in msg:
        return fail(Code.NOT_FOUND, "shipping zone not found", "zoneId")
    return fail(Code.INVALID, f"the {what} is invalid", "handle")
