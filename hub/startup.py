"""What the ``hub`` command checks before it serves, and how it says what went wrong.

Every failure a person can fix (a database that is missing or unreachable, a Redis
that does not answer, a port in use, a bad setting) ends the command with ONE line
that names the cause and the variable or option to change, and a non-zero exit
status; ``hub --debug ...`` shows the traceback instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

from hub.settings import Settings, describe_database, sqlite_path

if TYPE_CHECKING:
    from hub.db.database import Database

T = TypeVar("T")


class CliError(Exception):
    """A failure explained in one line; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split("\n", 1)[0].split())
    return text or type(exc).__name__


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its causes and contexts, and any exceptions grouped in them."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        orig = getattr(e, "orig", None)  # SQLAlchemy's wrapper around the driver's error
        for nxt in (orig, e.__cause__, e.__context__):
            if isinstance(nxt, BaseException):
                todo.append(nxt)
        if isinstance(e, BaseExceptionGroup):
            todo.extend(e.exceptions)


# --------------------------------------------------------------------------- database


def explain_database_error(exc: BaseException, settings: Settings) -> str:
    """One line on why the database of ``HUB_DATABASE_URL`` could not be used."""
    url = settings.database_url
    shown = describe_database(url)
    if settings.is_sqlite:
        path = sqlite_path(url)
        for e in _chain(exc):
            msg = str(e)
            if isinstance(e, sqlite3.OperationalError) and "unable to open" in msg:
                folder = path.parent if path else "?"
                return (
                    f"cannot open the SQLite database {path} (HUB_DATABASE_URL): "
                    f"does the folder {folder} exist, and may this user write there?"
                )
            if isinstance(e, sqlite3.DatabaseError) and "not a database" in msg:
                return f"{path} is not a SQLite database (HUB_DATABASE_URL)"
            if isinstance(e, sqlite3.OperationalError) and "locked" in msg:
                return f"the SQLite database {path} is locked by another program (HUB_DATABASE_URL)"
    else:
        import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

        parts = urlsplit(url)
        where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
        name = parts.path.lstrip("/") or parts.username or "postgres"
        for e in _chain(exc):
            if isinstance(e, asyncpg.InvalidCatalogNameError):
                return (
                    f"PostgreSQL database {name!r} does not exist on {where} "
                    f"(HUB_DATABASE_URL={shown}): create it (createdb {name}) or point "
                    "HUB_DATABASE_URL at another"
                )
            if isinstance(
                e, asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError
            ):
                return (
                    f"PostgreSQL on {where} refused the login (HUB_DATABASE_URL={shown}): "
                    f"{first_line(e)}"
                )
            if isinstance(e, socket.gaierror):
                return f"unknown database host {parts.hostname!r} (HUB_DATABASE_URL={shown})"
            if isinstance(e, ConnectionRefusedError) or (
                isinstance(e, OSError) and e.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH)
            ):
                return (
                    f"cannot reach PostgreSQL at {where} (HUB_DATABASE_URL={shown}): "
                    "connection refused; is it running?"
                )
            if isinstance(e, TimeoutError):
                return f"PostgreSQL at {where} did not answer in time (HUB_DATABASE_URL={shown})"
    for e in _chain(exc):
        if "Can't locate revision" in str(e):
            return (
                f"the database {shown} (HUB_DATABASE_URL) was migrated by a newer version "
                "of the hub than this one"
            )
    return f"cannot use the database {shown} (HUB_DATABASE_URL): {first_line(exc)}"


@contextlib.contextmanager
def database_step(settings: Settings) -> Iterator[None]:
    """Turn a failure of the database into a :class:`CliError` that explains it."""
    _check_sqlite_folder(settings)
    try:
        yield
    except CliError:
        raise
    except (Exception, BaseExceptionGroup) as exc:
        raise CliError(explain_database_error(exc, settings)) from exc


def _check_sqlite_folder(settings: Settings) -> None:
    """A SQLite file can only be made in a folder that exists and may be written (asked
    before connecting: a failed connect leaves aiosqlite's thread complaining)."""
    import os

    path = sqlite_path(settings.database_url) if settings.is_sqlite else None
    if path is None or path.exists():
        return
    if not path.parent.is_dir():
        raise CliError(
            f"cannot create the SQLite database {path} (HUB_DATABASE_URL): "
            f"the folder {path.parent} does not exist"
        )
    if not os.access(path.parent, os.W_OK):
        raise CliError(
            f"cannot create the SQLite database {path} (HUB_DATABASE_URL): "
            f"this user may not write to {path.parent}"
        )


async def schema_state(settings: Settings) -> tuple[str | None, str]:
    """(the database's migration revision or None when it has none, this hub's head).

    A SQLite file must exist (see :func:`require_migrated`)."""
    from alembic.script import ScriptDirectory
    from sqlalchemy import inspect

    from hub.db.database import Database
    from hub.db.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head() or ""
    db = Database(settings)
    try:
        async with db.read() as conn:

            def current(sync_conn) -> str | None:
                if not inspect(sync_conn).has_table("alembic_version"):
                    return None
                return sync_conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()

            return await conn.run_sync(current), head
    finally:
        await db.dispose()


def require_migrated(settings: Settings) -> None:
    """Refuse to work on a database the hub has not set up (and never create one)."""
    if settings.is_sqlite:
        path = sqlite_path(settings.database_url)
        if path is None or not path.is_file():
            raise CliError(
                f"no hub database at {path or ':memory:'} (HUB_DATABASE_URL="
                f"{settings.database_url}); run this where the hub keeps its database, "
                "set HUB_DATABASE_URL to it, or create one with `hub migrate`"
            )
    with database_step(settings):
        revision, head = asyncio.run(schema_state(settings))
    shown = describe_database(settings.database_url)
    if revision is None:
        raise CliError(
            f"{shown} (HUB_DATABASE_URL) is not a hub database yet (no migrations applied); "
            "run `hub migrate` (or `hub serve`) on it first"
        )
    if revision != head:
        raise CliError(
            f"{shown} (HUB_DATABASE_URL) is at migration {revision}, this hub needs {head}: "
            "run `hub migrate`"
        )


# --------------------------------------------------------------------------- Redis


def check_redis(settings: Settings, timeout: float = 3.0) -> None:
    """Ping ``HUB_REDIS_URL`` (when set); a :class:`CliError` if it does not answer."""
    if settings.redis_url is None:
        return
    from redis.asyncio import from_url

    async def ping() -> None:
        client = from_url(
            settings.redis_url, socket_connect_timeout=timeout, socket_timeout=timeout
        )
        try:
            await client.ping()
        finally:
            await client.aclose()

    try:
        asyncio.run(asyncio.wait_for(ping(), timeout + 1))
    except (Exception, BaseExceptionGroup) as exc:
        shown = describe_database(settings.redis_url)
        raise CliError(f"cannot reach Redis at {shown} (HUB_REDIS_URL): {first_line(exc)}") from exc


# --------------------------------------------------------------------------- the port


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything is printed or migrated, so a port
    in use fails first and alone. uvicorn (and its worker processes) serve on it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise CliError(f"cannot listen on {host!r} (--host): {first_line(exc)}", 2) from exc
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(infos[0][4])
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CliError(
                f"port {port} on {host} is in use by another program (--port): "
                "stop it or choose another port"
            ) from exc
        if exc.errno == errno.EACCES:
            raise CliError(f"not allowed to listen on port {port} (--port)") from exc
        raise CliError(
            f"cannot listen on {host}:{port} (--host/--port): {first_line(exc)}"
        ) from exc
    sock.set_inheritable(True)
    return sock


def on_database(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``work`` on the hub's database (its engine disposed of afterwards): a
    command's one use of the database."""
    from hub.db.database import Database

    async def go() -> T:
        db = Database(settings)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(go())


def command_settings() -> Settings:
    """The settings of a ``hub`` command (a bad one is a CliError, exit 2), with
    logging set up as they say."""
    import logging

    from hub.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        raise CliError(str(exc), 2) from None
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return settings
