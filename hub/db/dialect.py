"""SQL that differs between the dialects the hub runs on."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection


def dialect_insert(conn: AsyncConnection, table: Table) -> Any:
    """An INSERT with ``on_conflict_do_nothing``/``on_conflict_do_update`` for the
    connection's dialect (PostgreSQL or SQLite; both spell them alike)."""
    return (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)
