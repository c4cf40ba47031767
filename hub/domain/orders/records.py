"""An order, its lines and its payments as the hub reads them."""

from __future__ import annotations

import hashlib
import hmac
from enum import StrEnum
from typing import Any

from hub import ids
from hub.money import Money

NAME_OFFSET = 1000


class OrderCode(StrEnum):
    """userErrors codes of the order book beyond the common ones
    (``hub.domain.errors.Code``; checkout reports the codes of placing an order). Each
    feature adds its members in its own block."""

    # The state machine, payments after checkout, refunds, import (r-ordermoney).
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"
    CAPTURE_EXCEEDS_AUTHORIZATION = "CAPTURE_EXCEEDS_AUTHORIZATION"
    NOTHING_TO_CAPTURE = "NOTHING_TO_CAPTURE"
    REFUND_EXCEEDS_CAPTURED = "REFUND_EXCEEDS_CAPTURED"
    NOTHING_TO_REFUND = "NOTHING_TO_REFUND"
    QUANTITY_EXCEEDS_REMAINING = "QUANTITY_EXCEEDS_REMAINING"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    INSUFFICIENT_STOCK = "INSUFFICIENT_STOCK"

    # --- returns and exchanges (r-returns)
    NOT_RETURNABLE = "NOT_RETURNABLE"
    RETURN_QUANTITY_EXCEEDED = "RETURN_QUANTITY_EXCEEDED"
    RETURN_WINDOW_CLOSED = "RETURN_WINDOW_CLOSED"
    SERIAL_REQUIRED = "SERIAL_REQUIRED"
    SERIAL_MISMATCH = "SERIAL_MISMATCH"
    SERIAL_NOT_IN_STOCK = "SERIAL_NOT_IN_STOCK"
    RETURN_NOT_PENDING = "RETURN_NOT_PENDING"
    RETURN_NOT_RECEIVABLE = "RETURN_NOT_RECEIVABLE"
    RECEIVE_EXCEEDS_RETURNED = "RECEIVE_EXCEEDS_RETURNED"
    EXCHANGE_LINES_REQUIRED = "EXCHANGE_LINES_REQUIRED"
    EXCHANGE_PAYMENT_REQUIRED = "EXCHANGE_PAYMENT_REQUIRED"
    # --- substitutions (r-returns)
    NOT_SUBSTITUTABLE = "NOT_SUBSTITUTABLE"
    SUBSTITUTE_UNAVAILABLE = "SUBSTITUTE_UNAVAILABLE"
    SUBSTITUTION_NOT_PROPOSED = "SUBSTITUTION_NOT_PROPOSED"
    # --- backorders and pre-orders (r-aisle)
    AWAITING_STOCK = "AWAITING_STOCK"
    NOT_TRANSFERABLE = "NOT_TRANSFERABLE"
    AWAITING_TRANSFER = "AWAITING_TRANSFER"
    # Routing and fulfillment orders: transitions, fulfilments, reroute, pickups (r-routing).
    ALREADY_FULFILLED = "ALREADY_FULFILLED"
    LOCATION_AT_CAPACITY = "LOCATION_AT_CAPACITY"
    LOCATION_NOT_ELIGIBLE = "LOCATION_NOT_ELIGIBLE"
    NOT_READY_FOR_PICKUP = "NOT_READY_FOR_PICKUP"
    DELIVERY_KIND_MISMATCH = "DELIVERY_KIND_MISMATCH"


def order_name(pk: int) -> str:
    """``#`` + (1000 + id): unique without a counter row every checkout would contend
    on (a rolled-back checkout leaves a gap, as order numbers usually may)."""
    return f"#{NAME_OFFSET + pk}"


STATUS_TOKEN_PREFIX = "hubos_"


def status_token(secret: str, order_pk: int) -> str:
    """A guest order's status token (``orderByToken``), derived from the cart's own
    secret token: the guest who holds the cart gets the same one again on a replayed
    checkout, and the order keeps only its SHA-256 (:func:`status_token_hash`)."""
    mac = hmac.new(secret.encode(), f"order-status:{order_pk}".encode(), hashlib.sha256)
    return STATUS_TOKEN_PREFIX + mac.hexdigest()


def status_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class OrderRecord:
    __slots__ = (
        "cancel_reason",
        "cancelled_at",
        "channel_pk",
        "closed_at",
        "created_at",
        "currency",
        "customer_pk",
        "delivery",
        "discount_codes",
        "discount_total",
        "discounts",
        "email",
        "external_id",
        "fees",
        "fulfillment_status",
        "id",
        "location_pk",
        "loyalty_points",
        "name",
        "note",
        "payment_status",
        "phone",
        "pk",
        "routing",
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
        # Plugins' fees ([{"code", "label", "amount", "lineId", "source"}], in total).
        self.fees: list[dict[str, Any]] = list(getattr(row, "fees", None) or ())
        self.note = row.note
        self.test = bool(row.test)
        self.loyalty_points: int = row.loyalty_points
        self.created_at = row.created_at
        self.routing = list(row.routing or ())
        self.source = row.source
        self.external_id = row.external_id
        self.location_pk = row.location_id
        self.cancel_reason = row.cancel_reason
        self.cancelled_at = row.cancelled_at
        self.closed_at = row.closed_at


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
        "quantity_cancelled",
        "quantity_fulfilled",
        "quantity_refunded",
        "quantity_returned",
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
        self.quantity_fulfilled = row.quantity_fulfilled
        self.quantity_cancelled = row.quantity_cancelled
        self.quantity_returned = row.quantity_returned
        self.quantity_refunded = row.quantity_refunded


class PaymentRecord:
    __slots__ = (
        "amount",
        "amount_captured",
        "amount_refunded",
        "change_due",
        "id",
        "intent_id",
        "pk",
        "provider",
        "reference",
        "status",
        "tendered",
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
        self.reference = row.reference
        # Cash: what was handed over, and the change given.
        tendered = getattr(row, "tendered", None)
        self.tendered = Money(tendered, currency) if tendered is not None else None
        self.change_due = (
            Money(max(0, tendered - row.amount), currency) if tendered is not None else None
        )


class EventRecord:
    """One entry of an order's timeline."""

    __slots__ = ("actor", "created_at", "data", "id", "kind", "message", "order_pk", "pk")

    def __init__(self, row: Any) -> None:
        self.pk = row.id
        self.id = ids.encode("OrderEvent", row.id)
        self.order_pk = row.order_id
        self.kind = row.kind
        self.actor = row.actor
        self.message = row.message or ""
        self.data = dict(row.data or {})
        self.created_at = row.created_at


class TransactionRecord:
    """One money movement of an order (authorization, capture, void, refund...)."""

    __slots__ = (
        "actor",
        "amount",
        "created_at",
        "error",
        "id",
        "kind",
        "payment_pk",
        "pk",
        "provider",
        "reference",
        "refund_pk",
        "status",
    )

    def __init__(self, row: Any, currency: str | None = None) -> None:
        self.pk = row.id
        self.id = ids.encode("OrderTransaction", row.id)
        self.payment_pk = row.payment_id
        self.refund_pk = row.refund_id
        self.kind = row.kind
        self.provider = row.provider
        self.status = row.status
        self.amount = Money(row.amount, currency or row.currency)
        self.reference = row.reference
        self.error = row.error
        self.actor = row.actor
        self.created_at = row.created_at


class RefundLineRecord:
    __slots__ = ("amount", "order_line_pk", "quantity")

    def __init__(self, row: Any, currency: str) -> None:
        self.order_line_pk = row.order_line_id
        self.quantity = row.quantity
        self.amount = Money(row.amount, currency)


class RefundRecord:
    """Money given back on an order: its amount (shipping included), status and lines."""

    __slots__ = (
        "actor",
        "amount",
        "created_at",
        "currency",
        "id",
        "lines",
        "note",
        "order_pk",
        "pk",
        "return_pk",
        "shipping",
        "status",
    )

    def __init__(self, row: Any, currency: str, lines: list[RefundLineRecord] | None = None):
        self.pk = row.id
        self.id = ids.encode("Refund", row.id)
        self.order_pk = row.order_id
        self.return_pk = row.return_id
        self.currency = currency
        self.amount = Money(row.amount, currency)
        self.shipping = Money(row.shipping, currency)
        self.status = row.status
        self.note = row.note
        self.actor = row.actor
        self.created_at = row.created_at
        self.lines = list(lines or ())
