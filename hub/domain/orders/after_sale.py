"""The returns and substitutions service: opens the transaction each operation runs
in, commits it, publishes its events, then moves the money (through the order money
service, ``OrderMoney``: refunds and captures to the order's original payments) and,
for an exchange, places the replacement order through carts and checkout.

Resolving a received return (once every unit is in):

- ``REFUND``: the returned lines are refunded to the original payment methods
  (``OrderMoney.refund`` with the return's id, idempotency key ``return-<id>``);
- ``STORE_CREDIT``: a new gift card worth the return's amount, for the order's
  customer; its code is answered once, by the call that issued it;
- ``EXCHANGE``: a cart in the order's channel, for its customer, holding the exchange
  lines, priced and checked out like any cart (reserved, committed, its fulfillment
  orders written). The return's credit pays it: when the replacement costs no more
  than the credit, a gift card of the replacement's total is issued to the customer
  and the checkout pays with it, and the rest of the credit is refunded to the
  original payment; when it costs more, the buyer pays the replacement with
  ``exchange_payment`` and the whole credit is refunded to the original payment (the
  buyer pays the difference, net). The new order is linked from the return.

The return is CLOSED when its resolution succeeded; a failed one (the provider down,
a declined payment) leaves it RECEIVED and ``resolve`` may be called again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select, update

from connectors.base import TaxEngine
from hub import ids
from hub.auth import Principal
from hub.db.database import Database
from hub.db.tables import orders_t, return_lines_t, returns_t
from hub.domain import carts as cartsvc
from hub.domain.carts.lookups import channel_of
from hub.domain.checkout import Checkout, CheckoutCode, PaymentRequest
from hub.domain.errors import Code, DomainError, fail
from hub.domain.giftcards import disable_card, issue_card, new_card
from hub.domain.orders import return_receive, returns, substitutions
from hub.domain.orders.records import OrderCode
from hub.domain.orders.return_records import Resolution
from hub.domain.orders.state import ReturnStatus
from hub.domain.orders.timeline import record_event
from hub.events.bus import Event
from hub.events.outbox import Outbox
from hub.money import to_decimal
from hub.settings import Settings

log = logging.getLogger("hub.returns")


class OrderMoney(Protocol):
    """The order money service's calls a return or a substitution makes (refunds to
    the original payments, captures of an authorization)."""

    async def refund(
        self,
        order_pk: int,
        *,
        lines: list[tuple[int, int]],
        shipping: int = 0,
        amount: int | None = None,
        note: str | None,
        idempotency_key: str,
        actor: str,
        return_pk: int | None = None,
    ) -> Any: ...

    async def capture(
        self, order_pk: int, amount: int | None = None, *, idempotency_key: str, actor: str
    ) -> Any: ...


@dataclass(slots=True)
class Resolved:
    """What resolving a return did: the gift card's code is shown only here."""

    return_pk: int
    gift_card_code: str | None = None


class AfterSale:
    """Returns, exchanges and substitutions of one process."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        checkout: Checkout,
        carts: cartsvc.Carts,
        tax_engine: TaxEngine | None,
        money: OrderMoney,
        publish: Callable[[Sequence[Event]], Awaitable[None]],
    ) -> None:
        self.db = db
        self.settings = settings
        self.checkout = checkout
        self.carts = carts
        self.tax_engine = tax_engine
        self.money = money
        self.publish = publish

    async def _write(self, op: Callable[[Any, Outbox], Awaitable[Any]]) -> Any:
        outbox = Outbox()
        async with self.db.transaction() as conn:
            result = await op(conn, outbox)
            events = await outbox.flush(conn)
        await self.publish(events)
        return result

    def _money(self) -> OrderMoney:
        return self.money

    # ----- returns

    async def open_return(self, new: returns.NewReturn) -> int:
        returns.check_input(new)
        pk: int = await self._write(
            lambda conn, outbox: returns.open_return(conn, outbox, new, self.settings)
        )
        return pk

    async def request_return(self, new: returns.NewReturn, principal: Principal) -> int:
        """A customer's request for its own order (REQUESTED until staff decide)."""
        async with self.db.read() as conn:
            owner = (
                await conn.execute(
                    select(orders_t.c.customer_id).where(orders_t.c.id == new.order_pk)
                )
            ).first()
        if owner is None or principal.customer_id is None or owner[0] != principal.customer_id:
            raise fail(CheckoutCode.ACCESS_DENIED, "not an order of yours", "order_id")
        new.customer_request = True
        return await self.open_return(new)

    async def decide_request(
        self, return_pk: int, *, approve: bool, location_pk: int | None, actor: str
    ) -> None:
        await self._write(
            lambda conn, outbox: returns.decide_request(
                conn, outbox, return_pk, approve=approve, location_pk=location_pk, actor=actor
            )
        )

    async def receive(
        self,
        return_pk: int,
        location_pk: int,
        lines: Sequence[return_receive.ReceiveLineInput],
        *,
        principal: Principal,
        actor: str,
        exchange_payment: PaymentRequest | None = None,
    ) -> Resolved:
        """Receive units; when the last is in, resolve the money (see the module). An
        exchange dearer than its credit without ``exchange_payment`` is refused before
        anything is received."""
        cart = await self._exchange_precheck(return_pk, location_pk, exchange_payment)
        got: return_receive.Received = await self._write(
            lambda conn, outbox: return_receive.receive(
                conn, outbox, return_pk, location_pk, lines, self.settings, actor=actor
            )
        )
        if got.status != ReturnStatus.RECEIVED:
            return Resolved(return_pk)
        return await self.resolve(
            return_pk,
            principal=principal,
            actor=actor,
            exchange_payment=exchange_payment,
            cart=cart,
        )

    async def _exchange_precheck(
        self, return_pk: int, location_pk: int, payment: PaymentRequest | None
    ) -> tuple[str, int] | None:
        """For an exchange: its cart (token, total), refused when dearer than the
        credit and no payment is given."""
        async with self.db.read() as conn:
            ret = (await conn.execute(select(returns_t).where(returns_t.c.id == return_pk))).first()
            if ret is None or ret.resolution != Resolution.EXCHANGE.value:
                return None
            order = (
                await conn.execute(select(orders_t).where(orders_t.c.id == ret.order_id))
            ).one()
        cart = await self._exchange_cart(ret, order, location_pk)
        if cart[1] > ret.amount and payment is None:
            raise fail(
                OrderCode.EXCHANGE_PAYMENT_REQUIRED,
                f"the replacement costs {cart[1] - ret.amount} (minor units) more than the "
                "return's credit: pass exchangePayment",
                "exchange_payment",
            )
        return cart

    async def _exchange_cart(
        self, ret: Any, order: Any, location_pk: int | None
    ) -> tuple[str, int]:
        """A cart in the order's channel for its buyer with the exchange lines, priced:
        (token, total). Handed over where the return is received when that location
        offers pickup for the channel (no shipping to pay); else shipped as the cart's
        defaults say (the shipping is part of what the replacement costs)."""
        async with self.db.read() as conn:
            channel = await channel_of(conn, order.channel_id, None)
        buyer = cartsvc.BuyerIdentity(
            email=order.email,
            phone=order.phone,
            customer_pk=order.customer_id,
            set_customer=order.customer_id is not None,
        )
        lines = [
            cartsvc.LineInput(int(x["variantId"]), int(x["quantity"]))
            for x in ret.exchange_lines or ()
        ]
        state, _ = await self.carts.create_state(
            channel,
            _EXCHANGE_CLERK,
            lines=lines,
            buyer=buyer,
            note=f"exchange for return {ids.encode('Return', ret.id)}",
        )
        token = state.cart.token
        if location_pk is not None:
            try:
                await self.carts.set_delivery(
                    token,
                    _EXCHANGE_CLERK,
                    [cartsvc.DeliveryGroupInput(kind="PICKUP", location_pk=location_pk)],
                )
            except DomainError:
                pass  # no pickup there: shipped
        async with self.db.read() as conn:
            loaded = await cartsvc.load_cart(conn, token)
        assert loaded is not None
        priced = await cartsvc.price(self.db, loaded, tax_engine=self.tax_engine)
        return token, int(priced.total)

    async def resolve(
        self,
        return_pk: int,
        *,
        principal: Principal,
        actor: str,
        exchange_payment: PaymentRequest | None = None,
        cart: tuple[str, int] | None = None,
    ) -> Resolved:
        """Resolve a RECEIVED return's money (see the module); again after a failure."""
        async with self.db.read() as conn:
            ret = (await conn.execute(select(returns_t).where(returns_t.c.id == return_pk))).first()
            if ret is None:
                raise fail(Code.NOT_FOUND, "no return with that id", "return_id")
            order = (
                await conn.execute(select(orders_t).where(orders_t.c.id == ret.order_id))
            ).one()
            lines = (
                await conn.execute(
                    select(return_lines_t.c.order_line_id, return_lines_t.c.quantity).where(
                        return_lines_t.c.return_id == return_pk
                    )
                )
            ).all()
        if ret.status != ReturnStatus.RECEIVED.value:
            raise fail(
                OrderCode.RETURN_NOT_RECEIVABLE,
                f"the return is {ret.status}: its money is resolved once every unit is in",
                "return_id",
            )
        refund_lines = [(int(r.order_line_id), int(r.quantity)) for r in lines]
        if ret.resolution == Resolution.STORE_CREDIT.value:
            return await self._store_credit(ret, order, actor)
        if ret.resolution == Resolution.EXCHANGE.value:
            return await self._exchange(
                ret, order, refund_lines, actor=actor, payment=exchange_payment, cart=cart
            )
        record = await self._money().refund(
            order.id,
            lines=refund_lines,
            note=f"return {ids.encode('Return', return_pk)}",
            idempotency_key=f"return-{return_pk}",
            actor=actor,
            return_pk=return_pk,
        )
        await self._close(ret, refund_id=_pk(record))
        return Resolved(return_pk)

    async def _close(self, ret: Any, **links: Any) -> None:
        async def op(conn: Any, outbox: Outbox) -> None:
            await conn.execute(
                update(returns_t)
                .where(returns_t.c.id == ret.id, returns_t.c.status == ReturnStatus.RECEIVED.value)
                .values(status=ReturnStatus.CLOSED.value, updated_at=returns.now(), **links)
            )

        await self._write(op)

    async def _store_credit(self, ret: Any, order: Any, actor: str) -> Resolved:
        card = new_card(
            amount=to_decimal(int(ret.amount), order.currency),
            currency=order.currency,
            customer_pk=order.customer_id,
            reference=f"store credit for return {ids.encode('Return', ret.id)}",
        )

        async def op(conn: Any, outbox: Outbox) -> None:
            claimed = await conn.execute(
                update(returns_t)
                .where(returns_t.c.id == ret.id, returns_t.c.status == ReturnStatus.RECEIVED.value)
                .values(status=ReturnStatus.CLOSED.value, updated_at=returns.now())
            )
            if claimed.rowcount != 1:
                raise fail(OrderCode.RETURN_NOT_RECEIVABLE, "resolved already", "return_id")
            issued = await issue_card(conn, card)
            await conn.execute(
                update(returns_t).where(returns_t.c.id == ret.id).values(gift_card_id=issued.pk)
            )
            await record_event(
                conn,
                order.id,
                "return.store_credit",
                actor=actor,
                data={
                    "returnId": ids.encode("Return", ret.id),
                    "giftCardId": ids.encode("GiftCard", issued.pk),
                    "amount": int(ret.amount),
                },
                outbox=outbox,
            )

        await self._write(op)
        return Resolved(int(ret.id), gift_card_code=card.code)

    async def _exchange(
        self,
        ret: Any,
        order: Any,
        refund_lines: list[tuple[int, int]],
        *,
        actor: str,
        payment: PaymentRequest | None,
        cart: tuple[str, int] | None,
    ) -> Resolved:
        token, total = (
            cart
            if cart is not None
            else await self._exchange_cart(ret, order, ret.received_location_id)
        )
        credit = int(ret.amount)
        card_pk, pay = await self._exchange_payment(ret, order, total, payment)
        try:
            done = await self.checkout.complete(token, f"exchange-{ret.id}", pay, _EXCHANGE_CLERK)
        except DomainError:
            if card_pk is not None:  # the credit stays with the return, unspent
                async with self.db.transaction() as conn:
                    await disable_card(conn, card_pk)
            raise
        refund_pk = None
        back = credit if total > credit else credit - total
        if back > 0:
            record = await self._money().refund(
                order.id,
                lines=refund_lines if total > credit else [],
                amount=back,
                note=f"exchange for return {ids.encode('Return', ret.id)}",
                idempotency_key=f"return-{ret.id}",
                actor=actor,
                return_pk=int(ret.id),
            )
            refund_pk = _pk(record)

        async def op(conn: Any, outbox: Outbox) -> None:
            await conn.execute(
                update(returns_t)
                .where(returns_t.c.id == ret.id, returns_t.c.status == ReturnStatus.RECEIVED.value)
                .values(
                    status=ReturnStatus.CLOSED.value,
                    exchange_order_id=done.order_pk,
                    gift_card_id=card_pk,
                    refund_id=refund_pk,
                    updated_at=returns.now(),
                )
            )
            await record_event(
                conn,
                order.id,
                "exchange.created",
                actor=actor,
                data={
                    "returnId": ids.encode("Return", ret.id),
                    "exchangeOrderId": ids.encode("Order", done.order_pk),
                    "credit": credit,
                    "total": total,
                    "refunded": back if total <= credit else credit,
                    "paid": total - credit if total > credit else 0,
                },
                outbox=outbox,
            )

        await self._write(op)
        return Resolved(int(ret.id))

    async def _exchange_payment(
        self, ret: Any, order: Any, total: int, payment: PaymentRequest | None
    ) -> tuple[int | None, PaymentRequest | None]:
        """How the new order is paid: the buyer's payment when dearer than the credit
        (refused without one), else a gift card of its total carrying the credit
        (nothing when it costs nothing). (The card's id, the payment.)"""
        credit = int(ret.amount)
        if total > credit:
            if payment is None:
                raise fail(
                    OrderCode.EXCHANGE_PAYMENT_REQUIRED,
                    f"the replacement costs {total - credit} (minor units) more than the "
                    "return's credit: pass exchangePayment",
                    "exchange_payment",
                )
            return None, payment
        if total > 0:
            card_pk, code = await self._credit_card(ret, order, total)
            return card_pk, PaymentRequest("gift_card", code)
        return None, None

    async def _credit_card(self, ret: Any, order: Any, amount: int) -> tuple[int, str]:
        """The gift card that carries an exchange's credit to its checkout."""
        card = new_card(
            amount=to_decimal(amount, order.currency),
            currency=order.currency,
            customer_pk=order.customer_id,
            reference=f"exchange credit for return {ids.encode('Return', ret.id)}",
        )
        async with self.db.transaction() as conn:
            issued = await issue_card(conn, card)
        return issued.pk, card.code

    # ----- substitutions

    async def propose_substitution(
        self, fo_line_pk: int, variant_pk: int, quantity: int, note: str | None, *, actor: str
    ) -> int:
        pk: int = await self._write(
            lambda conn, outbox: substitutions.propose(
                conn, outbox, fo_line_pk, variant_pk, quantity, note, actor=actor
            )
        )
        return pk

    async def decide_substitution(
        self, substitution_pk: int, *, approve: bool, principal: Principal, actor: str
    ) -> substitutions.Decision:
        """The customer's decision, on its own order only; then the money: the
        difference refunded or captured, a declined line refunded."""
        async with self.db.read() as conn:
            got = await substitutions.substitution_order(conn, substitution_pk)
        mine = got is not None and (
            principal.can("orders")
            or (principal.customer_id is not None and got.customer_id == principal.customer_id)
        )
        if not mine:
            raise fail(Code.NOT_FOUND, "no substitution with that id", "substitution_id")
        decision: substitutions.Decision = await self._write(
            lambda conn, outbox: substitutions.decide(
                conn, outbox, substitution_pk, approve=approve, actor=actor
            )
        )
        await self._settle_difference(decision, substitution_pk, actor)
        return decision

    async def _settle_difference(
        self, decision: substitutions.Decision, substitution_pk: int, actor: str
    ) -> None:
        """After the decision is committed: a declined line refunded; an approved
        substitute's difference refunded (cheaper) or captured (dearer). A refusal
        (nothing captured yet to refund, no authorization left to capture from) is
        recorded on the timeline (``substitution.difference_unsettled``): the decision
        stands and staff settle the money with refundCreate / orderCapture."""
        key = f"substitution-{substitution_pk}"
        note = f"substitution {ids.encode('Substitution', substitution_pk)}"
        try:
            if decision.refund_lines or decision.refund_amount:
                await self.money.refund(
                    decision.order_pk,
                    lines=decision.refund_lines or [],
                    amount=None if decision.refund_lines else decision.refund_amount,
                    note=note,
                    idempotency_key=key,
                    actor=actor,
                )
            elif decision.capture_amount:
                await self.money.capture(
                    decision.order_pk,
                    decision.capture_amount,
                    idempotency_key=key,
                    actor=actor,
                )
        except DomainError as exc:
            why = str(exc)

            async def op(conn: Any, outbox: Outbox) -> None:
                await record_event(
                    conn,
                    decision.order_pk,
                    "substitution.difference_unsettled",
                    actor=actor,
                    message=why,
                    data={
                        "substitutionId": ids.encode("Substitution", substitution_pk),
                        "refund": decision.refund_amount
                        or (None if not decision.refund_lines else "lines"),
                        "capture": decision.capture_amount or None,
                    },
                )

            await self._write(op)


# The exchange's cart and checkout act as staff (a return is received by staff).
_EXCHANGE_CLERK = Principal(frozenset({"admin"}), name="exchange")


def _pk(record: Any) -> int | None:
    """The id of what the money service answered (a refund record)."""
    pk = getattr(record, "pk", None)
    return int(pk) if pk is not None else None
