"""Who may touch a cart, and loading it.

A guest cart (bound to no customer) is anyone's who holds its id; a cart bound to a
customer, that customer's key and staff only. Writes check this inside their
conditional UPDATE (:func:`usable_by`); reads with :func:`check_readable`. Binding a
cart to a customer takes that customer's token (:func:`sign_in_buyer`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.auth import Principal, authenticate
from hub.db import fast
from hub.db.database import Reader
from hub.db.tables import carts_t, groups_t, lines_t
from hub.domain.carts.model import BuyerIdentity, CartCode, CartState, refuse
from hub.domain.carts.reuse import CROSSED, GENERATION
from hub.domain.customers.matching import find_customer
from hub.domain.errors import Code, fail

# The hot read statements, built once: SQLAlchemy then neither constructs them nor
# computes their cache key again on each call (about 0.1 ms each on this stack).
# The cart row comes with the pricing generation, read before anything pricing reads
# (hub.domain.carts.reuse).
# Run through hub.db.fast: a cart is read on every cart write, view and checkout.
_CART_BY_TOKEN = fast.Prebuilt(
    select(carts_t, GENERATION).where(carts_t.c.token == bindparam("token"))
)
_LINES_OF = fast.Prebuilt(
    select(lines_t).where(lines_t.c.cart_id == bindparam("cart")).order_by(lines_t.c.id)
)
_GROUPS_OF = fast.Prebuilt(
    select(groups_t)
    .where(groups_t.c.cart_id == bindparam("cart"))
    .order_by(groups_t.c.position, groups_t.c.id)
)
# The field a refused cart is reported on. Checkout passes these errors on to its
# clients as they are, so this one is named as the API names it.
CART_FIELD = "cartId"


_CART_CROSSED = fast.Prebuilt(
    select(carts_t, GENERATION, CROSSED).where(carts_t.c.token == bindparam("token"))
)


async def load_cart(
    conn: AsyncConnection, token: str, crossed: tuple[datetime, datetime] | None = None
) -> CartState | None:
    """The cart ``token`` with its lines and groups, in three statements. ``crossed``
    (since, until): the row also says whether a promotion or price list started or
    ended in between (hub.domain.carts.reuse)."""
    if crossed is None:
        row = (await fast.execute(conn, _CART_BY_TOKEN, {"token": token})).first()
    else:
        since, until = crossed
        params = {"token": token, "since": since, "until": until}
        row = (await fast.execute(conn, _CART_CROSSED, params)).first()
    if row is None:
        return None
    return await state_of(conn, row)


async def state_of(conn: AsyncConnection, row: Any) -> CartState:
    """The cart of ``row`` with its lines and delivery groups."""
    lines = (await fast.execute(conn, _LINES_OF, {"cart": row.id})).all()
    groups = (await fast.execute(conn, _GROUPS_OF, {"cart": row.id})).all()
    return CartState(row, list(lines), list(groups))


def may_use(cart: Any, principal: Principal) -> bool:
    """Staff may; anyone holding the id of a guest cart may; a cart bound to a customer
    only with that customer's key."""
    if principal.can("orders") or cart.customer_id is None:
        return True
    return principal.customer_id is not None and cart.customer_id == principal.customer_id


def usable_by(principal: Principal) -> ColumnElement[bool]:
    """:func:`may_use` as a condition on the carts table (for conditional UPDATEs)."""
    if principal.can("orders"):
        return true()
    if principal.customer_id is None:
        return carts_t.c.customer_id.is_(None)
    return or_(carts_t.c.customer_id.is_(None), carts_t.c.customer_id == principal.customer_id)


def check_binding(principal: Principal, customer_pk: int | None) -> None:
    """A cart may be bound only to the acting customer (staff: to anyone)."""
    if principal.can("orders") or customer_pk is None or customer_pk == principal.customer_id:
        return
    raise fail(
        Code.INVALID,
        "a customer can only put its own token on a cart",
        "buyer_identity",
        "customer_access_token",
    )


def check_readable(state: CartState | None, principal: Principal, now: datetime) -> CartState:
    """The cart, if this principal may use it and it has not expired (a completed cart
    stays readable); else NOT_FOUND or CART_EXPIRED."""
    if state is None or not may_use(state.cart, principal):
        raise fail(Code.NOT_FOUND, "no cart with that id", CART_FIELD)
    if state.cart.status != "COMPLETED" and state.cart.expires_at <= now:
        raise refuse(CartCode.CART_EXPIRED, "the cart expired; create a new one", CART_FIELD)
    return state


async def sign_in_buyer(
    reader: Reader, acting: Principal, buyer: BuyerIdentity, customer_token: str | None
) -> Principal:
    """Bind ``buyer`` to the customer whose token is ``customer_token`` (an empty one
    unbinds), and answer who acts: the request's key, or, for a request without a
    customer (no key, a storefront key), the customer of that token (a storefront
    signing its shopper in). Whether the cart may be bound is decided by the write
    itself (:func:`check_binding` and the conditional UPDATE)."""
    if customer_token is None:
        return acting
    token = customer_token.strip()
    principal = await authenticate(reader, token) if token else None
    if token and (principal is None or principal.customer_id is None):
        raise fail(
            Code.INVALID, "not a valid customer token", "buyer_identity", "customer_access_token"
        )
    buyer.set_customer = True
    buyer.customer_pk = principal.customer_id if principal else None
    if principal is not None and not acting.can("orders") and acting.customer_id is None:
        return principal
    return acting


async def scan_loyalty_card(
    reader: Reader, acting: Principal, buyer: BuyerIdentity, card: str
) -> None:
    """A till scans the buyer's loyalty card: the cart becomes that customer's (its
    prices, promotions and points), as with the customer's token. Staff (point-of-sale)
    keys only: a card number is no secret."""
    if not acting.can("orders"):
        raise fail(
            Code.INVALID,
            "a loyalty card is scanned at a till: it needs an admin (point-of-sale) key",
            "buyer_identity",
            "loyalty_card_id",
        )
    found = await find_customer(reader, loyalty_id=card[:64])
    if found is None:
        raise fail(
            Code.NOT_FOUND,
            "no customer with this loyalty card",
            "buyer_identity",
            "loyalty_card_id",
        )
    buyer.set_customer = True
    buyer.customer_pk = found.pk
