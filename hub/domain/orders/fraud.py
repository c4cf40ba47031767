"""Return fraud flags: raised, stored on the return (``returns.flags``), written to the
order's timeline and emitted as ``return.flagged``; never a refusal.

The rules (thresholds in :class:`hub.settings.Settings`, ``HUB_RETURN_FRAUD_*``):

- ``FREQUENT_RETURNS`` / ``HIGH_RETURN_AMOUNT``: the customer (by customer id, or by
  the order's email for a guest) returned more than ``return_fraud_max_items`` units,
  or more than ``return_fraud_max_amount`` (minor units), within
  ``return_fraud_window_days``, across every location and order (declined and
  cancelled returns don't count; this one does);
- ``SERIAL_RETURNED_BEFORE``: a serial on this return was on an earlier return;
- ``LOCATION_MISMATCH``: the return is opened or received at a location other than
  where the order was bought (``orders.location_id``; a web order was bought at none)
  and is worth at least ``return_fraud_location_amount``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import ids
from hub.db.tables import orders_t, return_lines_t, returns_t
from hub.domain.orders.timeline import record_event
from hub.events.outbox import Outbox
from hub.settings import Settings

NOT_COUNTED = ("DECLINED", "CANCELLED")


@dataclass(slots=True)
class Flag:
    code: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "data": self.data}


async def volume_flags(
    conn: AsyncConnection, order: Any, return_pk: int, settings: Settings, at: datetime
) -> list[Flag]:
    """Units and amount the same customer returned within the window (this return
    included), across locations and orders."""
    since = at - timedelta(days=settings.return_fraud_window_days)
    who: Any
    if order.customer_id is not None:
        who = returns_t.c.customer_id == order.customer_id
        label = {"customerId": ids.encode("Customer", order.customer_id)}
    elif order.email:
        who = returns_t.c.order_id.in_(
            select(orders_t.c.id).where(func.lower(orders_t.c.email) == order.email.lower())
        )
        label = {"email": order.email}
    else:
        return []
    scope = (
        returns_t.c.created_at >= since,
        returns_t.c.status.not_in(NOT_COUNTED),
        who,
    )
    units = (
        await conn.execute(
            select(func.coalesce(func.sum(return_lines_t.c.quantity), 0))
            .join(returns_t, returns_t.c.id == return_lines_t.c.return_id)
            .where(*scope)
        )
    ).scalar_one()
    amount = (
        await conn.execute(select(func.coalesce(func.sum(returns_t.c.amount), 0)).where(*scope))
    ).scalar_one()
    days = settings.return_fraud_window_days
    flags: list[Flag] = []
    if int(units) > settings.return_fraud_max_items:
        flags.append(
            Flag(
                "FREQUENT_RETURNS",
                f"{units} units returned in {days} days (more than "
                f"{settings.return_fraud_max_items})",
                {**label, "units": int(units), "days": days},
            )
        )
    if int(amount) > settings.return_fraud_max_amount:
        flags.append(
            Flag(
                "HIGH_RETURN_AMOUNT",
                f"{amount} returned in {days} days (more than {settings.return_fraud_max_amount})",
                {**label, "amount": int(amount), "days": days},
            )
        )
    return flags


async def record_flags(
    conn: AsyncConnection,
    outbox: Outbox,
    order_pk: int,
    return_pk: int,
    flags: Sequence[Flag],
    *,
    actor: str,
) -> list[Flag]:
    """Add the flags the return doesn't carry yet (by code); each new one is on the
    timeline and a ``return.flagged`` event. The flags added."""
    if not flags:
        return []
    have = (
        await conn.execute(select(returns_t.c.flags).where(returns_t.c.id == return_pk))
    ).scalar_one()
    have = list(have or [])
    codes = {f.get("code") for f in have}
    new = [f for f in flags if f.code not in codes]
    if not new:
        return []
    await conn.execute(
        update(returns_t)
        .where(returns_t.c.id == return_pk)
        .values(flags=have + [f.as_json() for f in new])
    )
    for f in new:
        await record_event(
            conn,
            order_pk,
            "return.flagged",
            actor=actor,
            message=f.message,
            data={"returnId": ids.encode("Return", return_pk), "flag": f.code, **f.data},
            outbox=outbox,
        )
    return new
