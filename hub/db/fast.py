"""The hottest statements, run on PostgreSQL without SQLAlchemy's per-statement work.

SQLAlchemy costs about 0.15 ms of CPU per statement on top of asyncpg's own (its
execution context, compiled-cache lookup, cursor adapter, ``Result``; measured 0.21
against 0.07 ms for the same prebuilt SELECT on this machine, 0.11 ms through this
module), and a checkout runs about 30 statements. :func:`execute` runs a Core
statement built once (a :class:`Prebuilt` module-level constant with bind parameters)
through the SQL SQLAlchemy compiled for it, on the same asyncpg connection and in the
same transaction, and answers with a
:class:`Rows`: the rows as named tuples (attribute access, like SQLAlchemy's rows),
``first()``, ``one()``, ``scalar()``, ``all()``, ``rowcount``.

It is the same statement with the same parameters and the same transaction; what it
skips is bookkeeping. It falls back to ``conn.execute`` (so the caller needs no second
code path) whenever what it skips would matter:

* not PostgreSQL (SQLite runs every statement through SQLAlchemy);
* a statement SQLAlchemy must finish at execution time: Python-side column defaults
  of an INSERT or UPDATE, or a result type whose processor needs the server's column
  type (expanding ``IN`` lists are expanded here by SQLAlchemy's own
  ``construct_expanded_state``);
* a SQLAlchemy without the asyncpg adapter this relies on (its transaction, begun
  here as the adapter begins it before a transaction's first statement, and its
  lock);
* someone listens to statements as SQLAlchemy runs them: the audit log's capture
  while an audit scope is open (:func:`add_guard`).

Statement listeners (``before_cursor_execute``: the tests count statements with one)
are called as SQLAlchemy calls them. An error is raised as SQLAlchemy would raise it:
asyncpg's exception translated by the dialect and wrapped by the connection (so a
lost connection is invalidated and reported the same way).
"""

from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from sqlalchemy import Executable, TextClause
from sqlalchemy.exc import MultipleResultsFound, NoResultFound
from sqlalchemy.ext.asyncio import AsyncConnection

_GUARDS: list[Callable[[], bool]] = []
used = 0  # statements this process ran here (not through SQLAlchemy): for tests
_STATUS = re.compile(r"(?:SELECT|UPDATE|DELETE|INSERT \d+) (\d+)")


def add_guard(guard: Callable[[], bool]) -> None:
    """While ``guard()`` is true, every statement goes through SQLAlchemy (its events
    see it): the audit log's capture registers one."""
    if guard not in _GUARDS:
        _GUARDS.append(guard)


class Rows:
    """A statement's rows, as SQLAlchemy's ``Result`` methods the hub uses give them."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def all(self) -> list[Any]:
        return self._rows

    def first(self) -> Any | None:
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        if not self._rows:
            raise NoResultFound("No row was found when one was required")
        return self.one_or_none()

    def one_or_none(self) -> Any | None:
        if len(self._rows) > 1:
            raise MultipleResultsFound("Multiple rows were found when one or none was required")
        return self._rows[0] if self._rows else None

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalars(self) -> Scalars:
        return Scalars(r[0] for r in self._rows)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)


class Scalars(list[Any]):
    """The first column of each row (``Result.scalars()``)."""

    def all(self) -> list[Any]:
        return list(self)

    def first(self) -> Any | None:
        return self[0] if self else None


class _Plan:
    """What running one statement needs, compiled once."""

    __slots__ = (
        "binds",
        "compiled",
        "defaults",
        "expands",
        "fetches",
        "names",
        "processors",
        "row",
        "sql",
    )

    def __init__(self, stmt: Executable, dialect: Any) -> None:
        compiled: Any = stmt.compile(dialect=dialect)  # type: ignore[attr-defined]
        if (
            getattr(compiled, "insert_prefetch", None)
            or getattr(compiled, "update_prefetch", None)
            or compiled.positiontup is None
        ):
            raise _Unsupported
        self.compiled = compiled
        # Expanding IN lists: the SQL depends on their lengths, expanded per call by
        # SQLAlchemy's own ExpandedState (no execution context).
        self.expands = bool(compiled.post_compile_params)
        self.sql: str = compiled.string
        self.names: tuple[str, ...] = tuple(compiled.positiontup)
        processors = compiled._bind_processors
        self.binds = tuple(processors.get(n) for n in self.names)
        # Literal values in the statement are bind parameters with a value of their own.
        self.defaults: dict[str, Any] = {
            name: b.effective_value for name, b in compiled.binds.items() if not b.required
        }
        columns = compiled._result_columns or []
        keys = [c[0] for c in columns]
        self.row: Any = _row_class(keys) if keys else None
        # A text() statement's columns are known only from its rows: it is fetched
        # (its row count is then the rows'; a text statement that returns no rows and
        # whose row count matters does not belong here).
        self.fetches = bool(keys) or isinstance(stmt, TextClause)
        try:  # (a processor that needs the column's type from the server: not here)
            processors = tuple(c[3]._cached_result_processor(dialect, None) for c in columns)
        except Exception:
            raise _Unsupported from None
        # Applied per value only when a column has one (asyncpg decodes most types).
        self.processors = processors if any(p is not None for p in processors) else ()


def _row_class(keys: list[str]) -> Any:
    base: Any = namedtuple("Row", keys, rename=True)  # type: ignore[misc]  # known at run time

    class Row(base):
        """A row: a tuple with attribute access and ``_mapping``, like SQLAlchemy's."""

        __slots__ = ()

        @property
        def _mapping(self) -> dict[str, Any]:
            return dict(zip(self._fields, self, strict=True))

    return Row


class _Unsupported(Exception):
    pass


class Prebuilt:
    """A statement built once (a module-level constant), with what running it here
    needs, compiled on first use."""

    __slots__ = ("_plan", "_planned", "stmt")

    def __init__(self, stmt: Executable) -> None:
        self.stmt = stmt
        self._plan: _Plan | None = None
        self._planned = False

    def plan(self, dialect: Any) -> _Plan | None:
        if not self._planned:
            try:
                self._plan = _Plan(self.stmt, dialect)
            except _Unsupported:
                self._plan = None
            self._planned = True
        return self._plan


async def execute(
    conn: AsyncConnection, prebuilt: Prebuilt, params: Mapping[str, Any] | None = None
) -> Any:
    """``await conn.execute(stmt, params)``, without SQLAlchemy's per-statement work
    on PostgreSQL when it can (see the module docstring); a :class:`Rows` or
    SQLAlchemy's ``Result`` (the same methods)."""
    sync = conn.sync_connection
    if sync is None or sync.dialect.name != "postgresql" or any(g() for g in _GUARDS):
        return await conn.execute(prebuilt.stmt, params)
    plan = prebuilt.plan(sync.dialect)
    fairy = getattr(sync, "_dbapi_connection", None)  # None once invalidated
    adapted: Any = getattr(fairy, "dbapi_connection", None)
    mutex = getattr(adapted, "_execute_mutex", None)
    if plan is None or mutex is None or not hasattr(adapted, "_transaction"):
        return await conn.execute(prebuilt.stmt, params)
    sql = plan.sql
    if plan.expands:
        state = plan.compiled.construct_expanded_state(params or {})
        sql, procs = state.statement, state.processors
        args = [
            value if (proc := procs.get(name)) is None else proc(value)
            for name, value in zip(state.positiontup, state.positional_parameters, strict=True)
        ]
    else:
        values = dict(plan.defaults, **params) if params else plan.defaults
        args = [
            values[n] if bind is None else bind(values[n])
            for n, bind in zip(plan.names, plan.binds, strict=True)
        ]
    dispatch = sync.dispatch.before_cursor_execute
    if dispatch:
        for listener in dispatch:
            listener(sync, None, sql, tuple(args), None, False)
    raw = adapted._connection  # asyncpg's: its statement cache prepares each SQL once
    try:
        async with mutex:
            if adapted._transaction is None and adapted.isolation_level != "autocommit":
                # What the dialect does before a transaction's first statement.
                await adapted._start_transaction()
            if not plan.fetches:
                status = await raw.execute(sql, *args)
            else:
                records = await raw.fetch(sql, *args)
    except Exception as error:
        await _raise_as_sqlalchemy(conn, adapted, error, sql, args)
        raise  # (the above always raises)
    global used
    used += 1
    if not plan.fetches:
        found = _STATUS.match(status or "")
        return Rows([], int(found.group(1)) if found else -1)
    if plan.row is None:  # text(): named after the first rows' columns
        if not records:
            return Rows([], 0)
        plan.row = _row_class(list(records[0].keys()))
    make = plan.row._make
    if plan.processors:
        procs = plan.processors
        rows = [
            make([v if p is None else p(v) for v, p in zip(r, procs, strict=True)]) for r in records
        ]
    else:
        rows = [make(r) for r in records]
    return Rows(rows, len(rows))


async def _raise_as_sqlalchemy(
    conn: AsyncConnection, adapted: Any, error: Exception, sql: str, args: list[Any]
) -> None:
    def wrap(sync: Any) -> None:
        try:
            adapted._handle_exception(error)  # the dialect's DBAPI exception
        except Exception as dbapi_error:
            sync._handle_dbapi_exception(dbapi_error, sql, tuple(args), None, None)
        raise error

    await conn.run_sync(wrap)
