"""Oversold levels: a sale whose goods already left the store (a till's offline sale)
is never refused for stock. Its units leave onHand even below zero, and a level whose
sale took more than it held (onHand less committed, reserved and quarantined) is
flagged ``oversold_since``: a discrepancy staff see until a count settles it
(:func:`settle`, called by every count: ``set_on_hand`` and the till's counts).

This is the only path that may take onHand below zero (the level's CHECK allows it
only while the flag is set); the ledger gets its row like every change, so
``hub inventory verify`` stays clean.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, case, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.bounds import INT32_MAX
from hub.db.database import Reader
from hub.db.tables import levels_t, moves_t, variants_t
from hub.domain.inventory.changes import Change, _emit, ensure_level, ledger_row, product_of
from hub.domain.inventory.records import InventoryCode, LevelRecord, now, refuse
from hub.events.outbox import Outbox

_HELD = levels_t.c.on_hand - levels_t.c.committed - levels_t.c.reserved - levels_t.c.quarantined

_TAKE = (
    update(levels_t)
    .where(
        levels_t.c.variant_id == bindparam("variant"),
        levels_t.c.location_id == bindparam("location"),
        levels_t.c.on_hand >= bindparam("floor"),
    )
    .values(
        on_hand=levels_t.c.on_hand - bindparam("q"),
        oversold_since=case(
            (_HELD < bindparam("q"), case(
                (levels_t.c.oversold_since.is_(None), bindparam("now")),
                else_=levels_t.c.oversold_since,
            )),
            else_=levels_t.c.oversold_since,
        ),
        updated_at=bindparam("now"),
    )
    .returning(*levels_t.c)
)  # fmt: skip


async def take_sold(
    conn: AsyncConnection,
    outbox: Outbox,
    variant_pk: int,
    location_pk: int,
    quantity: int,
    *,
    reason: str = "sold_offline",
    reference: str | None = None,
    actor: str = "system",
) -> tuple[LevelRecord, bool]:
    """``quantity`` units sold and gone: onHand down by it, whatever the level held
    (one conditional UPDATE: concurrent sales never lose one another). Answers the
    level and whether it is oversold now."""
    if not 1 <= quantity <= INT32_MAX:
        raise refuse(InventoryCode.INSUFFICIENT_STOCK, "quantity out of range", "quantity")
    await ensure_level(conn, variant_pk, location_pk)
    ch = Change(
        variant_pk, location_pk, reason, {"on_hand": -quantity}, reference=reference, actor=actor
    )
    await product_of(conn, ch)
    await conn.execute(insert(moves_t).values(**ledger_row(ch, ch.all_deltas())))
    row = (
        await conn.execute(
            _TAKE,
            {"variant": variant_pk, "location": location_pk, "q": quantity, "now": now(),
             "floor": -INT32_MAX + quantity},
        )
    ).first()  # fmt: skip
    if row is None:
        raise refuse(
            InventoryCode.NEGATIVE_STOCK, f"onHand can't go below -{INT32_MAX}", "quantity"
        )
    level = LevelRecord(row)
    _emit(outbox, ch, level)
    return level, row.oversold_since is not None


async def settle(conn: AsyncConnection, variant_pk: int, location_pk: int) -> bool:
    """A count settles the level's discrepancy: the flag clears (the count has set
    onHand, never below zero). Whether there was one."""
    got = await conn.execute(
        update(levels_t)
        .where(
            levels_t.c.variant_id == variant_pk,
            levels_t.c.location_id == location_pk,
            levels_t.c.oversold_since.is_not(None),
            levels_t.c.on_hand >= 0,
        )
        .values(oversold_since=None)
    )
    return bool(got.rowcount)


async def discrepancies(reader: Reader, location_pk: int, *, limit: int) -> list[Any]:
    """The flagged levels at a location, oldest first: (level row, sku)."""
    return list(
        await reader.all(
            select(levels_t, variants_t.c.sku)
            .join(variants_t, variants_t.c.id == levels_t.c.variant_id)
            .where(levels_t.c.location_id == location_pk, levels_t.c.oversold_since.is_not(None))
            .order_by(levels_t.c.oversold_since, levels_t.c.id)
            .limit(limit)
        )
    )
