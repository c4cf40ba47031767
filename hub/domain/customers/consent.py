"""Marketing consent: marketing events are emitted only for a customer who gave it.

The consent in force is ``customers.accepts_marketing``: set by staff
(``staffCustomerUpdate(input: {acceptsMarketing})``) or by the shopper (sign-up and
``customerUpdate``, whose every change is also kept with its time and source in
``customer_consents``, :func:`hub.domain.accounts.profile.record_consent`). Every
emitter goes through :func:`emit_marketing`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.tables import customers_t
from hub.events.outbox import Outbox

MARKETING_PREFIX = "marketing."


async def marketing_allowed(conn: AsyncConnection, customer_pk: int) -> bool:
    """Whether ``customer_pk`` consents to marketing now (an erased or merged profile
    never does)."""
    row = (
        await conn.execute(
            select(
                customers_t.c.accepts_marketing,
                customers_t.c.erased_at,
                customers_t.c.merged_into_id,
            ).where(customers_t.c.id == customer_pk)
        )
    ).first()
    return bool(
        row is not None
        and row.accepts_marketing
        and row.erased_at is None
        and row.merged_into_id is None
    )


async def emit_marketing(
    conn: AsyncConnection,
    outbox: Outbox | None,
    customer_pk: int,
    topic: str,
    payload: dict[str, Any],
) -> bool:
    """Queue ``marketing.<topic>`` for the customer if (and only if) it consents;
    whether it was queued."""
    if outbox is None or not await marketing_allowed(conn, customer_pk):
        return False
    outbox.add(MARKETING_PREFIX + topic, {"customerId": customer_pk, **payload})
    return True
