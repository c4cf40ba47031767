"""Inventory service: one truth about stock at every location.

Every change goes through :func:`_apply`: one conditional UPDATE that succeeds only
while every state stays non-negative (and, for sales, only while enough is available),
a ledger row in the same transaction, and an ``inventory.changed`` event in the outbox.
Two buyers can never take the same unit, from one process or many, on SQLite or
PostgreSQL: the database decides, row by row.
"""

from __future__ import annotations

import math
import re
import secrets
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import and_, bindparam, case, func, insert, literal, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.bounds import INT32_MAX, fits_int32
from hub.db.database import Database, Reader
from hub.db.models import (
    BundleComponent,
    Channel,
    IdempotencyKey,
    InventoryLevel,
    InventoryLot,
    InventoryMovement,
    InventorySerial,
    Location,
    LocationChannel,
    Product,
    Reservation,
    Transfer,
    Variant,
)
from hub.domain.errors import Code, DomainError, Errors, fail
from hub.events.bus import Event
from hub.events.outbox import Outbox

levels_t = InventoryLevel.__table__
moves_t = InventoryMovement.__table__
locations_t = Location.__table__
loc_channels_t = LocationChannel.__table__
reservations_t = Reservation.__table__
transfers_t = Transfer.__table__
lots_t = InventoryLot.__table__
serials_t = InventorySerial.__table__
idem_t = IdempotencyKey.__table__
variants_t = Variant.__table__
products_t = Product.__table__
bundle_t = BundleComponent.__table__
channels_t = Channel.__table__

STATES = ("on_hand", "committed", "reserved", "incoming", "quarantined")
REASON_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
DEFAULT_RESERVATION_TTL = timedelta(minutes=15)


class InventoryCode:
    INSUFFICIENT_STOCK = "INSUFFICIENT_STOCK"
    NEGATIVE_STOCK = "NEGATIVE_STOCK"
    STALE_QUANTITY = "STALE_QUANTITY"
    INVALID_SERIAL = "INVALID_SERIAL"
    NOT_TRACKED = "NOT_TRACKED"


def _now() -> datetime:
    return datetime.now(UTC)


def available_sql(t: Any = levels_t, *, online: bool = True) -> Any:
    """Sellable units of a level (never below zero). Online sales keep safety stock."""
    raw = t.c.on_hand - t.c.committed - t.c.reserved - t.c.quarantined
    if online:
        raw = raw - t.c.safety_stock
    return case((raw > 0, raw), else_=literal(0))


# --------------------------------------------------------------------------- records


class LevelRecord:
    __slots__ = (
        "available",
        "committed",
        "id",
        "incoming",
        "location_pk",
        "on_hand",
        "quarantined",
        "reorder_point",
        "reserved",
        "safety_stock",
        "updated_at",
        "variant_pk",
    )

    def __init__(self, row: Any) -> None:
        self.id = row.id
        self.variant_pk = row.variant_id
        self.location_pk = row.location_id
        self.on_hand = row.on_hand
        self.committed = row.committed
        self.reserved = row.reserved
        self.incoming = row.incoming
        self.quarantined = row.quarantined
        self.safety_stock = row.safety_stock
        self.reorder_point = row.reorder_point
        self.updated_at = row.updated_at
        self.available = max(
            0, self.on_hand - self.committed - self.reserved - self.quarantined - self.safety_stock
        )

    @property
    def gid(self) -> str:
        return f"gid://hub/InventoryLevel/{self.id}"

    def as_payload(self) -> dict[str, int]:
        return {
            "onHand": self.on_hand,
            "committed": self.committed,
            "reserved": self.reserved,
            "incoming": self.incoming,
            "quarantined": self.quarantined,
            "safetyStock": self.safety_stock,
            "reorderPoint": self.reorder_point,
            "available": self.available,
        }


class LocationRecord:
    __slots__ = (
        "active",
        "address1",
        "channel_pks",
        "city",
        "cost_currency",
        "cost_per_shipment",
        "country_code",
        "daily_capacity",
        "distance_km",
        "fulfillment_priority",
        "handle",
        "kind",
        "latitude",
        "longitude",
        "name",
        "pickup_enabled",
        "pickup_lead_minutes",
        "pk",
        "postal_code",
        "region",
        "replenishment_lead_days",
        "ships",
    )

    def __init__(self, row: Any, channel_pks: Sequence[int] = ()) -> None:
        self.pk = row.id
        self.handle = row.handle
        self.name = row.name
        self.kind = row.kind
        self.address1 = row.address1
        self.city = row.city
        self.region = row.region
        self.postal_code = row.postal_code
        self.country_code = row.country_code
        self.latitude = row.latitude
        self.longitude = row.longitude
        self.active = row.active
        self.pickup_enabled = row.pickup_enabled
        self.pickup_lead_minutes = row.pickup_lead_minutes
        self.ships = row.ships
        self.fulfillment_priority = row.fulfillment_priority
        self.cost_per_shipment = row.cost_per_shipment
        self.cost_currency = row.cost_currency
        self.daily_capacity = row.daily_capacity
        self.replenishment_lead_days = row.replenishment_lead_days
        self.channel_pks = list(channel_pks)
        self.distance_km: float | None = None

    @property
    def id(self) -> str:
        return f"gid://hub/Location/{self.pk}"

    def distance_from(self, lat: float, lon: float) -> float | None:
        if self.latitude is None or self.longitude is None:
            return None
        return round(distance_km(lat, lon, self.latitude, self.longitude), 3)


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance on a 6,371 km sphere."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(a)))


# --------------------------------------------------------------------------- core


@dataclass
class Change:
    """One level change: deltas per state, the rule it must satisfy, its ledger line."""

    variant_pk: int
    location_pk: int
    reason: str
    deltas: dict[str, int] = field(default_factory=dict)
    product_pk: int | None = None  # carried on events for availability subscribers
    product_pk: int | None = None  # carried on the event for availability subscribers
    need_available: int | None = None  # require this many sellable units first
    online: bool = True  # whether safety stock is kept back for `need_available`
    reference: str | None = None
    actor: str = "system"
    lot_number: str | None = None
    serial_number: str | None = None
    settings: dict[str, int] | None = None  # safety_stock / reorder_point to set
    field: str = "delta"  # the input a refusal names (quantity-based operations: quantity)


def _dialect_insert(conn: AsyncConnection, table: Any) -> Any:
    return (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)


async def _ensure_level(conn: AsyncConnection, variant_pk: int, location_pk: int) -> None:
    stmt = (
        _dialect_insert(conn, levels_t)
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
            updated_at=_now(),
        )
        .on_conflict_do_nothing(index_elements=["variant_id", "location_id"])
    )
    await conn.execute(stmt)


def _ledger_row(ch: Change, d: Mapping[str, int]) -> dict[str, Any]:
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
        "created_at": _now(),
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
    params.update(now=_now(), variant=ch.variant_pk, location=ch.location_pk)
    if need:
        params["need"] = ch.need_available
    return stmt, params


async def _apply(
    conn: AsyncConnection, ch: Change, outbox: Outbox, *, ledger: bool = True
) -> LevelRecord:
    """Apply one change atomically or raise DomainError; never a partial write.
    ``ledger=False``: the caller has written the change's ledger row already (several
    changes' rows in one INSERT), in the same transaction."""
    d = {s: ch.deltas.get(s, 0) for s in STATES}
    _check_bounds(ch, d)
    # Reads and the ledger line first: they don't depend on the outcome, and doing
    # them before the UPDATE keeps the hot row locked for as short a time as possible.
    await _product_of(conn, ch)
    if ledger:
        await conn.execute(insert(moves_t).values(**_ledger_row(ch, d)))
    stmt, params = _level_update(ch, d)
    row = (await conn.execute(stmt, params)).first()
    if row is None:
        existing = (
            await conn.execute(
                select(levels_t).where(
                    levels_t.c.variant_id == ch.variant_pk, levels_t.c.location_id == ch.location_pk
                )
            )
        ).first()
        if existing is None and all(v >= 0 for v in d.values()) and ch.need_available is None:
            await _ensure_level(conn, ch.variant_pk, ch.location_pk)
            row = (await conn.execute(stmt, params)).first()
        if row is None:
            raise _why_refused(ch, d, existing)
    level = LevelRecord(row)
    _emit(outbox, ch, level)
    # LOW_STOCK when this change takes `available` from above the reorder point to at
    # or below it (with the default point of 0: when the last unit goes).
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
    return level


async def _product_of(conn: AsyncConnection, ch: Change) -> None:
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
    ("lot_number", "lotNumber"),
    ("serial_number", "serialNumbers"),
    ("actor", "actor"),
)


def _check_bounds(ch: Change, d: Mapping[str, int]) -> None:
    """Refuse, before anything is written, a change no 32-bit level could take (a
    bundle's quantity times its components' can exceed one)."""
    for s in STATES:
        if not fits_int32(d[s]) or not fits_int32(-d[s]):
            raise fail(Code.INVALID, f"{_camel(s)} can't change by more than {INT32_MAX}", ch.field)
    for attr, path in _LEDGER_TEXT:
        value = getattr(ch, attr)
        limit = moves_t.c[attr].type.length
        if value is not None and len(value) > limit:
            raise fail(Code.TOO_LONG, f"{path} is longer than {limit} characters", path)
    for name, value in (ch.settings or {}).items():
        if not 0 <= value <= INT32_MAX:
            raise fail(Code.INVALID, f"{_camel(name)} must be 0 to {INT32_MAX}", _camel(name))
    if ch.need_available is not None and ch.need_available > INT32_MAX:
        raise fail(
            InventoryCode.INSUFFICIENT_STOCK,  # type: ignore[arg-type]
            f"{ch.need_available} asked, more than any location can hold",
            "quantity",
        )


def _why_refused(ch: Change, d: dict[str, int], existing: Any) -> DomainError:
    over = [
        s
        for s in STATES
        if d[s] > 0 and existing is not None and existing._mapping[s] + d[s] > INT32_MAX
    ]
    if over:
        return fail(
            Code.INVALID,
            f"{_camel(over[0])} would go above {INT32_MAX}, the most a level holds",
            ch.field,
        )
    if ch.need_available is not None:
        have = (
            0
            if existing is None
            else LevelRecord(existing).available + (0 if ch.online else existing.safety_stock)
        )
        return fail(
            InventoryCode.INSUFFICIENT_STOCK,  # type: ignore[arg-type]
            f"only {have} available at this location, {ch.need_available} asked",
            "quantity",
        )
    negative = [
        s for s in STATES if d[s] < 0 and (existing is None or existing._mapping[s] + d[s] < 0)
    ]
    name = negative[0] if negative else "on_hand"
    return fail(
        InventoryCode.NEGATIVE_STOCK,  # type: ignore[arg-type]
        f"{_camel(name)} can't go below zero",
        ch.field,
    )


def _camel(s: str) -> str:
    head, *rest = s.split("_")
    return head + "".join(r.title() for r in rest)


async def _claim_key(conn: AsyncConnection, key: str | None, operation: str) -> dict | None:
    """Record an idempotency key; the stored result if the key was used before."""
    if key is None:
        return None
    stmt = (
        _dialect_insert(conn, idem_t)
        .values(key=key, operation=operation, result={}, created_at=_now())
        .on_conflict_do_nothing(index_elements=["key", "operation"])
        .returning(idem_t.c.key)
    )
    if (await conn.execute(stmt)).first() is not None:
        return None
    row = (
        await conn.execute(
            select(idem_t.c.result).where(idem_t.c.key == key, idem_t.c.operation == operation)
        )
    ).first()
    return dict(row.result) if row else {}


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _unjson(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, (str, bytes)) else value


# reserve() on PostgreSQL: the level UPDATE, its ledger line, the reservation, the
# inventory.changed event (and stock.low on the transition to or below the reorder
# point), and the idempotency result, in one statement. Each INSERT selects FROM the
# UPDATE's row, so when the UPDATE refuses (not enough available) nothing is written.
# The payloads are built as _apply/_emit build them.
_RAW = "lv.on_hand - lv.committed - lv.reserved - lv.quarantined - lv.safety_stock"
_PG_RESERVE = text(
    f"""
WITH lv AS (
    UPDATE inventory_levels
       SET reserved = reserved + :q, updated_at = :now
     WHERE variant_id = :v AND location_id = :l
       AND on_hand - committed - reserved - quarantined
           - (CASE WHEN :online THEN safety_stock ELSE 0 END) >= :q
       AND EXISTS (SELECT 1 FROM variants WHERE id = :v AND tracked AND NOT is_bundle)
       AND (CAST(:key AS varchar) IS NULL OR NOT EXISTS (
            SELECT 1 FROM idempotency_keys WHERE key = :key AND operation = 'reserve'))
    RETURNING *
), product AS (
    SELECT product_id FROM variants WHERE id = :v
), mv AS (
    INSERT INTO inventory_movements (variant_id, location_id, reason, d_on_hand, d_committed,
                                     d_reserved, d_incoming, d_quarantined, actor, reference,
                                     created_at)
    SELECT :v, :l, 'reserved', 0, 0, :q, 0, 0, 'system', :ledger_ref, :now FROM lv
), rs AS (
    INSERT INTO reservations (token, variant_id, location_id, quantity, status, reference,
                              expires_at, created_at)
    SELECT :token, :v, :l, :q, 'ACTIVE', :res_ref, :expires, :now FROM lv
), ev AS (
    INSERT INTO outbox (topic, payload, created_at)
    SELECT 'inventory.changed',
           (CAST(:event AS jsonb) || jsonb_build_object(
               'productId', (SELECT product_id FROM product),
               'level', jsonb_build_object(
                   'onHand', lv.on_hand, 'committed', lv.committed, 'reserved', lv.reserved,
                   'incoming', lv.incoming, 'quarantined', lv.quarantined,
                   'safetyStock', lv.safety_stock, 'reorderPoint', lv.reorder_point,
                   'available', GREATEST({_RAW}, 0))))::json,
           :now
      FROM lv
    RETURNING id, txid, payload
), low AS (
    INSERT INTO outbox (topic, payload, created_at)
    SELECT 'stock.low',
           (CAST(:low AS jsonb) || jsonb_build_object(
               'productId', (SELECT product_id FROM product),
               'available', GREATEST({_RAW}, 0),
               'reorderPoint', lv.reorder_point))::json,
           :now
      FROM lv
     WHERE GREATEST({_RAW} + :q, 0) > lv.reorder_point
       AND lv.reorder_point >= GREATEST({_RAW}, 0)
    RETURNING id, txid, payload
), k AS (
    INSERT INTO idempotency_keys (key, operation, result, created_at)
    SELECT :key, 'reserve',
           (CAST(:result AS jsonb) || jsonb_build_object('levels', jsonb_build_array(lv.id)))::json,
           :now
      FROM lv
     WHERE CAST(:key AS varchar) IS NOT NULL
)
SELECT lv.*, ev.id AS event_id, ev.txid AS event_txid, ev.payload AS event_payload,
       low.id AS low_id, low.txid AS low_txid, low.payload AS low_payload
  FROM lv CROSS JOIN ev LEFT JOIN low ON true
"""
)


async def _store_key(conn: AsyncConnection, key: str | None, operation: str, result: dict) -> None:
    if key is not None:
        await conn.execute(
            update(idem_t)
            .where(idem_t.c.key == key, idem_t.c.operation == operation)
            .values(result=result)
        )


@dataclass
class Outcome:
    """What a write did: the levels it left and the events to publish after commit."""

    levels: list[LevelRecord]
    events: list[Event]
    replayed: bool = False
    result: dict[str, Any] = field(default_factory=dict)


class Inventory:
    """The inventory service bound to a database and an event publisher."""

    def __init__(self, db: Database, publish: Any = None) -> None:
        self.db = db
        self._publish = publish  # async callable(events) run after commit

    async def _run(self, operation: str, key: str | None, body: Any) -> Outcome:
        outbox = Outbox()
        async with self.db.transaction() as conn:
            stored = await _claim_key(conn, key, operation)
            if stored is not None:
                levels = await self._levels_by_ids(conn, stored.get("levels", []))
                return Outcome(levels, [], replayed=True, result=stored)
            levels, result = await body(conn, outbox)
            result = {**result, "levels": [lv.id for lv in levels]}
            await _store_key(conn, key, operation, result)
            events = await outbox.flush(conn)
        if events and self._publish is not None:
            await self._publish(events)
        return Outcome(levels, events, result=result)

    async def _levels_by_ids(self, conn: AsyncConnection, ids: Sequence[int]) -> list:
        if not ids:
            return []
        rows = (await conn.execute(select(levels_t).where(levels_t.c.id.in_(ids)))).all()
        by_id = {r.id: LevelRecord(r) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    # ----- staff and connector operations

    async def adjust(
        self,
        variant_pk: int,
        location_pk: int,
        delta: int,
        reason: str,
        *,
        state: str = "on_hand",
        key: str | None = None,
        actor: str = "system",
        reference: str | None = None,
    ) -> Outcome:
        _check_reason(reason)
        if state not in ("on_hand", "incoming"):
            raise fail(Code.INVALID, "only onHand and incoming can be adjusted", "state")
        if delta == 0:
            raise fail(Code.INVALID, "delta can't be zero", "delta")

        async def body(conn: AsyncConnection, outbox: Outbox):
            await _check_exists(conn, variant_pk, location_pk)
            lv = await _apply(
                conn,
                Change(
                    variant_pk,
                    location_pk,
                    reason,
                    {state: delta},
                    actor=actor,
                    reference=reference,
                ),
                outbox,
            )
            return [lv], {}

        return await self._run("adjust", key, body)

    async def set_on_hand(
        self,
        variant_pk: int,
        location_pk: int,
        quantity: int,
        expected: int | None,
        reason: str = "cycle_count",
        *,
        key: str | None = None,
        actor: str = "system",
    ) -> Outcome:
        """A counted quantity, with compare-and-set on the previous value."""
        _check_reason(reason)
        if quantity < 0:
            raise fail(
                InventoryCode.NEGATIVE_STOCK,
                "a count can't be negative",  # type: ignore[arg-type]
                "quantity",
            )

        async def body(conn: AsyncConnection, outbox: Outbox):
            await _check_exists(conn, variant_pk, location_pk)
            await _ensure_level(conn, variant_pk, location_pk)
            current = (
                await conn.execute(
                    select(levels_t.c.on_hand).where(
                        levels_t.c.variant_id == variant_pk, levels_t.c.location_id == location_pk
                    )
                )
            ).scalar_one()
            if expected is not None and current != expected:
                raise fail(
                    InventoryCode.STALE_QUANTITY,  # type: ignore[arg-type]
                    f"onHand is {current}, not the {expected} you counted from",
                    "expectedQuantity",
                )
            delta = quantity - current
            # The UPDATE re-checks the old value, so a change that slipped in between
            # the read and the write is caught too.
            ch = Change(
                variant_pk, location_pk, reason, {"on_hand": delta}, actor=actor, field="quantity"
            )
            if expected is not None:
                return [await _apply_cas(conn, ch, expected, outbox)], {}
            return [await _apply(conn, ch, outbox)], {}

        return await self._run("set_on_hand", key, body)

    async def set_thresholds(
        self,
        variant_pk: int,
        location_pk: int,
        *,
        safety_stock: int | None,
        reorder_point: int | None,
        actor: str = "system",
    ) -> Outcome:
        errs = Errors()
        for name, v in (("safetyStock", safety_stock), ("reorderPoint", reorder_point)):
            if v is not None and v < 0:
                errs.add(Code.INVALID, f"{name} can't be negative", name)
        errs.raise_if_any()
        settings = {
            k: v
            for k, v in (("safety_stock", safety_stock), ("reorder_point", reorder_point))
            if v is not None
        }

        async def body(conn: AsyncConnection, outbox: Outbox):
            await _check_exists(conn, variant_pk, location_pk)
            await _ensure_level(conn, variant_pk, location_pk)
            lv = await _apply(
                conn,
                Change(variant_pk, location_pk, "thresholds", settings=settings, actor=actor),
                outbox,
            )
            return [lv], {}

        return await self._run("thresholds", None, body)

    async def receive(
        self,
        variant_pk: int,
        location_pk: int,
        quantity: int,
        *,
        key: str | None = None,
        lot_number: str | None = None,
        expires_on: date | None = None,
        serials: Sequence[str] = (),
        actor: str = "system",
        reference: str | None = None,
    ) -> Outcome:
        """Incoming units arrive: incoming -> onHand (receipts beyond what was expected
        simply add to onHand)."""
        _positive(quantity)
        if serials and len(serials) != quantity:
            raise fail(Code.INVALID, "give one serial number per unit received", "serials")

        async def body(conn: AsyncConnection, outbox: Outbox):
            await _check_exists(conn, variant_pk, location_pk)
            await _ensure_level(conn, variant_pk, location_pk)
            incoming = (
                await conn.execute(
                    select(levels_t.c.incoming).where(
                        levels_t.c.variant_id == variant_pk, levels_t.c.location_id == location_pk
                    )
                )
            ).scalar_one()
            from_incoming = min(incoming, quantity)
            lv = await _apply(
                conn,
                Change(
                    variant_pk,
                    location_pk,
                    "received",
                    {"on_hand": quantity, "incoming": -from_incoming},
                    field="quantity",
                    actor=actor,
                    reference=reference,
                    lot_number=lot_number,
                ),
                outbox,
            )
            if lot_number:
                await _add_lot(conn, variant_pk, location_pk, lot_number, expires_on, quantity)
            for sn in serials:
                await _serial_arrives(conn, variant_pk, location_pk, sn)
            return [lv], {}

        return await self._run("receive", key, body)

    async def quarantine(
        self,
        variant_pk: int,
        location_pk: int,
        quantity: int,
        *,
        release: bool = False,
        dispose: bool = False,
        reason: str | None = None,
        key: str | None = None,
        actor: str = "system",
    ) -> Outcome:
        """Hold units back for QA (onHand stays, they stop being available), release
        them back, or dispose of them (they leave onHand too)."""
        _positive(quantity)
        if release and dispose:
            raise fail(Code.INVALID, "release or dispose, not both", "release")
        if release:
            deltas, why = {"quarantined": -quantity}, reason or "quarantine_released"
        elif dispose:
            deltas, why = {"quarantined": -quantity, "on_hand": -quantity}, reason or "disposed"
        else:
            deltas, why = {"quarantined": quantity}, reason or "quarantined"
        _check_reason(why)

        async def body(conn: AsyncConnection, outbox: Outbox):
            await _check_exists(conn, variant_pk, location_pk)
            need = quantity if not (release or dispose) else None
            lv = await _apply(
                conn,
                Change(
                    variant_pk,
                    location_pk,
                    why,
                    deltas,
                    need_available=need,
                    online=False,
                    actor=actor,
                    field="quantity",
                ),
                outbox,
            )
            return [lv], {}

        return await self._run("quarantine", key, body)

    async def transfer(
        self,
        from_pk: int,
        to_pk: int,
        lines: Sequence[tuple[int, int]],
        *,
        key: str | None = None,
        actor: str = "system",
    ) -> Outcome:
        """Ship units between locations: out of the source now, `incoming` at the
        destination until :meth:`receive_transfer`."""
        if from_pk == to_pk:
            raise fail(Code.INVALID, "source and destination are the same", "toLocationId")
        if not lines:
            raise fail(Code.BLANK, "a transfer needs lines", "lines")
        for _, q in lines:
            _positive(q)

        async def body(conn: AsyncConnection, outbox: Outbox):
            for vpk, _ in lines:
                await _check_exists(conn, vpk, from_pk)
                await _check_exists(conn, vpk, to_pk)
            tid = (
                await conn.execute(
                    insert(transfers_t)
                    .values(
                        from_location_id=from_pk,
                        to_location_id=to_pk,
                        status="IN_TRANSIT",
                        lines=[{"variant_id": v, "quantity": q} for v, q in lines],
                        created_at=_now(),
                    )
                    .returning(transfers_t.c.id)
                )
            ).scalar_one()
            ref = f"transfer:{tid}"
            out = []
            for vpk, q in lines:
                out.append(
                    await _apply(
                        conn,
                        Change(
                            vpk,
                            from_pk,
                            "transfer_out",
                            {"on_hand": -q},
                            need_available=q,
                            online=False,
                            reference=ref,
                            actor=actor,
                            field="lines",
                        ),
                        outbox,
                    )
                )
                out.append(
                    await _apply(
                        conn,
                        Change(
                            vpk,
                            to_pk,
                            "transfer_in_transit",
                            {"incoming": q},
                            reference=ref,
                            actor=actor,
                            field="lines",
                        ),
                        outbox,
                    )
                )
            return out, {"transfer": tid}

        return await self._run("transfer", key, body)

    async def receive_transfer(
        self, transfer_pk: int, *, key: str | None = None, actor: str = "system"
    ) -> Outcome:
        async def body(conn: AsyncConnection, outbox: Outbox):
            row = (
                await conn.execute(
                    update(transfers_t)
                    .where(transfers_t.c.id == transfer_pk, transfers_t.c.status == "IN_TRANSIT")
                    .values(status="RECEIVED", received_at=_now())
                    .returning(transfers_t)
                )
            ).first()
            if row is None:
                raise fail(Code.NOT_FOUND, "no transfer in transit with that id", "id")
            out = []
            for line in row.lines:
                out.append(
                    await _apply(
                        conn,
                        Change(
                            line["variant_id"],
                            row.to_location_id,
                            "transfer_received",
                            {"incoming": -line["quantity"], "on_hand": line["quantity"]},
                            reference=f"transfer:{transfer_pk}",
                            actor=actor,
                        ),
                        outbox,
                    )
                )
            return out, {"transfer": transfer_pk}

        return await self._run("transfer_receive", key, body)

    # ----- sales: reservations, commitments, fulfilment, returns

    async def reserve(
        self,
        variant_pk: int,
        location_pk: int,
        quantity: int,
        *,
        ttl: timedelta = DEFAULT_RESERVATION_TTL,
        reference: str | None = None,
        key: str | None = None,
        online: bool = True,
    ) -> Outcome:
        """Hold units for a checkout; one conditional UPDATE decides. A bundle holds
        its components instead, all or nothing."""
        _positive(quantity)
        if self.db.dialect == "postgresql":
            fast = await self._reserve_pg(
                variant_pk,
                location_pk,
                quantity,
                ttl=ttl,
                reference=reference,
                key=key,
                online=online,
            )
            if fast is not None:
                return fast

        async def body(conn: AsyncConnection, outbox: Outbox):
            comps = await _components(conn, variant_pk)
            token = secrets.token_urlsafe(18)
            parts = comps or [(variant_pk, 1)]
            out = []
            for cpk, per in parts:
                out.append(
                    await _apply(
                        conn,
                        Change(
                            cpk,
                            location_pk,
                            "reserved",
                            {"reserved": quantity * per},
                            need_available=quantity * per,
                            online=online,
                            reference=reference or f"reservation:{token}",
                        ),
                        outbox,
                    )
                )
                await conn.execute(
                    insert(reservations_t).values(
                        token=token if cpk == parts[0][0] else f"{token}.{cpk}",
                        variant_id=cpk,
                        location_id=location_pk,
                        quantity=quantity * per,
                        status="ACTIVE",
                        reference=reference,
                        expires_at=_now() + ttl,
                        created_at=_now(),
                    )
                )
            return out, {"reservation": token, "expires_at": (_now() + ttl).isoformat()}

        return await self._run("reserve", key, body)

    async def _reserve_pg(
        self,
        variant_pk: int,
        location_pk: int,
        quantity: int,
        *,
        ttl: timedelta,
        reference: str | None,
        key: str | None,
        online: bool,
    ) -> Outcome | None:
        """:meth:`reserve` of one variant on PostgreSQL as ONE autocommit statement, which
        also checks the variant (tracked, not a bundle) and the idempotency key.

        The hot row's lock is held from the conditional UPDATE to the end of the
        statement that takes it, inside the server: no client round trip (and no wait
        for this process's event loop to get back to the transaction) while other
        buyers of the same SKU queue on the row. The level, its ledger line, the
        reservation, the events and the idempotency result are written together or not
        at all, exactly as the general path writes them. ``None`` for a bundle: its
        components go through the general path, all or nothing.
        """
        async with self.db.read() as conn:  # autocommit: the statement is the transaction
            now = _now()
            token = secrets.token_urlsafe(18)
            expires = now + ttl
            ledger_ref = reference or f"reservation:{token}"
            params = {
                "v": variant_pk,
                "l": location_pk,
                "q": quantity,
                "online": online,
                "now": now,
                "expires": expires,
                "token": token,
                "res_ref": reference,
                "ledger_ref": ledger_ref,
                "key": key,
                "event": _json(
                    {
                        "variantId": variant_pk,
                        "locationId": location_pk,
                        "reason": "reserved",
                        "occurredAt": now.isoformat(),
                        "reference": ledger_ref,
                    }
                ),
                "low": _json(
                    {"type": "LOW_STOCK", "variantId": variant_pk, "locationId": location_pk}
                ),
                "result": _json({"reservation": token, "expires_at": expires.isoformat()}),
            }
            try:
                row = (await conn.execute(_PG_RESERVE, params)).first()
            except IntegrityError:
                # The same idempotency key, committed by a concurrent request meanwhile:
                # answered below like any earlier use of the key.
                if key is None:
                    raise
                row = None
            if row is None:
                # Refused: say why (one more round trip, only on this path). The
                # statement writes nothing for a key already used, a bundle, an untracked
                # or unknown variant, or too little stock.
                stored_sql = (
                    select(idem_t.c.result)
                    .where(idem_t.c.key == key, idem_t.c.operation == "reserve")
                    .scalar_subquery()
                    if key is not None
                    else literal(None)
                )
                v = (
                    await conn.execute(
                        select(
                            variants_t.c.tracked, variants_t.c.is_bundle, stored_sql.label("s")
                        ).where(variants_t.c.id == variant_pk)
                    )
                ).first()
                if v is not None and v.s is not None:
                    stored = dict(_unjson(v.s))
                    levels = await self._levels_by_ids(conn, stored.get("levels", []))
                    return Outcome(levels, [], replayed=True, result=stored)
                if v is None or v.is_bundle or not v.tracked:
                    # Unknown (NOT_FOUND), untracked (NOT_TRACKED) or a bundle: the
                    # general path answers (a bundle reserves its components there).
                    return None
                existing = (
                    await conn.execute(
                        select(levels_t).where(
                            levels_t.c.variant_id == variant_pk,
                            levels_t.c.location_id == location_pk,
                        )
                    )
                ).first()
                raise _why_refused(
                    Change(
                        variant_pk, location_pk, "reserved", need_available=quantity, online=online
                    ),
                    {s: (quantity if s == "reserved" else 0) for s in STATES},
                    existing,
                )
        level = LevelRecord(row)
        events = [
            Event(row.event_id, "inventory.changed", _unjson(row.event_payload), row.event_txid)
        ]
        if row.low_id is not None:
            events.append(Event(row.low_id, "stock.low", _unjson(row.low_payload), row.low_txid))
        if self._publish is not None:
            await self._publish(events)
        result = {"reservation": token, "expires_at": expires.isoformat(), "levels": [level.id]}
        return Outcome([level], events, result=result)

    async def _settle(
        self,
        token: str,
        status: str,
        reason: str,
        deltas_for: Any,
        *,
        only_active: bool = True,
        products: Mapping[int, int] | None = None,
        expired_by: datetime | None = None,
    ) -> Outcome:
        # expired_by: settle only if still expired then (a checkout may have just
        # renewed its lease on the reservation).
        still = () if expired_by is None else (reservations_t.c.expires_at <= expired_by,)

        async def body(conn: AsyncConnection, outbox: Outbox):
            rows = (
                await conn.execute(
                    update(reservations_t)
                    .where(
                        (reservations_t.c.token == token)
                        | reservations_t.c.token.like(f"{_like(token)}.%", escape="\\"),
                        reservations_t.c.status == "ACTIVE",
                        *still,
                    )
                    .values(status=status)
                    .returning(reservations_t)
                )
            ).all()
            if not rows:
                raise fail(Code.NOT_FOUND, "no active reservation with that token", "token")
            out = [
                await _apply(
                    conn,
                    Change(
                        r.variant_id,
                        r.location_id,
                        reason,
                        deltas_for(r.quantity),
                        reference=r.reference or f"reservation:{token}",
                        product_pk=(products or {}).get(r.variant_id),
                    ),
                    outbox,
                )
                for r in rows
            ]
            return out, {"reservation": token}

        return await self._run(f"settle_{status}", None, body)

    async def release(self, token: str) -> Outcome:
        return await self._settle(
            token, "RELEASED", "reservation_released", lambda q: {"reserved": -q}
        )

    async def commit(self, token: str, *, products: Mapping[int, int] | None = None) -> Outcome:
        """An order takes the reserved units: reserved -> committed. ``products``
        (variant -> product, when the caller knows) spares the events' look-up."""
        return await self._settle(
            token,
            "COMMITTED",
            "sale_committed",
            lambda q: {"reserved": -q, "committed": q},
            products=products,
        )

    async def fulfill(
        self,
        variant_pk: int,
        location_pk: int,
        quantity: int,
        *,
        reference: str | None = None,
        serials: Sequence[str] = (),
        key: str | None = None,
    ) -> Outcome:
        """Committed units leave the building: committed and onHand go down."""
        _positive(quantity)

        async def body(conn: AsyncConnection, outbox: Outbox):
            for sn in serials:
                await _serial_sold(conn, variant_pk, location_pk, sn)
            lv = await _apply(
                conn,
                Change(
                    variant_pk,
                    location_pk,
                    "fulfilled",
                    {"committed": -quantity, "on_hand": -quantity},
                    reference=reference,
                    field="quantity",
                ),
                outbox,
            )
            return [lv], {}

        return await self._run("fulfill", key, body)

    async def sell_at_location(
        self,
        variant_pk: int,
        location_pk: int,
        quantity: int,
        *,
        reference: str | None = None,
        serials: Sequence[str] = (),
        key: str | None = None,
    ) -> Outcome:
        """A store sale handed over on the spot (may use safety stock)."""
        _positive(quantity)

        async def body(conn: AsyncConnection, outbox: Outbox):
            for sn in serials:
                await _serial_sold(conn, variant_pk, location_pk, sn)
            lv = await _apply(
                conn,
                Change(
                    variant_pk,
                    location_pk,
                    "sold_in_store",
                    {"on_hand": -quantity},
                    need_available=quantity,
                    online=False,
                    reference=reference,
                    field="quantity",
                ),
                outbox,
            )
            return [lv], {}

        return await self._run("sell", key, body)

    async def return_units(
        self,
        variant_pk: int,
        location_pk: int,
        quantity: int,
        *,
        restock: bool = True,
        serials: Sequence[str] = (),
        reference: str | None = None,
        key: str | None = None,
    ) -> Outcome:
        """A return at any location: back on hand, or into quarantine for inspection."""
        _positive(quantity)
        deltas = (
            {"on_hand": quantity} if restock else {"on_hand": quantity, "quarantined": quantity}
        )

        async def body(conn: AsyncConnection, outbox: Outbox):
            await _check_exists(conn, variant_pk, location_pk)
            for sn in serials:
                await _serial_returned(conn, variant_pk, location_pk, sn)
            lv = await _apply(
                conn,
                Change(
                    variant_pk,
                    location_pk,
                    "returned",
                    deltas,
                    reference=reference,
                    field="quantity",
                ),
                outbox,
            )
            return [lv], {}

        return await self._run("return", key, body)

    async def release_expired(self, now: datetime | None = None, limit: int = 500) -> int:
        """Release reservations past their expiry (the background job)."""
        now = now or _now()
        async with self.db.read() as conn:
            tokens = (
                (
                    await conn.execute(
                        select(reservations_t.c.token)
                        .where(
                            reservations_t.c.status == "ACTIVE",
                            reservations_t.c.expires_at <= now,
                            ~reservations_t.c.token.like("%.%"),
                        )
                        .order_by(reservations_t.c.expires_at)
                        .limit(limit)
                    )
                )
                .scalars()
                .all()
            )
        done = 0
        for token in tokens:
            try:
                await self._settle(
                    token,
                    "EXPIRED",
                    "reservation_expired",
                    lambda q: {"reserved": -q},
                    expired_by=now,
                )
                done += 1
            except DomainError:
                pass  # settled by someone else meanwhile
        return done


async def commit_reservations(
    conn: AsyncConnection,
    tokens: Sequence[str],
    outbox: Outbox,
    *,
    products: Mapping[int, int] | None = None,
) -> None:
    """``Inventory.commit`` of several reservations on ``conn``, the caller's open
    transaction (a checkout's): reserved -> committed for each, with the same ledger
    rows, level changes and events (queued on ``outbox``), in fewer statements: one
    UPDATE of the reservations, one INSERT of all their ledger rows, then one
    conditional UPDATE per level, in the order of ``tokens``. Raises like ``commit``
    (NOT_FOUND when a token has no active reservation) and writes nothing then."""
    if not tokens:
        return
    match = or_(
        reservations_t.c.token.in_(list(tokens)),
        *(reservations_t.c.token.like(f"{_like(t)}.%", escape="\\") for t in tokens),
    )
    rows = (
        await conn.execute(
            update(reservations_t)
            .where(match, reservations_t.c.status == "ACTIVE")
            .values(status="COMMITTED")
            .returning(reservations_t)
        )
    ).all()
    by_token: dict[str, list[Any]] = {t: [] for t in tokens}
    for r in rows:
        base = r.token if r.token in by_token else r.token.rsplit(".", 1)[0]
        while base not in by_token and "." in base:  # a split of a split
            base = base.rsplit(".", 1)[0]
        by_token[base].append(r)
    if not all(by_token.values()):
        raise fail(Code.NOT_FOUND, "no active reservation with that token", "token")
    changes: list[Change] = []
    for t in tokens:
        for r in sorted(by_token[t], key=lambda r: r.id):
            changes.append(
                Change(
                    r.variant_id,
                    r.location_id,
                    "sale_committed",
                    {"reserved": -r.quantity, "committed": r.quantity},
                    reference=r.reference or f"reservation:{t}",
                    product_pk=(products or {}).get(r.variant_id),
                )
            )
    for ch in changes:
        await _product_of(conn, ch)
    await conn.execute(
        insert(moves_t),
        [_ledger_row(ch, {s: ch.deltas.get(s, 0) for s in STATES}) for ch in changes],
    )
    for ch in changes:
        await _apply(conn, ch, outbox, ledger=False)


def _like(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def _apply_cas(
    conn: AsyncConnection, ch: Change, expected: int, outbox: Outbox
) -> LevelRecord:
    """Like :func:`_apply`, but only while onHand still equals ``expected``."""
    d = ch.deltas.get("on_hand", 0)
    await _product_of(conn, ch)
    await conn.execute(
        insert(moves_t).values(
            variant_id=ch.variant_pk,
            location_id=ch.location_pk,
            reason=ch.reason,
            d_on_hand=d,
            actor=ch.actor,
            created_at=_now(),
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
            .values(on_hand=levels_t.c.on_hand + d, updated_at=_now())
            .returning(*levels_t.c)
        )
    ).first()
    if row is None:
        raise fail(
            InventoryCode.STALE_QUANTITY,  # type: ignore[arg-type]
            "onHand changed while counting; count again",
            "expectedQuantity",
        )
    level = LevelRecord(row)
    _emit(outbox, ch, level)
    return level


def _check_reason(reason: str) -> None:
    if not REASON_RE.match(reason or ""):
        raise fail(
            Code.INVALID,
            "reason must be lowercase letters, digits and underscores "
            "(e.g. received, damaged, cycle_count, correction)",
            "reason",
        )


def _positive(q: int) -> None:
    if q <= 0:
        raise fail(Code.INVALID, "quantity must be positive", "quantity")


async def _check_exists(conn: AsyncConnection, variant_pk: int, location_pk: int) -> None:
    v = (
        await conn.execute(
            select(variants_t.c.tracked, variants_t.c.is_bundle).where(
                variants_t.c.id == variant_pk
            )
        )
    ).first()
    if v is None:
        raise fail(Code.NOT_FOUND, "variant not found", "variantId")
    if not v.tracked:
        raise fail(
            InventoryCode.NOT_TRACKED,  # type: ignore[arg-type]
            "the variant is not stock-tracked",
            "variantId",
        )
    if v.is_bundle:
        raise fail(Code.INVALID, "a bundle's stock is its components'; change those", "variantId")
    loc = (
        await conn.execute(select(locations_t.c.active).where(locations_t.c.id == location_pk))
    ).first()
    if loc is None:
        raise fail(Code.NOT_FOUND, "location not found", "locationId")


async def _components(conn: AsyncConnection, variant_pk: int) -> list[tuple[int, int]]:
    v = (
        await conn.execute(
            select(variants_t.c.tracked, variants_t.c.is_bundle).where(
                variants_t.c.id == variant_pk
            )
        )
    ).first()
    if v is None:
        raise fail(Code.NOT_FOUND, "variant not found", "variantId")
    if not v.is_bundle:
        if not v.tracked:
            raise fail(
                InventoryCode.NOT_TRACKED,  # type: ignore[arg-type]
                "the variant is not stock-tracked",
                "variantId",
            )
        return []
    rows = (
        await conn.execute(
            select(bundle_t.c.component_variant_id, bundle_t.c.quantity)
            .where(bundle_t.c.bundle_variant_id == variant_pk)
            .order_by(bundle_t.c.component_variant_id)
        )
    ).all()
    return [(r[0], r[1]) for r in rows]


async def _add_lot(
    conn: AsyncConnection, vpk: int, lpk: int, lot: str, expires: date | None, q: int
) -> None:
    stmt = _dialect_insert(conn, lots_t).values(
        variant_id=vpk, location_id=lpk, lot_number=lot, expires_on=expires, quantity=q
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["variant_id", "location_id", "lot_number"],
        set_={"quantity": lots_t.c.quantity + q},
    )
    await conn.execute(stmt)


async def _serial_arrives(conn: AsyncConnection, vpk: int, lpk: int, sn: str) -> None:
    row = (
        await conn.execute(
            select(serials_t).where(serials_t.c.variant_id == vpk, serials_t.c.serial_number == sn)
        )
    ).first()
    if row is not None and row.status == "ON_HAND":
        raise fail(
            InventoryCode.INVALID_SERIAL,  # type: ignore[arg-type]
            f"serial {sn} is already on hand at another location",
            "serials",
        )
    if row is None:
        await conn.execute(
            insert(serials_t).values(
                variant_id=vpk,
                serial_number=sn,
                location_id=lpk,
                status="ON_HAND",
                updated_at=_now(),
            )
        )
    else:
        await conn.execute(
            update(serials_t)
            .where(serials_t.c.id == row.id)
            .values(location_id=lpk, status="ON_HAND", updated_at=_now())
        )


async def _serial_sold(conn: AsyncConnection, vpk: int, lpk: int, sn: str) -> None:
    res = await conn.execute(
        update(serials_t)
        .where(
            serials_t.c.variant_id == vpk,
            serials_t.c.serial_number == sn,
            serials_t.c.location_id == lpk,
            serials_t.c.status == "ON_HAND",
        )
        .values(status="SOLD", location_id=None, updated_at=_now())
    )
    if res.rowcount != 1:
        raise fail(
            InventoryCode.INVALID_SERIAL,  # type: ignore[arg-type]
            f"serial {sn} is not on hand at this location",
            "serials",
        )


async def _serial_returned(conn: AsyncConnection, vpk: int, lpk: int, sn: str) -> None:
    res = await conn.execute(
        update(serials_t)
        .where(
            serials_t.c.variant_id == vpk,
            serials_t.c.serial_number == sn,
            serials_t.c.status == "SOLD",
        )
        .values(status="ON_HAND", location_id=lpk, updated_at=_now())
    )
    if res.rowcount != 1:
        raise fail(
            InventoryCode.INVALID_SERIAL,  # type: ignore[arg-type]
            f"serial {sn} was not sold, so it can't be returned",
            "serials",
        )


# --------------------------------------------------------------------------- reads


async def levels_for_variants(
    reader: Reader, variant_pks: Sequence[int]
) -> dict[int, list[LevelRecord]]:
    rows = await reader.all(
        select(levels_t)
        .where(levels_t.c.variant_id.in_(variant_pks))
        .order_by(levels_t.c.variant_id, levels_t.c.location_id)
    )
    out: dict[int, list[LevelRecord]] = defaultdict(list)
    for r in rows:
        out[r.variant_id].append(LevelRecord(r))
    return out


async def level(reader: Reader, variant_pk: int, location_pk: int) -> LevelRecord | None:
    row = await reader.first(
        select(levels_t).where(
            levels_t.c.variant_id == variant_pk, levels_t.c.location_id == location_pk
        )
    )
    return LevelRecord(row) if row else None


async def levels_by_pairs(
    reader: Reader, pairs: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], LevelRecord]:
    if not pairs:
        return {}
    vpks = {v for v, _ in pairs}
    rows = await reader.all(select(levels_t).where(levels_t.c.variant_id.in_(vpks)))
    want = set(pairs)
    return {
        (r.variant_id, r.location_id): LevelRecord(r)
        for r in rows
        if (r.variant_id, r.location_id) in want
    }


async def locations_by_pks(reader: Reader, pks: Sequence[int]) -> dict[int, LocationRecord]:
    rows = await reader.all(select(locations_t).where(locations_t.c.id.in_(pks)))
    chans = await _location_channels(reader, [r.id for r in rows])
    return {r.id: LocationRecord(r, chans.get(r.id, ())) for r in rows}


async def _location_channels(reader: Reader, pks: Sequence[int]) -> dict[int, list[int]]:
    if not pks:
        return {}
    rows = await reader.all(select(loc_channels_t).where(loc_channels_t.c.location_id.in_(pks)))
    out: dict[int, list[int]] = defaultdict(list)
    for r in rows:
        out[r.location_id].append(r.channel_id)
    return out


async def list_locations(
    reader: Reader,
    *,
    channel_pk: int | None = None,
    pickup_enabled: bool | None = None,
    active_only: bool = True,
) -> list[LocationRecord]:
    stmt = select(locations_t)
    if active_only:
        stmt = stmt.where(locations_t.c.active.is_(True))
    if pickup_enabled is not None:
        stmt = stmt.where(locations_t.c.pickup_enabled.is_(pickup_enabled))
    if channel_pk is not None:
        stmt = stmt.where(
            locations_t.c.id.in_(
                select(loc_channels_t.c.location_id).where(
                    loc_channels_t.c.channel_id == channel_pk
                )
            )
        )
    rows = await reader.all(stmt.order_by(locations_t.c.id))
    chans = await _location_channels(reader, [r.id for r in rows])
    return [LocationRecord(r, chans.get(r.id, ())) for r in rows]


# Sellable units per variant and location over a channel's active locations; built
# once (no construction or cache key per call), bound per call.
_SELLABLE = (
    select(levels_t.c.variant_id, levels_t.c.location_id, available_sql().label("a"))
    .join(
        loc_channels_t,
        and_(
            loc_channels_t.c.location_id == levels_t.c.location_id,
            loc_channels_t.c.channel_id == bindparam("channel"),
        ),
    )
    .join(
        locations_t,
        and_(locations_t.c.id == levels_t.c.location_id, locations_t.c.active.is_(True)),
    )
    .where(levels_t.c.variant_id.in_(bindparam("variants", expanding=True)))
)


async def stock_by_location(
    reader: Reader,
    variant_pks: Sequence[int],
    channel_pk: int,
    *,
    bundles: Collection[int] | None = None,
) -> dict[int, dict[int, int]]:
    """Units sellable online per variant and location, over the channel's active
    locations (safety stock kept back). A bundle counts complete kits per location.
    ``bundles``: which of ``variant_pks`` are bundles, when the caller knows (an empty
    set saves the look-up of components); None looks them up."""
    if not variant_pks:
        return {}
    comps: Sequence[Any] = ()
    if bundles is None or bundles:
        comps = await reader.all(
            select(
                bundle_t.c.bundle_variant_id, bundle_t.c.component_variant_id, bundle_t.c.quantity
            ).where(
                bundle_t.c.bundle_variant_id.in_(variant_pks if bundles is None else list(bundles))
            )
        )
    wanted = set(variant_pks) | {c.component_variant_id for c in comps}
    per_loc: dict[int, dict[int, int]] = defaultdict(dict)
    for r in await reader.all(_SELLABLE, {"channel": channel_pk, "variants": list(wanted)}):
        per_loc[r.variant_id][r.location_id] = r.a
    out = {v: dict(per_loc.get(v, {})) for v in variant_pks}
    by_bundle: dict[int, list[Any]] = defaultdict(list)
    for c in comps:
        by_bundle[c.bundle_variant_id].append(c)
    for bpk, parts in by_bundle.items():
        # A kit is assembled at one location: count kits per location.
        locs = set.intersection(*(set(per_loc.get(p.component_variant_id, {})) for p in parts))
        out[bpk] = {
            loc: min(per_loc[p.component_variant_id][loc] // p.quantity for p in parts)
            for loc in locs
        }
    return out


async def channel_availability(
    reader: Reader,
    variant_pks: Sequence[int],
    channel_pk: int,
    *,
    bundles: Collection[int] | None = None,
) -> dict[int, int]:
    """Units sellable online per variant in a channel (see :func:`stock_by_location`;
    ``bundles`` as there)."""
    per = await stock_by_location(reader, variant_pks, channel_pk, bundles=bundles)
    return {v: sum(locs.values()) for v, locs in per.items()}


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


# --------------------------------------------------------------------------- locations


_LOCATION_FIELDS = (
    "handle",
    "name",
    "kind",
    "address1",
    "city",
    "region",
    "postal_code",
    "country_code",
    "latitude",
    "longitude",
    "active",
    "pickup_enabled",
    "pickup_lead_minutes",
    "ships",
    "fulfillment_priority",
    "cost_currency",
    "daily_capacity",
    "replenishment_lead_days",
)


def _validate_location(data: dict[str, Any], creating: bool) -> dict[str, Any]:
    from hub.domain.catalog import HANDLE_RE
    from hub.money import MoneyError, is_currency, parse_amount

    errs = Errors()
    if creating:
        for name in ("handle", "name", "kind", "country_code"):
            if not data.get(name):
                errs.add(Code.BLANK, f"{_camel(name)} is required", _camel(name))
    if "handle" in data and not HANDLE_RE.match(data["handle"] or ""):
        errs.add(Code.INVALID, "handle must be lowercase letters, digits and dashes", "handle")
    if "kind" in data and data["kind"] not in ("WAREHOUSE", "STORE", "THIRD_PARTY", "DROPSHIP"):
        errs.add(Code.INVALID, "unknown location kind", "kind")
    for name in ("name", "address1", "city", "region", "postal_code"):
        limit = locations_t.c[name].type.length
        if isinstance(data.get(name), str) and len(data[name]) > limit:
            errs.add(
                Code.TOO_LONG, f"{_camel(name)} is longer than {limit} characters", _camel(name)
            )
    if "country_code" in data and not re.fullmatch(r"[A-Z]{2}", data["country_code"] or ""):
        errs.add(Code.INVALID, "countryCode must be ISO 3166-1 alpha-2", "countryCode")
    if "latitude" in data and not -90 <= data["latitude"] <= 90:
        errs.add(Code.INVALID, "latitude must be between -90 and 90", "latitude")
    if "longitude" in data and not -180 <= data["longitude"] <= 180:
        errs.add(Code.INVALID, "longitude must be between -180 and 180", "longitude")
    for name in ("pickup_lead_minutes", "daily_capacity", "replenishment_lead_days"):
        if name in data and data[name] < 0:
            errs.add(Code.INVALID, f"{_camel(name)} can't be negative", _camel(name))
    values = {k: data[k] for k in _LOCATION_FIELDS if k in data}
    currency = data.get("cost_currency", "USD")
    if "cost_currency" in data and not is_currency(currency):
        errs.add(Code.INVALID, "costCurrency must be an ISO 4217 code", "costCurrency")
    elif "cost_per_shipment" in data:
        try:
            values["cost_per_shipment"] = parse_amount(data["cost_per_shipment"], currency)
        except MoneyError as exc:
            errs.add(Code.INVALID, str(exc), "costPerShipment")
    errs.raise_if_any()
    return values


async def _set_location_channels(conn: AsyncConnection, pk: int, handles: Sequence[str]) -> None:
    from hub.domain.catalog import channel_handles, handle_key

    handles = [handle_key(h) for h in handles]
    rows = (
        await conn.execute(
            select(channels_t.c.handle, channels_t.c.id).where(channels_t.c.handle.in_(handles))
        )
    ).all()
    found = {r.handle: r.id for r in rows}
    missing = [h for h in handles if h not in found]
    if missing:
        known = ", ".join(await channel_handles(conn)) or "none yet"
        raise fail(
            Code.NOT_FOUND,
            f"unknown channel(s): {', '.join(missing)}; the channels are: {known}",
            "channels",
        )
    from sqlalchemy import delete

    await conn.execute(delete(loc_channels_t).where(loc_channels_t.c.location_id == pk))
    if found:
        await conn.execute(
            insert(loc_channels_t),
            [{"location_id": pk, "channel_id": cid} for cid in dict.fromkeys(found.values())],
        )


async def create_location(db: Database, data: dict[str, Any]) -> int:
    from sqlalchemy.exc import IntegrityError

    values = _validate_location(data, creating=True)
    async with db.transaction() as conn:
        try:
            pk = (
                await conn.execute(
                    insert(locations_t)
                    .values(**values, created_at=_now())
                    .returning(locations_t.c.id)
                )
            ).scalar_one()
        except IntegrityError:
            raise fail(Code.TAKEN, "handle is already taken", "handle") from None
        await _set_location_channels(conn, pk, data.get("channels", []))
        return pk


async def update_location(db: Database, pk: int, data: dict[str, Any]) -> int:
    from sqlalchemy.exc import IntegrityError

    values = _validate_location(data, creating=False)
    async with db.transaction() as conn:
        if (
            await conn.execute(select(locations_t.c.id).where(locations_t.c.id == pk))
        ).first() is None:
            raise fail(Code.NOT_FOUND, "location not found", "id")
        if values:
            try:
                await conn.execute(
                    update(locations_t).where(locations_t.c.id == pk).values(**values)
                )
            except IntegrityError:
                raise fail(Code.TAKEN, "handle is already taken", "handle") from None
        if "channels" in data:
            await _set_location_channels(conn, pk, data["channels"])
        return pk


async def delete_location(db: Database, pk: int) -> None:
    """Delete a location with no stock and no history; deactivate it otherwise."""
    from sqlalchemy import delete, exists

    async with db.transaction() as conn:
        if (
            await conn.execute(select(locations_t.c.id).where(locations_t.c.id == pk))
        ).first() is None:
            raise fail(Code.NOT_FOUND, "location not found", "id")
        used = (
            await conn.execute(
                select(
                    exists().where(moves_t.c.location_id == pk)
                    | exists().where(transfers_t.c.from_location_id == pk)
                    | exists().where(transfers_t.c.to_location_id == pk)
                )
            )
        ).scalar()
        if used:
            raise fail(
                Code.IN_USE,
                "the location has stock history; set active: false to stop using it",
                "id",
            )
        await conn.execute(delete(levels_t).where(levels_t.c.location_id == pk))
        await conn.execute(delete(locations_t).where(locations_t.c.id == pk))
