"""Absolute on-hand levels for many (variant, location) pairs at once: the set-based
form of :func:`~hub.domain.inventory.operations.set_on_hand` that ERP and feed imports
use (thousands of levels per transaction).

It keeps every invariant of the one write path (:mod:`.changes`): each level that
moves gets its ledger row (one INSERT for all of them) and its ``inventory.changed``
event (and ``stock.low`` when it crosses the reorder point) on the caller's outbox,
in the caller's transaction, so ``hub inventory verify`` stays clean. The levels are
read ``FOR UPDATE`` (PostgreSQL; SQLite has one writer at a time), so the delta
written to the ledger is exactly the one applied and each level ends at its target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.bounds import INT32_MAX
from hub.db.tables import levels_t, moves_t, variants_t
from hub.domain.inventory.changes import (
    Change,
    _emit,
    _emit_low_stock,
    check_reason,
    dialect_insert,
    ledger_row,
)
from hub.domain.inventory.records import STATES, InventoryCode, LevelRecord, now
from hub.events.outbox import Outbox


@dataclass(frozen=True, slots=True)
class LevelTarget:
    """Set on hand of ``variant_pk`` at ``location_pk`` to ``on_hand`` (0 to 2^31-1);
    ``product_pk`` rides on the event for availability subscribers."""

    variant_pk: int
    location_pk: int
    on_hand: int
    product_pk: int | None = None


@dataclass(frozen=True, slots=True)
class LevelOutcome:
    """What :func:`set_on_hand_many` did with one target: ``changed`` (the level moved),
    or not; ``refused`` names an :class:`InventoryCode` when the variant can't hold
    stock (not tracked, a bundle) and nothing was written for it."""

    target: LevelTarget
    changed: bool
    level: LevelRecord | None = None
    refused: InventoryCode | None = None
    message: str | None = None


_LEVEL_UPDATE = (
    update(levels_t)
    .where(levels_t.c.id == bindparam("level_id"))
    .values(on_hand=levels_t.c.on_hand + bindparam("d_on_hand"), updated_at=bindparam("now"))
)


async def _kinds(conn: AsyncConnection, variant_pks: set[int]) -> dict[int, Any]:
    rows = await conn.execute(
        select(variants_t.c.id, variants_t.c.tracked, variants_t.c.is_bundle).where(
            variants_t.c.id.in_(variant_pks)
        )
    )
    return {r.id: r for r in rows}


async def _locked_levels(
    conn: AsyncConnection, pairs: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], Any]:
    """The levels of ``pairs`` that exist, locked until the transaction ends."""
    if not pairs:
        return {}
    # Variants IN and locations IN (the pairs' rectangle; a row-value IN of thousands
    # of pairs is planned as a scan on PostgreSQL), the pairs picked from it.
    stmt = (
        select(levels_t)
        .where(
            levels_t.c.variant_id.in_({v for v, _ in pairs}),
            levels_t.c.location_id.in_({loc for _, loc in pairs}),
        )
        .order_by(levels_t.c.id)  # one lock order for every writer: no deadlock
        .with_for_update()
    )
    wanted = set(pairs)
    return {
        (r.variant_id, r.location_id): r
        for r in await conn.execute(stmt)
        if (r.variant_id, r.location_id) in wanted
    }


async def _create_levels(
    conn: AsyncConnection, wanted: dict[tuple[int, int], int]
) -> dict[tuple[int, int], Any]:
    """Levels for the pairs of ``wanted`` that have none, created at their target on
    hand (one INSERT); the rows created. A level another writer created in between is
    left alone (not among the rows)."""
    if not wanted:
        return {}
    stamp = now()
    empty = {s: 0 for s in STATES} | {"safety_stock": 0, "reorder_point": 0}
    stmt = (
        dialect_insert(conn, levels_t)
        .on_conflict_do_nothing(index_elements=["variant_id", "location_id"])
        .returning(*levels_t.c)
    )
    rows = [
        {**empty, "variant_id": v, "location_id": loc, "on_hand": qty, "updated_at": stamp}
        for (v, loc), qty in wanted.items()
    ]
    return {(r.variant_id, r.location_id): r for r in await conn.execute(stmt, rows)}


def _after(row: Any, delta: int, stamp: Any) -> LevelRecord:
    """The level ``row`` once on hand moved by ``delta`` (as the UPDATE leaves it)."""
    values = dict(row._mapping)
    values["on_hand"] = values["on_hand"] + delta
    values["updated_at"] = stamp
    return LevelRecord(SimpleNamespace(**values))


async def set_on_hand_many(
    conn: AsyncConnection,
    outbox: Outbox,
    targets: Sequence[LevelTarget],
    *,
    reason: str = "erp_sync",
    actor: str = "system",
    reference: str | None = None,
) -> list[LevelOutcome]:
    """Bring each target's on hand to its quantity, in the caller's transaction: one
    outcome per target, in order. Levels already there are left alone (no ledger row,
    no event); a variant that is not stock-tracked or is a bundle is refused (its
    outcome says so) without failing the others. ``targets`` name each (variant,
    location) pair once."""
    check_reason(reason)
    pairs = [(t.variant_pk, t.location_pk) for t in targets]
    if len(set(pairs)) != len(pairs):
        raise ValueError("set_on_hand_many: a (variant, location) pair appears twice")
    for t in targets:
        if not 0 <= t.on_hand <= INT32_MAX:
            raise ValueError(f"set_on_hand_many: on hand {t.on_hand} out of range")
    if not targets:
        return []
    kinds = await _kinds(conn, {t.variant_pk for t in targets})
    outcomes: dict[int, LevelOutcome] = {}
    wanted: list[int] = []
    for i, t in enumerate(targets):
        kind = kinds.get(t.variant_pk)
        if kind is None:
            raise ValueError(f"set_on_hand_many: no variant {t.variant_pk}")
        if kind.is_bundle:
            outcomes[i] = LevelOutcome(
                t,
                False,
                refused=InventoryCode.NOT_TRACKED,
                message="a bundle's stock is its components'; set those",
            )
        elif not kind.tracked:
            outcomes[i] = LevelOutcome(
                t,
                False,
                refused=InventoryCode.NOT_TRACKED,
                message="the variant is not stock-tracked",
            )
        else:
            wanted.append(i)
    levels = await _locked_levels(conn, [pairs[i] for i in wanted])
    missing = {pairs[i]: targets[i].on_hand for i in wanted if pairs[i] not in levels}
    created = await _create_levels(conn, {k: v for k, v in missing.items() if v})
    raced = [k for k in missing if missing[k] and k not in created]
    levels.update(await _locked_levels(conn, raced))

    changes: list[tuple[int, Change, Any]] = []
    fresh: list[tuple[int, Change, Any]] = []
    for i in wanted:
        t = targets[i]
        new = created.get(pairs[i])
        row = levels.get(pairs[i])
        current = row.on_hand if row is not None else 0
        if new is None and (row is None or t.on_hand == current):
            outcomes[i] = LevelOutcome(t, False, LevelRecord(row) if row is not None else None)
            continue
        ch = Change(
            t.variant_pk,
            t.location_pk,
            reason,
            {"on_hand": t.on_hand - current},
            product_pk=t.product_pk,
            actor=actor,
            reference=reference,
            field="quantity",
        )
        (changes if new is None else fresh).append((i, ch, row if new is None else new))
    if changes or fresh:
        # The ledger rows of every level that moved: the new ones were created at
        # their target (from nothing), the others move by the difference below.
        await conn.execute(
            insert(moves_t), [ledger_row(ch, ch.all_deltas()) for _, ch, _ in fresh + changes]
        )
    for i, ch, row in fresh:
        level = LevelRecord(row)
        _emit(outbox, ch, level)
        _emit_low_stock(outbox, ch, level, ch.all_deltas())
        outcomes[i] = LevelOutcome(targets[i], True, level)
    if changes:
        stamp = now()
        await conn.execute(
            _LEVEL_UPDATE,
            [
                {"level_id": row.id, "d_on_hand": ch.deltas["on_hand"], "now": stamp}
                for _, ch, row in changes
            ],
        )
        for i, ch, row in changes:
            level = _after(row, ch.deltas["on_hand"], stamp)
            _emit(outbox, ch, level)
            _emit_low_stock(outbox, ch, level, ch.all_deltas())
            outcomes[i] = LevelOutcome(targets[i], True, level)
    return [outcomes[i] for i in range(len(targets))]
