"""checkoutComplete on the API (the order it returns is :mod:`schema.orders`)."""

from __future__ import annotations

from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, cast

import strawberry
from strawberry.types import Info

from hub import ids
from hub.domain import orders as ordersvc
from hub.domain.checkout import CheckoutCode, PaymentRequest, Tender
from hub.domain.errors import Code, fail
from hub.domain.inventory import refuse
from hub.money import Money
from schema.carts import commerce
from schema.catalog import MoneyType
from schema.errors import UserError as UserErrorType
from schema.errors import run_write
from schema.orders import OrderType, order_loaders


@strawberry.input
class PaymentInput:
    provider: str = strawberry.field(
        description='"stripe" (with a tokenized paymentMethodId), "gift_card" (with '
        'giftCardCode), "test" (where enabled: a Stripe test PaymentMethod id such as '
        'pm_card_visa, no money moves), or an offline tender: "cash", "terminal" '
        "(admin/point-of-sale keys)."
    )
    payment_method_id: str | None = None
    reference: str | None = strawberry.field(
        default=None, description="Cash drawer or terminal transaction reference."
    )
    gift_card_code: str | None = strawberry.field(
        default=None, description='The gift card\'s code, with provider "gift_card".'
    )


def _payment_request(payment: PaymentInput) -> PaymentRequest:
    """A gift card's code travels as the provider's payment method (it is hashed
    into the payment's idempotency key and never stored)."""
    method = payment.payment_method_id
    if payment.gift_card_code is not None:
        if payment.provider.strip().lower() != "gift_card" or method is not None:
            raise fail(
                Code.INVALID,
                'giftCardCode goes with provider "gift_card" and no paymentMethodId',
                "payment",
                "giftCardCode",
            )
        code = payment.gift_card_code
        if len(code) > 255 or any(ord(c) < 32 or ord(c) == 127 for c in code):
            raise fail(
                Code.INVALID,
                "giftCardCode is at most 255 characters, without control characters",
                "payment",
                "giftCardCode",
            )
        method = code
    return PaymentRequest(payment.provider, method, payment.reference)


@strawberry.enum(description="How one of several payments for an order is made.")
class TenderMethod(Enum):
    CARD = "card"
    CASH = "cash"
    TERMINAL = "terminal"
    GIFT_CARD = "gift_card"
    STORE_CREDIT = "store_credit"


@strawberry.input(
    description="One of several payments for one order (split tender); their amounts "
    "add up to the order's total. Gift cards and store credit are taken first, then the "
    "card, then cash and terminal records; if one fails, all taken are given back."
)
class CheckoutPaymentInput:
    method: TenderMethod
    amount: Decimal = strawberry.field(description="What this payment pays.")
    provider: str | None = strawberry.field(
        default=None, description='A card\'s provider: "stripe" (default) or "test".'
    )
    payment_method_id: str | None = strawberry.field(
        default=None, description="A card's tokenized payment method."
    )
    gift_card_code: str | None = None
    reference: str | None = strawberry.field(
        default=None, description="The cash drawer, or the terminal's transaction reference."
    )
    cash_tendered: Decimal | None = strawberry.field(
        default=None,
        description="Cash: what the buyer handed over (at least amount); the change due "
        "is the difference.",
    )
    store_credit_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Store credit: the id of a store-credit GiftCard of the cart's customer.",
    )


def _tender(i: int, p: CheckoutPaymentInput) -> Tender:
    method = p.method.value
    where = ("payments", str(i))
    if p.gift_card_code is not None and method != "gift_card":
        raise fail(Code.INVALID, "giftCardCode goes with method GIFT_CARD", *where, "giftCardCode")
    if p.cash_tendered is not None and method != "cash":
        raise fail(Code.INVALID, "cashTendered goes with method CASH", *where, "cashTendered")
    if p.payment_method_id is not None and method != "card":
        raise fail(Code.INVALID, "paymentMethodId goes with method CARD", *where, "paymentMethodId")
    if p.provider is not None and method != "card":
        raise fail(Code.INVALID, "provider goes with method CARD", *where, "provider")
    store_credit = None
    if p.store_credit_id is not None:
        if method != "store_credit":
            raise fail(Code.INVALID, "storeCreditId goes with method STORE_CREDIT", *where)
        try:
            store_credit = ids.decode_pk(str(p.store_credit_id), "GiftCard")
        except ids.InvalidId:
            raise refuse(
                CheckoutCode.TENDER_STORE_CREDIT_INVALID,
                "no store credit with that id",
                *where,
                "storeCreditId",
            ) from None
    provider = (p.provider or "stripe").strip().lower() if method == "card" else method
    if method == "gift_card":
        code = p.gift_card_code or ""
        if len(code) > 255 or any(ord(c) < 32 or ord(c) == 127 for c in code):
            raise fail(Code.INVALID, "giftCardCode is at most 255 characters", *where)
        pm: str | None = code
    elif method == "store_credit":
        pm = str(store_credit) if store_credit is not None else None
    else:
        pm = p.payment_method_id
    return Tender(
        method=method,
        amount=p.amount,
        provider=provider,
        payment_method_id=pm,
        reference=p.reference,
        tendered=p.cash_tendered,
        store_credit=store_credit,
    )


@strawberry.type
class CheckoutCompletePayload:
    order: OrderType | None
    user_errors: list[UserErrorType]
    status_token: str | None = strawberry.field(
        default=None,
        description="A guest order's status token: orderByToken(token:) shows the order "
        "without an account (null for a signed-in customer's order).",
    )
    change_due: MoneyType | None = strawberry.field(
        default=None,
        description="Split tender with cash: the change to give back on the cash handed "
        "over (null without cash).",
    )


@strawberry.type
class CheckoutMutation:
    @strawberry.mutation(
        description="Turn a cart into an order: prices it again, reserves the stock, "
        "authorizes the payment and writes the order, all or nothing. The same "
        "idempotencyKey returns the same order."
    )
    async def checkout_complete(
        self,
        info: Info,
        cart_id: strawberry.ID,
        idempotency_key: str,
        payment: PaymentInput | None = None,
        payments: Annotated[
            list[CheckoutPaymentInput] | None,
            strawberry.argument(
                description="Several payments for one order (split tender), instead of payment."
            ),
        ] = None,
    ) -> CheckoutCompletePayload:
        from hub.domain.carts import parse_cart_id

        ctx = info.context
        com = commerce(info)

        async def go() -> Any:
            token = parse_cart_id(cart_id)
            if token is None:
                raise fail(Code.NOT_FOUND, "no cart with that id", "cartId")
            if payments is not None and payment is not None:
                raise fail(Code.INVALID, "pass payment or payments, not both", "payments")
            return await com.checkout.complete(
                token,
                idempotency_key,
                _payment_request(payment) if payment is not None else None,
                ctx.principal,
                tenders=[_tender(i, p) for i, p in enumerate(payments)]
                if payments is not None
                else None,
            )

        result, errs = await run_write(info, go)
        if result is None:
            return CheckoutCompletePayload(order=None, user_errors=errs)
        order = await order_loaders(info).order_by_id.load(result.order_pk)
        token = parse_cart_id(cart_id)
        status = (
            ordersvc.status_token(token, result.order_pk)
            if token is not None and order is not None and order.customer_pk is None
            else None
        )
        return CheckoutCompletePayload(
            order=order,
            user_errors=[],
            status_token=status,
            change_due=cast(MoneyType, Money(result.change_due, order.currency))
            if result.change_due is not None and order is not None
            else None,
        )
