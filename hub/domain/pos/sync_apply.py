"""Applying one synced transaction, on the caller's open transaction.

- A **sale** is an order (the order import: source ``pos``, external id ``till:client
  id``, at the store, the till's prices, discounts and taxes kept, paid as the till
  says). Its goods left the store, so its stock is taken out whatever the level holds
  (:func:`hub.domain.inventory.oversold.take_sold`): never rejected for stock; a level
  that goes short is flagged (``OVERSOLD``). A unit price further than the tolerance
  (``pos_price_tolerance``, minor units) from the store channel's price today, or a
  promotion the hub doesn't know as active, or discounts that differ from what the
  hub's promotions engine gives the sale (``PROMOTION_DIFFERS``:
  :mod:`hub.domain.pos.sync_promotions`), is a conflict flagged for review on the
  result and the order's timeline (``pos.review``); nothing is re-priced.
- A **return** names the sale it returns (``originalClientTransactionId``, on this
  till or ``originalTillId``). Its units go back on hand at the store and the money
  given back is a refund of the original order, settled already (no provider call:
  :mod:`hub.domain.orders.settled_refund`), each tender to the payments of its method;
  never more than the sale was paid and not yet refunded (``REFUND_EXCEEDS_CAPTURED``,
  nothing written). The timeline has ``pos.refunded`` with the tenders given back.
  If that sale isn't synced yet (out of order across batches), the return is
  rejected ``ORIGINAL_NOT_SYNCED`` with nothing written: the till sends it again later.
- An **exchange** is both: the return of ``returnedLines`` and a new sale of ``lines``.
- A **stock count** sets onHand to what was counted, less the synced sales (plus the
  returns) at the store timed after the count but applied before it; a level's
  discrepancy is settled by it. A sale or return timed before a count already
  applied moves no stock (the count saw it): ``COUNTED_AFTER``.
- **Cash** goes through the till's drawer (:func:`hub.domain.till.cash.record_cash`, on
  the session open at the transaction's local time; ``tillId`` is the till's code at
  the store): a ``CASH_MOVEMENT`` (CASH_IN, CASH_OUT) is rejected when the till isn't
  registered (``UNKNOWN_TILL``) or had no session open (``NO_OPEN_SESSION``); at a
  registered till a sale's cash tenders (SALE_CASH) and a return's (REFUND_CASH) are
  recorded too, and where they can't be the sale is still accepted, flagged
  ``CASH_NOT_RECORDED``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.tables import (
    channels_t,
    levels_t,
    loc_channels_t,
    order_lines_t,
    orders_t,
    pos_sync_stock_t,
    pos_sync_t,
    prices_t,
    promotions_t,
    tills_t,
    variants_t,
)
from hub.domain.errors import DomainError
from hub.domain.inventory.changes import Change, apply_change, components
from hub.domain.inventory.operations import set_on_hand
from hub.domain.inventory.oversold import take_sold
from hub.domain.orders.fulfil import handed_over_at_sale
from hub.domain.orders.fulfillment import refresh_fulfillment_status
from hub.domain.orders.importer import ImportLine, ImportRequest, import_order
from hub.domain.orders.settled_refund import claim_line_units, record_settled_refund
from hub.domain.orders.timeline import record_event
from hub.domain.pos.sync_promotions import check_promotions
from hub.domain.pos.sync_types import (
    PosLine,
    PosSyncCode,
    PosTxn,
    Rejected,
    conflict,
)
from hub.domain.till.cash import record_cash
from hub.events.outbox import Outbox
from hub.money import MoneyError, parse_amount


class Ctx:
    """One transaction's setting: where, which till, who, and the conflicts so far."""

    def __init__(
        self, conn: AsyncConnection, outbox: Outbox, *, location_pk: int, till: str,
        actor: str, tolerance: int, sync_pk: int, may_count: bool,
    ) -> None:  # fmt: skip
        self.conn, self.outbox = conn, outbox
        self.location_pk, self.till, self.actor = location_pk, till, actor
        self.tolerance, self.sync_pk, self.may_count = tolerance, sync_pk, may_count
        self.conflicts: list[dict[str, Any]] = []
        self.order_pk: int | None = None


async def store_channel(conn: AsyncConnection, location_pk: int) -> Any:
    """The channel the store sells in (the first it is linked to): id, currency,
    tax_inclusive; None if it sells in none."""
    return (
        await conn.execute(
            select(
                channels_t.c.id,
                channels_t.c.currency,
                channels_t.c.tax_inclusive,
                channels_t.c.handle,
                channels_t.c.default_country,
            )
            .join(loc_channels_t, loc_channels_t.c.channel_id == channels_t.c.id)
            .where(loc_channels_t.c.location_id == location_pk)
            .order_by(channels_t.c.id)
            .limit(1)
        )
    ).first()


def _minor(amount: Decimal, currency: str, what: str) -> int:
    try:
        return parse_amount(amount, currency)
    except MoneyError as exc:
        raise Rejected(PosSyncCode.INVALID_TRANSACTION, f"{what}: {exc}") from None


async def apply(ctx: Ctx, t: PosTxn) -> None:
    if t.kind == "STOCK_COUNT":
        if not ctx.may_count:
            raise Rejected(
                PosSyncCode.NOT_PERMITTED, "a stock count needs the inventory permission"
            )
        await _count(ctx, t)
        return
    channel = await store_channel(ctx.conn, ctx.location_pk)
    if channel is None:
        raise Rejected(PosSyncCode.NO_CHANNEL, "the store sells in no channel")
    if t.kind == "CASH_MOVEMENT":
        assert t.cash_kind is not None and t.cash_amount is not None  # check_txn
        await _cash_move(ctx, t, t.cash_kind, _minor(t.cash_amount, channel.currency, "cash"))
        return
    await _known_variants(ctx.conn, [ln.variant_pk for ln in (*t.lines, *t.returned)])
    if t.kind in ("RETURN", "EXCHANGE"):
        await _return(ctx, t, channel.currency)
    if t.kind in ("SALE", "EXCHANGE"):
        await _sale(ctx, t, channel)


async def _known_variants(conn: AsyncConnection, pks: list[int]) -> None:
    found = set(
        (await conn.execute(select(variants_t.c.id).where(variants_t.c.id.in_(set(pks))))).scalars()
    )
    missing = sorted(set(pks) - found)
    if missing:
        raise Rejected(PosSyncCode.UNKNOWN_VARIANT, f"no variant with id {missing[0]}")


# ------------------------------------------------------------------ stock


async def _last_count(ctx: Ctx, variant_pk: int) -> datetime | None:
    got: datetime | None = (
        await ctx.conn.execute(
            select(func.max(pos_sync_stock_t.c.occurred_at)).where(
                pos_sync_stock_t.c.location_id == ctx.location_pk,
                pos_sync_stock_t.c.variant_id == variant_pk,
                pos_sync_stock_t.c.kind == "COUNT",
            )
        )
    ).scalar()
    return got


async def _units(ctx: Ctx, variant_pk: int, quantity: int) -> list[tuple[int, int]]:
    """The stock-tracked units a line moves: itself, a bundle's components, or none."""
    try:
        parts = await components(ctx.conn, variant_pk)
    except DomainError:
        return []  # not stock-tracked
    return [(c, n * quantity) for c, n in parts] if parts else [(variant_pk, quantity)]


async def _move(ctx: Ctx, t: PosTxn, lines: tuple[PosLine, ...], sign: int) -> None:
    """Sold (sign -1) or returned (+1) units at the store, in variant order (two tills
    touching the same variants lock them in the same order)."""
    moves: dict[int, int] = {}
    for ln in lines:
        for v, n in await _units(ctx, ln.variant_pk, ln.quantity):
            moves[v] = moves.get(v, 0) + n
    ref = f"pos:{ctx.till}:{t.client_txn_id}"
    for v in sorted(moves):
        n = moves[v]
        counted = await _last_count(ctx, v)
        if counted is not None and counted >= t.occurred_at:
            ctx.conflicts.append(conflict(
                PosSyncCode.COUNTED_AFTER,
                "a count taken after this moved the stock already",
                variantId=v, countedAt=counted.isoformat(),
            ))  # fmt: skip
            continue
        if sign < 0:
            level, flagged = await take_sold(
                ctx.conn, ctx.outbox, v, ctx.location_pk, n, reference=ref, actor=ctx.actor
            )
            if flagged:
                ctx.conflicts.append(conflict(
                    PosSyncCode.OVERSOLD, "sold more than the store held: flagged for a count",
                    variantId=v, onHand=level.on_hand,
                ))  # fmt: skip
        else:
            await apply_change(ctx.conn, Change(
                v, ctx.location_pk, "returned_in_store", {"on_hand": n},
                reference=ref, actor=ctx.actor, field="quantity",
            ), ctx.outbox)  # fmt: skip
        await _stock_row(ctx, v, "MOVE", sign * n, t.occurred_at)


async def _stock_row(ctx: Ctx, variant_pk: int, kind: str, q: int, at: datetime) -> None:
    await ctx.conn.execute(
        insert(pos_sync_stock_t).values(
            sync_id=ctx.sync_pk, location_id=ctx.location_pk, variant_id=variant_pk,
            kind=kind, quantity=q, occurred_at=at,
        )
    )  # fmt: skip


async def _count(ctx: Ctx, t: PosTxn) -> None:
    await _known_variants(ctx.conn, [c.variant_pk for c in t.counts])
    for c in sorted(t.counts, key=lambda c: c.variant_pk):
        counted = await _last_count(ctx, c.variant_pk)
        if counted is not None and counted >= t.occurred_at:
            ctx.conflicts.append(conflict(
                PosSyncCode.COUNTED_AFTER, "a later count of this variant was applied already",
                variantId=c.variant_pk, countedAt=counted.isoformat(),
            ))  # fmt: skip
            continue
        after = (
            await ctx.conn.execute(
                select(func.coalesce(func.sum(pos_sync_stock_t.c.quantity), 0)).where(
                    pos_sync_stock_t.c.location_id == ctx.location_pk,
                    pos_sync_stock_t.c.variant_id == c.variant_pk,
                    pos_sync_stock_t.c.kind == "MOVE",
                    pos_sync_stock_t.c.occurred_at > t.occurred_at,
                )
            )
        ).scalar_one()
        target = c.quantity + int(after)
        if target >= 0:
            try:
                await set_on_hand(
                    ctx.conn, ctx.outbox, c.variant_pk, ctx.location_pk, target, None,
                    "pos_count", actor=ctx.actor,
                )  # fmt: skip
            except DomainError as exc:
                raise Rejected(PosSyncCode.INVALID_TRANSACTION, exc.errors[0].message) from None
        else:  # sales after the count took more than it found: still short
            await _count_short(ctx, c.variant_pk, target)
        await _stock_row(ctx, c.variant_pk, "COUNT", c.quantity, t.occurred_at)


async def _count_short(ctx: Ctx, variant_pk: int, target: int) -> None:
    current = int(
        (
            await ctx.conn.execute(
                select(levels_t.c.on_hand).where(
                    levels_t.c.variant_id == variant_pk, levels_t.c.location_id == ctx.location_pk
                )
            )
        ).scalar()
        or 0
    )
    if target < current:
        await take_sold(
            ctx.conn, ctx.outbox, variant_pk, ctx.location_pk, current - target,
            reason="pos_count", actor=ctx.actor,
        )  # fmt: skip
    elif target > current:
        await apply_change(ctx.conn, Change(
            variant_pk, ctx.location_pk, "pos_count", {"on_hand": target - current},
            actor=ctx.actor, field="quantity",
        ), ctx.outbox)  # fmt: skip
    ctx.conflicts.append(conflict(
        PosSyncCode.OVERSOLD, "sales after the count took more than it found",
        variantId=variant_pk, onHand=target,
    ))  # fmt: skip


# ------------------------------------------------------------------ sales and returns


async def _till_pk(ctx: Ctx) -> int | None:
    got = (
        await ctx.conn.execute(
            select(tills_t.c.id).where(
                tills_t.c.location_id == ctx.location_pk, tills_t.c.code == ctx.till
            )
        )
    ).scalar()
    return None if got is None else int(got)


async def _cash_move(ctx: Ctx, t: PosTxn, kind: str, amount: int) -> None:
    till_pk = await _till_pk(ctx)
    if till_pk is None:
        raise Rejected(PosSyncCode.UNKNOWN_TILL, f"no till {ctx.till!r} at this store")
    await record_cash(
        ctx.conn, till_pk, kind, amount, client_txn_id=f"pos:{t.client_txn_id}",
        occurred_at=t.occurred_at, reason="pos sync",
    )  # fmt: skip


async def _cash_tenders(ctx: Ctx, t: PosTxn, kind: str, currency: str, order_pk: int) -> None:
    """The cash of a sale (SALE_CASH) or a return (REFUND_CASH) in the drawer of the
    till registered under ``tillId`` at the store (none registered: nothing to record);
    a conflict where it can't be recorded (the sale stands)."""
    cash = [
        (i, _minor(p.amount, currency, "payments.amount"))
        for i, p in enumerate(t.payments)
        if p.method == "CASH"
    ]
    if not cash:
        return
    till_pk = await _till_pk(ctx)
    if till_pk is None:
        return  # a till the hub doesn't know keeps no drawer here
    for i, amount in cash:
        why = None
        if amount > 0:
            try:
                await record_cash(
                    ctx.conn, till_pk, kind, amount, order_pk=order_pk,
                    client_txn_id=f"pos:{t.client_txn_id}:{i}", occurred_at=t.occurred_at,
                )  # fmt: skip
            except DomainError as exc:
                why = exc.errors[0].message
        if why is not None:
            ctx.conflicts.append(
                conflict(PosSyncCode.CASH_NOT_RECORDED, f"cash not in the drawer: {why}")
            )


async def _sale(ctx: Ctx, t: PosTxn, channel: Any) -> None:
    channel_pk, currency = channel.id, channel.currency
    lines = [
        ImportLine(
            quantity=ln.quantity, variant_pk=ln.variant_pk,
            unit_price=_minor(ln.unit_price, currency, "unitPrice"),
            discount=_minor(ln.discount, currency, "totalDiscount"),
            tax=_minor(ln.tax, currency, "totalTax"), location_pk=ctx.location_pk,
        )
        for ln in t.lines
    ]  # fmt: skip
    req = ImportRequest(
        source="pos", external_id=f"{ctx.till}:{t.client_txn_id}", channel_pk=channel_pk,
        lines=lines, location_pk=ctx.location_pk, email=t.email,
        loyalty_card_id=t.loyalty_card_id, processed_at=t.occurred_at,
        delivery_kind="PICKUP", take_stock=False, taxes_included=channel.tax_inclusive,
        attributes=[{"key": "pos.till", "value": ctx.till}],
        tenders=[
            (p.method, _minor(p.amount, currency, "payments.amount"), p.reference)
            for p in t.payments
        ],
    )  # fmt: skip
    try:
        order_pk, _ = await import_order(ctx.conn, ctx.outbox, req, actor=ctx.actor)
    except DomainError as exc:
        raise Rejected(PosSyncCode.INVALID_TRANSACTION, exc.errors[0].message) from None
    ctx.order_pk = order_pk
    await handed_over_at_sale(ctx.conn, ctx.outbox, order_pk, actor=ctx.actor)
    await _move(ctx, t, t.lines, -1)
    await _check_prices(ctx, t, lines, channel_pk)
    await check_promotions(ctx, t, lines, channel)
    await _check_payments(ctx, t, lines, currency, channel.tax_inclusive)
    await _cash_tenders(ctx, t, "SALE_CASH", currency, order_pk)
    if ctx.conflicts:
        await record_event(
            ctx.conn, order_pk, "pos.review", actor=ctx.actor,
            message="synced from a till with differences to review",
            data={"clientTransactionId": t.client_txn_id, "conflicts": ctx.conflicts},
        )  # fmt: skip


async def _check_prices(ctx: Ctx, t: PosTxn, lines: list[ImportLine], channel_pk: int) -> None:
    pks = {ln.variant_pk for ln in t.lines}
    prices = dict(
        (
            await ctx.conn.execute(
                select(prices_t.c.variant_id, prices_t.c.amount).where(
                    prices_t.c.channel_id == channel_pk, prices_t.c.variant_id.in_(pks)
                )
            )
        ).all()
    )
    for i, (ln, imp) in enumerate(zip(t.lines, lines, strict=True)):
        hub_price = prices.get(ln.variant_pk)
        if hub_price is None or abs(imp.unit_price - hub_price) > ctx.tolerance:
            ctx.conflicts.append(conflict(
                PosSyncCode.PRICE_DIFFERS, "the till's price differs from the hub's",
                line=i, variantId=ln.variant_pk, tillPrice=imp.unit_price, hubPrice=hub_price,
            ))  # fmt: skip
    named = {p for ln in t.lines for p in ln.promotion_pks}
    if named:
        active = set(
            (
                await ctx.conn.execute(
                    select(promotions_t.c.id).where(
                        promotions_t.c.id.in_(named),
                        promotions_t.c.status == "ACTIVE",
                        (promotions_t.c.starts_at.is_(None))
                        | (promotions_t.c.starts_at <= t.occurred_at),
                        (promotions_t.c.ends_at.is_(None))
                        | (promotions_t.c.ends_at > t.occurred_at),
                    )
                )
            ).scalars()
        )
        for p in sorted(named - active):
            ctx.conflicts.append(conflict(
                PosSyncCode.PROMOTION_UNKNOWN,
                "the till applied a promotion the hub doesn't have active then",
                promotionId=p,
            ))  # fmt: skip


async def _check_payments(
    ctx: Ctx, t: PosTxn, lines: list[ImportLine], currency: str, inclusive: bool
) -> None:
    total = sum(
        ln.unit_price * ln.quantity - ln.discount + (0 if inclusive else ln.tax) for ln in lines
    )
    paid = sum(_minor(p.amount, currency, "payments.amount") for p in t.payments)
    if paid != total:
        ctx.conflicts.append(conflict(
            PosSyncCode.PAYMENTS_DIFFER, "the payments don't add up to the sale's total",
            total=total, paid=paid,
        ))  # fmt: skip


async def _count_returned(ctx: Ctx, order_pk: int, variant_pk: int, q: int) -> bool:
    """The original order's line counts ``q`` more returned (one conditional UPDATE,
    never more than it handed over); whether it could."""
    line = (
        select(order_lines_t.c.id)
        .where(
            order_lines_t.c.order_id == order_pk,
            order_lines_t.c.variant_id == variant_pk,
            order_lines_t.c.quantity_returned + q <= order_lines_t.c.quantity_fulfilled,
        )
        .order_by(order_lines_t.c.id)
        .limit(1)
        .scalar_subquery()
    )
    done = await ctx.conn.execute(
        update(order_lines_t)
        .where(
            order_lines_t.c.id == line,
            order_lines_t.c.quantity_returned + q <= order_lines_t.c.quantity_fulfilled,
        )
        .values(quantity_returned=order_lines_t.c.quantity_returned + q)
    )
    return bool(done.rowcount)


async def _return(ctx: Ctx, t: PosTxn, currency: str) -> None:
    if t.original_client_txn_id is None:
        raise Rejected(PosSyncCode.INVALID_TRANSACTION, "a return names the sale it returns")
    till = t.original_till_id or ctx.till
    orig = (
        await ctx.conn.execute(
            select(pos_sync_t.c.order_id).where(
                pos_sync_t.c.location_id == ctx.location_pk,
                pos_sync_t.c.till_id == till,
                pos_sync_t.c.client_txn_id == t.original_client_txn_id,
                pos_sync_t.c.order_id.is_not(None),
            )
        )
    ).first()
    if orig is None:
        raise Rejected(
            PosSyncCode.ORIGINAL_NOT_SYNCED,
            "the sale this returns is not synced yet: send the return again after it",
        )
    inclusive = bool(
        (
            await ctx.conn.execute(
                select(orders_t.c.taxes_included).where(orders_t.c.id == orig.order_id)
            )
        ).scalar()
    )
    claimed: list[tuple[int, int, int]] = []
    for ln in t.returned:
        if not await _count_returned(ctx, orig.order_id, ln.variant_pk, ln.quantity):
            ctx.conflicts.append(conflict(
                PosSyncCode.NOT_IN_ORIGINAL,
                "the sale returned did not sell this many of this variant",
                variantId=ln.variant_pk,
            ))  # fmt: skip
            continue
        got = await claim_line_units(ctx.conn, orig.order_id, inclusive, ln.variant_pk, ln.quantity)
        if got is not None:
            claimed.append(got)
    await refresh_fulfillment_status(ctx.conn, orig.order_id)
    # The money given back, as a refund settled already (an exchange's return half is
    # worth its units, taken as the new sale's payment).
    tenders = (
        [(p.method, _minor(p.amount, currency, "payments.amount")) for p in t.payments]
        if t.kind == "RETURN"
        else [("EXCHANGE", sum(v for _, _, v in claimed))]
    )
    await record_settled_refund(
        ctx.conn, ctx.outbox, orig.order_id, key=f"pos:{ctx.till}:{t.client_txn_id}",
        lines=claimed, tenders=tenders, note=f"{t.kind.lower()} at the till {ctx.till}",
        actor=ctx.actor,
    )  # fmt: skip
    if t.kind == "RETURN":  # an exchange's payments are its sale's
        await _cash_tenders(ctx, t, "REFUND_CASH", currency, orig.order_id)
    await _move(ctx, t, t.returned, +1)
    refunded = [
        {"method": p.method, "amount": _minor(p.amount, currency, "payments.amount"),
         "reference": p.reference}
        for p in t.payments
    ]  # fmt: skip
    await record_event(
        ctx.conn, orig.order_id, "pos.refunded", actor=ctx.actor,
        message=f"returned at the till {ctx.till}",
        data={"clientTransactionId": t.client_txn_id, "refunds": refunded,
              "lines": [{"variantId": x.variant_pk, "quantity": x.quantity} for x in t.returned]},
        outbox=ctx.outbox,
    )  # fmt: skip
    if t.kind == "RETURN":
        ctx.order_pk = orig.order_id
