"""The ledger: every movement of stock, newest first; the audit that rebuilds every
level from it; and what to reorder, from the sales it records."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from hub.db.database import Database, Reader
from hub.db.tables import levels_t, locations_t, moves_t
from hub.domain.inventory.records import STATES, LevelRecord
from hub.domain.inventory.records import now as _now


async def movements(
    reader: Reader,
    *,
    variant_pk: int | None,
    location_pk: int | None,
    limit: int,
    before_id: int | None,
) -> list[Any]:
    stmt = select(moves_t)
    if variant_pk is not None:
        stmt = stmt.where(moves_t.c.variant_id == variant_pk)
    if location_pk is not None:
        stmt = stmt.where(moves_t.c.location_id == location_pk)
    if before_id is not None:
        stmt = stmt.where(moves_t.c.id < before_id)
    return list(await reader.all(stmt.order_by(moves_t.c.id.desc()).limit(limit)))


async def verify(db: Database) -> list[dict[str, Any]]:
    """Rebuild every level from the ledger; the differences (none expected)."""
    sums = (
        select(
            moves_t.c.variant_id,
            moves_t.c.location_id,
            *[func.coalesce(func.sum(moves_t.c[f"d_{s}"]), 0).label(s) for s in STATES],
        )
        .group_by(moves_t.c.variant_id, moves_t.c.location_id)
        .subquery()
    )
    async with db.read() as conn:
        ledger = {
            (r.variant_id, r.location_id): r for r in (await conn.execute(select(sums))).all()
        }
        levels = {
            (r.variant_id, r.location_id): r for r in (await conn.execute(select(levels_t))).all()
        }
    drift = []
    for key in set(ledger) | set(levels):
        lv, lg = levels.get(key), ledger.get(key)
        for s in STATES:
            a = lv._mapping[s] if lv is not None else 0
            b = lg._mapping[s] if lg is not None else 0
            if a != b:
                drift.append(
                    {"variant": key[0], "location": key[1], "state": s, "level": a, "ledger": b}
                )
    return drift


async def reorder_suggestions(
    reader: Reader,
    location_pk: int,
    *,
    days: int = 30,
    cover_days: int = 14,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """What to reorder at a location: daily sales velocity over the last ``days`` times
    (lead time + cover), plus safety stock, less what is available and incoming."""
    now = now or _now()
    loc = await reader.first(select(locations_t).where(locations_t.c.id == location_pk))
    if loc is None:
        return []
    sold = (
        select(moves_t.c.variant_id, func.sum(-moves_t.c.d_on_hand).label("units"))
        .where(
            moves_t.c.location_id == location_pk,
            moves_t.c.reason.in_(("fulfilled", "sold_in_store")),
            moves_t.c.created_at >= now - timedelta(days=days),
        )
        .group_by(moves_t.c.variant_id)
        .subquery()
    )
    rows = await reader.all(
        select(levels_t, sold.c.units)
        .select_from(levels_t.outerjoin(sold, sold.c.variant_id == levels_t.c.variant_id))
        .where(levels_t.c.location_id == location_pk)
    )
    out = []
    for r in rows:
        lv = LevelRecord(r)
        velocity = (r.units or 0) / days
        target = math.ceil(velocity * (loc.replenishment_lead_days + cover_days)) + lv.safety_stock
        have = lv.available + lv.safety_stock + lv.incoming
        qty = max(
            0,
            target - have,
            lv.reorder_point + 1 - (lv.available + lv.incoming)
            if lv.available <= lv.reorder_point and lv.reorder_point
            else 0,
        )
        if qty > 0:
            out.append(
                {
                    "variant_pk": lv.variant_pk,
                    "level": lv,
                    "quantity": qty,
                    "daily_velocity": round(velocity, 3),
                }
            )
    out.sort(key=lambda s: -s["quantity"])
    return out
