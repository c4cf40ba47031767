"""Cart writes, each in the caller's transaction: create a cart, and lock one for a
change (:func:`touch`), which every other write starts with.

:func:`touch` is where "who may touch a cart" holds for writes: the principal's right
to the cart is a condition of its conditional UPDATE, so a key that may not use the
cart changes nothing, not even its version; every change bumps ``version`` (checkout
locks exactly the cart it priced) and the idle expiry.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.auth import Principal
from hub.db.tables import carts_t
from hub.domain.carts.access import check_binding, check_readable, state_of, usable_by
from hub.domain.carts.lines import add_lines
from hub.domain.carts.lookups import customer_of
from hub.domain.carts.model import (
    Attribute,
    BuyerIdentity,
    CartCode,
    CartState,
    CartWarning,
    Known,
    LineInput,
    refuse,
)
from hub.domain.carts.reuse import GENERATION
from hub.domain.carts.validation import clean_attributes, clean_buyer, clean_codes, clean_note
from hub.domain.catalog import ChannelRecord

# Values as parameters: built once. The pricing generation comes back with the row, read
# before the lines' variants and prices (hub.domain.carts.reuse).
_INSERT_CART = insert(carts_t).returning(carts_t, GENERATION)


def _now() -> datetime:
    return datetime.now(UTC)


def new_cart(
    channel: ChannelRecord,
    principal: Principal,
    ttl: timedelta,
    *,
    codes: Sequence[str] = (),
    buyer: BuyerIdentity | None = None,
    attributes: Sequence[Attribute] | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """The row of a new cart, its input checked (nothing read or written yet)."""
    now = _now()
    values: dict[str, Any] = {
        "token": secrets.token_urlsafe(24),
        "channel_id": channel.pk,
        "currency": channel.currency,
        "status": "ACTIVE",
        "version": 1,
        "discount_codes": clean_codes(codes),
        "attributes": clean_attributes(attributes, "attributes"),
        "note": clean_note(note),
        "created_at": now,
        "updated_at": now,
        "expires_at": now + ttl,
    }
    if principal.customer_id is not None and not principal.can("orders"):
        values["customer_id"] = principal.customer_id
    if buyer is not None:
        values.update(clean_buyer(buyer))
        if buyer.set_customer:
            check_binding(principal, buyer.customer_pk)
    return values


async def create(
    conn: AsyncConnection,
    values: dict[str, Any],
    lines: Sequence[LineInput],
    channel: ChannelRecord,
) -> tuple[CartState, list[CartWarning]]:
    """Write the cart :func:`new_cart` made, with its lines. Answers the cart as
    written (as ``load_cart`` would read it after the commit: nobody else knows its
    token yet), so the caller can price it without reading it back."""
    await buyer_email(conn, values, fill_blank=True)
    row = (await conn.execute(_INSERT_CART, values)).one()
    inserted: list[Any] = []
    known = Known() if lines else None
    warnings = (
        await add_lines(
            conn, CartState(row, [], []), lines, channel=channel, inserted=inserted, known=known
        )
        if lines
        else []
    )
    return CartState(row, sorted(inserted, key=lambda r: r.id), [], known), warnings


async def buyer_email(conn: AsyncConnection, values: dict[str, Any], *, fill_blank: bool) -> None:
    """A cart bound to a customer takes the customer's email when it has none
    (``fill_blank``: none or a blank one given; else: none given)."""
    if values.get("customer_id") is None:
        return
    if (not values.get("email")) if fill_blank else ("email" not in values):
        customer = await customer_of(conn, values["customer_id"])
        if customer is not None:
            values["email"] = customer.email


async def touch(
    conn: AsyncConnection, token: str, principal: Principal, ttl: timedelta, **values: Any
) -> CartState:
    """Lock the cart for this change (row lock on PostgreSQL), bump its version and
    idle expiry, and set ``values``; refuse it if unknown, not this principal's,
    expired, completed or in checkout. Whether this principal may use the cart is a
    condition of the UPDATE itself, on the row as it stands: a refused principal
    writes nothing."""
    now = _now()
    row = (
        await conn.execute(
            update(carts_t)
            .where(
                carts_t.c.token == token,
                usable_by(principal),
                carts_t.c.expires_at > now,
                or_(
                    carts_t.c.status == "ACTIVE",
                    and_(carts_t.c.status == "COMPLETING", carts_t.c.locked_until < now),
                ),
            )
            .values(
                version=carts_t.c.version + 1,
                status="ACTIVE",
                locked_until=None,
                updated_at=now,
                expires_at=now + ttl,
                **values,
            )
            .returning(carts_t)
        )
    ).first()
    if row is not None:
        return await state_of(conn, row)
    existing = (await conn.execute(select(carts_t).where(carts_t.c.token == token))).first()
    check_readable(None if existing is None else CartState(existing, [], []), principal, now)
    assert existing is not None
    if existing.status == "COMPLETED":
        raise refuse(CartCode.ALREADY_COMPLETED, "the cart was checked out already", "cart_id")
    raise refuse(
        CartCode.CHECKOUT_IN_PROGRESS,
        "the cart is being checked out; wait for the result",
        "cart_id",
    )
