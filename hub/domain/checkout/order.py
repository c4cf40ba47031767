"""Step 5 of a checkout: the order, written in the caller's transaction and fenced by
the attempt's lease.

The order, its lines and payment are written, the payment row is marked USED, the
cart COMPLETED and the attempt DONE, each conditional on this attempt's lease; then
the reservations become commitments (their events go in the outbox ahead of
``order.created``) and, last, the promotions are redeemed: the rows every checkout
shares are taken just before the COMMIT (see :func:`write_order`). An attempt that
lost its lease writes nothing (:class:`LeaseLost`, and the transaction rolls back).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import PaymentIntentResult
from hub import ids
from hub.db import fast
from hub.db.tables import attempts_t, carts_t, customers_t, order_lines_t
from hub.domain import loyalty
from hub.domain.backorders.checkout import BackorderCapReached, take_backorders
from hub.domain.carts import PricedCart, _customer_key
from hub.domain.checkout import lease as leases
from hub.domain.checkout import payments
from hub.domain.checkout.codes import PaymentRequest
from hub.domain.checkout.counters import take_promotions
from hub.domain.checkout.plan import Plan, Short, short_of
from hub.domain.customers.matching import find_customer
from hub.domain.errors import DomainError
from hub.domain.inventory import commit_reservations
from hub.domain.orders import PaidWith, insert_order, order_line_values, order_values
from hub.domain.orders.payments import PAYMENT_STATUS
from hub.domain.orders.writes import split_status
from hub.events.bus import Event
from hub.events.outbox import Outbox


class PromotionsMoved(Exception):
    """A discount ran out between pricing and the order."""


class LeaseLost(Exception):
    """This attempt's lease lapsed before its order was written (another took over)."""


async def write_order(
    conn: AsyncConnection,
    outbox: Outbox,
    priced: PricedCart,
    plan: Plan,
    attempt: leases.Attempt,
    result: PaymentIntentResult | None,
    payment: PaymentRequest | None,
    *,
    store: bool = False,
    split: Sequence[tuple[PaidWith, int | None]] = (),
) -> tuple[int, list[Event]]:
    """Write the order of ``attempt`` on ``conn`` (see the module docstring) and flush
    ``outbox``; its pk and events. ``store``: a sale at a till (a staff key): the
    order's source is "store" and a guest cart's buyer (email or phone) is matched to a
    customer profile.

    The rows every checkout shares go last, so their locks are held for as little as
    possible before the COMMIT: first the order's own rows and the attempt's fences,
    then the stock levels (a popular SKU's row), then the outbox, and last, in one
    statement, the promotion counters (the store's offer, a popular code: the rows
    every checkout updates; :mod:`hub.domain.checkout.counters`).

    ``split``: a split-tender order's payments, in the order taken, each with its
    ``checkout_payments`` row (None: an offline tender, recorded with the order only);
    ``result`` and ``payment`` are then None."""
    cart = priced.cart
    own = Outbox()  # order.created, queued after the commitments' events
    order = order_values(priced)
    customer_pk = cart.customer_id
    if store:
        order["source"] = "store"
        if customer_pk is None and (cart.email or cart.phone):
            found = await find_customer(conn, email=cart.email, phone=cart.phone)
            customer_pk = order["customer_id"] = found.pk if found is not None else None
    lines = order_line_values(priced, plan.takes, attempt.tokens)
    if plan.backorders:
        _add_backorders(priced, plan, lines)
    order_pk = await insert_order(
        conn,
        own,
        order=order,
        lines=lines,
        payment=result,
        payment_reference=payment.reference if payment else None,
        routing=plan.routing,
        # A guest's order gets a status token (orderByToken), derived from the cart's.
        status_secret=cart.token if cart.customer_id is None else None,
        split=[paid for paid, _ in split],
    )
    for paid, row_pk in split:
        if row_pk is not None:
            await _use(conn, attempt, row_pk, paid.result, order_pk)
    await _finish(conn, attempt, result, order_pk)
    if plan.backorders:
        try:
            await take_backorders(
                conn, own, order_pk, await _line_pks(conn, priced, order_pk), plan.backorders
            )
        except BackorderCapReached as exc:
            by_pk = {ln.pk: ln for ln in priced.lines}
            raise DomainError([short_of(Short(by_pk[pk])) for pk in exc.line_pks]) from None
    if customer_pk is not None:
        await fast.execute(conn, _COUNT_ORDER, {"customer": customer_pk})
        status = (
            split_status([p.result for p, _ in split])
            if split
            else PAYMENT_STATUS.get(result.status, "PENDING")
            if result is not None
            else "PAID"
        )
        await _loyalty(conn, own, priced, status, order_pk, customer_pk)
    # The reservations are gone only if the lease lapsed and the expiry job released them.
    try:
        await commit_reservations(
            conn,
            [tok for takes in attempt.tokens.values() for _loc, _qty, tok in takes],
            outbox,
            products={ln.variant_pk: ln.product_pk for ln in priced.lines},
        )
    except DomainError:
        raise LeaseLost() from None
    outbox.extend(own)
    events = await outbox.flush(conn)
    if priced.result is not None and priced.result.allocations:
        taken = await take_promotions(
            conn,
            priced.result,
            priced.promotions,
            order_ref=ids.encode("Order", order_pk),
            customer_key=_customer_key(priced.cart, priced.customer),
            currency=priced.currency,
            now=leases.now(),
        )
        if not taken:
            raise PromotionsMoved()
    return order_pk, events


def _add_backorders(priced: PricedCart, plan: Plan, lines: list[dict[str, Any]]) -> None:
    """The backordered units join their order line's allocations (so the fulfillment
    order at their location carries them)."""
    sellable = [ln for ln in priced.lines if ln.sellable]
    at = {ln.pk: i for i, ln in enumerate(sellable)}
    for b in plan.backorders:
        line = lines[at[b.line_pk]]
        line["allocations"] = [
            *line["allocations"],
            {"locationId": b.location_pk, "quantity": b.quantity, "backorder": b.policy.value},
        ]


async def _line_pks(conn: AsyncConnection, priced: PricedCart, order_pk: int) -> dict[int, int]:
    """Cart line pk -> order line pk (the order lines were inserted in the cart's
    order of sellable lines)."""
    rows = (
        (
            await conn.execute(
                select(order_lines_t.c.id)
                .where(order_lines_t.c.order_id == order_pk)
                .order_by(order_lines_t.c.id)
            )
        )
        .scalars()
        .all()
    )
    sellable = [ln for ln in priced.lines if ln.sellable]
    return {ln.pk: pk for ln, pk in zip(sellable, rows, strict=True)}


_COUNT_ORDER = fast.Prebuilt(
    update(customers_t)
    .where(customers_t.c.id == bindparam("customer"))
    .values(orders_count=customers_t.c.orders_count + 1)
)


async def _loyalty(
    conn: AsyncConnection,
    outbox: Outbox,
    priced: PricedCart,
    status: str,
    order_pk: int,
    customer_pk: int,
) -> None:
    """Spend the points the cart redeemed (INSUFFICIENT_POINTS if a concurrent
    redemption spent them: the order is not written and the payment given back), and
    earn on the amount paid when the order is paid now (an authorized payment earns
    when it is captured)."""
    if priced.loyalty_points > 0:
        await loyalty.redeem_for_order(
            conn,
            customer_pk,
            priced.loyalty_points,
            order_pk=order_pk,
            amount=priced.loyalty_discount,
            currency=priced.currency,
        )
    if status == "PAID":
        await loyalty.earn_for_payment(conn, order_pk, priced.total, outbox=outbox)


async def _finish(
    conn: AsyncConnection,
    attempt: leases.Attempt,
    result: PaymentIntentResult | None,
    order_pk: int,
) -> None:
    """Mark the payment row USED, the cart COMPLETED and the attempt DONE, each only
    while this attempt's lease holds."""
    now = leases.now()
    if attempt.payment is not None:
        assert result is not None
        await _use(conn, attempt, attempt.payment.pk, result, order_pk)
    params = {
        "cart": attempt.cart_pk,
        "key_": attempt.key,
        "lease_": attempt.lease,
        "order": order_pk,
        "now": now,
    }
    if conn.dialect.name == "postgresql":  # both in one statement
        both = (await fast.execute(conn, _COMPLETE_BOTH, params)).one()
        if both.cart != 1 or both.attempt != 1:
            raise LeaseLost()
        return
    done = await conn.execute(leases.COMPLETE_CART, params)
    if done.rowcount != 1:
        raise LeaseLost()
    done = await conn.execute(leases.ATTEMPT_DONE, params)
    if done.rowcount != 1:
        raise LeaseLost()


async def _use(
    conn: AsyncConnection,
    attempt: leases.Attempt,
    row_pk: int,
    result: PaymentIntentResult,
    order_pk: int,
) -> None:
    """Mark a payment row USED by this order, while this attempt owns it."""
    used = await conn.execute(
        payments.USE,
        {
            "pk": row_pk,
            "key_": attempt.key,
            "intent": result.id or None,
            "order": order_pk,
            "now": leases.now(),
        },
    )
    if used.rowcount != 1:
        raise LeaseLost()  # released meanwhile: this attempt had lapsed


_CART_DONE = leases.COMPLETE_CART.returning(carts_t.c.id).cte("cart_done")
_ATTEMPT_DONE = leases.ATTEMPT_DONE.returning(attempts_t.c.key).cte("attempt_done")
_COMPLETE_BOTH = fast.Prebuilt(
    select(
        select(func.count()).select_from(_CART_DONE).scalar_subquery().label("cart"),
        select(func.count()).select_from(_ATTEMPT_DONE).scalar_subquery().label("attempt"),
    )
)
