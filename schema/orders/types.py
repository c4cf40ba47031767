"""The order's GraphQL types: ``Order``, its line items, payments and statuses."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from hub import ids
from hub.domain import orders as ordersvc
from hub.domain.paging import PageRequest
from hub.money import Money
from schema.catalog import ChannelType, MoneyType, ProductVariantType
from schema.orders import fulfillment as fo
from schema.orders.loaders import order_loaders
from schema.orders.returns import (
    ReturnType,
    SubstitutionType,
    order_returns,
    order_substitutions,
)
from schema.relay import Connection, Node, connection_from_list, is_record, paged
from schema.till import order_receipt


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
    PARTIALLY_PAID = "PARTIALLY_PAID"
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
    tendered: MoneyType | None = strawberry.field(
        description="Cash: what the buyer handed over (null for other payments)."
    )
    change_due: MoneyType | None = strawberry.field(
        description="Cash: the change given back (tendered less amount)."
    )


@strawberry.type(name="OrderEvent", description="One entry of an order's timeline.")
class OrderEventType:
    id: strawberry.ID
    kind: str = strawberry.field(description='What happened: "order.paid", "refund.created", ...')
    actor: str = strawberry.field(description="Who did it: an API key, a job, a webhook.")
    message: str
    data: JSON = strawberry.field(description="The change's data.")
    created_at: datetime = strawberry.field(description="When.")


@strawberry.enum(description="What a money movement of an order was.")
class OrderTransactionKind(Enum):
    AUTHORIZATION = "AUTHORIZATION"
    CAPTURE = "CAPTURE"
    SALE = "SALE"
    VOID = "VOID"
    REFUND = "REFUND"


@strawberry.enum
class OrderTransactionStatus(Enum):
    PENDING = "PENDING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"


@strawberry.type(name="OrderTransaction", description="One money movement of an order.")
class OrderTransactionType:
    id: strawberry.ID
    kind: OrderTransactionKind = strawberry.field(
        resolver=lambda root: OrderTransactionKind(root.kind)
    )
    status: OrderTransactionStatus = strawberry.field(
        resolver=lambda root: OrderTransactionStatus(root.status)
    )
    provider: str
    amount: MoneyType
    reference: str | None = strawberry.field(
        description="The provider's id of the movement (a Stripe PaymentIntent, a till's receipt)."
    )
    error: str | None
    actor: str
    created_at: datetime

    @strawberry.field
    def payment_id(
        self, root: strawberry.Parent[ordersvc.TransactionRecord]
    ) -> strawberry.ID | None:
        pk = root.payment_pk
        return strawberry.ID(ids.encode("Payment", pk)) if pk else None

    @strawberry.field
    def refund_id(
        self, root: strawberry.Parent[ordersvc.TransactionRecord]
    ) -> strawberry.ID | None:
        pk = root.refund_pk
        return strawberry.ID(ids.encode("Refund", pk)) if pk else None


@strawberry.type(name="RefundLine")
class RefundLineType:
    quantity: int
    amount: MoneyType

    @strawberry.field
    def line_item_id(self, root: strawberry.Parent[ordersvc.RefundLineRecord]) -> strawberry.ID:
        return strawberry.ID(ids.encode("OrderLineItem", root.order_line_pk))


@strawberry.enum
class RefundStatus(Enum):
    PENDING = "PENDING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"


@strawberry.type(name="Refund", description="Money given back on an order.")
class RefundType:
    id: strawberry.ID
    amount: MoneyType = strawberry.field(description="All of it, shipping included.")
    shipping: MoneyType
    status: RefundStatus = strawberry.field(resolver=lambda root: RefundStatus(root.status))
    note: str | None
    actor: str
    created_at: datetime
    lines: list[RefundLineType]

    @strawberry.field
    def return_id(self, root: strawberry.Parent[ordersvc.RefundRecord]) -> strawberry.ID | None:
        pk = root.return_pk
        return strawberry.ID(ids.encode("Return", pk)) if pk else None


def _money(minor: int, currency: str) -> MoneyType:
    """An amount as the API shows it (MoneyType resolves from a ``Money``)."""
    return cast(MoneyType, Money(minor, currency))


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
    total_fees: MoneyType = strawberry.field(
        resolver=lambda root: _money(sum(int(f["amount"]) for f in root.fees), root.currency),
        description="The plugins' fees (gift wrapping...), in totalPrice.",
    )
    discount_codes: list[str]
    note: str | None
    test: bool = strawberry.field(
        description="Paid with a test payment (no money moved): a demo or test order."
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

    receipt: JSON | None = strawberry.field(
        resolver=order_receipt,
        description="The receipt a till prints (store, till, staff, lines, discounts, "
        "taxes, totals, payments with change due, barcode/QR content of the order "
        "number): for the order's customer and staff whose orders permission reaches it.",
    )

    # Fulfillment orders, fulfilments and routing (schema.orders.fulfillment).
    fulfillment_orders: list[fo.FulfillmentOrderType] = strawberry.field(
        resolver=fo.order_fulfillment_orders
    )
    fulfillments: list[fo.FulfillmentType] = strawberry.field(resolver=fo.order_fulfillments)
    routing: fo.RoutingType | None = strawberry.field(resolver=fo.order_routing)
    source: str = strawberry.field(description='Where it was placed: "web", a marketplace...')
    loyalty_points_redeemed: int = strawberry.field(
        resolver=lambda root: root.loyalty_points,
        description="Loyalty points spent as a discount on this order.",
    )
    external_id: str | None = strawberry.field(description="Its id there (imported orders).")
    cancel_reason: str | None
    cancelled_at: datetime | None
    closed_at: datetime | None

    @strawberry.field(description="The timeline: every change, oldest first.")
    async def events(self, info: Info) -> list[OrderEventType]:
        return await order_loaders(info).events_by_order.load(self)

    @strawberry.field(description="Every money movement, oldest first.")
    async def transactions(self, info: Info) -> list[OrderTransactionType]:
        return await order_loaders(info).transactions_by_order.load(self)

    @strawberry.field(description="Money given back, oldest first.")
    async def refunds(self, info: Info) -> list[RefundType]:
        return await order_loaders(info).refunds_by_order.load(self)

    @strawberry.field(description="Returns, oldest first.")
    async def returns(self, info: Info) -> list[ReturnType]:
        return await order_returns(info, self)  # type: ignore[arg-type]  # self is the record

    @strawberry.field(description="Substitutes proposed for lines that can't be picked.")
    async def substitutions(self, info: Info) -> list[SubstitutionType]:
        return await order_substitutions(info, self)  # type: ignore[arg-type]  # the record
