"""The built-in actions' arithmetic as it was before integer pricing (commit 983e4aa):
every amount a ``Fraction``, unit prices ``remaining / quantity``. Kept, with the view
the actions read then, as the reference :mod:`reference_promotions_engine` prices
with, so the property tests compare the engine's integer arithmetic with the exact
``Fraction`` arithmetic it replaced. Do not change it.

``compute(action, view)`` dispatches on the action's type; an action that is not one
of the built-ins (a plugin's) is asked for its own ``compute``."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hub.domain.promotions import (
    BundlePrice,
    BuyXGetY,
    FixedOff,
    FreeShipping,
    MixAndMatch,
    PercentOff,
    TieredSpend,
    VolumeTiers,
)
from hub.domain.promotions.basket import Basket, BasketLine, Target
from hub.domain.promotions.enums import Reason

_ZERO = Fraction(0)
_HUNDRED = Fraction(100)


def _has_excludes(target: Target) -> bool:
    return bool(
        target.exclude_product_ids
        or target.exclude_variant_ids
        or target.exclude_collection_ids
        or target.exclude_tags
        or target.exclude_product_types
        or target.exclude_on_sale
    )


class LineIndex:
    """Which lines a target matches, computed once per ``apply``."""

    def __init__(self, basket: Basket) -> None:
        self.lines = basket.lines
        self._all = tuple(range(len(basket.lines)))
        self._cache: dict[Target, tuple[int, ...]] = {}

    def matching(self, target: Target | None) -> tuple[int, ...]:
        if target is None or (target.is_everything and not _has_excludes(target)):
            return self._all
        hit = self._cache.get(target)
        if hit is None:
            hit = tuple(i for i, line in enumerate(self.lines) if target.matches(line))
            self._cache[target] = hit
        return hit


class PricingView:
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
        self._index = index or LineIndex(basket)

    def matching(self, target: Target | None) -> tuple[int, ...]:
        return self._index.matching(target)

    def unit_price(self, i: int) -> Fraction:
        return Fraction(self.remaining[i], self.lines[i].quantity)

    def subtotal(self, indices: Iterable[int]) -> int:
        return sum(self.remaining[i] for i in indices)

    def gross_subtotal(self, indices: Iterable[int]) -> int:
        return sum(self.lines[i].subtotal for i in indices)

    def _unit_keys(self, indices: list[int]) -> dict[int, int]:
        lines, remaining = self.lines, self.remaining
        common = math.lcm(*(lines[i].quantity for i in indices)) if indices else 1
        return {i: remaining[i] * (common // lines[i].quantity) for i in indices}

    def cheapest_first(self, indices: Iterable[int]) -> list[int]:
        indices = list(indices)
        keys, lines = self._unit_keys(indices), self.lines
        return sorted(indices, key=lambda i: (keys[i], lines[i].line_id))

    def dearest_first(self, indices: Iterable[int]) -> list[int]:
        indices = list(indices)
        keys, lines = self._unit_keys(indices), self.lines
        return sorted(indices, key=lambda i: (-keys[i], lines[i].line_id))


@dataclass(frozen=True, slots=True)
class Outcome:
    lines: Mapping[int, Fraction] = field(default_factory=dict)
    shipping: Fraction = _ZERO
    reason: str | None = None

    @classmethod
    def rejected(cls, reason: str) -> Outcome:
        return cls(reason=reason)


def percent_of(view: PricingView, indices: Sequence[int], percent: Decimal) -> Outcome:
    if not indices:
        return Outcome.rejected(Reason.NO_MATCHING_ITEMS)
    rate = Fraction(percent) / _HUNDRED
    lines = {i: view.remaining[i] * rate for i in indices if view.remaining[i] > 0}
    return Outcome(lines) if lines else Outcome.rejected(Reason.NO_DISCOUNT)


def spread(view: PricingView, indices: Sequence[int], amount: int) -> Outcome:
    if not indices:
        return Outcome.rejected(Reason.NO_MATCHING_ITEMS)
    base = view.subtotal(indices)
    if base <= 0:
        return Outcome.rejected(Reason.NO_DISCOUNT)
    off = min(amount, base)
    return Outcome(
        {i: Fraction(off * view.remaining[i], base) for i in indices if view.remaining[i] > 0}
    )


def _positive(lines: dict[int, Fraction]) -> Outcome:
    kept = {i: amount for i, amount in lines.items() if amount > 0}
    return Outcome(kept) if kept else Outcome.rejected(Reason.NO_DISCOUNT)


def _percent_off(a: PercentOff, view: PricingView) -> Outcome:
    return percent_of(view, view.matching(a.target), a.percent)


def _fixed_off(a: FixedOff, view: PricingView) -> Outcome:
    indices = view.matching(a.target)
    if not a.each_item:
        return spread(view, indices, a.amount)
    if not indices:
        return Outcome.rejected(Reason.NO_MATCHING_ITEMS)
    lines = {
        i: Fraction(min(a.amount * view.lines[i].quantity, view.remaining[i]))
        for i in indices
        if view.remaining[i] > 0
    }
    return Outcome(lines) if lines else Outcome.rejected(Reason.NO_DISCOUNT)


def _tiered_spend(a: TieredSpend, view: PricingView) -> Outcome:
    indices = view.matching(a.target)
    if not indices:
        return Outcome.rejected(Reason.NO_MATCHING_ITEMS)
    spent = view.gross_subtotal(indices)
    reached = [value for threshold, value in a.tiers if threshold <= spent]
    if not reached:
        return Outcome.rejected(Reason.MIN_SUBTOTAL_NOT_MET)
    value = reached[-1]
    if isinstance(value, Decimal):
        return percent_of(view, indices, value)
    return spread(view, indices, value)


def _volume_tiers(a: VolumeTiers, view: PricingView) -> Outcome:
    indices = view.matching(a.target)
    if not indices:
        return Outcome.rejected(Reason.NO_MATCHING_ITEMS)
    lines: dict[int, Fraction] = {}
    for i in indices:
        reached = [pct for min_qty, pct in a.tiers if view.lines[i].quantity >= min_qty]
        if reached:
            lines[i] = view.remaining[i] * Fraction(reached[-1]) / _HUNDRED
    if not lines:
        return Outcome.rejected(Reason.MIN_QUANTITY_NOT_MET)
    return _positive(lines)


def _free_shipping(a: FreeShipping, view: PricingView) -> Outcome:
    if view.shipping <= 0:
        return Outcome.rejected(Reason.NO_DISCOUNT)
    off = view.shipping if a.max_amount is None else min(view.shipping, a.max_amount)
    return Outcome(shipping=Fraction(off))


def _buy_x_get_y(a: BuyXGetY, view: PricingView) -> Outcome:
    buy = set(view.matching(a.buy))
    get = set(view.matching(a.get))
    if not buy or not get:
        return Outcome.rejected(Reason.NO_MATCHING_ITEMS)
    qty = [line.quantity for line in view.lines]
    get_only = sum(qty[i] for i in get - buy)
    buy_only = sum(qty[i] for i in buy - get)
    both = sum(qty[i] for i in buy & get)
    uses = min(
        (get_only + both) // a.get_qty,
        (buy_only + both) // a.buy_qty,
        (get_only + buy_only + both) // (a.buy_qty + a.get_qty),
    )
    if a.max_uses is not None:
        uses = min(uses, a.max_uses)
    if uses <= 0:
        return Outcome.rejected(Reason.MIN_QUANTITY_NOT_MET)
    need = uses * a.get_qty
    shared_left = both - max(0, uses * a.buy_qty - buy_only)
    rate = Fraction(a.percent_off_get) / _HUNDRED
    lines: dict[int, Fraction] = {}
    for i in view.cheapest_first(get):
        if need == 0:
            break
        take = min(qty[i], need)
        if i in buy:
            take = min(take, shared_left)
            shared_left -= take
        if take > 0:
            need -= take
            lines[i] = view.unit_price(i) * take * rate
    return _positive(lines)


def _take(order: Sequence[int], left: dict[int, int], need: int) -> list[tuple[int, int]]:
    taken = []
    for i in order:
        if need == 0:
            break
        n = min(left[i], need)
        if n > 0:
            left[i] -= n
            need -= n
            taken.append((i, n))
    return taken if need == 0 else _give_back(left, taken)


def _give_back(left: dict[int, int], taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
    for i, n in taken:
        left[i] += n
    return []


def _group_discount(
    view: PricingView, group: list[tuple[int, int]], price: int, lines: dict[int, Fraction]
) -> bool:
    total = sum((view.unit_price(i) * n for i, n in group), _ZERO)
    saving = total - price
    if saving <= 0:
        return False
    for i, n in group:
        lines[i] = lines.get(i, _ZERO) + view.unit_price(i) * n * saving / total
    return True


def _mix_and_match(a: MixAndMatch, view: PricingView) -> Outcome:
    indices = view.matching(a.target)
    if not indices:
        return Outcome.rejected(Reason.NO_MATCHING_ITEMS)
    groups = sum(view.lines[i].quantity for i in indices) // a.n
    if a.max_uses is not None:
        groups = min(groups, a.max_uses)
    if groups == 0:
        return Outcome.rejected(Reason.MIN_QUANTITY_NOT_MET)
    order = view.dearest_first(indices)
    left = {i: view.lines[i].quantity for i in indices}
    lines: dict[int, Fraction] = {}
    for _ in range(groups):
        group = _take(order, left, a.n)
        if not _group_discount(view, group, a.price, lines):
            break
    return _positive(lines)


def _bundle_price(a: BundlePrice, view: PricingView) -> Outcome:
    eligible = [view.matching(target) for target, _ in a.required]
    if not all(eligible):
        return Outcome.rejected(Reason.NO_MATCHING_ITEMS)
    order = sorted(
        range(len(a.required)),
        key=lambda c: (sum(view.lines[i].quantity for i in eligible[c]), c),
    )
    dearest = [view.dearest_first(e) for e in eligible]
    left = {i: line.quantity for i, line in enumerate(view.lines)}
    lines: dict[int, Fraction] = {}
    bundles = 0
    complete = False
    while a.max_uses is None or bundles < a.max_uses:
        bundle: list[tuple[int, int]] = []
        for c in order:
            part = _take(dearest[c], left, a.required[c][1])
            if not part:
                bundle = _give_back(left, bundle)
                break
            bundle.extend(part)
        if not bundle:
            break
        complete = True
        if not _group_discount(view, bundle, a.price, lines):
            break
        bundles += 1
    if not complete:
        return Outcome.rejected(Reason.MIN_QUANTITY_NOT_MET)
    return _positive(lines)


_BUILT_IN: dict[type, Callable[[Any, PricingView], Outcome]] = {
    PercentOff: _percent_off,
    FixedOff: _fixed_off,
    TieredSpend: _tiered_spend,
    VolumeTiers: _volume_tiers,
    FreeShipping: _free_shipping,
    BuyXGetY: _buy_x_get_y,
    MixAndMatch: _mix_and_match,
    BundlePrice: _bundle_price,
}


def compute(action: Any, view: PricingView) -> Any:
    """What ``action`` takes off, in exact ``Fraction`` amounts, as it did before."""
    old = _BUILT_IN.get(type(action))
    if old is None:
        return action.compute(view)  # not a built-in: its own arithmetic
    return old(action, view)
