"""What a checkout is asked and answers: its request and result, and its codes."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
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
    # Split tender (``payments``: several for one order).
    TENDER_SUM_MISMATCH = "TENDER_SUM_MISMATCH"
    TENDER_DUPLICATE_GIFT_CARD = "TENDER_DUPLICATE_GIFT_CARD"
    TENDER_NOT_ALLOWED = "TENDER_NOT_ALLOWED"
    TENDER_CASH_SHORT = "TENDER_CASH_SHORT"
    TENDER_STORE_CREDIT_INVALID = "TENDER_STORE_CREDIT_INVALID"


@dataclass(slots=True)
class PaymentRequest:
    provider: str
    payment_method_id: str | None = None
    reference: str | None = None


@dataclass(slots=True)
class Tender:
    """One of several payments for one order (split tender). ``method``: card, cash,
    terminal, gift_card or store_credit; ``provider``: the card's provider (stripe,
    test), else the method itself. ``amount`` and ``tendered`` (the cash handed over)
    as given, in the cart's currency; ``minor`` and ``tendered_minor`` the same in
    minor units, once the cart is priced. ``store_credit``: the pk of a store-credit
    gift card of the cart's customer."""

    method: str
    amount: Decimal
    provider: str
    payment_method_id: str | None = None
    reference: str | None = None
    tendered: Decimal | None = None
    store_credit: int | None = None
    minor: int = 0
    tendered_minor: int | None = None

    @property
    def change_due(self) -> int:
        if self.tendered_minor is None:
            return 0
        return max(0, self.tendered_minor - self.minor)


@dataclass(slots=True)
class CheckoutResult:
    order_pk: int
    replayed: bool = False
    change_due: int | None = None  # split tender with cash: the change, minor units
