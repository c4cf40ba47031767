"""checkoutComplete on the API (the order it returns is :mod:`schema.orders`)."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from hub.domain import orders as ordersvc
from hub.domain.checkout import PaymentRequest
from hub.domain.errors import Code, fail
from schema.carts import commerce
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


@strawberry.type
class CheckoutCompletePayload:
    order: OrderType | None
    user_errors: list[UserErrorType]
    status_token: str | None = strawberry.field(
        default=None,
        description="A guest order's status token: orderByToken(token:) shows the order "
        "without an account (null for a signed-in customer's order).",
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
    ) -> CheckoutCompletePayload:
        from hub.domain.carts import parse_cart_id

        ctx = info.context
        com = commerce(info)

        async def go() -> Any:
            token = parse_cart_id(cart_id)
            if token is None:
                raise fail(Code.NOT_FOUND, "no cart with that id", "cartId")
            return await com.checkout.complete(
                token,
                idempotency_key,
                _payment_request(payment) if payment is not None else None,
                ctx.principal,
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
        return CheckoutCompletePayload(order=order, user_errors=[], status_token=status)

