"""Stage 3b of :func:`hub.domain.carts.pricing.price_cart`: loyalty points redeemed as a
cart discount (``cartLoyaltyRedeem``).

After the promotions and before tax: the points the cart asks for, at most the
customer's balance and at most what the merchandise still costs, are worth
``channels.loyalty_point_value`` minor units each; that discount is shared over the
sellable lines in proportion to their totals (so tax is computed on what is paid).
Nothing is spent here: checkout redeems the points for real
(:func:`hub.domain.loyalty.redeem_for_order`). One statement, only for a cart that
redeems points.
"""

from __future__ import annotations

from sqlalchemy import and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.tables import channels_t, loyalty_accounts_t
from hub.domain.carts.model import CartWarning, WarningCode
from hub.domain.carts.priced import PricedCart

LOYALTY_ALLOCATION = 0  # the "promotion id" of a line's share of a loyalty discount
LOYALTY_TITLE = "Loyalty points"

_BALANCE = (
    select(channels_t.c.loyalty_point_value, loyalty_accounts_t.c.points)
    .select_from(
        channels_t.outerjoin(
            loyalty_accounts_t,
            and_(loyalty_accounts_t.c.customer_id == bindparam("customer")),
        )
    )
    .where(channels_t.c.id == bindparam("channel"))
)


async def apply_loyalty(conn: AsyncConnection, priced: PricedCart) -> None:
    want = int(priced.cart.loyalty_points or 0)
    if want <= 0:
        return
    customer = priced.customer
    if customer is None:
        priced.warnings.append(
            CartWarning(
                WarningCode.LOYALTY_POINTS_REDUCED,
                "loyalty points are redeemed by a signed-in customer only: none applied",
            )
        )
        return
    row = (
        await conn.execute(_BALANCE, {"customer": customer.pk, "channel": priced.cart.channel_id})
    ).first()
    value = int(row.loyalty_point_value) if row is not None else 0
    balance = int(row.points or 0) if row is not None else 0
    sellable = [ln for ln in priced.lines if ln.sellable and ln.total > 0]
    merchandise = sum(ln.total for ln in sellable)
    use = min(want, balance, merchandise // value if value > 0 else 0)
    if use < want:
        priced.warnings.append(
            CartWarning(
                WarningCode.LOYALTY_POINTS_REDUCED,
                f"{use} of the {want} loyalty points asked for apply (balance {balance}, "
                "at most what the merchandise costs)",
            )
        )
    if use <= 0:
        return
    discount = use * value
    given = 0
    for i, ln in enumerate(sellable):
        share = discount - given if i == len(sellable) - 1 else discount * ln.total // merchandise
        share = min(share, ln.total)
        ln.discount += share
        ln.total -= share
        if share:  # the line's allocations add up to its discount (no promotion: 0)
            ln.allocations.append((LOYALTY_ALLOCATION, LOYALTY_TITLE, None, share))
        given += share
    priced.loyalty_points = use
    priced.loyalty_discount = given
