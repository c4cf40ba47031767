"""The hub's handle on its database: an engine, read connections and transactions."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Hashable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import Executable, Row
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.db import fast
from hub.db.engine import create_engine
from hub.settings import Settings


class Database:
    def __init__(self, settings: Settings, engine: AsyncEngine | None = None) -> None:
        self.settings = settings
        self.engine = engine or create_engine(settings)
        self.dialect = self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One transaction: committed when the block ends, rolled back on error."""
        async with self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """An autocommit connection for reads: no BEGIN/COMMIT round trips."""
        async with self.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn

    async def dispose(self) -> None:
        await self.engine.dispose()


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Reader:
    """The read connection of one request, acquired on first use.

    GraphQL resolves sibling fields concurrently, and one DB connection runs one
    statement at a time, so statements queue on a lock. Dataloaders batch, so the
    queue stays a handful of statements long whatever the page size.

    A read whose connection is lost under it (the server closed it) is run once more
    on a new connection: reads change nothing, so that is always safe.
    """

    __slots__ = ("_cm", "_conn", "_lock", "db")

    def __init__(self, db: Database) -> None:
        self.db = db
        self._conn: AsyncConnection | None = None
        self._cm: Any = None
        self._lock = asyncio.Lock()

    @property
    def dialect_name(self) -> str:
        """``postgresql`` or ``sqlite``."""
        return self.db.dialect

    async def all(
        self, stmt: Executable | fast.Prebuilt, params: dict[str, Any] | None = None
    ) -> Sequence[Row[Any]]:
        """``stmt``'s rows; ``params`` binds a statement built once with bindparam()
        (a :class:`hub.db.fast.Prebuilt` runs there)."""
        async with self._lock:
            for attempt in (1, 2):
                if self._conn is None:
                    self._cm = self.db.read()
                    self._conn = await self._cm.__aenter__()
                try:
                    if isinstance(stmt, fast.Prebuilt):
                        return (await fast.execute(self._conn, stmt, params)).all()
                    return (await self._conn.execute(stmt, params)).all()
                except DBAPIError as error:
                    if attempt == 2 or not error.connection_invalidated:
                        raise
                    await self._drop()
            raise AssertionError("unreachable")

    async def grouped(
        self,
        stmt: Executable,
        key: Callable[[Row[Any]], K],
        make: Callable[[Row[Any]], V],
    ) -> dict[K, list[V]]:
        """``make(row)`` of each of ``stmt``'s rows, in order, grouped by ``key(row)``
        (a ``defaultdict``: a key without rows reads as an empty list)."""
        out: dict[K, list[V]] = defaultdict(list)
        for r in await self.all(stmt):
            out[key(r)].append(make(r))
        return out

    async def first(self, stmt: Executable) -> Row[Any] | None:
        rows = await self.all(stmt)
        return rows[0] if rows else None

    async def close(self) -> None:
        if self._cm is not None:
            cm, self._cm, self._conn = self._cm, None, None
            await cm.__aexit__(None, None, None)

    async def _drop(self) -> None:
        """Forget a connection that was lost (its pool entry is already invalidated)."""
        cm, self._cm, self._conn = self._cm, None, None
        if cm is not None:
            try:
                await cm.__aexit__(None, None, None)
            except Exception:  # closing a dead connection may fail too
                pass


async def fetch_all(
    conn: Reader | AsyncConnection,
    stmt: Executable | fast.Prebuilt,
    params: dict[str, Any] | None = None,
) -> Sequence[Row[Any]]:
    """``stmt``'s rows on a request's :class:`Reader` or on a connection the caller holds
    (a transaction, say): the domain's read functions take either."""
    if isinstance(conn, Reader):
        return await conn.all(stmt, params)
    if isinstance(stmt, fast.Prebuilt):
        return (await fast.execute(conn, stmt, params)).all()
    return (await conn.execute(stmt, params)).all()
