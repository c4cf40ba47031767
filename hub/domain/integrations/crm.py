"""Customer profiles from connectors (placeholder: the rest helper's module replaces
this one). ``upsert_customers``: matched by email, then phone; one :class:`RowResult`
per row, in order."""

from __future__ import annotations

from collections.abc import Sequence

from connectors.base import CustomerRow, Publish, RowResult
from hub.db.database import Database


async def upsert_customers(
    db: Database, rows: Sequence[CustomerRow], *, publish: Publish
) -> list[RowResult]:
    raise NotImplementedError("hub.domain.integrations.crm.upsert_customers")
