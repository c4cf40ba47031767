"""The POSTGRES_SINGLE_STATEMENT reservation strategy: a reservation of one variant on
PostgreSQL as ONE statement, which also checks the variant (tracked, not a bundle) and
the idempotency key.

The hot row's lock is held from the conditional UPDATE to the end of the statement
that takes it, inside the server: no client round trip (and no wait for this process's
event loop to get back to the transaction) while other buyers of the same SKU queue on
the row. The level, its ledger line, the reservation, the events and the idempotency
result are written together or not at all, exactly as the GENERAL strategy writes them
(:func:`hub.domain.inventory.reservations.reserve_body`).
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import literal, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db import fast
from hub.db.tables import idem_t, variants_t
from hub.domain.inventory.changes import Change, why_refused_at
from hub.domain.inventory.idempotency import from_json, replay, to_json
from hub.domain.inventory.records import LevelRecord, Outcome, ReserveRequest, now
from hub.events.bus import Event

# The level UPDATE, its ledger line, the reservation, the inventory.changed event (and
# stock.low on the transition to or below the reorder point), and the idempotency
# result, in one statement. Each INSERT selects FROM the UPDATE's row, so when the
# UPDATE refuses (not enough available) nothing is written. The payloads are built as
# apply_change builds them.
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
_PG_RESERVE_FAST = fast.Prebuilt(_PG_RESERVE)  # every reservation: hub.db.fast


def _params(req: ReserveRequest, token: str) -> dict[str, Any]:
    at = now()
    expires = at + req.ttl
    ledger_ref = req.reference or f"reservation:{token}"
    event = {
        "variantId": req.variant_pk,
        "locationId": req.location_pk,
        "reason": "reserved",
        "occurredAt": at.isoformat(),
        "reference": ledger_ref,
    }
    return {
        "v": req.variant_pk,
        "l": req.location_pk,
        "q": req.quantity,
        "online": req.online,
        "now": at,
        "expires": expires,
        "token": token,
        "res_ref": req.reference,
        "ledger_ref": ledger_ref,
        "key": req.key,
        "event": to_json(event),
        "low": to_json(
            {"type": "LOW_STOCK", "variantId": req.variant_pk, "locationId": req.location_pk}
        ),
        "result": to_json({"reservation": token, "expires_at": expires.isoformat()}),
    }


async def reserve_single_statement(conn: AsyncConnection, req: ReserveRequest) -> Outcome | None:
    """Reserve ``req`` in one statement on ``conn`` (an autocommit connection: the
    statement is the transaction; or the caller's open transaction). ``None`` when the
    GENERAL strategy must answer: a bundle (its components, all or nothing), an
    untracked or unknown variant (it says why)."""
    token = secrets.token_urlsafe(18)
    params = _params(req, token)
    try:
        row = (await fast.execute(conn, _PG_RESERVE_FAST, params)).first()
    except IntegrityError:
        # The same idempotency key, committed by a concurrent request meanwhile:
        # answered below like any earlier use of the key.
        if req.key is None:
            raise
        row = None
    if row is None:
        return await _refused(conn, req)
    level = LevelRecord(row)
    events = [
        Event(row.event_id, "inventory.changed", from_json(row.event_payload), row.event_txid)
    ]
    if row.low_id is not None:
        events.append(Event(row.low_id, "stock.low", from_json(row.low_payload), row.low_txid))
    result = {"reservation": token, "expires_at": params["expires"].isoformat()}
    return Outcome([level], events, result={**result, "levels": [level.id]})


async def _refused(conn: AsyncConnection, req: ReserveRequest) -> Outcome | None:
    """Why the statement wrote nothing (one more round trip, only on this path): a key
    already used (its first answer), a bundle, an untracked or unknown variant (None:
    the GENERAL strategy answers), or too little stock (raised)."""
    stored_sql = (
        select(idem_t.c.result)
        .where(idem_t.c.key == req.key, idem_t.c.operation == "reserve")
        .scalar_subquery()
        if req.key is not None
        else literal(None)
    )
    v = (
        await conn.execute(
            select(variants_t.c.tracked, variants_t.c.is_bundle, stored_sql.label("s")).where(
                variants_t.c.id == req.variant_pk
            )
        )
    ).first()
    if v is not None and v.s is not None:
        return await replay(conn, dict(from_json(v.s)))
    if v is None or v.is_bundle or not v.tracked:
        return None
    ch = Change(
        req.variant_pk,
        req.location_pk,
        "reserved",
        {"reserved": req.quantity},
        need_available=req.quantity,
        online=req.online,
    )
    raise await why_refused_at(conn, ch)
