"""Keyset pagination: opaque cursors over (sort value, id), stable under inserts, and
:func:`id_page` for the lists paged by id alone."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson
from sqlalchemy import Select, func
from sqlalchemy.sql.elements import ColumnElement, Label

from hub.bounds import INT32_MAX, INT32_MIN, INT64_MAX, control_character
from hub.db.database import Reader


class InvalidCursor(ValueError):
    pass


class InvalidPage(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class PageRequest:
    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None

    def validate(self, max_size: int) -> None:
        if self.first is not None and self.last is not None:
            raise InvalidPage("pass either `first` or `last`, not both")
        for name in ("first", "last"):
            v = getattr(self, name)
            if v is not None and not 0 <= v <= max_size:
                raise InvalidPage(f"`{name}` must be between 0 and {max_size} (got {v})")

    @property
    def backward(self) -> bool:
        return self.last is not None or (self.before is not None and self.first is None)

    def size(self, default: int) -> int:
        n = self.last if self.backward else self.first
        return default if n is None else n


def encode_cursor(kind: str, value: Any, pk: int) -> str:
    raw = orjson.dumps([kind, value, pk])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


CursorValue = Literal["int32", "text", "datetime"]

# The longest cursor the hub makes: a sort value of up to 255 characters (a title,
# up to 4 bytes each in UTF-8) with its kind and key, in base64.
MAX_CURSOR = 2048


def decode_cursor(cursor: str, kind: str, value_type: CursorValue | None = None) -> tuple[Any, int]:
    """The (sort value, primary key) of a cursor made by :func:`encode_cursor` for
    ``kind``. A cursor is client input: the key must fit the id columns, and with
    ``value_type`` the value must be what that sort compares (an int that fits a
    32-bit column, one line of text, an ISO 8601 time), else :class:`InvalidCursor`."""
    if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR:
        raise InvalidCursor("invalid cursor")
    try:
        pad = "=" * (-len(cursor) % 4)
        k, value, pk = orjson.loads(base64.urlsafe_b64decode(cursor + pad))
    except Exception:
        raise InvalidCursor(f"invalid cursor {cursor[:40]!r}") from None
    if k != kind or type(pk) is not int or not 0 <= pk <= INT64_MAX:
        raise InvalidCursor(f"cursor {cursor[:40]!r} belongs to another list or sort order")
    if value_type is not None:
        value = _cursor_value(value, value_type, cursor)
    return value, pk


def _cursor_value(value: Any, value_type: CursorValue, cursor: str) -> Any:
    if value is None:
        return None
    if value_type == "int32" and type(value) is int and INT32_MIN <= value <= INT32_MAX:
        return value
    if isinstance(value, str) and len(value) <= 255 and control_character(value) is None:
        if value_type == "text":
            return value
        if value_type == "datetime":
            try:
                return datetime.fromisoformat(value)
            except ValueError:
                pass
    raise InvalidCursor(f"cursor {cursor[:40]!r} belongs to another list or sort order")


async def id_page(
    reader: Reader, stmt: Select[Any], id_col: ColumnElement[Any], page: PageRequest, kind: str
) -> tuple[list[Any], list[str], bool, bool]:
    """One page of ``stmt``'s rows in ``id_col`` order, with cursors of ``kind``:
    (rows, cursors, has_next, has_previous)."""
    size = page.size(default=20)
    backward = page.backward
    for cursor, is_after in ((page.after, True), (page.before, False)):
        if cursor is not None:
            _, pk = decode_cursor(cursor, kind)
            stmt = stmt.where(id_col > pk if is_after else id_col < pk)
    rows = list(
        await reader.all(stmt.order_by(id_col.desc() if backward else id_col).limit(size + 1))
    )
    more = len(rows) > size
    rows = rows[:size]
    if backward:
        rows.reverse()
    cursors = [encode_cursor(kind, None, r.id) for r in rows]
    if backward:
        return rows, cursors, page.before is not None, more
    return rows, cursors, more, page.after is not None


def rank_within(partition: ColumnElement[Any], *order_by: ColumnElement[Any]) -> Label[Any]:
    """``rn``: a row's place (1, 2, ...) among the rows of its ``partition``, in
    ``order_by`` order; the first page of each of many parents in one statement keeps
    the rows with ``rn`` up to the page size."""
    return func.row_number().over(partition_by=partition, order_by=order_by).label("rn")
