"""The carts service: opens the transaction (or read connection) each cart operation
runs in and commits it. Each write is one transaction; a failure writes nothing.
Input that needs no database is checked before a connection is taken."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import TaxEngine
from hub.auth import Principal
from hub.db.database import Database
from hub.db.tables import carts_t, groups_t, lines_t
from hub.domain.carts.access import check_binding, check_readable, load_cart
from hub.domain.carts.delivery import set_delivery
from hub.domain.carts.lines import add_lines, remove_lines, update_lines
from hub.domain.carts.model import (
    Attribute,
    BuyerIdentity,
    CartCode,
    CartState,
    CartWarning,
    DeliveryGroupInput,
    LineInput,
    LineUpdate,
    WarningCode,
)
from hub.domain.carts.operations import buyer_email, create, new_cart, touch
from hub.domain.carts.priced import PricedCart
from hub.domain.carts.pricing import price_cart
from hub.domain.carts.reuse import priced_carts
from hub.domain.carts.validation import clean_attributes, clean_buyer, clean_codes, clean_note
from hub.domain.catalog import ChannelRecord
from hub.domain.errors import Code, DomainError, fail

T = TypeVar("T")


MAX_LOYALTY_POINTS = 100_000_000


def _now() -> datetime:
    return datetime.now(UTC)


class Carts:
    """Cart writes. Each is one transaction; a failure writes nothing."""

    def __init__(self, db: Database, *, ttl: timedelta) -> None:
        self.db = db
        self.ttl = ttl

    async def create_state(
        self,
        channel: ChannelRecord,
        principal: Principal,
        *,
        lines: Sequence[LineInput] = (),
        codes: Sequence[str] = (),
        buyer: BuyerIdentity | None = None,
        attributes: Sequence[Attribute] | None = None,
        note: str | None = None,
    ) -> tuple[CartState, list[CartWarning]]:
        """Create a cart, answering with it as written (see
        :func:`hub.domain.carts.operations.create`) and the warnings of its lines."""
        values = new_cart(
            channel, principal, self.ttl, codes=codes, buyer=buyer, attributes=attributes, note=note
        )
        async with self.db.transaction() as conn:
            return await create(conn, values, lines, channel)

    async def _touch(
        self, conn: AsyncConnection, token: str, principal: Principal, **values: Any
    ) -> CartState:
        return await touch(conn, token, principal, self.ttl, **values)

    async def _on_cart(
        self,
        token: str,
        principal: Principal,
        op: Callable[[AsyncConnection, CartState], Awaitable[T]],
    ) -> T:
        """Run ``op`` on the cart, locked for this change, in one transaction."""
        async with self.db.transaction() as conn:
            return await op(conn, await self._touch(conn, token, principal))

    async def _on_lines(
        self,
        token: str,
        principal: Principal,
        given: Sequence[object],
        op: Callable[[AsyncConnection, CartState], Awaitable[T]],
        *,
        ids: bool = False,
    ) -> T:
        """:meth:`_on_cart` for a change of ``given`` lines (or line ``ids``): BLANK
        when there are none."""
        if not given:
            if ids:
                raise fail(Code.BLANK, "give at least one line id", "line_ids")
            raise fail(Code.BLANK, "give at least one line", "lines")
        return await self._on_cart(token, principal, op)

    async def add_lines(
        self, token: str, principal: Principal, new: Sequence[LineInput]
    ) -> list[CartWarning]:
        return await self._on_lines(token, principal, new, lambda c, s: add_lines(c, s, new))

    async def update_lines(
        self, token: str, principal: Principal, updates: Sequence[LineUpdate]
    ) -> list[CartWarning]:
        return await self._on_lines(
            token, principal, updates, lambda c, s: update_lines(c, s, updates)
        )

    async def remove_lines(self, token: str, principal: Principal, line_pks: Sequence[int]) -> None:
        await self._on_lines(
            token, principal, line_pks, lambda c, s: remove_lines(c, s, line_pks), ids=True
        )

    async def set_discount_codes(
        self, token: str, principal: Principal, codes: Sequence[str]
    ) -> None:
        await self._change(token, principal, discount_codes=clean_codes(codes))

    async def set_buyer_identity(
        self, token: str, principal: Principal, buyer: BuyerIdentity
    ) -> None:
        """Change the buyer. Binding the cart to a customer (``buyer.set_customer``)
        needs that customer to be the acting principal (or staff), and a cart this
        principal may use as it stands (a guest cart, or its own): checked in the
        conditional UPDATE, before anything is written."""
        values = clean_buyer(buyer)
        if buyer.set_customer:
            check_binding(principal, buyer.customer_pk)
        async with self.db.transaction() as conn:
            await buyer_email(conn, values, fill_blank=False)
            await self._touch(conn, token, principal, **values)

    async def set_attributes(
        self, token: str, principal: Principal, attrs: Sequence[Attribute]
    ) -> None:
        await self._change(token, principal, attributes=clean_attributes(attrs, "attributes"))

    async def set_note(self, token: str, principal: Principal, note: str | None) -> None:
        await self._change(token, principal, note=clean_note(note))

    async def set_loyalty_points(self, token: str, principal: Principal, points: int) -> None:
        """Redeem ``points`` of the buyer's loyalty points on the cart (0: none). The
        pricing applies at most the balance (:mod:`hub.domain.carts.pricing_loyalty`);
        checkout spends them."""
        if not 0 <= points <= MAX_LOYALTY_POINTS:
            raise fail(Code.INVALID, f"points is 0 to {MAX_LOYALTY_POINTS}", "points")
        async with self.db.transaction() as conn:
            state = await self._touch(conn, token, principal, loyalty_points=points)
            if points and state.cart.customer_id is None:
                raise fail(
                    Code.INVALID,
                    "only a customer's cart redeems loyalty points: sign the buyer in first",
                    "points",
                )

    async def set_delivery(
        self, token: str, principal: Principal, groups: Sequence[DeliveryGroupInput]
    ) -> None:
        """Replace the cart's delivery groups (:mod:`hub.domain.carts.delivery`)."""
        await self._on_cart(token, principal, lambda c, s: set_delivery(c, s, groups))

    async def _change(self, token: str, principal: Principal, **values: Any) -> None:
        async with self.db.transaction() as conn:
            await self._touch(conn, token, principal, **values)


def change_warnings(priced: PricedCart, warnings: list[CartWarning]) -> list[CartWarning]:
    """The warnings of a change, once the cart is priced after it: the cart shows them
    too, and they include each line its pickup location can't cover after the change
    (choosing the location, or adding more than it holds) and loyalty points the cart
    can't apply in full."""
    seen = {(w.code, w.target) for w in priced.warnings}
    priced.warnings += [w for w in warnings if (w.code, w.target) not in seen]
    mine = {(w.code, w.target) for w in warnings}
    return warnings + [
        w
        for w in priced.warnings
        if w.code in (WarningCode.NOT_AT_PICKUP_LOCATION, WarningCode.LOYALTY_POINTS_REDUCED)
        and (w.code, w.target) not in mine
    ]


# ----------------------------------------------------------------------------- reads


async def read_cart(db: Database, token: str, principal: Principal) -> CartState | None:
    """The cart if this principal may see it and it has not expired, else None."""
    async with db.read() as conn:
        state = await load_cart(conn, token)
    try:
        return check_readable(state, principal, _now())
    except DomainError:
        return None


async def price(db: Database, state: CartState, *, tax_engine: TaxEngine | None) -> PricedCart:
    """Price a cart on a read connection of its own."""
    async with db.read() as conn:
        return await price_cart(conn, state, tax_engine=tax_engine)


async def view_cart(
    db: Database,
    token: str,
    principal: Principal,
    *,
    tax_engine: TaxEngine | None,
    expired_error: bool = False,
) -> PricedCart | None:
    """A cart priced for display, if this principal may see it and it has not expired
    (a completed cart stays visible). One read connection. ``expired_error``: an
    expired cart this principal may see raises CART_EXPIRED instead of answering None
    (an unknown one, or another customer's, is None either way)."""
    async with db.read() as conn:
        state = await load_cart(conn, token)
        try:
            check_readable(state, principal, _now())
        except DomainError as exc:
            if expired_error and exc.errors[0].code == CartCode.CART_EXPIRED:
                raise
            return None
        assert state is not None
        now = _now()
        priced = await price_cart(conn, state, tax_engine=tax_engine, now=now)
    priced_carts(db).keep(db, priced, since=now, tax_engine=tax_engine)
    return priced


async def view_state(
    db: Database,
    state: CartState,
    principal: Principal,
    *,
    tax_engine: TaxEngine | None,
    channel: ChannelRecord | None = None,
) -> PricedCart | None:
    """``view_cart`` of a cart the caller holds as written (``Carts.create_state``)."""
    try:
        check_readable(state, principal, _now())
    except DomainError:
        return None
    async with db.read() as conn:
        priced = await price_cart(conn, state, tax_engine=tax_engine, channel=channel)
    # What the write read for its lines (the state's ``known``) was read at its clock,
    # no earlier than the cart row's updated_at.
    priced_carts(db).keep(db, priced, since=state.cart.updated_at, tax_engine=tax_engine)
    return priced


async def view_carts(
    db: Database, tokens: Sequence[str], principal: Principal, *, tax_engine: TaxEngine | None
) -> dict[str, PricedCart]:
    """Several carts priced for display (``view_cart``'s rules: those this principal
    may see and that have not expired), by token. The rows load in three statements
    whatever the number of carts; each cart is then priced on its own."""
    if not tokens:
        return {}
    now = _now()
    async with db.read() as conn:
        rows = (await conn.execute(select(carts_t).where(carts_t.c.token.in_(list(tokens))))).all()
        states: list[CartState] = []
        for row in rows:
            try:
                states.append(check_readable(CartState(row, [], []), principal, now))
            except DomainError:
                continue
        if not states:
            return {}
        by_pk = {s.cart.id: s for s in states}
        for r in (
            await conn.execute(
                select(lines_t).where(lines_t.c.cart_id.in_(list(by_pk))).order_by(lines_t.c.id)
            )
        ).all():
            by_pk[r.cart_id].lines.append(r)
        for r in (
            await conn.execute(
                select(groups_t)
                .where(groups_t.c.cart_id.in_(list(by_pk)))
                .order_by(groups_t.c.position, groups_t.c.id)
            )
        ).all():
            by_pk[r.cart_id].groups.append(r)
        return {s.token: await price_cart(conn, s, tax_engine=tax_engine, now=now) for s in states}
