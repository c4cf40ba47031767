"""The ``hub`` command: serve, migrate, seed, worker, apikey, staff (:mod:`hub.cli_staff`),
inventory, graphiql, persisted-queries.

A failure a person can fix ends the command with one line (``hub: ...``) naming the
cause and the variable or option to change, and a non-zero exit status; ``hub --debug
COMMAND`` shows the traceback instead (see :mod:`hub.startup`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
import typer.core

from hub.cli_staff import staff_create
from hub.settings import Settings, describe_database
from hub.startup import CliError, database_step, first_line, require_migrated
from hub.startup import command_settings as _settings
from hub.startup import on_database as _on_database

if TYPE_CHECKING:
    from hub.db.database import Database
    from plugins.host import PluginHost

T = TypeVar("T")

# Plain help (no boxes), and no Python type beside each parameter: the metavars say
# what a value is (Typer prints `<int>`, `<bool>` for arguments whatever they are).
# Both ignores: patching Typer's methods is the point (method-assign).
typer.core.TyperArgument.display_type_rich = lambda self, ctx: None  # type: ignore[method-assign]
typer.core.TyperArgument._usage_display_name = lambda self: self.display_name_raw  # type: ignore[method-assign]


def _typer(help: str) -> typer.Typer:
    return typer.Typer(
        help=help,
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
    )


app = _typer("The commerce hub.")
apikey_app = _typer("Create, list and revoke API keys.")
app.add_typer(apikey_app, name="apikey")
inventory_app = _typer("Stock tools.")
app.add_typer(inventory_app, name="inventory")
graphiql_app = _typer("GraphiQL's scripts, served by the hub itself.")
app.add_typer(graphiql_app, name="graphiql")
persisted_app = _typer("Persisted queries: the operations registered with the hub.")
app.add_typer(persisted_app, name="persisted-queries")
staff_app = _typer("Staff users: bootstrap an installation's first administrator.")
staff_app.command("create")(staff_create)
app.add_typer(staff_app, name="staff")

DEMO_PRODUCTS = 600


class _State:
    debug = False


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of a failure.")
    ] = False,
) -> None:
    _State.debug = debug


async def _migrate(settings: Settings) -> None:
    from hub.db.database import Database
    from hub.db.migrate import upgrade

    db = Database(settings)
    try:
        await upgrade(db.engine)
    finally:
        await db.dispose()


async def _seed(settings: Settings, products: int, seed: int, only_if_empty: bool) -> None:
    from hub.db.database import Database
    from hub.demo import has_catalog, seed_demo

    db = Database(settings)
    try:
        if await has_catalog(db):
            if only_if_empty:
                typer.echo("hub: catalog already present; not seeding demo data")
                return
            raise CliError("the database already holds a catalog; seed an empty one")
        counts = await seed_demo(db, products, seed=seed)
        from hub.demo.orders import seed_demo_orders

        counts["orders"] = len(await seed_demo_orders(db, settings))
        typer.echo("hub: demo data loaded: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    finally:
        await db.dispose()


@app.command()
def serve(
    demo: Annotated[
        bool, typer.Option("--demo", help="Load the demo catalog if the database is empty.")
    ] = False,
    host: Annotated[str, typer.Option(help="Interface to bind.", metavar="HOST")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="Port to listen on (0: any free one).", metavar="PORT")
    ] = 8000,
    reload: Annotated[
        bool, typer.Option("--reload", help="Restart on code changes (development).")
    ] = False,
    workers: Annotated[
        int, typer.Option(help="Worker processes (PostgreSQL only).", min=1, metavar="N")
    ] = 1,
) -> None:
    """Migrate the database, then serve the API (GraphQL and GraphiQL at /graphql)."""
    from hub import graphiql, startup

    settings = _settings()
    if workers > 1 and settings.is_sqlite:
        raise CliError(
            f"--workers {workers} needs PostgreSQL: on SQLite (HUB_DATABASE_URL) the "
            "processes would not share events or writes; use --workers 1, or set "
            "HUB_DATABASE_URL to a PostgreSQL database",
            2,
        )
    sock = startup.bind(host, port)  # first: a port in use fails before anything else
    try:
        if demo:
            _demo_payments(settings)
        with database_step(settings):
            asyncio.run(_migrate(settings))
        startup.check_redis(settings)
        if demo:
            with database_step(settings):
                asyncio.run(_seed(settings, DEMO_PRODUCTS, 42, only_if_empty=True))
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        if demo and workers == 1:
            _demo_connectors(settings, host, bound)
        elif demo:
            # Each worker would keep a stand-in marketplace of its own in memory.
            typer.echo("hub: demo: the stand-in marketplace needs --workers 1; it stays off")
        ide = ""
        if settings.graphiql:
            folder = graphiql.assets_dir(settings.graphiql_assets_dir)
            ide = (
                " (GraphiQL's scripts served by the hub)"
                if graphiql.installed(folder)
                else " (GraphiQL's scripts from unpkg.com; `hub graphiql install` serves them here)"
            )
        typer.echo(f"hub: GraphQL and GraphiQL at http://{shown}:{bound}/graphql{ide}")
        _run_uvicorn(settings, sock, host, bound, reload=reload, workers=workers)
    finally:
        sock.close()


def _run_uvicorn(
    settings: Settings, sock: socket.socket, host: str, port: int, *, reload: bool, workers: int
) -> None:
    """uvicorn on the socket bound above (what ``uvicorn.run`` does, given a socket)."""
    import uvicorn
    from uvicorn.supervisors import ChangeReload, Multiprocess

    config = uvicorn.Config(
        "hub.app:create_app",
        factory=True,
        host=host,
        port=port,
        reload=reload,
        workers=None if reload else workers,
        log_level=settings.log_level.lower(),
        access_log=settings.log_level == "DEBUG",
        # Subscription messages are small JSON frames pushed to many sockets at once:
        # compressing each one costs more CPU than the bytes it saves on a LAN or CDN.
        ws_per_message_deflate=False,
        # A bigger websocket frame is refused (close 1009) before it is read whole.
        ws_max_size=settings.max_body_bytes,
    )
    server = uvicorn.Server(config)
    try:
        if config.should_reload:
            ChangeReload(config, target=server.run, sockets=[sock]).run()
        elif config.workers > 1:
            Multiprocess(config, sockets=[sock]).run()
        else:
            server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    if not server.started and not config.should_reload and config.workers == 1:
        raise CliError("the hub did not start; see the log above", 3)


def _demo_payments(settings: Settings) -> None:
    """``--demo`` turns on the test payment provider (a storefront pays with Stripe's
    test PaymentMethods and no key), except with HUB_ENV=production."""
    if settings.env == "production":
        typer.echo("hub: HUB_ENV=production: the demo's test payments stay off", err=True)
        return
    if not settings.test_payments:
        # The app reads its settings again (in this process or in uvicorn's workers).
        os.environ["HUB_TEST_PAYMENTS"] = "true"
        from hub.settings import get_settings

        get_settings.cache_clear()
    typer.echo('hub: demo: test payments on (provider "test", e.g. paymentMethodId pm_card_visa)')


def _demo_connectors(settings: Settings, host: str, port: int) -> None:
    """``--demo`` serves a stand-in marketplace at /_demo/marketplace and writes a
    connectors file (a marketplace connector publishing the ``web`` channel to it, and
    the file feed when installed) applied at start, so connector runs show in
    ``connectorRuns``; except with HUB_ENV=production, or when HUB_CONNECTORS_FILE is
    set already (the operator's file wins)."""
    if settings.env == "production":
        return
    if os.environ.get("HUB_CONNECTORS_FILE"):
        typer.echo("hub: demo: HUB_CONNECTORS_FILE is set; the demo's connectors stay off")
        return
    import tempfile

    from hub.composition import connector_types
    from hub.demo.connectors import DEMO_MARKETPLACE_PATH, write_connectors_file
    from hub.settings import get_settings

    local = "[::1]" if ":" in host and host != "::" else "127.0.0.1"
    url = f"http://{local}:{port}"
    folder = Path(tempfile.mkdtemp(prefix="hub-demo-connectors-"))
    path = write_connectors_file(url, folder, set(connector_types()))
    # The app reads its settings again (in this process or in uvicorn's workers).
    os.environ["HUB_DEMO_MARKETPLACE"] = "true"
    os.environ["HUB_CONNECTORS_FILE"] = str(path)
    get_settings.cache_clear()
    typer.echo(
        f"hub: demo: a stand-in marketplace at {url}{DEMO_MARKETPLACE_PATH}, connectors "
        f"from {path} (see `connectors` and `connectorRuns`)"
    )


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    settings = _settings()
    with database_step(settings):
        asyncio.run(_migrate(settings))
    typer.echo(f"hub: database {describe_database(settings.database_url)} is up to date")


@app.command()
def seed(
    demo: Annotated[
        bool, typer.Option("--demo", help="Load the deterministic demo catalog.")
    ] = False,
    products: Annotated[
        int, typer.Option(help="How many products.", min=10, metavar="N")
    ] = DEMO_PRODUCTS,
    seed: Annotated[
        int, typer.Option(help="Random seed (same seed, same data).", metavar="S")
    ] = 42,
    if_empty: Annotated[
        bool,
        typer.Option("--if-empty", help="Do nothing (and succeed) if a catalog is present."),
    ] = False,
) -> None:
    """Load data into an empty database (migrating it first)."""
    if not demo:
        raise CliError("nothing to seed; pass --demo", 2)
    settings = _settings()
    with database_step(settings):
        asyncio.run(_migrate(settings))
        asyncio.run(_seed(settings, products, seed, only_if_empty=if_empty))


@app.command()
def worker() -> None:
    """Run background jobs (arq on Redis when HUB_REDIS_URL is set): reservation expiry,
    abandoned carts and the outbox sweep. Rides out Redis outages: it reconnects with
    backoff and logs one line per change of state."""
    settings = _settings()
    if settings.redis_url is None:
        typer.echo(
            "hub: embedded default (no HUB_REDIS_URL): the background jobs (reservation "
            "expiry, outbox sweep) run inside `hub serve`; nothing to run here"
        )
        return
    from hub.jobs import queue_name, run_worker

    if settings.log_level != "DEBUG":  # arq logs every job run at INFO
        logging.getLogger("arq").setLevel(logging.WARNING)
    typer.echo(
        f"hub: worker on queue {queue_name(settings)}: expired reservations and the outbox "
        f"swept every {settings.reservation_sweep_seconds:g}s"
    )
    try:
        run_worker(settings)
    except asyncio.CancelledError:
        pass  # SIGTERM while a job ran: arq cancels it, and the worker stops
    typer.echo("hub: worker stopped")


# --------------------------------------------------------------------------- apikey


@apikey_app.command("create")
def apikey_create(
    scope: Annotated[
        list[str],
        typer.Option(
            help="storefront, customer, admin, connector or partner; repeat for several.",
            metavar="SCOPE",
        ),
    ],
    name: Annotated[str, typer.Option(help="A label for the key.", metavar="NAME")] = "cli",
    customer: Annotated[
        str | None,
        typer.Option(
            help="Email of the customer a --scope customer key acts for.", metavar="EMAIL"
        ),
    ] = None,
    expires_in: Annotated[
        int | None,
        typer.Option(
            help="Seconds until the key expires (default: never).", min=1, metavar="SECONDS"
        ),
    ] = None,
    staff_user: Annotated[
        str | None,
        typer.Option(
            help="Email of the staff user the key is bound to: it acts with that user's roles.",
            metavar="EMAIL",
        ),
    ] = None,
    permission: Annotated[
        list[str] | None,
        typer.Option(
            help="A --scope partner key's permission (what its plugin declares); repeat. "
            "With --plugin: a subset of what the plugin declares.",
            metavar="PERMISSION",
        ),
    ] = None,
    plugin: Annotated[
        str | None,
        typer.Option(
            help="The installed plugin a --scope partner key is for: the key holds what the "
            "plugin declares for its partner keys, and nothing once it is gone.",
            metavar="NAME",
        ),
    ] = None,
) -> None:
    """Create an API key in the hub's database and print its token (shown only once).

    The database must exist and be migrated (it is never created here)."""
    from datetime import UTC, datetime, timedelta

    from hub.auth import InvalidScope, UnknownCustomer, create_api_key

    settings = _settings()
    require_migrated(settings)
    expires_at = datetime.now(UTC) + timedelta(seconds=expires_in) if expires_in else None

    if permission or plugin:
        # A partner key may hold what an installed plugin declares.
        from plugins.host import load_plugins

        host = load_plugins()
        if plugin is not None:
            _require_active_plugin(host, plugin)
    try:
        with database_step(settings):
            pk, token = _on_database(
                settings,
                lambda db: create_api_key(
                    db,
                    name,
                    scope,
                    customer=customer,
                    expires_at=expires_at,
                    staff_user=staff_user,
                    permissions=permission,
                    plugin=plugin,
                ),
            )
    except CliError as exc:
        cause = exc.__cause__
        if isinstance(cause, InvalidScope):
            raise CliError(str(cause), 2) from None
        if isinstance(cause, UnknownCustomer):
            raise CliError(str(cause), 1) from None
        raise
    typer.echo(token)
    typer.echo(
        f"hub: key {pk} created with scopes {', '.join(sorted(set(scope)))}"
        + (f" for customer {customer.strip().lower()}" if customer else "")
        + (f" bound to staff user {staff_user.strip().lower()}" if staff_user else "")
        + (f" for plugin {plugin}" if plugin else "")
        + f" in {describe_database(settings.database_url)}; the token is not shown again",
        err=True,
    )


def _require_active_plugin(host: PluginHost, name: str) -> None:
    """CliError (exit 2) unless ``name`` is an installed plugin that loaded ACTIVE."""
    from plugins import PluginState

    rec = host.record(name)
    if rec is None:
        installed = ", ".join(r.name for r in host.records) or "none"
        raise CliError(f"no plugin named {name!r} is installed (installed: {installed})", 2)
    if rec.state is not PluginState.ACTIVE:
        raise CliError(f"plugin {name!r} {rec.version} FAILED to load: {rec.reason}", 2)


@apikey_app.command("revoke")
def apikey_revoke(
    key_id: Annotated[
        int, typer.Argument(help="The key's id (see `hub apikey list`).", metavar="ID")
    ],
) -> None:
    """Revoke an API key by its id (running hubs close its websockets at once with
    HUB_REDIS_URL, else within HUB_AUTH_CACHE_SECONDS)."""
    from hub.auth import revoke_api_key
    from hub.composition import create_bus
    from hub.db.database import Database

    settings = _settings()
    require_migrated(settings)

    async def go() -> bool:
        db = Database(settings)
        bus = create_bus(settings) if settings.redis_url else None
        try:
            return await revoke_api_key(db, key_id, bus=bus)
        finally:
            if bus is not None:
                await bus.close()
            await db.dispose()

    with database_step(settings):
        revoked = asyncio.run(go())
    shown = describe_database(settings.database_url)
    if not revoked:
        raise CliError(f"no active key {key_id} in {shown} (HUB_DATABASE_URL)")
    typer.echo(f"hub: key {key_id} revoked in {shown}")


@apikey_app.command("list")
def apikey_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per key.")] = False,
) -> None:
    """List the API keys: id, name, token prefix, scopes, customer, created, revoked."""
    from hub.auth import list_api_keys

    settings = _settings()
    require_migrated(settings)
    with database_step(settings):
        keys = _on_database(settings, list_api_keys)
    if as_json:
        for k in keys:
            typer.echo(json.dumps(k, default=str))
    else:
        _table(keys)
    n = len(keys)
    typer.echo(
        f"hub: {n} key{'' if n == 1 else 's'} in {describe_database(settings.database_url)}",
        err=True,
    )


def _table(keys: list[dict]) -> None:
    cols = ("id", "name", "prefix", "scopes", "customer", "created", "revoked")
    rows = [
        [
            str(k["id"]),
            k["name"],
            k["prefix"],
            ",".join(k["scopes"]),
            k["customer"] or "-",
            k["created"].strftime("%Y-%m-%d %H:%M") if k["created"] else "-",
            k["revoked"].strftime("%Y-%m-%d %H:%M") if k["revoked"] else "-",
        ]
        for k in keys
    ]
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(cols)]
    for line in [[c.upper() for c in cols], *rows]:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())


# --------------------------------------------------------------------------- inventory


@inventory_app.command("verify")
def inventory_verify() -> None:
    """Rebuild every stock level from the ledger and report any drift."""
    from hub.domain.inventory import verify

    settings = _settings()
    require_migrated(settings)
    with database_step(settings):
        drift = _on_database(settings, verify)
    if drift:
        for d in drift[:50]:
            typer.echo(
                f"drift: variant {d['variant']} location {d['location']} {d['state']}: "
                f"level {d['level']} ledger {d['ledger']}"
            )
        raise CliError(f"{len(drift)} differences between levels and ledger")
    typer.echo("hub: every stock level matches the ledger")


# --------------------------------------------------------------------------- persisted queries


@persisted_app.command("load")
def persisted_load(
    manifest: Annotated[
        Path,
        typer.Argument(
            help="Apollo's persisted-query-manifest.json or Relay's persisted_queries.json.",
            metavar="MANIFEST",
        ),
    ],
) -> None:
    """Register a manifest's operations (each checked against the schema first); with
    HUB_PERSISTED_QUERIES_ONLY=true only registered operations run."""
    from hub.app import invalid_operations
    from hub.persisted import ManifestError, PersistedQueries, parse_manifest

    settings = _settings()
    try:
        entries = parse_manifest(json.loads(manifest.read_text(encoding="utf-8")))
    except OSError as exc:
        raise CliError(f"can't read {manifest}: {exc.strerror or exc}", 2) from None
    except ValueError as exc:  # JSON or ManifestError
        raise CliError(f"{manifest}: {exc}", 2) from None
    bad = invalid_operations(settings, [e.query for e in entries])
    if bad:
        for i, message in bad[:20]:
            typer.echo(f"hub: {entries[i].name or entries[i].id}: {message}", err=True)
        raise CliError(f"{len(bad)} operations of {manifest} don't validate; nothing loaded")
    require_migrated(settings)

    async def load(db: Database) -> tuple[int, int]:
        return await PersistedQueries(db).load(entries)

    try:
        with database_step(settings):
            added, known = _on_database(settings, load)
    except CliError as exc:
        if isinstance(exc.__cause__, ManifestError):
            raise CliError(str(exc.__cause__)) from None
        raise
    typer.echo(f"hub: {added} operations registered, {known} already were ({manifest.name})")


# --------------------------------------------------------------------------- graphiql


@graphiql_app.command("install")
def graphiql_install(
    dir: Annotated[
        Path | None,
        typer.Option(
            help="Folder to put them in (default: HUB_GRAPHIQL_ASSETS_DIR, else inside "
            "the hub package).",
            metavar="DIR",
        ),
    ] = None,
    registry: Annotated[
        str | None,
        typer.Option(
            help="npm registry (default: $npm_config_registry, else registry.npmjs.org).",
            metavar="URL",
        ),
    ] = None,
) -> None:
    """Fetch GraphiQL, React and the explorer plugin (pinned versions, checked against
    their pinned hashes) from the npm registry, so the hub serves GraphiQL's page and
    scripts itself and GraphiQL works without internet access."""
    from hub import graphiql

    default = graphiql.assets_dir(_settings().graphiql_assets_dir).absolute()
    dir = (dir or default).expanduser().absolute()
    try:
        files = graphiql.install(dir, registry)
    except graphiql.InstallError as exc:
        raise CliError(f"graphiql install: {exc}") from exc
    except OSError as exc:
        raise CliError(
            f"graphiql install: cannot write to {dir} (--dir): {first_line(exc)}"
        ) from exc
    typer.echo(f"hub: GraphiQL installed in {dir} ({len(files)} files)")
    if dir != default:
        typer.echo(f"hub: serve them with HUB_GRAPHIQL_ASSETS_DIR={dir}")


# --------------------------------------------------------------------------- main


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)
    except CliError as exc:
        if _State.debug:
            raise
        typer.echo(f"hub: {exc.message}", err=True)
        sys.exit(exc.code)
    except Exception as exc:
        if _State.debug:
            raise
        typer.echo(
            f"hub: {type(exc).__name__}: {first_line(exc)} (`hub --debug ...` shows the traceback)",
            err=True,
        )
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
