"""The ``hub`` command: serve, migrate, seed, worker, apikey."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Annotated

import typer

from hub.settings import Settings, SettingsError, load_settings

app = typer.Typer(help="The commerce hub.", no_args_is_help=True, add_completion=False)
apikey_app = typer.Typer(help="Create and revoke API keys.", no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")
inventory_app = typer.Typer(help="Stock tools.", no_args_is_help=True)
app.add_typer(inventory_app, name="inventory")

DEMO_PRODUCTS = 600


def _settings() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        typer.echo(f"hub: {exc}", err=True)
        raise typer.Exit(2) from None
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    return settings


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
            typer.echo("hub: the database already holds a catalog; seed an empty one", err=True)
            raise typer.Exit(1)
        counts = await seed_demo(db, products, seed=seed)
        typer.echo("hub: demo data loaded: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    finally:
        await db.dispose()


@app.command()
def serve(
    demo: Annotated[
        bool, typer.Option(help="Load the demo catalog if the database is empty.")
    ] = False,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
) -> None:
    """Migrate the database, then serve the API (GraphQL at /graphql)."""
    settings = _settings()
    if demo:
        _demo_payments(settings)
    asyncio.run(_migrate(settings))
    if demo:
        asyncio.run(_seed(settings, DEMO_PRODUCTS, 42, only_if_empty=True))
    import uvicorn

    typer.echo(f"hub: GraphQL and GraphiQL at http://{host}:{port}/graphql")
    uvicorn.run(
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
    )


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


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    settings = _settings()
    asyncio.run(_migrate(settings))
    typer.echo("hub: database is up to date")


@app.command()
def seed(
    demo: Annotated[bool, typer.Option(help="Load the deterministic demo catalog.")] = False,
    products: Annotated[int, typer.Option(help="How many products.", min=10)] = DEMO_PRODUCTS,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 42,
) -> None:
    """Load data into an empty, migrated database."""
    if not demo:
        typer.echo("hub: nothing to seed; pass --demo", err=True)
        raise typer.Exit(2)
    settings = _settings()
    asyncio.run(_migrate(settings))
    asyncio.run(_seed(settings, products, seed, only_if_empty=False))


@app.command()
def worker() -> None:
    """Run background jobs (arq on Redis when HUB_REDIS_URL is set): reservation expiry
    and the outbox sweep."""
    settings = _settings()
    if settings.redis_url is None:
        typer.echo(
            "hub: embedded default (no HUB_REDIS_URL): the background jobs (reservation "
            "expiry, outbox sweep) run inside `hub serve`; nothing to run here"
        )
        return
    from redis.exceptions import RedisError

    from hub.jobs import queue_name, run_worker

    if settings.log_level != "DEBUG":  # arq logs every job run at INFO
        logging.getLogger("arq").setLevel(logging.WARNING)
    typer.echo(
        f"hub: worker on queue {queue_name(settings)}: expired reservations and the outbox "
        f"swept every {settings.reservation_sweep_seconds:g}s"
    )
    try:
        run_worker(settings)
    except (RedisError, OSError) as exc:
        typer.echo(f"hub: worker: Redis is not reachable ({exc})", err=True)
        raise typer.Exit(1) from None
    typer.echo("hub: worker stopped")


@apikey_app.command("create")
def apikey_create(
    scope: Annotated[
        list[str],
        typer.Option(help="storefront, customer, admin, connector, partner; repeat for several."),
    ],
    name: Annotated[str, typer.Option(help="A label for the key.")] = "cli",
    customer: Annotated[
        str | None,
        typer.Option(help="Email of the customer a --scope customer key acts for."),
    ] = None,
) -> None:
    """Create an API key and print its token (shown only once)."""
    from hub.auth import InvalidScope, UnknownCustomer, create_api_key
    from hub.db.database import Database

    settings = _settings()

    async def go() -> tuple[int, str]:
        await _migrate(settings)
        db = Database(settings)
        try:
            return await create_api_key(db, name, scope, customer=customer)
        finally:
            await db.dispose()

    try:
        pk, token = asyncio.run(go())
    except InvalidScope as exc:
        typer.echo(f"hub: {exc}", err=True)
        raise typer.Exit(2) from None
    except UnknownCustomer as exc:
        typer.echo(f"hub: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(token)
    typer.echo(
        f"hub: key {pk} created with scopes {', '.join(sorted(set(scope)))}"
        + (f" for customer {customer.strip().lower()}" if customer else "")
        + "; the token is not shown again",
        err=True,
    )


@apikey_app.command("revoke")
def apikey_revoke(key_id: int) -> None:
    """Revoke an API key by its id."""
    from hub.auth import revoke_api_key
    from hub.db.database import Database

    settings = _settings()

    async def go() -> bool:
        db = Database(settings)
        try:
            return await revoke_api_key(db, key_id)
        finally:
            await db.dispose()

    if not asyncio.run(go()):
        typer.echo(f"hub: no active key {key_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"hub: key {key_id} revoked")


@inventory_app.command("verify")
def inventory_verify() -> None:
    """Rebuild every stock level from the ledger and report any drift."""
    from hub.db.database import Database
    from hub.domain.inventory import verify

    settings = _settings()

    async def go() -> list:
        db = Database(settings)
        try:
            return await verify(db)
        finally:
            await db.dispose()

    drift = asyncio.run(go())
    if drift:
        for d in drift[:50]:
            typer.echo(
                f"drift: variant {d['variant']} location {d['location']} {d['state']}: "
                f"level {d['level']} ledger {d['ledger']}"
            )
        typer.echo(f"hub: {len(drift)} differences between levels and ledger", err=True)
        raise typer.Exit(1)
    typer.echo("hub: every stock level matches the ledger")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
