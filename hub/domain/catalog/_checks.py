"""Field checks and helpers the catalog's writes share."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, String, Table, delete, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.tables import deletions_t, products_t
from hub.domain.catalog.errors import CatalogCode
from hub.domain.channels import HANDLE_RE
from hub.domain.errors import DomainError, Errors, fail, refused_write


def utc_now() -> datetime:
    return datetime.now(UTC)


async def delete_row(conn: AsyncConnection, table: Table, pk: int, what: str) -> None:
    """Delete the ``table`` row ``pk`` in the caller's transaction, or NOT_FOUND on
    ``id``."""
    res = await conn.execute(delete(table).where(table.c.id == pk))
    if res.rowcount == 0:
        raise fail(CatalogCode.NOT_FOUND, f"{what} not found", "id")


def column_length(column: Column[Any]) -> int:
    """The declared length of a ``String`` column (the bound its values are checked at)."""
    type_ = column.type
    if not isinstance(type_, String) or type_.length is None:
        raise TypeError(f"{column.name} is not a String column with a length")
    return type_.length


def check_handle(errs: Errors, handle: str | None, *path: str, max_len: int = 255) -> None:
    if handle is None:
        return
    if not handle:
        errs.add(CatalogCode.BLANK, "handle can't be blank", *path)
    elif len(handle) > max_len:
        errs.add(CatalogCode.TOO_LONG, f"handle is longer than {max_len} characters", *path)
    elif not HANDLE_RE.match(handle):
        errs.add(CatalogCode.INVALID, "handle must be lowercase letters, digits and dashes", *path)


def check_text(
    errs: Errors,
    value: str | None,
    name: str,
    *,
    required: bool = False,
    max_len: int = 255,
    label: str | None = None,
) -> None:
    """``value`` of field ``name`` (``label`` in messages, default ``name``) fits."""
    if value is None:
        return
    label = label or name
    if required and not value.strip():
        errs.add(CatalogCode.BLANK, f"{label} can't be blank", name)
    elif len(value) > max_len:
        errs.add(CatalogCode.TOO_LONG, f"{label} is longer than {max_len} characters", name)


def slugify(text: str) -> str:
    """A valid handle from a title: accents folded ("Café" -> "cafe"), at most 200."""
    ascii_ = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-")
    return slug[:200].rstrip("-") or "item"


def translate_integrity(exc: IntegrityError, field: str, what: str) -> DomainError:
    return refused_write(
        exc,
        field,
        f"{what} is already taken",
        f"{what} is invalid",
        missing=("a referenced record does not exist", field),
    )


def _handle_taken(exc: IntegrityError) -> DomainError:
    return translate_integrity(exc, "handle", "handle")


async def insert_row(
    conn: AsyncConnection,
    table: Table,
    values: Mapping[str, Any],
    refused: Callable[[IntegrityError], DomainError] = _handle_taken,
) -> int:
    """Insert one ``table`` row of ``values`` and return its id; a constraint that
    refuses it is the userError ``refused`` makes of it (by default: the handle)."""
    try:
        res = await conn.execute(insert(table).values(**values).returning(table.c.id))
    except IntegrityError as exc:
        raise refused(exc) from None
    return res.scalar_one()


async def touch_products(conn: AsyncConnection, product_pks: Iterable[int]) -> None:
    """Mark products changed (``updated_at``) when something a till syncs with them
    changes (a price, a variant): ``posSnapshot``'s change feed reads it."""
    pks = list(set(product_pks))
    if pks:
        await conn.execute(
            update(products_t).where(products_t.c.id.in_(pks)).values(updated_at=utc_now())
        )


async def record_deletion(conn: AsyncConnection, kind: str, pk: int) -> None:
    """Log a deleted product or promotion for clients that sync changes."""
    await conn.execute(insert(deletions_t).values(kind=kind, entity_id=pk, deleted_at=utc_now()))
