"""An order's promotion counters in ONE statement on PostgreSQL, run last before COMMIT.

Every checkout that uses a promotion (the store's automatic offer, a popular code)
updates the same ``promotions`` and ``discount_codes`` rows, and holds their row locks
until its transaction commits. :func:`hub.domain.promotions.store.redeem` takes them
with one conditional UPDATE per promotion, one per code and one upsert per customer
counter, then INSERTs the redemptions: each a client round trip (and, under load, a
wait for the event loop) while every other checkout of that promotion queues on the
row. That queue was what kept two workers from doing more checkouts than one.

So on PostgreSQL checkout takes all of them in one statement, as the last statement
of its order transaction: the rows are locked from that statement until the COMMIT
that follows it, one round trip later. The conditions are exactly ``redeem``'s (a
promotion still ACTIVE, under its usage limit and within its budget; the code under
its limit; the customer under the promotion's per-customer limit); the statement
answers how many of each it took, and when any was refused the caller rolls the
whole transaction back (:class:`~hub.domain.checkout.order.PromotionsMoved`), as it
does for ``redeem``'s failures. SQLite (one writer at a time: nothing to queue on)
uses ``redeem`` itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db import fast
from hub.domain.promotions import Promotion
from hub.domain.promotions.basket import normalize_code
from hub.domain.promotions.result import Result
from hub.domain.promotions.store import normalize_customer_key, redeem

_TAKE_ALL = text(
    """
WITH a AS (
    SELECT * FROM unnest(CAST(:pids AS bigint[]), CAST(:spends AS bigint[]),
                         CAST(:codes AS varchar[]), CAST(:amounts AS bigint[]),
                         CAST(:ns AS integer[]))
           AS a(pid, spend, code, amount, n)
     ORDER BY pid
), l AS (
    SELECT promotions.id FROM promotions
     WHERE promotions.id = ANY(CAST(:pids AS bigint[]))
     ORDER BY promotions.id
       FOR UPDATE
), p AS (
    UPDATE promotions
       SET times_used = promotions.times_used + 1, spent = promotions.spent + a.spend
      FROM a JOIN l ON l.id = a.pid
     WHERE promotions.id = a.pid AND promotions.status = 'ACTIVE'
       AND (promotions.usage_limit IS NULL OR promotions.times_used < promotions.usage_limit)
       AND (promotions.budget IS NULL OR promotions.spent + a.spend <= promotions.budget)
    RETURNING promotions.id, promotions.per_customer_limit
), c AS (
    UPDATE discount_codes
       SET times_used = discount_codes.times_used + 1
      FROM a
     WHERE a.code IS NOT NULL
       AND discount_codes.promotion_id = a.pid AND discount_codes.code = a.code
       AND (discount_codes.usage_limit IS NULL
            OR discount_codes.times_used < discount_codes.usage_limit)
    RETURNING discount_codes.id, discount_codes.promotion_id
), u AS (
    INSERT INTO promotion_customer_usage AS cu (promotion_id, customer_key, times_used)
    SELECT p.id, CAST(:key AS varchar), 1 FROM p
     WHERE p.per_customer_limit IS NOT NULL AND CAST(:key AS varchar) IS NOT NULL
     ORDER BY p.id
    ON CONFLICT (promotion_id, customer_key) DO UPDATE
       SET times_used = cu.times_used + 1
     WHERE cu.times_used < (SELECT p.per_customer_limit FROM p WHERE p.id = cu.promotion_id)
    RETURNING cu.promotion_id
), r AS (
    INSERT INTO promotion_redemptions (promotion_id, code_id, code, order_ref, customer_key,
                                       amount, currency, created_at)
    SELECT a.pid, c.id, a.code, :ref, CAST(:key AS varchar), a.amount, :currency, :now
      FROM a LEFT JOIN c ON c.promotion_id = a.pid
     ORDER BY a.n
)
SELECT (SELECT count(*) FROM p) AS promotions,
       (SELECT count(*) FROM c) AS codes,
       (SELECT count(*) FROM u) AS customers,
       (SELECT count(*) FROM p
         WHERE p.per_customer_limit IS NOT NULL AND CAST(:key AS varchar) IS NOT NULL)
           AS customers_wanted
"""
)
_TAKE_ALL_FAST = fast.Prebuilt(_TAKE_ALL)  # every checkout with promotions: hub.db.fast


async def take_promotions(
    conn: AsyncConnection,
    result: Result,
    promotions: Sequence[Promotion],
    *,
    order_ref: str,
    customer_key: str | None,
    currency: str,
    now: datetime,
) -> bool:
    """Record ``result``'s applied promotions for ``order_ref`` on ``conn`` (the order's
    transaction); False when any can no longer be given (then the caller MUST roll
    back: the others' counters were taken)."""
    allocations = result.allocations
    if not allocations:
        return True
    pids = [a.promotion_id for a in allocations]
    if conn.dialect.name != "postgresql" or len(set(pids)) != len(pids):
        failures = await redeem(
            conn,
            result,
            promotions,
            order_ref=order_ref,
            customer_key=customer_key,
            currency=currency,
        )
        return not failures
    by_id = {p.id: p for p in promotions}
    spends = []
    for a in allocations:
        promotion = by_id.get(a.promotion_id)
        if promotion is None:
            raise ValueError(
                f"allocation of promotion {a.promotion_id}, which is not in `promotions`"
            )
        if promotion.currency is not None and promotion.currency != currency:
            raise ValueError(
                f"promotion {a.promotion_id} is in {promotion.currency}, the order in {currency}"
            )
        spends.append(a.amount if promotion.currency is not None else 0)
    codes = [normalize_code(a.code) if a.code is not None else None for a in allocations]
    # Checkouts of the same promotions must lock them in one order or they deadlock
    # crosswise: ``l`` locks them by id (its LockRows runs above its sort) before ``p``
    # updates each, whatever plan ``p`` gets (on a small table a hash join over a
    # sequential scan, in the order of the rows' current versions on disk, which
    # updates keep moving). A promotion's codes and per-customer rows are changed only
    # by a transaction holding the promotion, so they can't deadlock. The redemptions
    # are written in the allocations' order (``ns``).
    order = sorted(range(len(allocations)), key=lambda i: pids[i])
    row = (
        await fast.execute(
            conn,
            _TAKE_ALL_FAST,
            {
                "pids": [pids[i] for i in order],
                "spends": [spends[i] for i in order],
                "codes": [codes[i] for i in order],
                "amounts": [allocations[i].amount for i in order],
                "ns": order,
                "key": normalize_customer_key(customer_key),
                "ref": order_ref,
                "currency": currency,
                "now": now,
            },
        )
    ).one()
    return bool(
        row.promotions == len(pids)
        and row.codes == sum(1 for c in codes if c is not None)
        and row.customers == row.customers_wanted
    )
