"""The promotion engine: ``apply(basket, ctx, promotions) -> Result``.

Pure Python: no database, no I/O, no clock (``ctx.now`` is the time), no randomness
and no dependence on input order, so the web shop, the app and the store till price
the same basket identically. The checkout layer loads the promotions (with their
``UsageState``) and the basket, calls ``apply``, and records the allocations.

Algorithm
---------

1. **Candidates.** Every automatic promotion, and every code promotion one of whose
   codes was entered (codes match case-insensitively, ignoring surrounding spaces).
   Promotion ids must be unique. Candidates are sorted by ``priority`` descending,
   then ``id`` ascending: this is *priority order*, and the input order of
   ``promotions`` never matters.

2. **Eligibility** (static; depends only on the basket as entered and the context),
   first failure wins: date window (``NOT_STARTED`` / ``EXPIRED``; ``starts_at``
   inclusive, ``ends_at`` exclusive), usage (``USAGE_LIMIT_REACHED`` when code or
   customer uses left are at or below 0), budget (``BUDGET_EXHAUSTED``), currency
   (``WRONG_CURRENCY``), then each condition in order (its own reason). Thresholds
   are measured before any discount, so whether a promotion is eligible never
   depends on which other promotions apply; the amounts, however, always come from
   what is still payable.

3. **Selection, in priority order.** For each eligible candidate:

   - if a ``stop_after`` promotion has applied, it is refused (``NOT_COMBINABLE``);
   - it must *combine* with everything already applied: no applied promotion is
     ``exclusive``; it is not ``exclusive`` itself (unless nothing has applied yet);
     the class of every applied promotion is in its ``combines_with`` and its class
     is in theirs. Otherwise ``NOT_COMBINABLE``;
   - it is priced (step 4) together with those already applied; if it takes nothing
     off (its amount rounds to 0) it is refused with the action's reason
     (``NO_MATCHING_ITEMS``, ``MIN_QUANTITY_NOT_MET``, ``NO_DISCOUNT``...);
   - otherwise it applies; with ``stop_after``, selection ends here.

   A **best-deal group** is decided when the first of its eligible members comes up:
   every eligible member not yet decided is checked for combination and priced as
   if it were the one to apply, the largest amount wins (ties: priority order) and
   takes that place in the order; the others get ``BETTER_DEAL_APPLIED``.

4. **Pricing, class by class.** Applied promotions take effect in class order —
   PRODUCT (line prices), then ORDER (the subtotal left after product discounts),
   then SHIPPING — and within a class in the order they were selected. Each sees
   what is still payable per line and on shipping, so discounts compound (10% then
   20% off the same line is 28%). When a promotion of an earlier class is selected
   after one of a later class (e.g. a product discount after an order discount of
   higher priority), the later classes are re-priced on the new amounts; a
   promotion already applied stays applied even if its amount shrinks.

   How that is computed (the amounts are those of re-pricing every later class
   eagerly each time an earlier one changes): what is payable after each class is a
   *stage*, re-built only when a promotion of that class is tried (or the result is
   built) and the stage before it changed since. A promotion that discounts every
   line in proportion to what it still costs (``Action.basket_discount``: an order-wide
   percent off, amount off or spend tier) takes an amount that depends only on what
   the lines still cost together, and a shipping-only one (``reads_lines`` False)
   only on the shipping left; while every applied promotion of a later class is of
   those kinds, its stage is re-built from two integers (one multiplication and one
   rounding per applied promotion), not line by line. So a basket where hundreds of
   promotions apply costs one line-by-line pricing per promotion tried, one per
   applied promotion of a later class when the result is built, and those integer
   steps; only a later class holding a promotion that reads single lines (a
   targeted order discount, a plugin's action) is re-priced line by line each time
   an earlier class changed before one of its promotions is tried.

5. **Rounding and allocation.** An action returns exact amounts per line and for
   shipping (``Fraction``; ``Decimal`` percentages convert exactly). Each is capped
   at what that line (or shipping) still costs, so a line never goes below 0, an
   order discount never exceeds the subtotal and shipping never goes below 0. The
   promotion's total is rounded half-even to the minor unit ONCE, then spread over
   its lines by the largest-remainder method (ties by ``line_id``), so the line
   amounts sum exactly to it; order-level amounts are split in proportion to each
   line's payable amount. A promotion with ``budget_left`` never allocates more:
   above it, the budget is shared out the same way.

6. **Result.** Line subtotals, discounts and totals; merchandise ``discount_total``
   and ``shipping_discount``; the allocations in application order; and a status for
   every entered code in the order entered: applicable when one of its promotions
   applied, else the reason of its highest-priority promotion (``UNKNOWN_CODE`` when
   none has it, ``DUPLICATE_CODE`` for a repeat).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType

from .actions import BasketDiscount, PricingView
from .basket import Basket, Context, normalize_code
from .conditions import window_failure
from .enums import DiscountClass, Reason
from .promotion import Promotion
from .result import Allocation, CodeStatus, LineResult, Result
from .rounding import apportion_scaled

_STAGES = (DiscountClass.PRODUCT, DiscountClass.ORDER, DiscountClass.SHIPPING)
_RANK = {klass: rank for rank, klass in enumerate(_STAGES)}
_LAST = len(_STAGES) - 1
# How an action is priced when its class's stage is re-built (see ``_Engine._mode``).
_LINES, _SUM, _SHIP = 0, 1, 2


def apply(basket: Basket, ctx: Context, promotions: Sequence[Promotion]) -> Result:
    """Price ``basket`` for ``ctx`` with ``promotions``; see the module docstring."""
    if not isinstance(basket, Basket):
        raise TypeError(f"basket must be a Basket, got {type(basket).__name__}")
    if not isinstance(ctx, Context):
        raise TypeError(f"ctx must be a Context, got {type(ctx).__name__}")
    seen: set[int] = set()
    for promotion in promotions:
        if not isinstance(promotion, Promotion):
            raise TypeError(f"not a Promotion: {promotion!r}")
        if promotion.id in seen:
            raise ValueError(f"promotion id {promotion.id} appears twice")
        seen.add(promotion.id)
    ordered = sorted(promotions, key=lambda p: (-p.priority, p.id))
    return _Engine(basket, ctx).run(ordered)


def _sum_total(rule: BasketDiscount, payable: int, cap: int | None) -> int | str:
    """What ``apportion`` gives in all for ``rule`` on lines that still cost ``payable``
    (half-even rounding, at most ``cap``), or why nothing."""
    got = rule.total(payable)
    if isinstance(got, str):
        return got
    num, den = got
    total, rest = divmod(num, den)
    if 2 * rest > den or (2 * rest == den and total % 2):
        total += 1  # half to even
    if cap is not None and total > cap:
        total = max(cap, 0)
    return total if total > 0 else Reason.NO_DISCOUNT


class _Stage:
    """What is still payable after the applied promotions of one class and those of
    the classes before it: per line (``remaining``), or only in sum (``remaining``
    None) while every promotion applied in it is priced on sums (``_SUM``/``_SHIP``)."""

    __slots__ = ("base", "folded", "payable", "remaining", "shipping", "version")

    def __init__(
        self,
        remaining: list[int] | None,
        payable: int,
        shipping: int,
        base: int,
        version: int,
    ) -> None:
        self.remaining = remaining
        self.payable = payable  # sum(remaining)
        self.shipping = shipping
        self.base = base  # the version of the stage before that it was built on
        self.folded = 0  # how many of its class's applied promotions it holds
        self.version = version  # changes whenever what is payable in it changes


@dataclass(slots=True)
class _Priced:
    lines: dict[int, int] | None  # line index -> amount; None: priced on sums only
    shipping: int
    total: int


@dataclass(slots=True)
class _Applied:
    promotion: Promotion
    code: str | None
    mode: int
    rule: BasketDiscount | None  # for _SUM
    lines: dict[int, int]  # line index -> amount, as last priced line by line
    shipping: int

    @property
    def total(self) -> int:
        return sum(self.lines.values()) + self.shipping


@dataclass(slots=True)
class _Trial:
    priced: _Priced
    version: int  # of the stage it was priced on


@dataclass(slots=True)  # not frozen: built for every promotion, and never changed
class _Candidate:
    promotion: Promotion
    code: str | None  # the entered code (as typed) that activated it
    blocked: str | None  # the static reason it cannot apply, if any


class _Engine:
    def __init__(self, basket: Basket, ctx: Context) -> None:
        self.basket = basket
        self.ctx = ctx
        self.index = basket.index
        lines = basket.lines
        self.n = len(lines)
        by_id = sorted(range(len(lines)), key=lambda i: lines[i].line_id)
        rank = [0] * (len(lines) + 1)
        for r, i in enumerate(by_id):
            rank[i] = r
        rank[len(lines)] = len(lines)  # shipping last
        self.tie_rank = rank
        gross = [line.subtotal for line in lines]
        self.clock = 1
        # stages[k]: what is payable after the applied promotions of classes <= k.
        # Stage 0 (PRODUCT) is always up to date; a later one is re-built from the
        # one before when that changed since (``base`` differs from its version).
        self.stages = [_Stage(gross, sum(gross), basket.shipping, 0, self.clock)]
        self.stages += [_Stage(None, 0, 0, -1, 0) for _ in _STAGES[1:]]
        self.applied: list[_Applied] = []
        self.by_rank: list[list[_Applied]] = [[] for _ in _STAGES]
        self.summable = [True for _ in _STAGES]  # no applied promotion of it is _LINES
        self.modes: dict[int, tuple[int, BasketDiscount | None]] = {}
        # What every applied promotion says about combining, folded as they apply.
        self.any_exclusive = False
        self.applied_classes: set[DiscountClass] = set()
        self.all_combine_with: set[DiscountClass] = set(_STAGES)
        self.verdicts: dict[int, str | None] = {}  # promotion id -> None (applied) or reason

    # -- steps 1 and 2 -------------------------------------------------------------

    def _candidates(
        self, ordered: list[Promotion]
    ) -> tuple[list[_Candidate], dict[str, list[_Candidate]]]:
        entered: dict[str, str] = {}  # normalized -> first spelling entered
        for raw in self.ctx.codes:
            entered.setdefault(normalize_code(raw), raw)
        candidates: list[_Candidate] = []
        by_code: dict[str, list[_Candidate]] = {}
        for promotion in ordered:
            code = None
            if promotion.codes:
                hits = [norm for norm in entered if norm in promotion.codes]
                if not hits:
                    continue
                code = entered[hits[0]]
            candidate = _Candidate(promotion, code, self._blocked(promotion))
            candidates.append(candidate)
            for norm in promotion.codes:
                if norm in entered:
                    by_code.setdefault(norm, []).append(candidate)
        return candidates, by_code

    def _blocked(self, promotion: Promotion) -> str | None:
        reason = window_failure(promotion.starts_at, promotion.ends_at, self.ctx.now)
        if reason is not None:
            return reason
        usage = promotion.usage
        if (usage.code_uses_left is not None and usage.code_uses_left <= 0) or (
            usage.customer_uses_left is not None and usage.customer_uses_left <= 0
        ):
            return Reason.USAGE_LIMIT_REACHED
        if usage.budget_left is not None and usage.budget_left <= 0:
            return Reason.BUDGET_EXHAUSTED
        if promotion.currency is not None and promotion.currency != self.basket.currency:
            return Reason.WRONG_CURRENCY
        for condition in promotion.conditions:
            reason = condition.failure(self.basket, self.ctx)
            if reason is not None:
                return reason
        return None

    # -- step 3 --------------------------------------------------------------------

    def run(self, ordered: list[Promotion]) -> Result:
        candidates, by_code = self._candidates(ordered)
        stopped = False
        for position, candidate in enumerate(candidates):
            promotion = candidate.promotion
            if promotion.id in self.verdicts:
                continue  # decided with its best-deal group
            if candidate.blocked is not None:
                self.verdicts[promotion.id] = candidate.blocked
                continue
            if stopped:
                self.verdicts[promotion.id] = Reason.NOT_COMBINABLE
                continue
            group = promotion.combination.best_deal_group
            if group is None:
                members = [candidate]
            else:
                members = [
                    c
                    for c in candidates[position:]
                    if c.promotion.combination.best_deal_group == group
                    and c.blocked is None
                    and c.promotion.id not in self.verdicts
                ]
            winner = self._select(members)
            if winner is not None and winner.promotion.combination.stop_after:
                stopped = True
        return self._result(by_code)

    def _select(self, members: list[_Candidate]) -> _Candidate | None:
        """Price each member as the next to apply; apply the one saving the most."""
        best: tuple[_Candidate, _Trial] | None = None
        for member in members:
            if not self._combines(member.promotion):
                self.verdicts[member.promotion.id] = Reason.NOT_COMBINABLE
                continue
            trial = self._trial(member.promotion)
            if isinstance(trial, str):
                self.verdicts[member.promotion.id] = trial
                continue
            if best is None or trial.priced.total > best[1].priced.total:
                if best is not None:
                    self.verdicts[best[0].promotion.id] = Reason.BETTER_DEAL_APPLIED
                best = (member, trial)
            else:
                self.verdicts[member.promotion.id] = Reason.BETTER_DEAL_APPLIED
        if best is None:
            return None
        winner, trial = best
        self._apply(winner, trial)
        combination = winner.promotion.combination
        self.any_exclusive = self.any_exclusive or combination.exclusive
        self.applied_classes.add(combination.klass)
        self.all_combine_with &= set(combination.combines_with)
        self.verdicts[winner.promotion.id] = None
        return winner

    def _combines(self, promotion: Promotion) -> bool:
        """Combines with every applied promotion: none is exclusive, nor is it; each
        applied class is among those it combines with, and its class among theirs."""
        if not self.applied:
            return True
        mine = promotion.combination
        if mine.exclusive or self.any_exclusive:
            return False
        return mine.klass in self.all_combine_with and self.applied_classes.issubset(
            mine.combines_with
        )

    # -- step 4 --------------------------------------------------------------------

    def _mode(self, promotion: Promotion) -> tuple[int, BasketDiscount | None]:
        """``_SHIP`` when its action reads only shipping, ``_SUM`` (with the rule)
        when what it takes depends only on what the lines still cost together, else
        ``_LINES``."""
        mode = self.modes.get(promotion.id)
        if mode is None:
            action = promotion.action
            rule = None if not action.reads_lines else action.basket_discount(self.index)
            if not action.reads_lines:
                mode = (_SHIP, None)
            elif rule is not None:
                mode = (_SUM, rule)
            else:
                mode = (_LINES, None)
            self.modes[promotion.id] = mode
        return mode

    def _tick(self) -> int:
        self.clock += 1
        return self.clock

    def _stage(self, rank: int, lines: bool) -> _Stage:
        """What is payable after the applied promotions of classes up to ``rank``,
        per line when ``lines`` (or when one of them reads single lines), else
        perhaps only in sum; re-built from the stage before when that changed."""
        stage = self.stages[rank]
        if rank == 0:
            return stage
        lines = lines or not self.summable[rank]
        before = self._stage(rank - 1, lines)
        if stage.base == before.version and (stage.remaining is not None or not lines):
            return stage
        # Changed since (a new version), or wanted per line (the same amounts).
        version = stage.version if stage.base == before.version else self._tick()
        remaining = list(before.remaining) if lines and before.remaining is not None else None
        stage = _Stage(remaining, before.payable, before.shipping, before.version, version)
        self.stages[rank] = stage
        if remaining is not None:
            for applied in self.by_rank[rank]:
                self._fold(stage, applied)
            return stage
        # In sum: the hot path when hundreds of order-wide promotions apply.
        payable, shipping = stage.payable, stage.shipping
        for applied in self.by_rank[rank]:
            rule = applied.rule
            if rule is not None:  # _sum_total, inline: this loop is the hot one
                if rule.reason is not None or payable <= 0:
                    continue
                if rule.rate is not None:
                    num, den = rule.rate
                    total, rest = divmod(payable * num, den)
                    if 2 * rest > den or (2 * rest == den and total % 2):
                        total += 1
                else:
                    total = min(rule.amount or 0, payable)
                cap = applied.promotion.usage.budget_left
                if cap is not None and total > cap:
                    total = max(cap, 0)
                payable -= total
            else:
                priced = self._price(applied.promotion, None, shipping)
                if not isinstance(priced, str):
                    shipping -= priced.shipping
        stage.payable, stage.shipping = payable, shipping
        stage.folded = len(self.by_rank[rank])
        return stage

    def _fold(self, stage: _Stage, applied: _Applied) -> None:
        """Price an applied promotion on ``stage`` and take its amounts off (an applied
        promotion with nothing left to take stays applied, at 0)."""
        promotion = applied.promotion
        if stage.remaining is None:
            priced = (
                self._price_sum(promotion, stage.payable)
                if applied.rule is not None
                else self._price(promotion, None, stage.shipping)
            )
        else:
            priced = self._price(promotion, stage.remaining, stage.shipping)
        if isinstance(priced, str):
            priced = _Priced({}, 0, 0)
        self._take(stage, applied, priced)
        stage.folded += 1

    def _take(self, stage: _Stage, applied: _Applied, priced: _Priced) -> None:
        stage.shipping -= priced.shipping
        stage.payable -= priced.total - priced.shipping
        applied.shipping = priced.shipping
        if priced.lines is not None:
            applied.lines = priced.lines
            remaining = stage.remaining
            if remaining is not None:
                for i, amount in priced.lines.items():
                    remaining[i] -= amount

    def _trial(self, promotion: Promotion) -> _Trial | str:
        """Price ``promotion`` after everything applied of its class or earlier."""
        rank = _RANK[promotion.klass]
        mode = self._mode(promotion)[0] if rank else _LINES
        stage = self._stage(rank, mode == _LINES)
        if mode == _SUM:
            priced = self._price_sum(promotion, stage.payable)
        elif mode == _SHIP:
            priced = self._price(promotion, None, stage.shipping)
        else:
            priced = self._price(promotion, stage.remaining, stage.shipping)
        if isinstance(priced, str):
            return priced
        return _Trial(priced, stage.version)

    def _apply(self, winner: _Candidate, trial: _Trial) -> None:
        promotion = winner.promotion
        rank = _RANK[promotion.klass]
        stage = self.stages[rank]
        if stage.version != trial.version:  # impossible: trials change no stage
            raise AssertionError("promotions engine: the stage changed during a trial")
        mode, rule = self._mode(promotion)
        applied = _Applied(promotion, winner.code, mode, rule if rank else None, {}, 0)
        if trial.priced.lines is None and stage.remaining is not None:
            self._fold(stage, applied)  # priced on the sum: now line by line
        else:
            self._take(stage, applied, trial.priced)
            stage.folded += 1
        stage.version = self._tick()
        self.applied.append(applied)
        self.by_rank[rank].append(applied)
        if applied.mode == _LINES:
            self.summable[rank] = False

    # -- step 5 --------------------------------------------------------------------

    def _price(
        self, promotion: Promotion, remaining: list[int] | None, shipping: int
    ) -> _Priced | str:
        """Price ``promotion`` on what each line (``remaining``; None for an action
        that reads only shipping) and shipping still cost."""
        action = promotion.action
        view = PricingView(self.basket, remaining or (), shipping, self.index)
        got = action.amounts(view)
        n = self.n
        den = got.denominator
        # Only the slots with an amount take part: a slot at 0 rounds to 0 and never
        # gets a remainder unit, so leaving it out of ``apportion`` changes nothing.
        slots: list[int] = []
        nums: list[int] = []
        for i, num in got.lines.items():
            if remaining is None:
                if num > 0:
                    raise ValueError(
                        f"action {action.kind!r} reads only shipping but took an amount "
                        f"off line {i}"
                    )
                continue
            if not 0 <= i < n:
                raise ValueError(
                    f"action {action.kind!r} returned line index {i}; the basket has {n} lines"
                )
            left = remaining[i]
            if num > 0 and left > 0:
                slots.append(i)
                cap = left * den
                nums.append(cap if num >= cap else num)
        if got.shipping > 0 and shipping > 0:
            slots.append(n)
            cap = shipping * den
            nums.append(cap if got.shipping >= cap else got.shipping)
        if not slots:
            return got.reason or Reason.NO_DISCOUNT
        tie_rank = self.tie_rank
        shares = apportion_scaled(
            nums, den, [tie_rank[i] for i in slots], promotion.usage.budget_left
        )
        total = sum(shares)
        if not total:
            return got.reason or Reason.NO_DISCOUNT
        ship = 0
        if slots[-1] == n:
            ship = shares.pop()
            slots.pop()
        lines = {i: share for i, share in zip(slots, shares, strict=True) if share}
        return _Priced(lines, ship, total)

    def _price_sum(self, promotion: Promotion, payable: int) -> _Priced | str:
        """Price a ``_SUM`` promotion knowing only what the lines still cost together:
        the total ``_price`` would give, without the lines it goes to."""
        rule = self._mode(promotion)[1]
        assert rule is not None  # _mode said _SUM
        total = _sum_total(rule, payable, promotion.usage.budget_left)
        if isinstance(total, str):
            return total
        return _Priced(None, 0, total)

    # -- step 6 --------------------------------------------------------------------

    def _result(self, by_code: dict[str, list[_Candidate]]) -> Result:
        basket = self.basket
        final = self._stage(_LAST, True)  # every applied promotion priced line by line
        assert final.remaining is not None
        line_ids = [line.line_id for line in basket.lines]
        lines = {
            line.line_id: LineResult(line.subtotal, line.subtotal - left, left)
            for line, left in zip(basket.lines, final.remaining, strict=True)
        }
        in_order = sorted(self.applied, key=lambda a: _RANK[a.promotion.klass])  # stable
        allocations = tuple(
            Allocation(
                promotion_id=a.promotion.id,
                title=a.promotion.title,
                klass=a.promotion.klass,
                amount=a.total,
                line_amounts=tuple(
                    (line_ids[i], amount) for i, amount in sorted(a.lines.items()) if amount
                ),
                shipping_amount=a.shipping,
                code=a.code,
            )
            for a in in_order
        )
        subtotal = basket.subtotal
        payable = sum(final.remaining)
        return Result(
            currency=basket.currency,
            lines=MappingProxyType(lines),
            subtotal=subtotal,
            discount_total=subtotal - payable,
            shipping=basket.shipping,
            shipping_discount=basket.shipping - final.shipping,
            total=payable + final.shipping,
            allocations=allocations,
            codes=self._code_statuses(by_code),
        )

    def _code_statuses(self, by_code: dict[str, list[_Candidate]]) -> tuple[CodeStatus, ...]:
        statuses = []
        seen: set[str] = set()
        for raw in self.ctx.codes:
            norm = normalize_code(raw)
            if norm in seen:
                statuses.append(CodeStatus(raw, False, Reason.DUPLICATE_CODE))
                continue
            seen.add(norm)
            holders = by_code.get(norm) if norm else None
            if not holders:
                statuses.append(CodeStatus(raw, False, Reason.UNKNOWN_CODE))
            elif any(
                self.verdicts.get(c.promotion.id, Reason.NO_DISCOUNT) is None for c in holders
            ):
                statuses.append(CodeStatus(raw, True, None))
            else:
                statuses.append(CodeStatus(raw, False, self.verdicts[holders[0].promotion.id]))
        return tuple(statuses)
