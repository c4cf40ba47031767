"""Capture, at the database layer, of the writes made under an audit scope.

:func:`install` puts four listeners on an engine. While a scope is open in the task
(:mod:`hub.domain.audit.scope`) they see every INSERT, UPDATE and DELETE on the hub's
tables (SQLAlchemy Core statements, whatever domain function wrote them):

- before an UPDATE or DELETE, the rows its WHERE matches are read on the same
  connection (``FOR UPDATE`` on PostgreSQL, so the picture is the one the write
  changes); after an UPDATE, the same rows again by primary key, unless the UPDATE
  set plain values (then the rows after are the rows before with those values);
- after an INSERT, the values it bound (and the keys the database gave);

and keep the changes with the connection. When the transaction commits, they are
written on the same connection just before the COMMIT (one ``audit_events`` row per
scope and transaction: one INSERT; a trigger indexes its objects in
``audit_objects``): the write and its audit commit together or not at all. A
rollback (a userError, a failure) drops them. Without an open scope a listener
returns at once: the storefront's statements are unchanged.

Changes of one row within a transaction are merged (first before, last after) and
only the columns that changed are kept. Secrets never reach the log: a column whose
name says hash, secret, token or password, or one marked with :func:`mark_secret`,
reads ``"[redacted]"``.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, and_, event, insert, or_, select
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.dml import Delete, Insert, Update
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from hub.db import fast
from hub.db.models.base import utcnow
from hub.db.tables import audit_events_t
from hub.domain.audit.changes import MAX_ROWS, RowChange, by_scope, mark_secret
from hub.domain.audit.scope import AuditScope, current_scope

# Not audited: the log itself, the outbox (events, not data), caches and technical
# records (persisted queries, idempotency results, checkout leases), and what shoppers
# write through the storefront (carts and their checkout state).
SKIPPED_TABLES = frozenset(
    {
        "audit_events",
        "audit_objects",
        "audit_retention",
        "outbox",
        "persisted_queries",
        "idempotency_keys",
        "checkout_attempts",
        "checkout_payments",
        "carts",
        "cart_lines",
        "cart_delivery_groups",
        "alembic_version",
    }
)
# In the SQL of the audit's own reads (``SELECT /* audit */ ...``), for whoever reads
# the database's statement log.
MARK = "/* audit */"


@dataclass(slots=True)
class _Pending:
    """What one connection captured in its open transaction."""

    entries: list[tuple[AuditScope, RowChange]] = field(default_factory=list)
    # Rows over MAX_ROWS (or of a scope without detail), per (scope, table, op).
    overflow: dict[tuple[AuditScope, str, str], int] = field(default_factory=dict)
    # len(entries) at each open savepoint, innermost last (the ``savepoint`` event
    # doesn't know the name yet; savepoints nest).
    savepoints: list[int] = field(default_factory=list)
    # The rows an UPDATE or DELETE matched, read before it ran (statement, rows).
    inflight: list[tuple[Any, list[Mapping[str, Any]]]] = field(default_factory=list)


_pending: weakref.WeakKeyDictionary[Connection, _Pending] = weakref.WeakKeyDictionary()


def install(engine: AsyncEngine) -> None:
    """Capture audited writes on ``engine`` (once per engine)."""
    sync = engine.sync_engine
    # hub.db.fast runs its statements through SQLAlchemy (so these listeners see
    # them) while a scope is open.
    fast.add_guard(_scoped)
    if event.contains(sync, "before_execute", _before_execute):
        return
    event.listen(sync, "before_execute", _before_execute)
    event.listen(sync, "after_execute", _after_execute)
    event.listen(sync, "commit", _on_commit)
    event.listen(sync, "rollback", _on_rollback)
    event.listen(sync, "savepoint", _on_savepoint)
    event.listen(sync, "rollback_savepoint", _on_rollback_savepoint)
    event.listen(sync, "release_savepoint", _on_release_savepoint)


def _scoped() -> bool:
    return current_scope() is not None


def _audited_table(stmt: Any) -> Table | None:
    if not isinstance(stmt, Insert | Update | Delete):
        return None
    table = stmt.table
    if not isinstance(table, Table) or table.name in SKIPPED_TABLES:
        return None
    return table


def _param_sets(multiparams: Any, params: Any) -> list[Mapping[str, Any]]:
    if multiparams:
        return list(multiparams)
    return [params or {}]


def _before_execute(
    conn: Connection, stmt: Any, multiparams: Any, params: Any, _options: Any
) -> None:
    scope = current_scope()
    if scope is None or not scope.detail or isinstance(stmt, Insert):
        return
    table = _audited_table(stmt)
    if table is None:
        return
    query = select(*table.c).prefix_with(MARK).limit(MAX_ROWS + 1)
    if stmt.whereclause is not None:
        query = query.where(stmt.whereclause)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=table)
    rows: list[Mapping[str, Any]] = []
    for p in _param_sets(multiparams, params):
        rows.extend(dict(r) for r in conn.execute(query, dict(p)).mappings())
    _pending.setdefault(conn, _Pending()).inflight.append((stmt, rows))


def _after_execute(
    conn: Connection,
    stmt: Any,
    multiparams: Any,
    params: Any,
    _options: Any,
    result: CursorResult[Any],
) -> None:
    scope = current_scope()
    if scope is None:
        return
    table = _audited_table(stmt)
    if table is None:
        return
    pending = _pending.setdefault(conn, _Pending())
    if not scope.detail:
        op = (
            "insert"
            if isinstance(stmt, Insert)
            else "update"
            if isinstance(stmt, Update)
            else "delete"
        )
        if result.rowcount and result.rowcount > 0:
            key = (scope, table.name, op)
            pending.overflow[key] = pending.overflow.get(key, 0) + result.rowcount
            if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
                _on_commit(conn)
        return
    if isinstance(stmt, Insert):
        changes = _inserted(table, stmt, result)
    else:
        before: list[Mapping[str, Any]] = []
        if pending.inflight and pending.inflight[-1][0] is stmt:
            before = pending.inflight.pop()[1]
        op = "delete" if isinstance(stmt, Delete) else "update"
        unread = (result.rowcount or 0) - min(len(before), MAX_ROWS)
        if unread > 0:  # more rows than the read before keeps: counted
            key = (scope, table.name, op)
            pending.overflow[key] = pending.overflow.get(key, 0) + unread
        before = before[:MAX_ROWS]
        changes = (
            _deleted(table, before)
            if op == "delete"
            else _updated(conn, table, before, _set_values(table, stmt, result))
        )
    _keep(pending, scope, table.name, changes)
    if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        _on_commit(conn)  # the write is already committed: so is its audit


def _keep(pending: _Pending, scope: AuditScope, table: str, changes: Iterable[RowChange]) -> None:
    for change in changes:
        if len(pending.entries) < MAX_ROWS:
            pending.entries.append((scope, change))
        else:
            key = (scope, table, change.op)
            pending.overflow[key] = pending.overflow.get(key, 0) + 1


def _pk_of(table: Table, row: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(row.get(c.key) for c in table.primary_key.columns)


def _deleted(table: Table, before: Sequence[Mapping[str, Any]]) -> list[RowChange]:
    return [RowChange(table.name, _pk_of(table, r), "delete", dict(r), None) for r in before]


def _set_values(table: Table, stmt: Update, result: CursorResult[Any]) -> dict[str, Any] | None:
    """What an UPDATE that sets plain values (no SQL expression, one parameter set)
    wrote, from the statement and its Python-side ``onupdate`` defaults; None when
    only reading the rows again can tell (``on_hand = on_hand + 3``)."""
    values = stmt._values
    context = result.context
    if not values or context.executemany or not context.compiled_parameters:
        return None
    if any(c.server_onupdate is not None for c in table.c):
        return None
    out: dict[str, Any] = {}
    for col, v in values.items():
        if not isinstance(v, BindParameter) or v.required or v.callable is not None:
            return None
        out[col if isinstance(col, str) else col.key] = v.value
    params = context.compiled_parameters[0]
    compiled = context.compiled
    for col in getattr(compiled, "update_prefetch", None) or ():
        if col.key not in out and col.key in params:
            out[col.key] = params[col.key]
    return out


def _updated(
    conn: Connection,
    table: Table,
    before: Sequence[Mapping[str, Any]],
    known: dict[str, Any] | None,
) -> list[RowChange]:
    if not before:
        return []
    if known is not None:
        return [
            RowChange(table.name, _pk_of(table, r), "update", dict(r), {**r, **known})
            for r in before
        ]
    pk_cols = list(table.primary_key.columns)
    keys = [_pk_of(table, r) for r in before]
    cond: ColumnElement[bool]
    if len(pk_cols) == 1:
        cond = pk_cols[0].in_([k[0] for k in keys])
    else:
        cond = or_(*(and_(*(c == v for c, v in zip(pk_cols, k, strict=True))) for k in keys))
    again = select(*table.c).prefix_with(MARK).where(cond)
    found = [dict(r) for r in conn.execute(again).mappings()]
    after = {_pk_of(table, r): r for r in found}
    return [
        RowChange(table.name, k, "update", dict(r), dict(after[k]) if k in after else None)
        for k, r in zip(keys, before, strict=True)
    ]


def _inserted(table: Table, stmt: Insert, result: CursorResult[Any]) -> list[RowChange]:
    if stmt.select is not None:  # INSERT ... SELECT: the rows are not in the statement
        return [RowChange(table.name, (), "insert", None, {"rows": result.rowcount})]
    if result.rowcount == 0:  # ON CONFLICT DO NOTHING that did nothing
        return []
    compiled = list(result.context.compiled_parameters or [])
    columns = [c.key for c in table.c]
    rows: list[dict[str, Any]] = []
    for params in compiled:
        if any(c in params for c in columns):
            rows.append({c: params[c] for c in columns if c in params})
            continue
        i = 0  # a multi-VALUES insert: <column>_m<i>
        while any(f"{c}_m{i}" in params for c in columns):
            rows.append({c: params[f"{c}_m{i}"] for c in columns if f"{c}_m{i}" in params})
            i += 1
    keys = _inserted_keys(table, stmt, result)
    out = []
    for i, values in enumerate(rows):
        pk = _pk_of(table, values)
        got = keys[i] if i < len(keys) else None
        if got is not None and all(v is not None for v in got):
            pk = tuple(got)
            values.update(zip((c.key for c in table.primary_key.columns), pk, strict=True))
        out.append(RowChange(table.name, pk, "insert", None, values))
    return out


def _inserted_keys(table: Table, stmt: Insert, result: CursorResult[Any]) -> list[Any]:
    """The primary keys the database gave the inserted rows, as far as known."""
    if not stmt._returning:
        try:
            return list(result.inserted_primary_key_rows or [])
        except Exception:  # the dialect can't say for this statement
            return []
    # INSERT ... RETURNING: the caller has yet to read the rows, so they are peeked at
    # where SQLAlchemy's async adapters buffer them (tests/schema/test_audit.py fails
    # if an upgrade moves them: the inserted row's key goes missing).
    names = [d[0] for d in result.cursor.description or ()] if result.cursor else []
    cols = [c.name for c in table.primary_key.columns]
    if not names or any(c not in names for c in cols):
        return []
    strategy = result.cursor_strategy
    buffered = getattr(strategy, "_rowbuffer", None)
    if buffered is None:
        buffered = getattr(result.cursor, "_rows", None)
    if buffered is None:
        return []
    at = [names.index(c) for c in cols]
    return [tuple(row[i] for i in at) for row in list(buffered)]


def _on_savepoint(conn: Connection, _name: str | None) -> None:
    pending = _pending.setdefault(conn, _Pending())
    pending.savepoints.append(len(pending.entries))


def _on_release_savepoint(conn: Connection, _name: str, _context: Any) -> None:
    pending = _pending.get(conn)
    if pending is not None and pending.savepoints:
        pending.savepoints.pop()


def _on_rollback_savepoint(conn: Connection, _name: str, _context: Any) -> None:
    pending = _pending.get(conn)
    if pending is not None and pending.savepoints:
        del pending.entries[pending.savepoints.pop() :]


def _on_rollback(conn: Connection) -> None:
    _pending.pop(conn, None)


def _on_commit(conn: Connection) -> None:
    pending = _pending.pop(conn, None)
    if pending is None or not (pending.entries or pending.overflow):
        return
    for scope, changes, objects in by_scope(pending.entries, pending.overflow):
        if not changes:
            continue
        actor = scope.actor
        conn.execute(
            insert(audit_events_t).values(
                occurred_at=utcnow(),
                actor_kind=actor.kind,
                actor_id=actor.id,
                actor_name=actor.name[:255],
                actor_role=actor.role,
                operation=scope.operation,
                request_id=(scope.request_id or None) and scope.request_id[:64],
                client_address=(scope.client_address or None) and scope.client_address[:64],
                objects=[[t, i[:128]] for t, i in objects],
                changes=changes,
            )
        )


__all__ = ["SKIPPED_TABLES", "install", "mark_secret"]
