"""The order's three statuses and the values each may take. Transitions are domain
functions (capture, cancel, fulfil, return, refund) that check their preconditions
and move these; this module names the values and derives the ones that follow from
counts, so every path computes them the same way."""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    OPEN = "OPEN"
    CANCELLED = "CANCELLED"
    CLOSED = "CLOSED"


class PaymentStatus(StrEnum):
    PENDING = "PENDING"
    AUTHORIZED = "AUTHORIZED"
    PARTIALLY_PAID = "PARTIALLY_PAID"
    PAID = "PAID"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"
    VOIDED = "VOIDED"
    FAILED = "FAILED"


class FulfillmentStatus(StrEnum):
    UNFULFILLED = "UNFULFILLED"
    PARTIALLY_FULFILLED = "PARTIALLY_FULFILLED"
    FULFILLED = "FULFILLED"
    PARTIALLY_RETURNED = "PARTIALLY_RETURNED"
    RETURNED = "RETURNED"


class FulfillmentOrderStatus(StrEnum):
    OPEN = "OPEN"
    IN_PROGRESS = "IN_PROGRESS"
    READY_FOR_PICKUP = "READY_FOR_PICKUP"
    FULFILLED = "FULFILLED"
    CANCELLED = "CANCELLED"
    ON_HOLD = "ON_HOLD"


class ReturnStatus(StrEnum):
    REQUESTED = "REQUESTED"
    OPEN = "OPEN"
    PARTIALLY_RECEIVED = "PARTIALLY_RECEIVED"
    RECEIVED = "RECEIVED"
    CLOSED = "CLOSED"
    DECLINED = "DECLINED"
    CANCELLED = "CANCELLED"


def payment_status(*, authorized: int, captured: int, refunded: int, voided: bool) -> PaymentStatus:
    """From the order's money: what was authorized (all payments), captured, refunded."""
    if refunded > 0:
        return PaymentStatus.REFUNDED if refunded >= captured else PaymentStatus.PARTIALLY_REFUNDED
    if captured > 0:
        return PaymentStatus.PAID if captured >= authorized else PaymentStatus.PARTIALLY_PAID
    if voided:
        return PaymentStatus.VOIDED
    return PaymentStatus.AUTHORIZED if authorized > 0 else PaymentStatus.PENDING


def fulfillment_status(
    *, ordered: int, cancelled: int, fulfilled: int, returned: int
) -> FulfillmentStatus:
    """From the order lines' unit counts (cancelled units need no fulfilment)."""
    if returned > 0:
        return (
            FulfillmentStatus.RETURNED
            if returned >= fulfilled
            else FulfillmentStatus.PARTIALLY_RETURNED
        )
    due = ordered - cancelled
    if fulfilled <= 0:
        return FulfillmentStatus.UNFULFILLED
    return (
        FulfillmentStatus.FULFILLED if fulfilled >= due else FulfillmentStatus.PARTIALLY_FULFILLED
    )
