"""Actions: what a promotion takes off.

An action looks at a ``PricingView`` (the basket plus what is still payable on each
line and on shipping after the discounts applied before it) and returns an
``Outcome``: the *exact* amount, as a ``Fraction``, it takes off each line and off
shipping, or a ``Reason`` when it has nothing to take. The engine caps each amount at
what is still payable, rounds the promotion's total half-even to the minor unit, and
spreads it over the lines with the largest-remainder method; an action never rounds.
The built-in actions compute the same exact amounts as integers on one denominator
(``Amounts``, from ``amounts``: no ``Fraction`` per line, which is most of the cost
when hundreds of promotions are priced); ``compute`` derives the ``Outcome`` from it.
An action that discounts every line in proportion to what it still costs also says
so (``basket_discount``), and the engine then prices it on the sum alone.

Choices, so the same basket always prices the same way:

- Percentages are ``Decimal`` (``Decimal("12.5")`` is 12.5%), converted exactly to
  ``Fraction``; percent off is taken from what is still payable (so 10% then 20% off
  the same line is 28% in all).
- ``FixedOff`` on items takes the amount off ONCE across the matched lines, split in
  proportion to what each line still costs; ``each_item=True`` takes it off every
  matched unit instead (never below the unit's price).
- A unit's price is its line's payable amount over its quantity, so units of one line
  are interchangeable. Ties between equally priced units break by ``line_id``, never
  by position, so the order lines arrive in changes nothing.
- ``BuyXGetY``: the CHEAPEST eligible units get the discount (the usual retail rule,
  and the one that cannot be gamed by adding an expensive "free" item); it repeats as
  often as the basket allows, up to ``max_uses``.
- ``MixAndMatch`` ("any 3 for 10.00"): the eligible units are sorted most expensive
  first and cut into groups of ``n``; each group costs ``price`` (or its own sum if
  that is less). Grouping the most expensive units together is the grouping that
  saves the shopper the most, and it is deterministic.
- ``BundlePrice``: bundles are filled one at a time, each component taking the most
  expensive eligible units left, the component with the fewest eligible units first;
  a bundle is only formed while it saves money.
- Thresholds (``TieredSpend`` tiers, like the ``MinSubtotal`` condition) are measured
  on the basket as entered, before any discount; the amount is taken from what is
  still payable.

Plugins add actions by subclassing ``Action`` (implementing ``compute``) and decorating
with ``register_action``.
"""

from __future__ import annotations

import functools
import math
from abc import abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any, ClassVar

from ._fields import Fields, Kinds, Part, check_int, check_opt_int, check_percent, percent_text
from .basket import Basket, BasketLine, LineIndex, Target, opt_target, target_json
from .enums import DiscountClass, Reason

_ZERO = Fraction(0)
_HUNDRED = Fraction(100)


class PricingView:
    """What an action sees. ``remaining[i]`` is what line ``i`` still costs (minor
    units) after the discounts applied before this one; ``shipping`` likewise."""

    __slots__ = ("_index", "basket", "lines", "remaining", "shipping")

    def __init__(
        self,
        basket: Basket,
        remaining: Sequence[int] | None = None,
        shipping: int | None = None,
        index: LineIndex | None = None,
    ) -> None:
        self.basket = basket
        self.lines: tuple[BasketLine, ...] = basket.lines
        self.remaining: Sequence[int] = (
            remaining if remaining is not None else tuple(ln.subtotal for ln in basket.lines)
        )
        self.shipping = basket.shipping if shipping is None else shipping
        self._index = index or basket.index

    def matching(self, target: Target | None) -> tuple[int, ...]:
        """Indices of the lines ``target`` matches (all lines for ``None``)."""
        return self._index.matching(target)

    def unit_price(self, i: int) -> Fraction:
        return Fraction(self.remaining[i], self.lines[i].quantity)

    def subtotal(self, indices: Iterable[int]) -> int:
        return sum(self.remaining[i] for i in indices)

    def gross_subtotal(self, indices: Iterable[int]) -> int:
        return sum(self.lines[i].subtotal for i in indices)

    def unit_keys(self, indices: Iterable[int]) -> tuple[dict[int, int], int]:
        """Unit prices as integers on a common denominator (the quantities' lcm):
        ``keys[i] / common`` is line ``i``'s unit price. They order exactly as the
        ``Fraction`` unit prices, compare faster and add up without a ``Fraction``."""
        lines, remaining = self.lines, self.remaining
        indices = list(indices)
        common = math.lcm(*(lines[i].quantity for i in indices)) if indices else 1
        return {i: remaining[i] * (common // lines[i].quantity) for i in indices}, common

    def cheapest_first(self, indices: Iterable[int]) -> list[int]:
        indices = list(indices)
        keys, lines = self.unit_keys(indices)[0], self.lines
        return sorted(indices, key=lambda i: (keys[i], lines[i].line_id))

    def dearest_first(self, indices: Iterable[int]) -> list[int]:
        indices = list(indices)
        keys, lines = self.unit_keys(indices)[0], self.lines
        return sorted(indices, key=lambda i: (-keys[i], lines[i].line_id))


@dataclass(frozen=True, slots=True)
class Outcome:
    """Exact amounts off, by line index and for shipping; or why there are none."""

    lines: Mapping[int, Fraction] = field(default_factory=dict)
    shipping: Fraction = _ZERO
    reason: str | None = None

    @classmethod
    def rejected(cls, reason: str) -> Outcome:
        return cls(reason=reason)


class Amounts:
    """What an action takes off, exactly, as integers on one denominator: line ``i``
    ``lines[i] / denominator``, shipping ``shipping / denominator``; or nothing, and
    ``reason`` says why. The same numbers as an ``Outcome`` without a ``Fraction``
    per line (what the engine computes with)."""

    __slots__ = ("denominator", "lines", "reason", "shipping")

    def __init__(
        self,
        lines: dict[int, int] | None = None,
        shipping: int = 0,
        denominator: int = 1,
        reason: str | None = None,
    ) -> None:
        if denominator <= 0:
            raise ValueError(f"denominator must be positive, got {denominator}")
        self.lines: dict[int, int] = {} if lines is None else lines
        self.shipping = shipping
        self.denominator = denominator
        self.reason = reason

    @classmethod
    def rejected(cls, reason: str) -> Amounts:
        return cls(reason=reason)

    @classmethod
    def of(cls, outcome: Outcome) -> Amounts:
        """An ``Outcome``'s amounts on their least common denominator."""
        lines = {i: Fraction(amount) for i, amount in outcome.lines.items()}
        shipping = Fraction(outcome.shipping)
        den = math.lcm(shipping.denominator, *(a.denominator for a in lines.values()))
        return cls(
            {i: a.numerator * (den // a.denominator) for i, a in lines.items()},
            shipping.numerator * (den // shipping.denominator),
            den,
            outcome.reason,
        )

    def outcome(self) -> Outcome:
        """The same amounts as ``Fraction``s."""
        den = self.denominator
        return Outcome(
            {i: Fraction(num, den) for i, num in self.lines.items()},
            Fraction(self.shipping, den),
            self.reason,
        )


@functools.lru_cache(maxsize=4096)
def rate(percent: Decimal) -> tuple[int, int]:
    """``percent`` / 100 as a reduced (numerator, denominator) pair."""
    exact = Fraction(percent) / _HUNDRED
    return exact.numerator, exact.denominator


def percent_of(view: PricingView, indices: Sequence[int], percent: Decimal) -> Amounts:
    """``percent`` off what each of these lines still costs."""
    if not indices:
        return Amounts.rejected(Reason.NO_MATCHING_ITEMS)
    num, den = rate(percent)
    remaining = view.remaining
    lines = {i: remaining[i] * num for i in indices if remaining[i] > 0}
    return Amounts(lines, 0, den) if lines else Amounts.rejected(Reason.NO_DISCOUNT)


def spread(view: PricingView, indices: Sequence[int], amount: int) -> Amounts:
    """``amount`` off these lines together, in proportion to what each still costs."""
    if not indices:
        return Amounts.rejected(Reason.NO_MATCHING_ITEMS)
    remaining = view.remaining
    base = sum(remaining[i] for i in indices)
    if base <= 0:
        return Amounts.rejected(Reason.NO_DISCOUNT)
    off = min(amount, base)
    return Amounts({i: off * remaining[i] for i in indices if remaining[i] > 0}, 0, base)


@dataclass(frozen=True, slots=True)
class BasketDiscount:
    """What an action that discounts every line of the basket in proportion to what
    it still costs takes off, given only what the lines still cost together
    (``payable``): ``rate`` (numerator, denominator) of it, or ``amount`` (never more
    than ``payable``); nothing when ``payable`` is 0. Or, with ``reason``, nothing
    whatever the lines cost. Exactly what ``amounts`` adds up to on any lines."""

    rate: tuple[int, int] | None = None
    amount: int | None = None
    reason: str | None = None

    def total(self, payable: int) -> tuple[int, int] | str:
        """The exact total off ``payable`` as (numerator, denominator), or why none."""
        if self.reason is not None:
            return self.reason
        if payable <= 0:
            return Reason.NO_DISCOUNT
        if self.rate is not None:
            return payable * self.rate[0], self.rate[1]
        assert self.amount is not None
        return min(self.amount, payable), 1


class Action(Part):
    """What a promotion takes off. A plugin implements ``compute`` (exact ``Fraction``
    amounts); the built-in actions implement ``amounts`` (the same, as integers on one
    denominator), which is what the engine calls."""

    __slots__ = ()

    classes: ClassVar[frozenset[DiscountClass]]  # the discount classes it may be
    # False when ``compute`` reads only ``view.shipping`` (and the action's own
    # fields) and takes nothing off the lines: the engine then prices it without
    # knowing what each line still costs.
    reads_lines: ClassVar[bool] = True

    @abstractmethod
    def compute(self, view: PricingView) -> Outcome: ...

    def amounts(self, view: PricingView) -> Amounts:
        """``compute``'s outcome as integers on one denominator."""
        return Amounts.of(self.compute(view))

    def basket_discount(self, index: LineIndex) -> BasketDiscount | None:
        """When, on this basket, what this action takes off is decided by what all
        its lines still cost together (it discounts every line in proportion to what
        each still costs, and nothing else): that rule, which the engine applies to
        the sum alone. Else None (the default): it is priced line by line."""
        return None


class IntegerAction(Action):
    """A built-in action: it computes ``amounts``; ``compute`` is derived from it."""

    __slots__ = ()

    @abstractmethod
    def amounts(self, view: PricingView) -> Amounts: ...

    def compute(self, view: PricingView) -> Outcome:
        return self.amounts(view).outcome()


_KINDS: Kinds[Action] = Kinds("action")
register_action = _KINDS.register
unregister_action = _KINDS.unregister
"""Class decorator: make an action readable by ``from_dict`` under its ``kind``."""
action_from_json = _KINDS.read
action_to_json = _KINDS.write
_GOODS = frozenset({DiscountClass.PRODUCT, DiscountClass.ORDER})
_PRODUCT = frozenset({DiscountClass.PRODUCT})


def _target(value: object, name: str, *, optional: bool) -> None:
    if value is None and optional:
        return
    if not isinstance(value, Target):
        raise ValueError(f"{name} must be a Target, got {value!r}")


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


@register_action
@dataclass(frozen=True, slots=True)
class PercentOff(IntegerAction):
    """``percent`` off the order (``target=None``) or off the target's lines."""

    percent: Decimal
    target: Target | None = None

    kind: ClassVar[str] = "percent_off"
    classes: ClassVar[frozenset[DiscountClass]] = _GOODS

    def __post_init__(self) -> None:
        _set(self, "percent", check_percent(self.percent, "percent"))
        _target(self.target, "target", optional=True)

    def amounts(self, view: PricingView) -> Amounts:
        return percent_of(view, view.matching(self.target), self.percent)

    def basket_discount(self, index: LineIndex) -> BasketDiscount | None:
        if not _whole_basket(index, self.target):
            return None
        return BasketDiscount(rate=rate(self.percent))

    def to_json(self) -> dict[str, Any]:
        return {"percent": percent_text(self.percent), "target": target_json(self.target)}

    @classmethod
    def from_json(cls, f: Fields) -> PercentOff:
        return f.build(cls, percent=f.decimal("percent"), target=opt_target(f))


@register_action
@dataclass(frozen=True, slots=True)
class FixedOff(IntegerAction):
    """``amount`` off the order (``target=None``) or the target's lines: once across
    them (split in proportion to their price), or with ``each_item`` off every unit."""

    amount: int
    target: Target | None = None
    each_item: bool = False

    kind: ClassVar[str] = "fixed_off"
    classes: ClassVar[frozenset[DiscountClass]] = _GOODS

    def __post_init__(self) -> None:
        check_int(self.amount, "amount", minimum=1)
        _target(self.target, "target", optional=True)
        if not isinstance(self.each_item, bool):
            raise ValueError("each_item must be a bool")

    @property
    def uses_money(self) -> bool:
        return True

    def amounts(self, view: PricingView) -> Amounts:
        indices = view.matching(self.target)
        if not self.each_item:
            return spread(view, indices, self.amount)
        if not indices:
            return Amounts.rejected(Reason.NO_MATCHING_ITEMS)
        remaining, lines = view.remaining, view.lines
        off = {
            i: min(self.amount * lines[i].quantity, remaining[i])
            for i in indices
            if remaining[i] > 0
        }
        return Amounts(off) if off else Amounts.rejected(Reason.NO_DISCOUNT)

    def basket_discount(self, index: LineIndex) -> BasketDiscount | None:
        if self.each_item or not _whole_basket(index, self.target):
            return None
        return BasketDiscount(amount=self.amount)

    def to_json(self) -> dict[str, Any]:
        return {
            "amount": self.amount,
            "target": target_json(self.target),
            "each_item": self.each_item,
        }

    @classmethod
    def from_json(cls, f: Fields) -> FixedOff:
        return f.build(
            cls,
            amount=f.integer("amount"),
            target=opt_target(f),
            each_item=f.flag("each_item"),
        )


def _positive(lines: dict[int, int], denominator: int = 1) -> Amounts:
    kept = {i: amount for i, amount in lines.items() if amount > 0}
    return Amounts(kept, 0, denominator) if kept else Amounts.rejected(Reason.NO_DISCOUNT)


def _whole_basket(index: LineIndex, target: Target | None) -> bool:
    """Whether ``target`` takes in every line of the basket (and there is one)."""
    matched = index.matching(target)
    return bool(matched) and len(matched) == len(index.lines)


@register_action
@dataclass(frozen=True, slots=True)
class TieredSpend(IntegerAction):
    """Spend more, save more: ``tiers`` are ``(threshold, value)`` pairs; the highest
    threshold reached by the subtotal before discounts (of ``target``'s lines, or the
    whole basket) applies. An ``int`` value is an amount off (minor units); a
    ``Decimal`` value is a percentage off."""

    tiers: tuple[tuple[int, int | Decimal], ...]
    target: Target | None = None

    kind: ClassVar[str] = "tiered_spend"
    classes: ClassVar[frozenset[DiscountClass]] = _GOODS

    def __post_init__(self) -> None:
        tiers = []
        for n, tier in enumerate(self.tiers):
            if not isinstance(tier, tuple | list) or len(tier) != 2:
                raise ValueError(f"tier {n} must be a (threshold, value) pair, got {tier!r}")
            threshold, value = tier
            check_int(threshold, f"tier {n} threshold")
            if isinstance(value, Decimal):
                value = check_percent(value, f"tier {n} percent")
            else:
                check_int(
                    value, f"tier {n} amount (int minor units, or a Decimal percent)", minimum=1
                )
            tiers.append((threshold, value))
        if not tiers:
            raise ValueError("tiered_spend needs at least one tier")
        tiers.sort(key=lambda t: t[0])
        thresholds = [t[0] for t in tiers]
        if len(set(thresholds)) != len(thresholds):
            raise ValueError("tier thresholds must be distinct")
        _set(self, "tiers", tuple(tiers))
        _target(self.target, "target", optional=True)

    @property
    def uses_money(self) -> bool:
        return True

    def _reached(self, spent: int) -> int | Decimal | None:
        reached = [value for threshold, value in self.tiers if threshold <= spent]
        return reached[-1] if reached else None

    def amounts(self, view: PricingView) -> Amounts:
        indices = view.matching(self.target)
        if not indices:
            return Amounts.rejected(Reason.NO_MATCHING_ITEMS)
        value = self._reached(view.gross_subtotal(indices))
        if value is None:
            return Amounts.rejected(Reason.MIN_SUBTOTAL_NOT_MET)
        if isinstance(value, Decimal):
            return percent_of(view, indices, value)
        return spread(view, indices, value)

    def basket_discount(self, index: LineIndex) -> BasketDiscount | None:
        if not _whole_basket(index, self.target):
            return None
        value = self._reached(index.gross)
        if value is None:
            return BasketDiscount(reason=Reason.MIN_SUBTOTAL_NOT_MET)
        if isinstance(value, Decimal):
            return BasketDiscount(rate=rate(value))
        return BasketDiscount(amount=value)

    def to_json(self) -> dict[str, Any]:
        return {
            "tiers": [
                {"threshold": t, "percent": percent_text(v)}
                if isinstance(v, Decimal)
                else {"threshold": t, "amount": v}
                for t, v in self.tiers
            ],
            "target": target_json(self.target),
        }

    @classmethod
    def from_json(cls, f: Fields) -> TieredSpend:
        tiers: list[tuple[int, int | Decimal]] = []
        for n, raw in enumerate(f.items("tiers")):
            tf = Fields(raw, f"{f.at('tiers')}[{n}]")
            threshold = tf.integer("threshold")
            if tf.raw("percent", None) is not None:
                value: int | Decimal = tf.decimal("percent")
                if tf.raw("amount", None) is not None:
                    raise tf.fail("amount", "give an amount or a percent, not both")
            else:
                value = tf.integer("amount")
            tf.done()
            tiers.append((threshold, value))
        return f.build(cls, tiers=tuple(tiers), target=opt_target(f))


@register_action
@dataclass(frozen=True, slots=True)
class VolumeTiers(IntegerAction):
    """Quantity breaks per line: each of the target's lines gets the percentage of
    the highest ``(min_qty, percent)`` tier its own quantity reaches."""

    target: Target
    tiers: tuple[tuple[int, Decimal], ...]

    kind: ClassVar[str] = "volume_tiers"
    classes: ClassVar[frozenset[DiscountClass]] = _PRODUCT

    def __post_init__(self) -> None:
        _target(self.target, "target", optional=False)
        tiers = []
        for n, tier in enumerate(self.tiers):
            if not isinstance(tier, tuple | list) or len(tier) != 2:
                raise ValueError(f"tier {n} must be a (min_qty, percent) pair, got {tier!r}")
            min_qty, pct = tier
            check_int(min_qty, f"tier {n} min_qty", minimum=1)
            tiers.append((min_qty, check_percent(pct, f"tier {n} percent")))
        if not tiers:
            raise ValueError("volume_tiers needs at least one tier")
        tiers.sort(key=lambda t: t[0])
        if len({t[0] for t in tiers}) != len(tiers):
            raise ValueError("tier quantities must be distinct")
        _set(self, "tiers", tuple(tiers))

    def amounts(self, view: PricingView) -> Amounts:
        indices = view.matching(self.target)
        if not indices:
            return Amounts.rejected(Reason.NO_MATCHING_ITEMS)
        rates = [(min_qty, rate(pct)) for min_qty, pct in self.tiers]
        den = math.lcm(*(d for _, (_, d) in rates))
        scaled = [(min_qty, num * (den // d)) for min_qty, (num, d) in rates]
        remaining, lines = view.remaining, view.lines
        off: dict[int, int] = {}
        for i in indices:
            reached = [num for min_qty, num in scaled if lines[i].quantity >= min_qty]
            if reached:
                off[i] = remaining[i] * reached[-1]
        if not off:
            return Amounts.rejected(Reason.MIN_QUANTITY_NOT_MET)
        return _positive(off, den)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target.to_json(),
            "tiers": [{"min_quantity": q, "percent": percent_text(p)} for q, p in self.tiers],
        }

    @classmethod
    def from_json(cls, f: Fields) -> VolumeTiers:
        tiers = []
        for n, raw in enumerate(f.items("tiers")):
            tf = Fields(raw, f"{f.at('tiers')}[{n}]")
            tiers.append((tf.integer("min_quantity"), tf.decimal("percent")))
            tf.done()
        return f.build(cls, target=Target.from_json(f.nested("target")), tiers=tuple(tiers))


@register_action
@dataclass(frozen=True, slots=True)
class FreeShipping(IntegerAction):
    """Shipping free, or at most ``max_amount`` off it."""

    max_amount: int | None = None

    kind: ClassVar[str] = "free_shipping"
    classes: ClassVar[frozenset[DiscountClass]] = frozenset({DiscountClass.SHIPPING})

    def __post_init__(self) -> None:
        check_opt_int(self.max_amount, "max_amount", minimum=1)

    @property
    def uses_money(self) -> bool:
        return self.max_amount is not None

    reads_lines = False

    def amounts(self, view: PricingView) -> Amounts:
        if view.shipping <= 0:
            return Amounts.rejected(Reason.NO_DISCOUNT)
        off = view.shipping if self.max_amount is None else min(view.shipping, self.max_amount)
        return Amounts(None, off)

    def to_json(self) -> dict[str, Any]:
        return {"max_amount": self.max_amount}

    @classmethod
    def from_json(cls, f: Fields) -> FreeShipping:
        return f.build(cls, max_amount=f.integer("max_amount", None))
