"""Keyset pagination: opaque cursors over (sort value, id), stable under inserts."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import orjson


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


def decode_cursor(cursor: str, kind: str) -> tuple[Any, int]:
    try:
        pad = "=" * (-len(cursor) % 4)
        k, value, pk = orjson.loads(base64.urlsafe_b64decode(cursor + pad))
    except Exception:
        raise InvalidCursor(f"invalid cursor {cursor[:40]!r}") from None
    if k != kind or not isinstance(pk, int):
        raise InvalidCursor(f"cursor {cursor[:40]!r} belongs to another list or sort order")
    return value, pk
