"""Catalog and stock from connectors (placeholder: the feed helper's module replaces
this one). ``upsert_catalog`` / ``set_stock``: batched, through the catalog and
inventory domain; one :class:`RowResult` per row, in order."""

from __future__ import annotations

from collections.abc import Sequence

from connectors.base import CatalogRow, Publish, RowResult, StockRow
from hub.db.database import Database


async def upsert_catalog(
    db: Database, rows: Sequence[CatalogRow], *, publish: Publish
) -> list[RowResult]:
    raise NotImplementedError("hub.domain.integrations.catalog_sync.upsert_catalog")


async def set_stock(db: Database, rows: Sequence[StockRow], *, publish: Publish) -> list[RowResult]:
    raise NotImplementedError("hub.domain.integrations.catalog_sync.set_stock")
