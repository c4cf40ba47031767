"""A ``Database`` on a URL with the schema migrated, disposed of afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

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
