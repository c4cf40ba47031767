"""Step 5 of a checkout: the order, written in the caller's transaction and fenced by
the attempt's lease.

The reservations become commitments (their events go in the order's outbox, ahead of
``order.created``), the promotions are redeemed, the order, its lines and payment are
written, the payment row is marked USED, the cart COMPLETED and the attempt DONE, each
conditional on this attempt's lease: an attempt that lost it writes nothing
(:class:`LeaseLost`, and the transaction rolls back).
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import PaymentIntentResult
from hub import ids
from hub.db.tables import customers_t
from hub.domain import loyalty
from hub.domain.carts import PricedCart, _customer_key
from hub.domain.checkout import lease as leases
from hub.domain.checkout import payments
from hub.domain.checkout.codes import PaymentRequest
from hub.domain.checkout.plan import Plan
from hub.domain.customers.matching import find_customer
from hub.domain.errors import DomainError
from hub.domain.inventory import commit_reservations
from hub.domain.orders import insert_order, order_line_values, order_values
from hub.domain.orders.payments import PAYMENT_STATUS
from hub.domain.promotions.store import redeem
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
) -> int:
    """Write the order of ``attempt`` on ``conn`` (see the module docstring); its pk.
    ``store``: a sale at a till (a staff key): the order's source is "store" and a
    guest cart's buyer (email or phone) is matched to a customer profile."""
    cart = priced.cart
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
    order = order_values(priced)
    customer_pk = cart.customer_id
    if store:
        order["source"] = "store"
        if customer_pk is None and (cart.email or cart.phone):
            found = await find_customer(conn, email=cart.email, phone=cart.phone)
            customer_pk = order["customer_id"] = found.pk if found is not None else None
    order_pk = await insert_order(
        conn,
        outbox,
        order=order,
        lines=order_line_values(priced, plan.takes, attempt.tokens),
        payment=result,
        payment_reference=payment.reference if payment else None,
    )
    if priced.result is not None and priced.result.allocations:
        await _redeem(conn, priced, order_pk)
    if customer_pk is not None:
        await conn.execute(
            update(customers_t)
            .where(customers_t.c.id == customer_pk)
            .values(orders_count=customers_t.c.orders_count + 1)
        )
        await _loyalty(conn, outbox, priced, result, order_pk, customer_pk)
    await _finish(conn, attempt, result, order_pk)
    return order_pk


async def _loyalty(
    conn: AsyncConnection,
    outbox: Outbox,
    priced: PricedCart,
    result: PaymentIntentResult | None,
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
    status = PAYMENT_STATUS.get(result.status, "PENDING") if result is not None else "PAID"
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
        used = await conn.execute(
            payments.USE,
            {
                "pk": attempt.payment.pk,
                "key_": attempt.key,
                "intent": result.id or None,
                "order": order_pk,
                "now": now,
            },
        )
        if used.rowcount != 1:
            raise LeaseLost()  # released meanwhile: this attempt had lapsed
    params = {"cart": attempt.cart_pk, "key_": attempt.key, "lease_": attempt.lease}
    done = await conn.execute(leases.COMPLETE_CART, {**params, "order": order_pk, "now": now})
    if done.rowcount != 1:
        raise LeaseLost()
    done = await conn.execute(leases.ATTEMPT_DONE, {**params, "order": order_pk})
    if done.rowcount != 1:
        raise LeaseLost()


async def _redeem(conn: AsyncConnection, priced: PricedCart, order_pk: int) -> None:
    assert priced.result is not None
    failures = await redeem(
        conn,
        priced.result,
        priced.promotions,
        order_ref=ids.encode("Order", order_pk),
        customer_key=_customer_key(priced.cart, priced.customer),
        currency=priced.currency,
    )
    if failures:
        raise PromotionsMoved()
