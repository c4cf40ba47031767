"""Multi-unit actions: buy X get Y, mix and match (any n for a price) and bundle
prices. The rules they follow (cheapest units free, most expensive units grouped,
bundles filled while they save money) are described in :mod:`.actions`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, ClassVar

from ._fields import Fields, check_int, check_opt_int, check_percent, percent_text
from .actions import (
    _HUNDRED,
    _PRODUCT,
    _ZERO,
    Action,
    Outcome,
    PricingView,
    _positive,
    _set,
    _target,
    register_action,
)
from .basket import Target
from .enums import DiscountClass, Reason


@register_action
@dataclass(frozen=True, slots=True)
class BuyXGetY(Action):
    """Buy ``buy_qty`` of ``buy``, get ``get_qty`` of ``get`` at ``percent_off_get``
    off (100 = free). The cheapest eligible units get the discount; a unit is either
    bought or got, never both; repeats as often as the basket allows, at most
    ``max_uses`` times when set."""

    buy: Target
    buy_qty: int
    get: Target
    get_qty: int
    percent_off_get: Decimal = Decimal(100)
    max_uses: int | None = None

    kind: ClassVar[str] = "buy_x_get_y"
    classes: ClassVar[frozenset[DiscountClass]] = _PRODUCT

    def __post_init__(self) -> None:
        _target(self.buy, "buy", optional=False)
        _target(self.get, "get", optional=False)
        check_int(self.buy_qty, "buy_qty", minimum=1)
        check_int(self.get_qty, "get_qty", minimum=1)
        _set(self, "percent_off_get", check_percent(self.percent_off_get, "percent_off_get"))
        check_opt_int(self.max_uses, "max_uses", minimum=1)

    def compute(self, view: PricingView) -> Outcome:
        buy = set(view.matching(self.buy))
        get = set(view.matching(self.get))
        if not buy or not get:
            return Outcome.rejected(Reason.NO_MATCHING_ITEMS)
        qty = [line.quantity for line in view.lines]
        get_only = sum(qty[i] for i in get - buy)
        buy_only = sum(qty[i] for i in buy - get)
        both = sum(qty[i] for i in buy & get)
        # The most repetitions k with disjoint buy and get units:
        # k*get_qty <= get_only + both, k*buy_qty <= buy_only + both, and together
        # k*(buy_qty + get_qty) <= get_only + buy_only + both.
        uses = min(
            (get_only + both) // self.get_qty,
            (buy_only + both) // self.buy_qty,
            (get_only + buy_only + both) // (self.buy_qty + self.get_qty),
        )
        if self.max_uses is not None:
            uses = min(uses, self.max_uses)
        if uses <= 0:
            return Outcome.rejected(Reason.MIN_QUANTITY_NOT_MET)
        need = uses * self.get_qty
        # Units in both targets that may be got while leaving enough to buy.
        shared_left = both - max(0, uses * self.buy_qty - buy_only)
        rate = Fraction(self.percent_off_get) / _HUNDRED
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

    def to_json(self) -> dict[str, Any]:
        return {
            "buy": self.buy.to_json(),
            "buy_qty": self.buy_qty,
            "get": self.get.to_json(),
            "get_qty": self.get_qty,
            "percent_off_get": percent_text(self.percent_off_get),
            "max_uses": self.max_uses,
        }

    @classmethod
    def from_json(cls, f: Fields) -> BuyXGetY:
        return f.build(
            cls,
            buy=Target.from_json(f.nested("buy")),
            buy_qty=f.integer("buy_qty"),
            get=Target.from_json(f.nested("get")),
            get_qty=f.integer("get_qty"),
            percent_off_get=f.decimal("percent_off_get", Decimal(100)),
            max_uses=f.integer("max_uses", None),
        )


def _take(order: Sequence[int], left: dict[int, int], need: int) -> list[tuple[int, int]]:
    """Take ``need`` units from the lines in ``order`` (counts in ``left``)."""
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
    """Charge ``price`` for the units in ``group``: add each line's share of the saving
    (in proportion to the units' prices) to ``lines``; False when nothing is saved."""
    total = sum((view.unit_price(i) * n for i, n in group), _ZERO)
    saving = total - price
    if saving <= 0:
        return False
    for i, n in group:
        lines[i] = lines.get(i, _ZERO) + view.unit_price(i) * n * saving / total
    return True


@register_action
@dataclass(frozen=True, slots=True)
class MixAndMatch(Action):
    """Any ``n`` units of the target for ``price`` together; the most expensive units
    are grouped first (the best deal for the shopper). Repeats, at most ``max_uses``."""

    target: Target
    n: int
    price: int
    max_uses: int | None = None

    kind: ClassVar[str] = "mix_and_match"
    classes: ClassVar[frozenset[DiscountClass]] = _PRODUCT

    def __post_init__(self) -> None:
        _target(self.target, "target", optional=False)
        check_int(self.n, "n", minimum=1)
        check_int(self.price, "price")
        check_opt_int(self.max_uses, "max_uses", minimum=1)

    @property
    def uses_money(self) -> bool:
        return True

    def compute(self, view: PricingView) -> Outcome:
        indices = view.matching(self.target)
        if not indices:
            return Outcome.rejected(Reason.NO_MATCHING_ITEMS)
        groups = sum(view.lines[i].quantity for i in indices) // self.n
        if self.max_uses is not None:
            groups = min(groups, self.max_uses)
        if groups == 0:
            return Outcome.rejected(Reason.MIN_QUANTITY_NOT_MET)
        order = view.dearest_first(indices)
        left = {i: view.lines[i].quantity for i in indices}
        lines: dict[int, Fraction] = {}
        for _ in range(groups):
            group = _take(order, left, self.n)
            # Groups come dearest first: once one saves nothing, none after it will.
            if not _group_discount(view, group, self.price, lines):
                break
        return _positive(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target.to_json(),
            "n": self.n,
            "price": self.price,
            "max_uses": self.max_uses,
        }

    @classmethod
    def from_json(cls, f: Fields) -> MixAndMatch:
        return f.build(
            cls,
            target=Target.from_json(f.nested("target")),
            n=f.integer("n"),
            price=f.integer("price"),
            max_uses=f.integer("max_uses", None),
        )


@register_action
@dataclass(frozen=True, slots=True)
class BundlePrice(Action):
    """The set ``required`` (``(target, quantity)`` components) for ``price``.
    Repeats while the basket holds another full set that saves money, at most
    ``max_uses`` times. A unit counts for one component only."""

    required: tuple[tuple[Target, int], ...]
    price: int
    max_uses: int | None = None

    kind: ClassVar[str] = "bundle_price"
    classes: ClassVar[frozenset[DiscountClass]] = _PRODUCT

    def __post_init__(self) -> None:
        required = []
        for n, component in enumerate(self.required):
            if not isinstance(component, tuple | list) or len(component) != 2:
                raise ValueError(f"component {n} must be a (Target, quantity) pair")
            target, qty = component
            _target(target, f"component {n} target", optional=False)
            check_int(qty, f"component {n} quantity", minimum=1)
            required.append((target, qty))
        if not required:
            raise ValueError("bundle_price needs at least one component")
        _set(self, "required", tuple(required))
        check_int(self.price, "price")
        check_opt_int(self.max_uses, "max_uses", minimum=1)

    @property
    def uses_money(self) -> bool:
        return True

    def compute(self, view: PricingView) -> Outcome:
        eligible = [view.matching(target) for target, _ in self.required]
        if not all(eligible):
            return Outcome.rejected(Reason.NO_MATCHING_ITEMS)
        # Fill the most constrained component first (fewest eligible units), so a
        # broad component does not take the only unit a narrow one could use.
        order = sorted(
            range(len(self.required)),
            key=lambda c: (sum(view.lines[i].quantity for i in eligible[c]), c),
        )
        dearest = [view.dearest_first(e) for e in eligible]
        left = {i: line.quantity for i, line in enumerate(view.lines)}
        lines: dict[int, Fraction] = {}
        bundles = 0
        complete = False  # whether at least one full set was found
        while self.max_uses is None or bundles < self.max_uses:
            bundle: list[tuple[int, int]] = []
            for c in order:
                part = _take(dearest[c], left, self.required[c][1])
                if not part:
                    bundle = _give_back(left, bundle)
                    break
                bundle.extend(part)
            if not bundle:
                break
            complete = True
            # Bundles come dearest first: once one saves nothing, none after it will.
            if not _group_discount(view, bundle, self.price, lines):
                break
            bundles += 1
        if not complete:
            return Outcome.rejected(Reason.MIN_QUANTITY_NOT_MET)
        return _positive(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "required": [{"target": t.to_json(), "quantity": q} for t, q in self.required],
            "price": self.price,
            "max_uses": self.max_uses,
        }

    @classmethod
    def from_json(cls, f: Fields) -> BundlePrice:
        required = []
        for n, raw in enumerate(f.items("required")):
            cf = Fields(raw, f"{f.at('required')}[{n}]")
            required.append((Target.from_json(cf.nested("target")), cf.integer("quantity")))
            cf.done()
        return f.build(
            cls,
            required=tuple(required),
            price=f.integer("price"),
            max_uses=f.integer("max_uses", None),
        )
