"""Migration 0024_barcodes on both databases: barcodes stored before it get their
normal form (GTIN-14 or ``I:`` + code); an invalid one, or a second spelling of a
barcode already keyed, keeps its text without a key."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from hub.db.database import Database
from hub.db.migrate import pending_diff, upgrade
from hub.db.tables import products_t, variants_t
from hub.settings import load_settings
from tests.helpers.client import BACKENDS, _pg_server_url, pg_admin

UPC = "036000291452"  # a valid UPC-A
BARCODES = {
    "A": UPC,
    "B": "0" + UPC,  # the same GTIN as an EAN-13: a second spelling, no key
    "C": "4006381333931",  # valid EAN-13
    "D": "4006381333932",  # wrong check digit: no key
    "E": "SHOP-7",  # internal
    "F": None,
}


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_backfill_keys_valid_barcodes_once(backend: str, tmp_path: Path) -> None:
    dropped = None
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    else:
        server = _pg_server_url()
        if server is None:
            if os.environ.get("CI"):
                pytest.fail("HUB_TEST_POSTGRES_URL is not set: CI must test PostgreSQL")
            pytest.skip("PostgreSQL not configured (set HUB_TEST_POSTGRES_URL)")
        name = f"hub_mig_{uuid.uuid4().hex[:10]}"
        await pg_admin(server, f'CREATE DATABASE "{name}"')
        url, dropped = f"{server.rsplit('/', 1)[0]}/{name}", (server, name)
    db = Database(load_settings(database_url=url))
    try:
        await upgrade(db.engine, "0015_fulfillment_serials")
        async with db.engine.begin() as conn:
            pid = (
                await conn.execute(
                    insert(products_t)
                    .values(handle="old", title="Old", status="ACTIVE")
                    .returning(products_t.c.id)
                )
            ).scalar_one()
            for sku, code in BARCODES.items():
                await conn.execute(
                    insert(variants_t).values(
                        product_id=pid, sku=sku, barcode=code, title=sku, position=0
                    )
                )
        await upgrade(db.engine)
        assert await pending_diff(db.engine) == []
        async with db.read() as conn:
            rows = (
                await conn.execute(
                    select(variants_t.c.sku, variants_t.c.barcode, variants_t.c.barcode_key)
                )
            ).all()
        got = {r.sku: (r.barcode, r.barcode_key) for r in rows}
        assert got == {
            "A": (UPC, "00" + UPC),
            "B": ("0" + UPC, None),
            "C": ("4006381333931", "04006381333931"),
            "D": ("4006381333932", None),
            "E": ("SHOP-7", "I:SHOP-7"),
            "F": (None, None),
        }
    finally:
        await db.dispose()
        if dropped is not None:
            await pg_admin(dropped[0], f'DROP DATABASE IF EXISTS "{dropped[1]}" WITH (FORCE)')
