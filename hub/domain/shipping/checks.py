"""What shipping zones and rates share: the checks of handles and names, and the
reads and writes of one row (what a missing row or a constraint violation means)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Executable, Table, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.domain.errors import Code, DomainError, Errors, fail, refused_write
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
    return refused_write(
        exc,
        "handle",
        f"{what} handle is already taken",
        f"the {what} is invalid",
        missing=("shipping zone not found", "zone_pk"),
    )


async def stored(conn: AsyncConnection, table: Table, pk: int, what: str) -> Any:
    """The row ``pk`` of ``table``, or NOT_FOUND naming ``what``."""
    row = (await conn.execute(select(table).where(table.c.id == pk))).first()
    if row is None:
        raise fail(Code.NOT_FOUND, f"shipping {what} not found", "id")
    return row


async def write(conn: AsyncConnection, stmt: Executable, what: str) -> Any:
    """Run an INSERT or UPDATE of a ``what``; a constraint it breaks as its userError."""
    try:
        return await conn.execute(stmt)
    except IntegrityError as exc:
        raise integrity_error(exc, what) from None


async def delete_one(conn: AsyncConnection, table: Table, pk: int, what: str) -> None:
    """Delete the row ``pk`` of ``table`` (a zone: with its rates), or NOT_FOUND, in the
    caller's transaction."""
    res = await conn.execute(delete(table).where(table.c.id == pk))
    if res.rowcount == 0:
        raise fail(Code.NOT_FOUND, f"shipping {what} not found", "id")
