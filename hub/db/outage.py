"""Telling "the database is unreachable" from every other database error.

A request that fails because the database is down, restarting, dropped under the hub or
out of connections is answered ``SERVICE_UNAVAILABLE`` (HTTP 503, retry later), not
``Internal error``: the client did nothing wrong and a retry will work once it is back.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import exc as sa_exc

_SQLITE_UNAVAILABLE = ("database is locked", "unable to open database file", "disk i/o error")
# PostgreSQL SQLSTATE classes/codes meaning the server, not the statement, is the problem:
# 08 connection exception, 53 insufficient resources, 57P01-57P05 operator intervention
# (pg_terminate_backend, shutdown, cannot connect now), 3D000 database does not exist.
_PG_STATES = ("08", "53", "57P01", "57P02", "57P03", "57P04", "57P05", "3D000")


def _pg_unavailable(err: BaseException) -> bool:
    state = getattr(err, "sqlstate", None)
    if isinstance(state, str) and state.startswith(_PG_STATES):
        return True
    try:
        import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return False
    return isinstance(
        err,
        asyncpg.PostgresConnectionError
        | asyncpg.exceptions.ConnectionDoesNotExistError
        | asyncpg.exceptions.InterfaceError,
    ) and "another operation is in progress" not in str(err)


def database_unavailable(exc: BaseException | None) -> bool:
    """True if ``exc`` (or an error it wraps) says the database can't be reached."""
    seen = 0
    while exc is not None and seen < 8:
        seen += 1
        if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
            return True
        if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection came free in time
            return True
        orig = getattr(exc, "orig", None)
        if isinstance(exc, sa_exc.DBAPIError) and orig is not None:
            exc = orig
            continue
        if isinstance(exc, sqlite3.OperationalError):
            return str(exc).lower().startswith(_SQLITE_UNAVAILABLE)
        if isinstance(exc, ConnectionError | TimeoutError) or (
            isinstance(exc, OSError) and exc.errno is not None
        ):
            return True
        if _pg_unavailable(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False
