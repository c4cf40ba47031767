"""checkoutComplete and orders on the API.

An order's lines, payments and channel load through per-request dataloaders: a page
of orders costs the same few statements whatever its size.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from hub import ids
from hub.domain import orders as ordersvc
from hub.domain.checkout import PaymentRequest
from hub.domain.errors import Code, fail
from hub.domain.paging import PageRequest, encode_cursor
from schema.calls import after_cursor
from schema.carts import commerce
from schema.catalog import ChannelType, MoneyType, ProductVariantType
from schema.errors import ApiError, run_write
from schema.errors import UserError as UserErrorType
from schema.loaders import Loader
from schema.relay import (
    Connection,
    ConnectionValue,
    Node,
    connection_from_list,
    is_record,
    page_request,
    paged,
    register_node,
)


class _OrderLoaders:
    def __init__(self, ctx: Any) -> None:
        reader = ctx.reader

        async def lines(keys: Sequence[ordersvc.OrderRecord]) -> dict[Hashable, Any]:
            got = await ordersvc.lines_by_orders(reader, keys)
            return {pk: found for pk, found in got.items()}

        async def payments(keys: Sequence[ordersvc.OrderRecord]) -> dict[Hashable, Any]:
            got = await ordersvc.payments_by_orders(reader, keys)
            return {pk: found for pk, found in got.items()}

        self.lines_by_order = Loader(lines, default=list, key=lambda o: o.pk)
        self.payments_by_order = Loader(payments, default=list, key=lambda o: o.pk)

        async def orders(keys: Sequence[int]) -> dict[Hashable, Any]:
            got = await ordersvc.orders_by_pks(reader, keys)
            return {pk: order for pk, order in got.items()}

        self.order_by_id = Loader(orders)


def order_loaders(info: Info) -> _OrderLoaders:
    ctx = info.context
    got: _OrderLoaders = ctx.keyed(_OrderLoaders, lambda: _OrderLoaders(ctx))
    return got


def _may_see(info: Info, order: ordersvc.OrderRecord | None) -> bool:
    if order is None:
        return False
    p = info.context.principal
    return p.is_staff or (p.customer_id is not None and p.customer_id == order.customer_pk)


@strawberry.type
class OrderDiscountAllocation:
    title: str
    allocated_amount: MoneyType


@strawberry.type(name="OrderLineItem")
class OrderLineItemType:
    id: strawberry.ID
    sku: str
    title: str
    quantity: int
    original_unit_price: MoneyType = strawberry.field(
        resolver=lambda root: root.unit_price, description="Unit price before discounts."
    )
    compare_at_price: MoneyType | None = strawberry.field(resolver=lambda root: root.compare_at)
    original_total_price: MoneyType = strawberry.field(resolver=lambda root: root.subtotal)
    total_discount: MoneyType = strawberry.field(resolver=lambda root: root.discount)
    total_tax: MoneyType = strawberry.field(resolver=lambda root: root.tax)
    total_price: MoneyType = strawberry.field(
        resolver=lambda root: root.total, description="After discounts (tax as the order says)."
    )
    delivery_type: str = strawberry.field(resolver=lambda root: root.delivery_kind)

    @strawberry.field
    def discount_allocations(
        self, root: strawberry.Parent[ordersvc.OrderLineRecord]
    ) -> list[OrderDiscountAllocation]:
        return [
            # A Money stands for the MoneyType (its fields are resolved by name).
            OrderDiscountAllocation(title=t, allocated_amount=m)  # type: ignore[arg-type]
            for t, m in root.discount_allocations
        ]

    @strawberry.field(description="Where the units are taken from.")
    def location_ids(
        self, root: strawberry.Parent[ordersvc.OrderLineRecord]
    ) -> list[strawberry.ID]:
        return [strawberry.ID(ids.encode("Location", a["locationId"])) for a in root.allocations]

    @strawberry.field
    async def variant(
        self, root: strawberry.Parent[ordersvc.OrderLineRecord], info: Info
    ) -> ProductVariantType | None:
        if root.variant_pk is None:
            return None
        await info.context.channel()
        got: ProductVariantType | None = await info.context.loaders.variant_by_id.load(
            root.variant_pk
        )
        return got


@strawberry.enum(description="Where a payment stands with its provider.")
class PaymentStatus(Enum):
    REQUIRES_ACTION = "REQUIRES_ACTION"
    PROCESSING = "PROCESSING"
    AUTHORIZED = "AUTHORIZED"
    CAPTURED = "CAPTURED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"
    CANCELED = "CANCELED"
    FAILED = "FAILED"
    UNKNOWN = "UNKNOWN"


@strawberry.enum(description="The payment state of an order: it only moves forward.")
class OrderPaymentStatus(Enum):
    PENDING = "PENDING"
    AUTHORIZED = "AUTHORIZED"
    PAID = "PAID"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"
    VOIDED = "VOIDED"
    FAILED = "FAILED"


@strawberry.enum
class OrderStatus(Enum):
    OPEN = "OPEN"
    CANCELLED = "CANCELLED"
    CLOSED = "CLOSED"


def _enum(kind: type[Enum], value: str) -> Any:
    try:
        return kind(value.upper())
    except ValueError:  # a value this version does not name
        return kind("UNKNOWN") if "UNKNOWN" in kind.__members__ else None


@strawberry.type
class OrderPayment:
    id: strawberry.ID
    provider: str
    status: PaymentStatus = strawberry.field(
        resolver=lambda root: _enum(PaymentStatus, root.status)
    )
    amount: MoneyType
    amount_captured: MoneyType
    amount_refunded: MoneyType
    test: bool = strawberry.field(description='A test payment (provider "test"): no money moved.')


@strawberry.type(name="Order")
class OrderType(Node):
    id: strawberry.ID
    name: str = strawberry.field(description="#1001, #1002, ...")
    status: OrderStatus = strawberry.field(resolver=lambda root: OrderStatus(root.status))
    payment_status: OrderPaymentStatus = strawberry.field(
        resolver=lambda root: OrderPaymentStatus(root.payment_status)
    )
    fulfillment_status: str
    currency_code: str = strawberry.field(resolver=lambda root: root.currency)
    email: str | None
    phone: str | None
    taxes_included: bool
    subtotal_price: MoneyType = strawberry.field(resolver=lambda root: root.subtotal)
    total_discounts: MoneyType = strawberry.field(resolver=lambda root: root.discount_total)
    total_shipping_price: MoneyType = strawberry.field(resolver=lambda root: root.shipping_total)
    total_tax: MoneyType = strawberry.field(resolver=lambda root: root.tax_total)
    total_price: MoneyType = strawberry.field(resolver=lambda root: root.total)
    discount_codes: list[str]
    note: str | None
    test: bool = strawberry.field(
        description="Paid with a test payment (no money moved): a demo or test order."
    )
    source: str = strawberry.field(
        description='Where it was sold: "web" (a storefront or app), "store" (a till) or '
        '"marketplace" (imported).'
    )
    loyalty_points_redeemed: int = strawberry.field(
        resolver=lambda root: root.loyalty_points,
        description="Loyalty points spent as a discount on this order.",
    )
    created_at: datetime
    processed_at: datetime = strawberry.field(resolver=lambda root: root.created_at)

    is_type_of = is_record(ordersvc.OrderRecord)

    @strawberry.field
    def customer_id(self, root: strawberry.Parent[ordersvc.OrderRecord]) -> strawberry.ID | None:
        pk = root.customer_pk
        return strawberry.ID(ids.encode("Customer", pk)) if pk else None

    @strawberry.field
    async def channel(
        self, root: strawberry.Parent[ordersvc.OrderRecord], info: Info
    ) -> ChannelType | None:
        got: ChannelType | None = await info.context.loaders.channel_by_id.load(root.channel_pk)
        return got

    @strawberry.field
    @paged
    async def line_items(
        self,
        info: Info,
        page: PageRequest,
    ) -> Connection[OrderLineItemType]:
        lines = await order_loaders(info).lines_by_order.load(self)
        # The connection of records stands for the GraphQL connection (resolved by name).
        return connection_from_list(lines, page, "OrderLineItem", key=lambda ln: ln.pk)  # type: ignore[return-value]

    @strawberry.field
    async def payments(self, info: Info) -> list[OrderPayment]:
        return await order_loaders(info).payments_by_order.load(self)


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


@strawberry.type
class CheckoutQuery:
    @strawberry.field(description="An order by id: staff see any, a customer its own.")
    async def order(self, info: Info, id: strawberry.ID) -> OrderType | None:
        try:
            pk = ids.decode_pk(id, "Order")
        except ids.InvalidId as exc:
            raise ApiError(str(exc), "INVALID_ID") from None
        got = await order_loaders(info).order_by_id.load(pk)
        return got if _may_see(info, got) else None

    @strawberry.field(description="Orders, newest first: all for staff, a customer's own.")
    async def orders(
        self, info: Info, first: int = 10, after: str | None = None
    ) -> Connection[OrderType]:
        p = info.context.principal
        if not p.is_staff and p.customer_id is None:
            raise ApiError("orders need a customer or admin key", "ACCESS_DENIED")
        page = page_request(first, after, None, None, info.context.settings.max_page_size)
        got = after_cursor(after, "Order")
        before_pk = None if got is None else got[1]
        size = page.size(10)
        rows = await ordersvc.orders_for_customer(
            info.context.reader,
            None if p.is_staff else p.customer_id,
            limit=size + 1,
            before_pk=before_pk,
        )
        has_next = len(rows) > size
        rows = rows[:size]
        # The connection of records stands for the GraphQL connection (resolved by name).
        return ConnectionValue(  # type: ignore[return-value]
            rows, [encode_cursor("Order", None, o.pk) for o in rows], has_next, after is not None
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
        return CheckoutCompletePayload(order=order, user_errors=[])


async def _order_nodes(info: Info, pks: list[int]) -> dict[int, ordersvc.OrderRecord]:
    """node(id:): as order(id:): staff see any order, a customer key its own."""
    got = await order_loaders(info).order_by_id.load_many(pks)
    return {pk: o for pk, o in zip(pks, got, strict=True) if _may_see(info, o)}


register_node("Order", _order_nodes)
