"""What ``apply`` returns. All amounts are integer minor units of ``Result.currency``.

Invariants (tested as properties): ``total = subtotal - discount_total + shipping -
shipping_discount >= 0``; every line's ``discount <= subtotal``; the allocations' line
amounts sum to ``discount_total`` and their shipping amounts to ``shipping_discount``;
``shipping_discount <= shipping``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .enums import DiscountClass


@dataclass(frozen=True, slots=True)
class LineResult:
    subtotal: int  # quantity x unit price
    discount: int  # all promotions' amounts on this line
    total: int  # subtotal - discount, never below 0


@dataclass(frozen=True, slots=True)
class Allocation:
    """One applied promotion and where its amount went."""

    promotion_id: int
    title: str
    klass: DiscountClass
    amount: int  # sum of line_amounts + shipping_amount
    line_amounts: tuple[tuple[str, int], ...]  # (line_id, amount), basket order, non-zero
    shipping_amount: int
    code: str | None = None  # the code (as entered) that activated it, if any


@dataclass(frozen=True, slots=True)
class CodeStatus:
    code: str  # as entered
    applicable: bool
    reason: str | None  # a Reason code when not applicable


@dataclass(frozen=True, slots=True)
class Result:
    currency: str
    lines: Mapping[str, LineResult]  # by line_id, in basket order (read-only)
    subtotal: int  # sum of line subtotals
    discount_total: int  # merchandise discounts: sum of line discounts
    shipping: int
    shipping_discount: int
    total: int
    allocations: tuple[Allocation, ...]  # in the order they were applied
    codes: tuple[CodeStatus, ...]  # one per entered code, in the order entered

    def code(self, code: str) -> CodeStatus | None:
        """The status of an entered code (exact spelling as entered)."""
        return next((c for c in self.codes if c.code == code), None)
