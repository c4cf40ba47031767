"""An order, its lines and its payments as the hub reads them."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from hub import ids
from hub.money import Money

NAME_OFFSET = 1000


class OrderCode(StrEnum):
    """userErrors codes of orders beyond the common ones (``hub.domain.errors.Code``):
    none yet (checkout reports the codes of placing an order). An order-specific code
    goes here."""


def order_name(pk: int) -> str:
    """``#`` + (1000 + id): unique without a counter row every checkout would contend
    on (a rolled-back checkout leaves a gap, as order numbers usually may)."""
    return f"#{NAME_OFFSET + pk}"


class OrderRecord:
    __slots__ = (
        "channel_pk",
        "created_at",
        "currency",
        "customer_pk",
        "delivery",
        "discount_codes",
        "discount_total",
        "discounts",
        "email",
        "fulfillment_status",
        "id",
        "loyalty_points",
        "name",
        "note",
        "payment_status",
        "phone",
        "pk",
        "shipping_total",
        "source",
        "status",
        "subtotal",
        "tax_total",
        "taxes_included",
        "test",
        "total",
    )

    def __init__(self, row: Any) -> None:
        self.pk = row.id
        self.id = ids.encode("Order", row.id)
        self.name = row.name or order_name(row.id)
        self.channel_pk = row.channel_id
        self.customer_pk = row.customer_id
        self.email = row.email
        self.phone = row.phone
        self.status = row.status
        self.payment_status = row.payment_status
        self.fulfillment_status = row.fulfillment_status
        self.currency = row.currency
        self.taxes_included = row.taxes_included
        self.subtotal = Money(row.subtotal, row.currency)
        self.discount_total = Money(row.discount_total, row.currency)
        self.shipping_total = Money(row.shipping_total, row.currency)
        self.tax_total = Money(row.tax_total, row.currency)
        self.total = Money(row.total, row.currency)
        self.discount_codes = list(row.discount_codes or ())
        self.discounts = list(row.discounts or ())
        self.delivery = list(row.delivery or ())
        self.note = row.note
        self.test = bool(row.test)
        self.source: str = row.source
        self.loyalty_points: int = row.loyalty_points
        self.created_at = row.created_at


class OrderLineRecord:
    __slots__ = (
        "allocations",
        "compare_at",
        "delivery_kind",
        "discount",
        "discount_allocations",
        "id",
        "pk",
        "quantity",
        "sku",
        "subtotal",
        "tax",
        "title",
        "total",
        "unit_price",
        "variant_pk",
    )

    def __init__(self, row: Any, currency: str) -> None:
        self.pk = row.id
        self.id = ids.encode("OrderLineItem", row.id)
        self.variant_pk = row.variant_id
        self.sku = row.sku
        self.title = row.title
        self.quantity = row.quantity
        self.unit_price = Money(row.unit_price, currency)
        self.compare_at = Money(row.compare_at, currency) if row.compare_at is not None else None
        self.subtotal = Money(row.subtotal, currency)
        self.discount = Money(row.discount, currency)
        self.tax = Money(row.tax, currency)
        self.total = Money(row.total, currency)
        self.discount_allocations = [
            (a.get("title", ""), Money(int(a.get("amount", 0)), currency))
            for a in row.discount_allocations or ()
        ]
        self.allocations = list(row.allocations or ())
        self.delivery_kind = row.delivery_kind


class PaymentRecord:
    __slots__ = (
        "amount",
        "amount_captured",
        "amount_refunded",
        "id",
        "intent_id",
        "pk",
        "provider",
        "status",
        "test",
    )

    def __init__(self, row: Any, currency: str) -> None:
        self.pk = row.id
        self.id = ids.encode("Payment", row.id)
        self.test = bool(row.test)
        self.provider = row.provider
        self.intent_id = row.intent_id
        self.status = row.status
        self.amount = Money(row.amount, currency)
        self.amount_captured = Money(row.amount_captured, currency)
        self.amount_refunded = Money(row.amount_refunded, currency)
