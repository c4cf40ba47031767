"""Run Alembic migrations programmatically (``hub migrate``, ``hub serve``, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.db.models import metadata

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    def _run(conn) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Several hub processes may start at once: one migrates, the others wait.
            await conn.execute(text("SELECT pg_advisory_xact_lock(7254001)"))
        await conn.run_sync(_run)


async def pending_diff(engine: AsyncEngine) -> list:
    """Differences between the models and the migrated database (empty when clean)."""

    def _diff(conn) -> list:
        mc = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(mc, metadata)

    async with engine.connect() as conn:
        return await conn.run_sync(_diff)
