"""Conditions: when a promotion is eligible at all.

Each condition is a small frozen class with ``matches(basket, ctx) -> bool`` and a
stable ``reason`` (a ``Reason`` code) reported when it is not met; ``failure`` returns
that reason or ``None``. Conditions look at the basket *as entered*: thresholds are
measured on prices before any discount, so whether a promotion is eligible never
depends on which other promotions happened to apply (see the engine's docstring).

Plugins add conditions by subclassing ``Condition`` with a unique ``kind`` and
decorating the class with ``register_condition`` so ``from_dict`` can read it."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Self

from ._fields import Fields, Kinds, Part, check_aware, check_int, check_str, frozen_strs
from .basket import Basket, Context, Target, normalize_code, opt_target, target_json
from .enums import Reason


class Condition(Part):
    __slots__ = ()

    reason: ClassVar[str]  # reported when not met

    @abstractmethod
    def matches(self, basket: Basket, ctx: Context) -> bool: ...

    def failure(self, basket: Basket, ctx: Context) -> str | None:
        """The reason this condition is not met, or ``None`` when it is."""
        return None if self.matches(basket, ctx) else self.reason


_KINDS: Kinds[Condition] = Kinds("condition")
register_condition = _KINDS.register
unregister_condition = _KINDS.unregister
"""Class decorator: make a condition readable by ``from_dict`` under its ``kind``."""
condition_from_json = _KINDS.read
condition_to_json = _KINDS.write


def _lines(basket: Basket, target: Target | None) -> list[Any]:
    if target is None:
        return list(basket.lines)
    lines = basket.lines
    return [lines[i] for i in basket.index.matching(target)]


def _check_target(value: object, name: str, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if not isinstance(value, Target):
        raise ValueError(f"{name} must be a Target, got {value!r}")


@register_condition
@dataclass(frozen=True, slots=True)
class MinSubtotal(Condition):
    """The subtotal (before discounts) of the target's lines, or of the whole basket
    when ``target`` is None, is at least ``amount``."""

    amount: int
    target: Target | None = None

    kind: ClassVar[str] = "min_subtotal"
    reason: ClassVar[str] = Reason.MIN_SUBTOTAL_NOT_MET

    def __post_init__(self) -> None:
        check_int(self.amount, "min_subtotal amount")
        _check_target(self.target, "target")

    def matches(self, basket: Basket, ctx: Context) -> bool:
        if self.target is None:
            return basket.index.gross >= self.amount
        return sum(line.subtotal for line in _lines(basket, self.target)) >= self.amount

    @property
    def uses_money(self) -> bool:
        return True

    def to_json(self) -> dict[str, Any]:
        return {"amount": self.amount, "target": target_json(self.target)}

    @classmethod
    def from_json(cls, f: Fields) -> MinSubtotal:
        return f.build(cls, amount=f.integer("amount"), target=opt_target(f))


@register_condition
@dataclass(frozen=True, slots=True)
class MinQuantity(Condition):
    """At least ``quantity`` units of the target's lines (or of the basket)."""

    quantity: int
    target: Target | None = None

    kind: ClassVar[str] = "min_quantity"
    reason: ClassVar[str] = Reason.MIN_QUANTITY_NOT_MET

    def __post_init__(self) -> None:
        check_int(self.quantity, "min_quantity quantity", minimum=1)
        _check_target(self.target, "target")

    def matches(self, basket: Basket, ctx: Context) -> bool:
        return sum(line.quantity for line in _lines(basket, self.target)) >= self.quantity

    def to_json(self) -> dict[str, Any]:
        return {"quantity": self.quantity, "target": target_json(self.target)}

    @classmethod
    def from_json(cls, f: Fields) -> MinQuantity:
        return f.build(cls, quantity=f.integer("quantity"), target=opt_target(f))


@register_condition
@dataclass(frozen=True, slots=True)
class HasItems(Condition):
    """The basket holds at least one line the target matches (products, variants,
    collections, tags or product types)."""

    target: Target

    kind: ClassVar[str] = "has_items"
    reason: ClassVar[str] = Reason.NO_MATCHING_ITEMS

    def __post_init__(self) -> None:
        _check_target(self.target, "target", optional=False)

    def matches(self, basket: Basket, ctx: Context) -> bool:
        return bool(basket.index.matching(self.target))

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target.to_json()}

    @classmethod
    def from_json(cls, f: Fields) -> HasItems:
        return f.build(cls, target=Target.from_json(f.nested("target")))


@dataclass(frozen=True, slots=True)
class _OneOf(Condition):
    """Base for "the context's X is one of these values"."""

    values: frozenset[str]

    field_name: ClassVar[str] = "values"

    def __post_init__(self) -> None:
        values = frozen_strs(self.values, self.field_name)
        if not values:
            raise ValueError(f"{self.kind} needs at least one value")
        object.__setattr__(self, "values", values)

    def to_json(self) -> dict[str, Any]:
        return {self.field_name: sorted(self.values)}

    @classmethod
    def from_json(cls, f: Fields) -> Self:
        return f.build(cls, values=f.strs(cls.field_name))


@register_condition
@dataclass(frozen=True, slots=True)
class CustomerSegment(_OneOf):
    """The customer belongs to at least one of the segments."""

    kind: ClassVar[str] = "customer_segment"
    reason: ClassVar[str] = Reason.CUSTOMER_NOT_ELIGIBLE
    field_name: ClassVar[str] = "segments"

    def matches(self, basket: Basket, ctx: Context) -> bool:
        return not self.values.isdisjoint(ctx.segments)


@register_condition
@dataclass(frozen=True, slots=True)
class LoyaltyTier(_OneOf):
    """The customer's loyalty tier is one of these."""

    kind: ClassVar[str] = "loyalty_tier"
    reason: ClassVar[str] = Reason.CUSTOMER_NOT_ELIGIBLE
    field_name: ClassVar[str] = "tiers"

    def matches(self, basket: Basket, ctx: Context) -> bool:
        return ctx.loyalty_tier in self.values


@register_condition
@dataclass(frozen=True, slots=True)
class Channel(_OneOf):
    """The sale happens on one of these channels (e.g. "web", "app", "pos")."""

    kind: ClassVar[str] = "channel"
    reason: ClassVar[str] = Reason.WRONG_CHANNEL
    field_name: ClassVar[str] = "channels"

    def matches(self, basket: Basket, ctx: Context) -> bool:
        return ctx.channel in self.values


@register_condition
@dataclass(frozen=True, slots=True)
class Country(_OneOf):
    """The shipping/sale country (ISO 3166 alpha-2, any case) is one of these; an
    unknown country never matches."""

    kind: ClassVar[str] = "country"
    reason: ClassVar[str] = Reason.WRONG_COUNTRY
    field_name: ClassVar[str] = "countries"

    def __post_init__(self) -> None:
        super(Country, self).__post_init__()
        object.__setattr__(self, "values", frozenset(v.upper() for v in self.values))

    def matches(self, basket: Basket, ctx: Context) -> bool:
        return ctx.country is not None and ctx.country in self.values


@register_condition
@dataclass(frozen=True, slots=True)
class DateWindow(Condition):
    """``starts_at <= ctx.now < ends_at``; either end may be open. Reports
    ``NOT_STARTED`` before the window and ``EXPIRED`` after it."""

    starts_at: datetime | None = None
    ends_at: datetime | None = None

    kind: ClassVar[str] = "date_window"
    reason: ClassVar[str] = Reason.EXPIRED

    def __post_init__(self) -> None:
        check_window(self.starts_at, self.ends_at)

    def matches(self, basket: Basket, ctx: Context) -> bool:
        return self.failure(basket, ctx) is None

    def failure(self, basket: Basket, ctx: Context) -> str | None:
        return window_failure(self.starts_at, self.ends_at, ctx.now)

    def to_json(self) -> dict[str, Any]:
        return {"starts_at": _iso(self.starts_at), "ends_at": _iso(self.ends_at)}

    @classmethod
    def from_json(cls, f: Fields) -> DateWindow:
        return f.build(cls, starts_at=f.moment("starts_at"), ends_at=f.moment("ends_at"))


def check_window(starts_at: datetime | None, ends_at: datetime | None) -> None:
    if starts_at is not None:
        check_aware(starts_at, "starts_at")
    if ends_at is not None:
        check_aware(ends_at, "ends_at")
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise ValueError(f"ends_at ({ends_at}) must be after starts_at ({starts_at})")


def window_failure(
    starts_at: datetime | None, ends_at: datetime | None, now: datetime
) -> str | None:
    if starts_at is not None and now < starts_at:
        return Reason.NOT_STARTED
    if ends_at is not None and now >= ends_at:
        return Reason.EXPIRED
    return None


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@register_condition
@dataclass(frozen=True, slots=True)
class FirstOrder(Condition):
    """Only on the customer's first order."""

    kind: ClassVar[str] = "first_order"
    reason: ClassVar[str] = Reason.FIRST_ORDER_ONLY

    def matches(self, basket: Basket, ctx: Context) -> bool:
        return ctx.first_order

    def to_json(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_json(cls, f: Fields) -> FirstOrder:
        return f.build(cls)


@register_condition
@dataclass(frozen=True, slots=True)
class CouponCode(Condition):
    """One of these codes was entered (case-insensitive). A promotion with this
    condition is a code promotion: the engine only considers it when one of the codes
    was entered, and reports the code's status."""

    codes: tuple[str, ...]

    kind: ClassVar[str] = "coupon_code"
    reason: ClassVar[str] = Reason.CODE_REQUIRED

    def __post_init__(self) -> None:
        codes = (self.codes,) if isinstance(self.codes, str) else tuple(self.codes)
        if not codes:
            raise ValueError("coupon_code needs at least one code")
        for code in codes:
            check_str(code, "code")
        object.__setattr__(self, "codes", codes)

    @property
    def normalized(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(normalize_code(c) for c in self.codes))

    def matches(self, basket: Basket, ctx: Context) -> bool:
        entered = {normalize_code(c) for c in ctx.codes}
        return any(code in entered for code in self.normalized)

    def to_json(self) -> dict[str, Any]:
        return {"codes": list(self.codes)}

    @classmethod
    def from_json(cls, f: Fields) -> CouponCode:
        codes = f.items("codes")
        return f.build(cls, codes=tuple(codes))
