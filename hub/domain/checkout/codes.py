"""What a checkout is asked and answers: its request and result, and its codes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

OFFLINE_PROVIDERS = frozenset({"cash", "terminal"})
TEST_PROVIDER = "test"


class CheckoutCode(StrEnum):
    """checkoutComplete's refusals beyond the common ones (cart codes: ``CartCode``)."""

    INSUFFICIENT_STOCK = "INSUFFICIENT_STOCK"
    PAYMENT_REQUIRED = "PAYMENT_REQUIRED"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    PAYMENT_ACTION_REQUIRED = "PAYMENT_ACTION_REQUIRED"
    PAYMENT_INVALID = "PAYMENT_INVALID"
    PAYMENT_UNAVAILABLE = "PAYMENT_UNAVAILABLE"
    ACCESS_DENIED = "ACCESS_DENIED"
    EMPTY_CART = "EMPTY_CART"
    DISCOUNT_NOT_AVAILABLE = "DISCOUNT_NOT_AVAILABLE"
    CHECKOUT_INTERRUPTED = "CHECKOUT_INTERRUPTED"
    # The cart's state, as checkout finds it (the same strings as ``CartCode``'s).
    CART_EXPIRED = "CART_EXPIRED"
    ALREADY_COMPLETED = "ALREADY_COMPLETED"
    CHECKOUT_IN_PROGRESS = "CHECKOUT_IN_PROGRESS"


@dataclass(slots=True)
class PaymentRequest:
    provider: str
    payment_method_id: str | None = None
    reference: str | None = None


@dataclass(slots=True)
class CheckoutResult:
    order_pk: int
    replayed: bool = False
