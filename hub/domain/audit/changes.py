"""From captured row changes to what the log keeps: merged per row, only the columns
that changed, secrets redacted, values as JSON."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import orjson

from hub.domain.audit.scope import AuditScope

# Derived from other columns; their change says nothing the others don't.
DERIVED_COLUMNS = frozenset({"search_text"})
SECRET_WORDS = ("hash", "secret", "token", "password")
REDACTED = "[redacted]"
# Row changes kept per transaction; beyond, a count per table and operation.
MAX_ROWS = 500

_secret_columns: set[tuple[str, str]] = set()


def mark_secret(table: str, *columns: str) -> None:
    """Redact ``table``'s ``columns`` in the audit log (a connector's or a webhook's
    secret, say), whatever their names."""
    _secret_columns.update((table, c) for c in columns)


def is_secret(table: str, column: str) -> bool:
    lowered = column.lower()
    return (table, column) in _secret_columns or any(w in lowered for w in SECRET_WORDS)


@dataclass(slots=True)
class RowChange:
    table: str
    pk: tuple[Any, ...]
    op: str  # insert, update, delete
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def plain(value: Any) -> Any:
    """``value`` as JSON (times in ISO 8601, decimals as strings)."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "[binary]"
    if isinstance(value, list | tuple | dict):
        return orjson.loads(orjson.dumps(value, default=str))
    return str(value)


def _merge(changes: Sequence[RowChange]) -> list[RowChange]:
    """One change per row: the first picture before, the last after."""
    merged: dict[tuple[str, tuple[Any, ...]], RowChange] = {}
    out: list[RowChange] = []
    for ch in changes:
        if not ch.pk or any(v is None for v in ch.pk):
            out.append(ch)  # no key to merge on (INSERT ... SELECT, a key unknown)
            continue
        key = (ch.table, ch.pk)
        seen = merged.get(key)
        if seen is None:
            merged[key] = RowChange(ch.table, ch.pk, ch.op, ch.before, ch.after)
            out.append(merged[key])
            continue
        if seen.op == "insert":
            seen.after = None if ch.op == "delete" else {**(seen.after or {}), **(ch.after or {})}
            if ch.op == "delete":
                seen.op = "gone"  # inserted and deleted in one transaction: nothing left
        elif seen.op == "delete":
            seen.op, seen.after = "update", ch.after
        else:
            seen.op = "delete" if ch.op == "delete" else "update"
            seen.after = ch.after
    return [ch for ch in out if ch.op != "gone"]


def _shown(table: str, row: Mapping[str, Any], columns: Sequence[str]) -> dict[str, Any]:
    return {c: REDACTED if is_secret(table, c) else plain(row.get(c)) for c in columns}


def describe(change: RowChange) -> dict[str, Any] | None:
    """The log's entry for one row, or None when nothing visible changed."""
    pk: Any = plain(change.pk[0]) if len(change.pk) == 1 else [plain(v) for v in change.pk]
    entry: dict[str, Any] = {"table": change.table, "pk": pk, "op": change.op}
    before, after = change.before or {}, change.after or {}
    if change.op == "update":
        if change.after is None:
            return None
        cols = [
            c
            for c in after
            if c not in DERIVED_COLUMNS and plain(before.get(c)) != plain(after.get(c))
        ]
        if not cols:
            return None
        entry["before"] = _shown(change.table, before, cols)
        entry["after"] = _shown(change.table, after, cols)
    elif change.op == "insert":
        entry["after"] = _shown(change.table, after, [c for c in after if c not in DERIVED_COLUMNS])
    else:
        entry["before"] = _shown(
            change.table, before, [c for c in before if c not in DERIVED_COLUMNS]
        )
    return entry


def object_id(pk: Any) -> str:
    return ":".join(str(v) for v in pk) if isinstance(pk, list) else str(pk)


def by_scope(
    entries: Sequence[tuple[AuditScope, RowChange]],
    overflow: Mapping[tuple[AuditScope, str, str], int],
) -> list[tuple[AuditScope, list[dict[str, Any]], list[tuple[str, str]]]]:
    """Per scope (in the order they wrote): the log's entries and the (table, id) of
    every object they touched."""
    grouped: dict[AuditScope, list[RowChange]] = {}
    for scope, change in entries:
        grouped.setdefault(scope, []).append(change)
    for scope, _table, _op in overflow:
        grouped.setdefault(scope, [])
    out = []
    for scope, changes in grouped.items():
        described = [d for d in map(describe, _merge(changes)) if d is not None]
        described += [
            {"table": table, "op": op, "rows": n, "truncated": scope.detail}
            for (s, table, op), n in overflow.items()
            if s == scope
        ]
        objects = list(
            dict.fromkeys(
                (d["table"], object_id(d["pk"])) for d in described if d.get("pk") is not None
            )
        )
        out.append((scope, described, objects))
    return out
