"""SQL that differs between the dialects the hub runs on."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Table, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection


def dialect_insert(conn: AsyncConnection, table: Table) -> Any:
    """An INSERT with ``on_conflict_do_nothing``/``on_conflict_do_update`` for the
    connection's dialect (PostgreSQL or SQLite; both spell them alike)."""
    return (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)


def is_postgres(conn: Any) -> bool:
    """Whether ``conn`` (a connection, or a request's ``Reader``) is on PostgreSQL."""
    name = conn.dialect.name if isinstance(conn, AsyncConnection) else conn.dialect_name
    return name == "postgresql"


def one_of(conn: Any, column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """``column IN (values)``; on PostgreSQL ``column = ANY(:array)``: one parameter
    whatever the count, so the SQL text (and asyncpg's prepared statement) is the same
    for every count and SQLAlchemy renders nothing per execution (an expanding IN is
    re-rendered each time, a cost that grows with the list)."""
    if is_postgres(conn):
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))


def among(column: Any, name: str, postgres: bool) -> ColumnElement[bool]:
    """``column`` in the list bound as ``name``, for a statement built once and
    executed with ``{name: [...]}``: ``= ANY(:name)`` on PostgreSQL (one array
    parameter), an expanding ``IN`` on SQLite (see :func:`one_of`)."""
    if postgres:
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))
