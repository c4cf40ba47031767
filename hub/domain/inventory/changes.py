"""Levels and changes: the one write path of stock.

Every change goes through :func:`apply_change`: one conditional UPDATE that succeeds
only while every state stays non-negative (and, for sales, only while enough is
available), a ledger row in the same transaction, and an ``inventory.changed`` event
in the outbox. Two buyers can never take the same unit, from one process or many, on
SQLite or PostgreSQL: the database decides, row by row.

Every function here runs on the caller's open transaction (``conn``) and queues its
events on the caller's :class:`~hub.events.outbox.Outbox`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, Table, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.bounds import INT32_MAX, fits_int32
from hub.db.tables import bundle_t, levels_t, locations_t, moves_t, variants_t
from hub.domain.errors import Code, DomainError, fail
from hub.domain.inventory.records import (
    REASON_RE,
    STATES,
    InventoryCode,
    LevelRecord,
    available_sql,
    label,
    now,
    refuse,
)
from hub.events.outbox import Outbox


@dataclass
class Change:
    """One level change: deltas per state, the rule it must satisfy, its ledger line."""

    variant_pk: int
    location_pk: int
    reason: str
    deltas: dict[str, int] = field(default_factory=dict)
    product_pk: int | None = None  # carried on the event for availability subscribers
    need_available: int | None = None  # require this many sellable units first
    online: bool = True  # whether safety stock is kept back for `need_available`
    reference: str | None = None
    actor: str = "system"
    lot_number: str | None = None
    serial_number: str | None = None
    settings: dict[str, int] | None = None  # safety_stock / reorder_point to set
    field: str = "delta"  # the input a refusal names (quantity-based operations: quantity)

    def all_deltas(self) -> dict[str, int]:
        """The delta of every state (0 for those it leaves alone)."""
        return {s: self.deltas.get(s, 0) for s in STATES}


def dialect_insert(conn: AsyncConnection, table: Table) -> Any:
    """INSERT with ``on_conflict_*`` for the connection's dialect."""
    return (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)


async def ensure_level(conn: AsyncConnection, variant_pk: int, location_pk: int) -> None:
    stmt = (
        dialect_insert(conn, levels_t)
        .values(
            variant_id=variant_pk,
            location_id=location_pk,
            on_hand=0,
            committed=0,
            reserved=0,
            incoming=0,
            quarantined=0,
            safety_stock=0,
            reorder_point=0,
            updated_at=now(),
        )
        .on_conflict_do_nothing(index_elements=["variant_id", "location_id"])
    )
    await conn.execute(stmt)


def ledger_row(ch: Change, d: Mapping[str, int]) -> dict[str, Any]:
    """The ``inventory_movements`` row of one change (``d``: its deltas per state)."""
    return {
        "variant_id": ch.variant_pk,
        "location_id": ch.location_pk,
        "reason": ch.reason,
        "d_on_hand": d["on_hand"],
        "d_committed": d["committed"],
        "d_reserved": d["reserved"],
        "d_incoming": d["incoming"],
        "d_quarantined": d["quarantined"],
        "actor": ch.actor,
        "reference": ch.reference,
        "lot_number": ch.lot_number,
        "serial_number": ch.serial_number,
        "created_at": now(),
    }


_LEVEL_UPDATES: dict[tuple[Any, ...], Any] = {}


def _level_update(ch: Change, d: Mapping[str, int]) -> tuple[Any, dict[str, Any]]:
    """The conditional UPDATE of one change's level and its parameters. The statement
    depends only on the change's shape (which states move, which go down, settings,
    the availability rule), so each shape is built once and bound per call: the
    states move by ``d_<state>``, none may go below zero, ``need`` units must be
    available first (when asked)."""
    moved = tuple(s for s in STATES if d[s])
    down = tuple(s for s in STATES if d[s] < 0)
    up = tuple(s for s in STATES if d[s] > 0)
    settings = tuple(sorted(ch.settings)) if ch.settings else ()
    need = ch.need_available is not None
    shape = (moved, down, settings, need, ch.online if need else None)
    stmt = _LEVEL_UPDATES.get(shape)
    if stmt is None:
        values: dict[str, Any] = {s: levels_t.c[s] + bindparam(f"d_{s}") for s in moved}
        values.update({k: bindparam(f"set_{k}") for k in settings})
        values["updated_at"] = bindparam("now")
        conds = [
            levels_t.c.variant_id == bindparam("variant"),
            levels_t.c.location_id == bindparam("location"),
        ]
        conds += [levels_t.c[s] + bindparam(f"d_{s}") >= 0 for s in down]
        # ... nor above what the 32-bit column (and a GraphQL Int) holds; compared
        # without adding, so PostgreSQL never computes an out-of-range value.
        conds += [levels_t.c[s] <= bindparam(f"max_{s}") for s in up]
        if need:
            conds.append(available_sql(online=ch.online) >= bindparam("need"))
        stmt = update(levels_t).where(*conds).values(**values).returning(*levels_t.c)
        _LEVEL_UPDATES[shape] = stmt
    params: dict[str, Any] = {f"d_{s}": d[s] for s in moved}
    params.update({f"max_{s}": INT32_MAX - d[s] for s in up})
    params.update({f"set_{k}": v for k, v in (ch.settings or {}).items()})
    params.update(now=now(), variant=ch.variant_pk, location=ch.location_pk)
    if need:
        params["need"] = ch.need_available
    return stmt, params


async def apply_change(
    conn: AsyncConnection, ch: Change, outbox: Outbox, *, ledger: bool = True
) -> LevelRecord:
    """Apply one change atomically or raise DomainError; never a partial write.
    ``ledger=False``: the caller has written the change's ledger row already (several
    changes' rows in one INSERT), in the same transaction."""
    d = ch.all_deltas()
    _check_bounds(ch, d)
    # Reads and the ledger line first: they don't depend on the outcome, and doing
    # them before the UPDATE keeps the hot row locked for as short a time as possible.
    await product_of(conn, ch)
    if ledger:
        await conn.execute(insert(moves_t).values(**ledger_row(ch, d)))
    stmt, params = _level_update(ch, d)
    row = (await conn.execute(stmt, params)).first()
    if row is None:
        existing = await _level_row(conn, ch.variant_pk, ch.location_pk)
        if existing is None and all(v >= 0 for v in d.values()) and ch.need_available is None:
            await ensure_level(conn, ch.variant_pk, ch.location_pk)
            row = (await conn.execute(stmt, params)).first()
        if row is None:
            raise why_refused(ch, d, existing)
    level = LevelRecord(row)
    _emit(outbox, ch, level)
    _emit_low_stock(outbox, ch, level, d)
    return level


def _emit_low_stock(outbox: Outbox, ch: Change, level: LevelRecord, d: Mapping[str, int]) -> None:
    """LOW_STOCK when a change takes `available` from above the reorder point to at or
    below it (with the default point of 0: when the last unit goes)."""
    raw_after = (
        level.available
        if level.available > 0
        else (
            level.on_hand
            - level.committed
            - level.reserved
            - level.quarantined
            - level.safety_stock
        )
    )
    raw_before = raw_after - (d["on_hand"] - d["committed"] - d["reserved"] - d["quarantined"])
    if max(raw_before, 0) > level.reorder_point >= level.available:
        outbox.add(
            "stock.low",
            {
                "type": "LOW_STOCK",
                "variantId": ch.variant_pk,
                "locationId": ch.location_pk,
                "productId": ch.product_pk,
                "available": level.available,
                "reorderPoint": level.reorder_point,
            },
        )


async def _level_row(conn: AsyncConnection, variant_pk: int, location_pk: int) -> Any:
    return (
        await conn.execute(
            select(levels_t).where(
                levels_t.c.variant_id == variant_pk, levels_t.c.location_id == location_pk
            )
        )
    ).first()


async def insert_ledger(conn: AsyncConnection, changes: Sequence[Change]) -> None:
    """The ledger rows of several changes in one INSERT (then
    ``apply_change(..., ledger=False)`` each)."""
    await conn.execute(insert(moves_t), [ledger_row(ch, ch.all_deltas()) for ch in changes])


async def apply_cas(
    conn: AsyncConnection, ch: Change, expected: int, outbox: Outbox
) -> LevelRecord:
    """Like :func:`apply_change`, but only while onHand still equals ``expected``."""
    d = ch.deltas.get("on_hand", 0)
    await product_of(conn, ch)
    await conn.execute(
        insert(moves_t).values(
            variant_id=ch.variant_pk,
            location_id=ch.location_pk,
            reason=ch.reason,
            d_on_hand=d,
            actor=ch.actor,
            created_at=now(),
        )
    )
    row = (
        await conn.execute(
            update(levels_t)
            .where(
                levels_t.c.variant_id == ch.variant_pk,
                levels_t.c.location_id == ch.location_pk,
                levels_t.c.on_hand == expected,
            )
            .values(on_hand=levels_t.c.on_hand + d, updated_at=now())
            .returning(*levels_t.c)
        )
    ).first()
    if row is None:
        raise refuse(
            InventoryCode.STALE_QUANTITY,
            "onHand changed while counting; count again",
            "expected_quantity",
        )
    level = LevelRecord(row)
    _emit(outbox, ch, level)
    return level


async def product_of(conn: AsyncConnection, ch: Change) -> None:
    if ch.product_pk is None:
        ch.product_pk = (
            await conn.execute(
                select(variants_t.c.product_id).where(variants_t.c.id == ch.variant_pk)
            )
        ).scalar()


def _emit(outbox: Outbox, ch: Change, level: LevelRecord) -> None:
    outbox.add(
        "inventory.changed",
        {
            "variantId": ch.variant_pk,
            "locationId": ch.location_pk,
            "productId": ch.product_pk,
            "reason": ch.reason,
            "level": level.as_payload(),
            "occurredAt": level.updated_at.isoformat(),
            "reference": ch.reference,
        },
    )


# Text a change writes to its ledger row, and the input that carries it.
_LEDGER_TEXT = (
    ("reason", "reason"),
    ("reference", "reference"),
    ("lot_number", "lot_number"),
    ("serial_number", "serial_numbers"),
    ("actor", "actor"),
)


def _check_bounds(ch: Change, d: Mapping[str, int]) -> None:
    """Refuse, before anything is written, a change no 32-bit level could take (a
    bundle's quantity times its components' can exceed one)."""
    for s in STATES:
        if not fits_int32(d[s]) or not fits_int32(-d[s]):
            raise fail(Code.INVALID, f"{label(s)} can't change by more than {INT32_MAX}", ch.field)
    for attr, path in _LEDGER_TEXT:
        value = getattr(ch, attr)
        column = moves_t.c[attr].type
        assert isinstance(column, String) and column.length is not None
        limit = column.length
        if value is not None and len(value) > limit:
            raise fail(Code.TOO_LONG, f"{label(path)} is longer than {limit} characters", path)
    for name, value in (ch.settings or {}).items():
        if not 0 <= value <= INT32_MAX:
            raise fail(Code.INVALID, f"{label(name)} must be 0 to {INT32_MAX}", name)
    if ch.need_available is not None and ch.need_available > INT32_MAX:
        raise refuse(
            InventoryCode.INSUFFICIENT_STOCK,
            f"{ch.need_available} asked, more than any location can hold",
            "quantity",
        )


def why_refused(ch: Change, d: Mapping[str, int], existing: Any) -> DomainError:
    """Why the conditional UPDATE of ``ch`` matched no row (``existing``: the level)."""
    over = [
        s
        for s in STATES
        if d[s] > 0 and existing is not None and existing._mapping[s] + d[s] > INT32_MAX
    ]
    if over:
        return fail(
            Code.INVALID,
            f"{label(over[0])} would go above {INT32_MAX}, the most a level holds",
            ch.field,
        )
    if ch.need_available is not None:
        have = (
            0
            if existing is None
            else LevelRecord(existing).available + (0 if ch.online else existing.safety_stock)
        )
        return refuse(
            InventoryCode.INSUFFICIENT_STOCK,
            f"only {have} available at this location, {ch.need_available} asked",
            "quantity",
        )
    negative = [
        s for s in STATES if d[s] < 0 and (existing is None or existing._mapping[s] + d[s] < 0)
    ]
    name = negative[0] if negative else "on_hand"
    return refuse(InventoryCode.NEGATIVE_STOCK, f"{label(name)} can't go below zero", ch.field)


async def why_refused_at(conn: AsyncConnection, ch: Change) -> DomainError:
    """:func:`why_refused`, reading the level first."""
    existing = await _level_row(conn, ch.variant_pk, ch.location_pk)
    return why_refused(ch, ch.all_deltas(), existing)


# --------------------------------------------------------------------------- checks


def check_reason(reason: str) -> None:
    if not REASON_RE.match(reason or ""):
        raise fail(
            Code.INVALID,
            "reason must be lowercase letters, digits and underscores "
            "(e.g. received, damaged, cycle_count, correction)",
            "reason",
        )


def positive(q: int) -> None:
    if q <= 0:
        raise fail(Code.INVALID, "quantity must be positive", "quantity")


_VARIANT_KIND = select(variants_t.c.tracked, variants_t.c.is_bundle).where(
    variants_t.c.id == bindparam("variant")
)


async def _variant_kind(conn: AsyncConnection, variant_pk: int) -> Any:
    """The variant's (tracked, is_bundle), or NOT_FOUND."""
    v = (await conn.execute(_VARIANT_KIND, {"variant": variant_pk})).first()
    if v is None:
        raise fail(Code.NOT_FOUND, "variant not found", "variant_id")
    return v


def _not_tracked() -> DomainError:
    return refuse(InventoryCode.NOT_TRACKED, "the variant is not stock-tracked", "variant_id")


async def check_exists(conn: AsyncConnection, variant_pk: int, location_pk: int) -> None:
    """The variant is stock-tracked and no bundle, and the location exists."""
    v = await _variant_kind(conn, variant_pk)
    if not v.tracked:
        raise _not_tracked()
    if v.is_bundle:
        raise fail(Code.INVALID, "a bundle's stock is its components'; change those", "variant_id")
    loc = (
        await conn.execute(select(locations_t.c.active).where(locations_t.c.id == location_pk))
    ).first()
    if loc is None:
        raise fail(Code.NOT_FOUND, "location not found", "location_id")


async def components(conn: AsyncConnection, variant_pk: int) -> list[tuple[int, int]]:
    """A bundle's (component, units per bundle); [] for a tracked variant."""
    v = await _variant_kind(conn, variant_pk)
    if not v.is_bundle:
        if not v.tracked:
            raise _not_tracked()
        return []
    rows = (
        await conn.execute(
            select(bundle_t.c.component_variant_id, bundle_t.c.quantity)
            .where(bundle_t.c.bundle_variant_id == variant_pk)
            .order_by(bundle_t.c.component_variant_id)
        )
    ).all()
    return [(r[0], r[1]) for r in rows]


async def levels_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> list[LevelRecord]:
    if not ids:
        return []
    rows = (await conn.execute(select(levels_t).where(levels_t.c.id.in_(ids)))).all()
    by_id = {r.id: LevelRecord(r) for r in rows}
    return [by_id[i] for i in ids if i in by_id]
