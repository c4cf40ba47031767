"""``hub staff``: an installation's first staff user, from the command line.

``hub staff create --email E --name N --owner --password-stdin`` makes a staff user
(and with ``--owner`` the ``owner`` role holding every permission, made if missing); it
then signs in with ``staffAccessTokenCreate`` or through API keys bound to it
(``hub apikey create --staff-user E``). Registered on the ``hub`` command by
:mod:`hub.cli`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from hub.settings import Settings
from hub.startup import CliError, database_step, require_migrated
from hub.startup import command_settings as _settings
from hub.startup import on_database as _on_database

if TYPE_CHECKING:
    from hub.db.database import Database


def staff_create(
    email: Annotated[str, typer.Option(help="The user's email (sign-in).", metavar="EMAIL")],
    name: Annotated[str, typer.Option(help="The user's name.", metavar="NAME")],
    password_stdin: Annotated[
        bool, typer.Option(help="Read the password from the first line of stdin.")
    ] = False,
    owner: Annotated[
        bool,
        typer.Option(help="Give the user the 'owner' role (every permission; made if missing)."),
    ] = False,
) -> None:
    """Create a staff user (and with --owner, the owner role holding every permission).

    Without --password-stdin the user has no password: bind API keys to it
    (``hub apikey create --staff-user EMAIL``)."""
    import sys

    from hub.domain.errors import DomainError

    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    settings = _settings()
    require_migrated(settings)

    async def go(db: Database) -> int:
        return await _create_staff(db, settings, email, name, password, owner)

    try:
        with database_step(settings):
            pk = _on_database(settings, go)
    except CliError as exc:
        if isinstance(exc.__cause__, DomainError):
            raise CliError("; ".join(e.message for e in exc.__cause__.errors), 1) from None
        raise
    typer.echo(f"hub: staff user {pk} ({email.strip().lower()}) created", err=True)


async def _create_staff(
    db: Database, settings: Settings, email: str, name: str, password: str | None, owner: bool
) -> int:
    from datetime import timedelta

    from hub.domain.accounts import Passwords
    from hub.domain.staff import Staff

    s = settings
    passwords = Passwords(
        s.password_hash_time_cost, s.password_hash_memory_kib, s.password_hash_parallelism
    )
    svc = Staff(db, passwords, timedelta(seconds=s.staff_token_seconds))
    roles = [await svc.owner_role()] if owner else []
    return await svc.create_user(email, name, password, roles)
