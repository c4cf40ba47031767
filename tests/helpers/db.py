"""A ``Database`` on a URL with the schema migrated, disposed of afterwards; reading
rows from a database that only a URL names (e.g. one served by ``hub serve``
processes)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Row, text

from hub.db.database import Database
from hub.db.migrate import upgrade
from hub.settings import load_settings


@contextlib.asynccontextmanager
async def migrated_database(url: str) -> AsyncIterator[Database]:
    """``Database(load_settings(database_url=url))``, upgraded to the latest schema."""
    d = Database(load_settings(database_url=url))
    await upgrade(d.engine)
    try:
        yield d
    finally:
        await d.dispose()


async def read_rows(url: str, sql: str, **params: Any) -> list[Row[Any]]:
    """The rows ``sql`` returns on the database at ``url`` (an engine of its own,
    disposed of afterwards)."""
    db = Database(load_settings(database_url=url))
    try:
        async with db.read() as conn:
            return list((await conn.execute(text(sql), params)).all())
    finally:
        await db.dispose()
