"""Orders from connectors (placeholder: the market helper's module replaces this one).
``import_orders``: through ``hub.domain.orders.importer``, idempotent by source and
external id; one :class:`RowResult` per order, in order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from connectors.base import Publish, RowResult
from hub.db.database import Database


async def import_orders(
    db: Database, orders: Sequence[Mapping[str, Any]], *, publish: Publish
) -> list[RowResult]:
    raise NotImplementedError("hub.domain.integrations.orders_in.import_orders")
