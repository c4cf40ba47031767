"""The :class:`connectors.base.HubGateway` connectors reach the hub through. Each method
delegates to a function in its own module (``catalog_sync``, ``crm``, ``orders_in``)
taking ``(db, rows, publish=...)``; the gateway counts what they report on the run:
``created``/``updated`` rows as written, ``rejected`` ones as item errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from connectors.base import (
    CatalogRow,
    CustomerRow,
    ListingRow,
    OrderRef,
    Publish,
    RowResult,
    StockRow,
)
from hub.db.database import Database
from hub.domain.integrations import catalog_sync, crm, listings, orders_in, row_hashes
from hub.domain.integrations.context import RunCtx


class Gateway:
    def __init__(self, db: Database, publish: Publish, run: RunCtx | None = None) -> None:
        self.db = db
        self.publish = publish
        self.run = run

    def _count(self, results: list[RowResult]) -> list[RowResult]:
        if self.run is not None:
            for r in results:
                if r.status in ("created", "updated"):
                    self.run.written()
                elif r.status == "rejected":
                    self.run.error(r.key, r.code or "REJECTED", r.message or "rejected")
        return results

    async def upsert_catalog(self, rows: Sequence[CatalogRow]) -> list[RowResult]:
        return self._count(await catalog_sync.upsert_catalog(self.db, rows, publish=self.publish))

    async def set_stock(self, rows: Sequence[StockRow]) -> list[RowResult]:
        return self._count(await catalog_sync.set_stock(self.db, rows, publish=self.publish))

    async def upsert_customers(self, rows: Sequence[CustomerRow]) -> list[RowResult]:
        # The events carry the instance as their source: its own pushes leave them out.
        source = f"connector:{self.run.instance_id}" if self.run is not None else "connector"
        return self._count(
            await crm.upsert_customers(self.db, rows, publish=self.publish, source=source)
        )

    async def import_orders(self, orders: Sequence[Mapping[str, Any]]) -> list[RowResult]:
        return self._count(await orders_in.import_orders(self.db, orders, publish=self.publish))

    # marketplace reads (hub.domain.integrations.listings): nothing written, nothing counted

    async def listings(
        self,
        channel: str,
        locations: Sequence[str] | None,
        *,
        after: int | None = None,
        limit: int = 500,
    ) -> list[ListingRow]:
        return await listings.channel_listings(
            self.db, channel, locations, after=after, limit=limit
        )

    async def offers(
        self, channel: str, locations: Sequence[str] | None, variant_ids: Sequence[int]
    ) -> list[ListingRow]:
        return await listings.variant_offers(self.db, channel, locations, variant_ids)

    async def order_refs(self, source: str, order_ids: Sequence[str]) -> list[OrderRef]:
        return await listings.order_refs(self.db, source, order_ids)

    async def channel_currencies(self) -> Mapping[str, str]:
        return await catalog_sync.channel_currencies(self.db)

    async def row_hashes(self, instance_id: int) -> Mapping[str, str]:
        return await row_hashes.row_hashes(self.db, instance_id)

    async def save_row_hashes(self, instance_id: int, hashes: Mapping[str, str]) -> None:
        await row_hashes.save_row_hashes(self.db, instance_id, hashes)

    async def forget_row_hashes(self, instance_id: int) -> None:
        await row_hashes.forget_row_hashes(self.db, instance_id)
