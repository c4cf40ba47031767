"""Multi-unit actions: buy X get Y, mix and match (any n for a price) and bundle
prices. The rules they follow (cheapest units free, most expensive units grouped,
bundles filled while they save money) are described in :mod:`.actions`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from ._fields import Fields, check_int, check_opt_int, check_percent, percent_text
from .actions import (
    _PRODUCT,
    Amounts,
    IntegerAction,
    PricingView,
    _positive,
    _set,
    _target,
    rate,
    register_action,
)
from .basket import Target
from .enums import DiscountClass, Reason


@register_action
@dataclass(frozen=True, slots=True)
class BuyXGetY(IntegerAction):
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

    def amounts(self, view: PricingView) -> Amounts:
        buy = set(view.matching(self.buy))
        get = set(view.matching(self.get))
        if not buy or not get:
            return Amounts.rejected(Reason.NO_MATCHING_ITEMS)
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
            return Amounts.rejected(Reason.MIN_QUANTITY_NOT_MET)
        need = uses * self.get_qty
        # Units in both targets that may be got while leaving enough to buy.
        shared_left = both - max(0, uses * self.buy_qty - buy_only)
        num, den = rate(self.percent_off_get)
        # A unit of line i costs keys[i] / common; it gets num / den of that off.
        keys, common = view.unit_keys(get)
        lines = view.lines
        off: dict[int, int] = {}
        for i in sorted(get, key=lambda i: (keys[i], lines[i].line_id)):
            if need == 0:
                break
            take = min(qty[i], need)
            if i in buy:
                take = min(take, shared_left)
                shared_left -= take
            if take > 0:
                need -= take
                off[i] = keys[i] * take * num
        return _positive(off, common * den)

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


class _Savings:
    """The groups' savings, in exact integers. A unit of line ``i`` costs
    ``keys[i] / common``; a group of units worth ``T / common`` sold for ``price``
    saves ``(T - price * common) / common``, shared in proportion to the units' prices:
    line ``i``'s ``n`` units get ``keys[i] * n * (T - price * common) / (common * T)``.
    Shares are kept per ``T`` and put on one denominator at the end."""

    __slots__ = ("by_total", "common", "keys", "price")

    def __init__(self, keys: dict[int, int], common: int, price: int) -> None:
        self.keys, self.common, self.price = keys, common, price
        self.by_total: dict[int, dict[int, int]] = {}  # T -> line -> numerator over T

    def add(self, group: list[tuple[int, int]]) -> bool:
        """Charge ``price`` for the units in ``group``; False when nothing is saved."""
        keys = self.keys
        total = sum(keys[i] * n for i, n in group)
        saving = total - self.price * self.common
        if saving <= 0:
            return False
        shares = self.by_total.setdefault(total, {})
        for i, n in group:
            shares[i] = shares.get(i, 0) + keys[i] * n * saving
        return True

    def amounts(self) -> Amounts:
        den = math.lcm(*self.by_total) if self.by_total else 1
        off: dict[int, int] = {}
        for total, shares in self.by_total.items():
            scale = den // total
            for i, num in shares.items():
                off[i] = off.get(i, 0) + num * scale
        return _positive(off, self.common * den)


def _dearest_first(keys: dict[int, int], view: PricingView, indices: Sequence[int]) -> list[int]:
    lines = view.lines
    return sorted(indices, key=lambda i: (-keys[i], lines[i].line_id))


@register_action
@dataclass(frozen=True, slots=True)
class MixAndMatch(IntegerAction):
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

    def amounts(self, view: PricingView) -> Amounts:
        indices = view.matching(self.target)
        if not indices:
            return Amounts.rejected(Reason.NO_MATCHING_ITEMS)
        groups = sum(view.lines[i].quantity for i in indices) // self.n
        if self.max_uses is not None:
            groups = min(groups, self.max_uses)
        if groups == 0:
            return Amounts.rejected(Reason.MIN_QUANTITY_NOT_MET)
        keys, common = view.unit_keys(indices)
        order = _dearest_first(keys, view, indices)
        left = {i: view.lines[i].quantity for i in indices}
        savings = _Savings(keys, common, self.price)
        for _ in range(groups):
            group = _take(order, left, self.n)
            # Groups come dearest first: once one saves nothing, none after it will.
            if not savings.add(group):
                break
        return savings.amounts()

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
class BundlePrice(IntegerAction):
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

    def amounts(self, view: PricingView) -> Amounts:
        eligible = [view.matching(target) for target, _ in self.required]
        if not all(eligible):
            return Amounts.rejected(Reason.NO_MATCHING_ITEMS)
        # Fill the most constrained component first (fewest eligible units), so a
        # broad component does not take the only unit a narrow one could use.
        order = sorted(
            range(len(self.required)),
            key=lambda c: (sum(view.lines[i].quantity for i in eligible[c]), c),
        )
        keys, common = view.unit_keys(set().union(*eligible))
        dearest = [_dearest_first(keys, view, e) for e in eligible]
        left = {i: line.quantity for i, line in enumerate(view.lines)}
        savings = _Savings(keys, common, self.price)
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
            if not savings.add(bundle):
                break
            bundles += 1
        if not complete:
            return Amounts.rejected(Reason.MIN_QUANTITY_NOT_MET)
        return savings.amounts()

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
