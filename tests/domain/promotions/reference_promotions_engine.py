"""The promotion engine as it was before class-by-class lazy re-pricing (commit fc4cae7),
kept as the reference the property test compares :mod:`hub.domain.promotions.engine`
with. Do not change it (its actions' arithmetic and view are the old ``Fraction`` ones
of :mod:`reference_actions`, commit 983e4aa); it re-prices every applied promotion of a
later class each time one of an earlier class applies (quadratic when hundreds apply).

The promotion engine: ``apply(basket, ctx, promotions) -> Result``.

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

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType

from hub.domain.promotions.basket import Basket, Context, normalize_code
from hub.domain.promotions.conditions import window_failure
from hub.domain.promotions.enums import DiscountClass, Reason
from hub.domain.promotions.promotion import Promotion
from hub.domain.promotions.result import Allocation, CodeStatus, LineResult, Result
from tests.domain.promotions.reference_actions import LineIndex, PricingView
from tests.domain.promotions.reference_actions import compute as reference_compute

_STAGES = (DiscountClass.PRODUCT, DiscountClass.ORDER, DiscountClass.SHIPPING)
_RANK = {klass: rank for rank, klass in enumerate(_STAGES)}
_ZERO = Fraction(0)


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


@dataclass(frozen=True, slots=True)
class _State:
    remaining: tuple[int, ...]  # what each line still costs
    shipping: int  # what shipping still costs


@dataclass(frozen=True, slots=True)
class _Priced:
    lines: tuple[int, ...]
    shipping: int
    after: _State

    @property
    def total(self) -> int:
        return sum(self.lines) + self.shipping


@dataclass(slots=True)
class _Applied:
    promotion: Promotion
    code: str | None
    priced: _Priced


@dataclass(frozen=True, slots=True)
class _Trial:
    priced: _Priced
    stages: tuple[_State, ...]
    repriced: tuple[tuple[_Applied, _Priced], ...]


@dataclass(frozen=True, slots=True)
class _Candidate:
    promotion: Promotion
    code: str | None  # the entered code (as typed) that activated it
    blocked: str | None  # the static reason it cannot apply, if any


class _Engine:
    def __init__(self, basket: Basket, ctx: Context) -> None:
        self.basket = basket
        self.ctx = ctx
        self.index = LineIndex(basket)
        lines = basket.lines
        by_id = sorted(range(len(lines)), key=lambda i: lines[i].line_id)
        rank = [0] * (len(lines) + 1)
        for r, i in enumerate(by_id):
            rank[i] = r
        rank[len(lines)] = len(lines)  # shipping last
        self.tie_rank = rank
        gross = _State(tuple(line.subtotal for line in lines), basket.shipping)
        self.stages: tuple[_State, ...] = (gross, gross, gross)
        self.applied: list[_Applied] = []
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
        self.stages = trial.stages
        for applied, priced in trial.repriced:
            applied.priced = priced
        self.applied.append(_Applied(winner.promotion, winner.code, trial.priced))
        self.verdicts[winner.promotion.id] = None
        return winner

    def _combines(self, promotion: Promotion) -> bool:
        if not self.applied:
            return True
        mine = promotion.combination
        if mine.exclusive:
            return False
        for applied in self.applied:
            theirs = applied.promotion.combination
            if (
                theirs.exclusive
                or theirs.klass not in mine.combines_with
                or mine.klass not in theirs.combines_with
            ):
                return False
        return True

    # -- steps 4 and 5 -------------------------------------------------------------

    def _trial(self, promotion: Promotion) -> _Trial | str:
        """Price ``promotion`` after everything applied of its class or earlier, then
        re-price what is applied of later classes on top."""
        rank = _RANK[promotion.klass]
        priced = self._price(promotion, self.stages[rank])
        if isinstance(priced, str):
            return priced
        stages = list(self.stages)
        stages[rank] = state = priced.after
        repriced: list[tuple[_Applied, _Priced]] = []
        for later in range(rank + 1, len(_STAGES)):
            for applied in self.applied:
                if _RANK[applied.promotion.klass] != later:
                    continue
                again = self._price(applied.promotion, state)
                if isinstance(again, str):  # nothing left for it: stays applied, at 0
                    again = _Priced((0,) * len(state.remaining), 0, state)
                repriced.append((applied, again))
                state = again.after
            stages[later] = state
        return _Trial(priced, tuple(stages), tuple(repriced))

    def _price(self, promotion: Promotion, state: _State) -> _Priced | str:
        view = PricingView(self.basket, state.remaining, state.shipping, self.index)
        outcome = reference_compute(promotion.action, view)
        n = len(state.remaining)
        # Only the slots with an amount take part: a slot at 0 rounds to 0 and never
        # gets a remainder unit, so leaving it out of ``apportion`` changes nothing and
        # spares a Fraction per line for every promotion tried (most match few lines).
        slots: list[int] = []
        exact: list[Fraction] = []
        for i, amount in outcome.lines.items():
            if not 0 <= i < n:
                raise ValueError(
                    f"action {promotion.action.kind!r} returned line index {i}; "
                    f"the basket has {n} lines"
                )
            left = state.remaining[i]
            if amount > 0 and left > 0:
                slots.append(i)
                exact.append(Fraction(left) if amount >= left else Fraction(amount))
        if outcome.shipping > 0 and state.shipping > 0:
            slots.append(n)
            ship = outcome.shipping
            exact.append(Fraction(state.shipping) if ship >= state.shipping else Fraction(ship))
        if not slots:
            return outcome.reason or Reason.NO_DISCOUNT
        tie_rank = self.tie_rank
        shares = apportion(exact, [tie_rank[i] for i in slots], promotion.usage.budget_left)
        if not any(shares):
            return outcome.reason or Reason.NO_DISCOUNT
        amounts = [0] * (n + 1)
        for i, amount in zip(slots, shares, strict=True):
            amounts[i] = amount
        lines = tuple(amounts[:n])
        after = _State(
            tuple(r - a for r, a in zip(state.remaining, lines, strict=True)),
            state.shipping - amounts[n],
        )
        return _Priced(lines, amounts[n], after)

    # -- step 6 --------------------------------------------------------------------

    def _result(self, by_code: dict[str, list[_Candidate]]) -> Result:
        basket = self.basket
        final = self.stages[-1]
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
                amount=a.priced.total,
                line_amounts=tuple(
                    (line_id, amount)
                    for line_id, amount in zip(line_ids, a.priced.lines, strict=True)
                    if amount
                ),
                shipping_amount=a.priced.shipping,
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


def apportion(
    exact: Sequence[Fraction], tie_rank: Sequence[int], cap: int | None = None
) -> list[int]:
    """``hub.domain.promotions.rounding.apportion`` as it was (Fraction arithmetic)."""
    total_exact = sum(exact, Fraction(0))
    if total_exact <= 0:
        return [0] * len(exact)
    total = round(total_exact)
    shares: Sequence[Fraction] = exact
    if cap is not None and total > cap:
        total = max(cap, 0)
        shares = [e * total / total_exact for e in exact]
    floors = [math.floor(s) for s in shares]
    short = total - sum(floors)
    if short > 0:
        by_remainder = sorted(
            (i for i, s in enumerate(shares) if s > floors[i]),
            key=lambda i: (floors[i] - shares[i], tie_rank[i]),
        )
        if short > len(by_remainder):
            raise AssertionError("apportion: remainder exceeds the slots available")
        for i in by_remainder[:short]:
            floors[i] += 1
    return floors
