"""A synced sale's discounts against what the hub's promotions engine gives.

The same engine carts use (:mod:`hub.domain.promotions`, the promotions active in the
store channel's currency at the sale's local time, the sale's discount codes) runs on
the sale's lines at the till's prices. Where the till's discount total differs from
the engine's by more than the tolerance (``pos_price_tolerance``, minor units), and
for each promotion the till names whose amount differs (the till's amount is known
where the lines naming it name no other promotion) or that the engine doesn't apply
at all, a ``PROMOTION_DIFFERS`` conflict is flagged for review. The sale keeps the
till's prices and discounts: nothing is re-priced.

What the engine can't know offline: the buyer. A sale is run as a guest's (no
customer, segment or loyalty tier; not a first order), with its email counting
per-customer limits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from hub.db.tables import coll_products_t
from hub.domain.carts.lookups import variant_info
from hub.domain.orders.importer import ImportLine
from hub.domain.pos.sync_types import PosSyncCode, PosTxn, conflict
from hub.domain.promotions import Basket, BasketLine, Context, apply
from hub.domain.promotions.store import active_promotions


async def check_promotions(ctx: Any, t: PosTxn, lines: Sequence[ImportLine], channel: Any) -> None:
    """Flag ``PROMOTION_DIFFERS`` on ``ctx.conflicts`` (see the module docstring)."""
    conn = ctx.conn
    info = await variant_info(conn, [ln.variant_pk for ln in t.lines])
    pids = list({v.product_id for v in info.values()})
    collections: dict[int, set[int]] = defaultdict(set)
    if pids:
        rows = await conn.execute(
            select(coll_products_t.c.product_id, coll_products_t.c.collection_id).where(
                coll_products_t.c.product_id.in_(pids)
            )
        )
        for r in rows.all():
            collections[r.product_id].add(r.collection_id)
    basket = Basket(
        channel.currency,
        tuple(
            BasketLine(
                line_id=str(i), variant_id=ln.variant_pk, product_id=info[ln.variant_pk].product_id,
                quantity=ln.quantity, unit_price=imp.unit_price,
                collection_ids=frozenset(collections.get(info[ln.variant_pk].product_id, ())),
                tags=frozenset(info[ln.variant_pk].tags or ()),
                product_type=info[ln.variant_pk].product_type or "",
            )
            for i, (ln, imp) in enumerate(zip(t.lines, lines, strict=True))
        ),
        shipping=0,
    )  # fmt: skip
    promotions = await active_promotions(
        conn, currency=channel.currency, codes=list(t.discount_codes),
        customer_key=(t.email or "").strip().lower() or None, now=t.occurred_at,
    )  # fmt: skip
    context = Context(
        channel=channel.handle, country=channel.default_country, customer_id=None,
        segments=frozenset(), loyalty_tier=None, first_order=False, now=t.occurred_at,
        codes=tuple(t.discount_codes),
    )  # fmt: skip
    result = apply(basket, context, promotions)
    till_total = sum(imp.discount for imp in lines)
    if abs(till_total - result.discount_total) > ctx.tolerance:
        ctx.conflicts.append(conflict(
            PosSyncCode.PROMOTION_DIFFERS,
            "the till's discounts differ from what the hub's promotions give",
            tillDiscount=till_total, hubDiscount=result.discount_total,
        ))  # fmt: skip
    hub_by_promo: dict[int, int] = defaultdict(int)
    for a in result.allocations:
        hub_by_promo[a.promotion_id] += sum(amount for _, amount in a.line_amounts)
    _per_promotion(ctx, t, lines, hub_by_promo)


def _per_promotion(
    ctx: Any, t: PosTxn, lines: Sequence[ImportLine], hub_by_promo: dict[int, int]
) -> None:
    """Each promotion the till names: its amount against the engine's where the till's
    is known, else whether the engine applies it at all."""
    unknown = {c.get("promotionId") for c in ctx.conflicts if c["code"] == "PROMOTION_UNKNOWN"}
    named: dict[int, list[int]] = defaultdict(list)
    for i, ln in enumerate(t.lines):
        for p in ln.promotion_pks:
            named[p].append(i)
    for p in sorted(named):
        if p in unknown:
            continue  # flagged already
        alone = all(t.lines[i].promotion_pks == (p,) for i in named[p])
        hub = hub_by_promo.get(p, 0)
        if alone:
            till = sum(lines[i].discount for i in named[p])
            if abs(till - hub) <= ctx.tolerance:
                continue
        elif hub > 0:
            continue
        else:
            till = None
        ctx.conflicts.append(conflict(
            PosSyncCode.PROMOTION_DIFFERS,
            "the till's amount for this promotion differs from the hub's",
            promotionId=p, tillDiscount=till, hubDiscount=hub,
        ))  # fmt: skip
