"""The engine (class-by-class stages, re-built on sums for order-wide promotions,
integer arithmetic) gives exactly what the old engine gave.

``reference_promotions_engine`` re-prices every later class eagerly each time an
earlier class changes, with the old ``Fraction`` arithmetic of ``reference_actions``.
Here both price random baskets against random promotion sets drawn from every
condition and action kind (targeted and order-wide, multi-buys, spend and volume
tiers), every discount class and combination rule (stacking sets, exclusive,
``stop_after``, best-deal groups), codes, usage limits and budgets (small ones, so
the cap is shared out), date windows and currencies with 0, 2 and 3 minor digits;
the results must be equal field for field. The action level is compared on its own
too: each built-in action's integer ``amounts`` against the old ``Fraction`` compute,
and the sum rule (``basket_discount``) against the sum of those amounts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.domain.promotions import (
    EVERYTHING,
    Basket,
    BasketLine,
    BundlePrice,
    BuyXGetY,
    Channel,
    Combination,
    Context,
    Country,
    CouponCode,
    CustomerSegment,
    DateWindow,
    DiscountClass,
    FirstOrder,
    FixedOff,
    FreeShipping,
    HasItems,
    LoyaltyTier,
    MinQuantity,
    MinSubtotal,
    MixAndMatch,
    PercentOff,
    PricingView,
    Promotion,
    Target,
    TieredSpend,
    UsageState,
    VolumeTiers,
    apply,
)
from hub.domain.promotions.rounding import apportion_scaled
from tests.domain.promotions import reference_actions
from tests.domain.promotions import reference_promotions_engine as reference

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
D = Decimal
EVERY = frozenset(DiscountClass)
TYPES = ("shirt", "hat", "mug")
TAGS = ("a", "b", "c")

PERCENTS = st.sampled_from([D(5), D(10), D("12.5"), D(20), D("33.33"), D(50), D(100)]) | (
    st.decimals(min_value=D("0.01"), max_value=D(100), places=2)
)
IDS = st.integers(1, 8)
INCLUDING = st.builds(
    Target,
    product_ids=st.frozensets(IDS, max_size=3),
    variant_ids=st.frozensets(IDS, max_size=1),
    collection_ids=st.frozensets(IDS, max_size=2),
    tags=st.frozensets(st.sampled_from(TAGS), max_size=1),
    product_types=st.frozensets(st.sampled_from(TYPES), max_size=1),
    exclude_product_ids=st.frozensets(IDS, max_size=1),
    exclude_tags=st.frozensets(st.sampled_from(TAGS), max_size=1),
    exclude_on_sale=st.booleans(),
)
# None and EVERYTHING are order-wide; "every type" matches every line without saying
# so (the engine must notice and may price it on sums; the result is the same).
TARGETS = st.one_of(
    st.just(EVERYTHING),
    st.just(Target(product_types=frozenset(TYPES))),
    INCLUDING,
)
MAYBE = st.none() | TARGETS
USES = st.none() | st.integers(1, 3)
AMOUNT = st.integers(1, 40_000)
TIERS = st.lists(
    st.tuples(st.integers(0, 60_000), AMOUNT | PERCENTS),
    min_size=1,
    max_size=3,
    unique_by=lambda t: t[0],
).map(tuple)

ACTIONS = st.one_of(
    st.builds(PercentOff, PERCENTS, MAYBE),
    st.builds(FixedOff, AMOUNT, MAYBE, st.booleans()),
    st.builds(TieredSpend, TIERS, MAYBE),
    st.builds(
        VolumeTiers,
        TARGETS,
        st.lists(
            st.tuples(st.integers(1, 6), PERCENTS), min_size=1, max_size=3, unique_by=lambda t: t[0]
        ).map(tuple),
    ),
    st.builds(BuyXGetY, TARGETS, st.integers(1, 3), TARGETS, st.integers(1, 2), PERCENTS, USES),
    st.builds(MixAndMatch, TARGETS, st.integers(1, 4), st.integers(0, 30_000), USES),
    st.builds(
        BundlePrice,
        st.lists(st.tuples(TARGETS, st.integers(1, 2)), min_size=1, max_size=3).map(tuple),
        st.integers(0, 40_000),
        USES,
    ),
    st.builds(FreeShipping, st.none() | st.integers(1, 1500)),
)

CONDITIONS = st.lists(
    st.one_of(
        st.builds(MinSubtotal, st.integers(0, 60_000), MAYBE),
        st.builds(MinQuantity, st.integers(1, 8), MAYBE),
        st.builds(HasItems, TARGETS),
        st.builds(CustomerSegment, st.just(frozenset({"vip"}))),
        st.builds(LoyaltyTier, st.just(frozenset({"gold"}))),
        st.builds(Channel, st.sampled_from([frozenset({"web"}), frozenset({"pos"})])),
        st.builds(Country, st.sampled_from([frozenset({"US"}), frozenset({"FR"})])),
        st.builds(
            DateWindow,
            st.sampled_from([None, NOW - timedelta(days=1), NOW]),
            st.sampled_from([None, NOW + timedelta(days=1)]),
        ),
        st.builds(FirstOrder),
        st.builds(CouponCode, st.sampled_from([("VIP",), ("vip", "Spring")])),
    ),
    max_size=2,
).map(tuple)

LINES = st.lists(
    st.fixed_dictionaries(
        {
            "variant_id": IDS,
            "product_id": IDS,
            "quantity": st.integers(1, 7),
            # Small prices too: amounts of a few minor units round to 0 or 1 (half
            # to even), which decides whether a promotion applies at all.
            "unit_price": st.integers(0, 25_000) | st.integers(0, 40),
            "collection_ids": st.frozensets(IDS, max_size=2),
            "tags": st.frozensets(st.sampled_from(TAGS), max_size=2),
            "product_type": st.sampled_from(TYPES),
            "compare_at": st.none() | st.integers(0, 30_000),
        }
    ),
    min_size=1,
    max_size=9,
)


def _lines_or_none(k: int) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.just([]) if k == 0 else LINES  # an empty basket once in twenty


USAGE = st.builds(
    UsageState,
    st.sampled_from([None, 0, 1]),
    st.sampled_from([None, 0, 2]),
    st.sampled_from([None, 0, 1, 2, 7, 333, 5000]),
)
WINDOWS = st.sampled_from([(NOW + timedelta(hours=1), None), (None, NOW)])


def mostly(draw: st.DrawFn, value: Any, other: st.SearchStrategy[Any], tenths: int = 8) -> Any:
    """``value`` ``tenths`` times in ten, else a draw from ``other``: most promotions
    are eligible and stack, so many apply and the later classes are re-built often."""
    return value if draw(st.integers(0, 9)) < tenths else draw(other)


@st.composite
def parts(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "action": draw(ACTIONS),
        "klass": draw(st.integers(0, 1)),  # index into the action's allowed classes
        "priority": draw(st.integers(0, 30)),
        "conditions": mostly(draw, (), CONDITIONS, 7),
        "combines": mostly(draw, EVERY, st.frozensets(st.sampled_from(sorted(DiscountClass))), 9),
        "exclusive": draw(st.integers(0, 60)) == 0,
        "stop_after": draw(st.integers(0, 60)) == 0,
        "group": mostly(draw, None, st.sampled_from(["g1", "g2"]), 7),
        "code": mostly(draw, None, st.sampled_from(["A", "b", ("A", "C")])),
        "usage": mostly(draw, UsageState(), USAGE, 7),
        "window": mostly(draw, (None, None), WINDOWS, 9),
        "currency": mostly(draw, None, st.sampled_from(["USD", "JPY", "KWD"])),
    }


ENTERED = st.sampled_from(["A", "a", " b ", "C", "VIP", "spring", "zz"])


@st.composite
def scenarios(draw: st.DrawFn, max_promotions: int = 40) -> tuple[Basket, Context, list]:
    lines = tuple(
        BasketLine(line_id=f"L{n:02}", **kw)
        for n, kw in enumerate(draw(st.integers(0, 19).flatmap(_lines_or_none)))
    )
    currency = draw(st.sampled_from(["USD", "JPY", "KWD"]))
    basket = Basket(currency, lines, draw(st.sampled_from([0, 1, 495, 2000])))
    count = draw(st.integers(1, max_promotions))
    promotions = []
    for pid, part in enumerate(draw(st.lists(parts(), min_size=count, max_size=count)), start=1):
        action = part["action"]
        classes = sorted(action.classes)
        starts_at, ends_at = part["window"]
        promotions.append(
            Promotion(
                id=pid,
                title=f"p{pid}",
                priority=part["priority"],
                conditions=part["conditions"],
                action=action,
                combination=Combination(
                    classes[part["klass"] % len(classes)],
                    part["combines"],
                    exclusive=part["exclusive"],
                    stop_after=part["stop_after"],
                    best_deal_group=part["group"],
                ),
                code=part["code"],
                starts_at=starts_at,
                ends_at=ends_at,
                usage=part["usage"],
                currency=part["currency"] or currency,
            )
        )
    ctx = Context(
        draw(st.sampled_from(["web", "pos"])),
        draw(st.sampled_from(["US", "FR", None])),
        draw(st.none() | st.just(7)),
        draw(st.sampled_from([frozenset(), frozenset({"vip"})])),
        draw(st.sampled_from([None, "gold"])),
        draw(st.booleans()),
        NOW,
        tuple(draw(st.lists(ENTERED, max_size=4))),
    )
    return basket, ctx, promotions


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_same_result_as_the_old_engine(scenario: tuple[Basket, Context, list]) -> None:
    basket, ctx, promotions = scenario
    assert apply(basket, ctx, promotions) == reference.apply(basket, ctx, promotions)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(max_promotions=150))
def test_same_result_as_the_old_engine_with_many_promotions(
    scenario: tuple[Basket, Context, list],
) -> None:
    basket, ctx, promotions = scenario
    assert apply(basket, ctx, promotions) == reference.apply(basket, ctx, promotions)


def _stacking(n: int, seed: int) -> list[Promotion]:
    """Every promotion combines with every class; product and order-wide (on sums)
    and targeted order (line by line) discounts interleave in priority."""
    out = []
    kinds: list[tuple[Any, DiscountClass]] = [
        (PercentOff(D(10), Target(product_types=frozenset({"shirt"}))), DiscountClass.PRODUCT),
        (PercentOff(D("7.5")), DiscountClass.ORDER),
        (FixedOff(333), DiscountClass.ORDER),
        (
            TieredSpend(
                ((0, 150), (20_000, D(3))),
            ),
            DiscountClass.ORDER,
        ),
        (FixedOff(99, Target(tags=frozenset({"a"}))), DiscountClass.PRODUCT),
        (FreeShipping(250), DiscountClass.SHIPPING),
        (PercentOff(D(5), Target(tags=frozenset({"b"}))), DiscountClass.ORDER),
        (BuyXGetY(EVERYTHING, 2, EVERYTHING, 1, D(50)), DiscountClass.PRODUCT),
    ]
    for i in range(n):
        action, klass = kinds[(i * 7 + seed) % len(kinds)]
        out.append(
            Promotion(
                id=i + 1,
                title=f"s{i}",
                priority=(i * 37 + seed) % 23,
                conditions=(),
                action=action,
                combination=Combination(klass, EVERY),
                usage=UsageState(budget_left=[None, None, None, 900][(i + seed) % 4]),
                currency="USD",
            )
        )
    return out


@settings(max_examples=25, deadline=None)
@given(LINES, st.integers(0, 100), st.integers(20, 200))
def test_same_result_when_hundreds_stack(lines: list, seed: int, count: int) -> None:
    basket = Basket(
        "USD", tuple(BasketLine(line_id=f"L{n}", **kw) for n, kw in enumerate(lines)), 995
    )
    ctx = Context("web", "US", None, frozenset(), None, False, NOW)
    promotions = _stacking(count, seed)
    assert apply(basket, ctx, promotions) == reference.apply(basket, ctx, promotions)


# -- the actions on their own --------------------------------------------------------


@st.composite
def views(draw: st.DrawFn) -> tuple[Basket, list[int], int]:
    lines = tuple(BasketLine(line_id=f"L{n}", **kw) for n, kw in enumerate(draw(LINES)))
    basket = Basket("USD", lines, draw(st.integers(0, 2000)))
    # What is still payable: anything from 0 to the line's subtotal.
    remaining = [draw(st.integers(0, line.subtotal)) for line in lines]
    return basket, remaining, draw(st.integers(0, basket.shipping))


def _exact(outcome: Any) -> tuple[dict[int, Fraction], Fraction, str | None]:
    return (
        {i: Fraction(a) for i, a in outcome.lines.items()},
        Fraction(outcome.shipping),
        outcome.reason,
    )


@settings(max_examples=400, deadline=None)
@given(ACTIONS, views())
def test_each_action_takes_what_the_old_arithmetic_took(action: Any, view: tuple) -> None:
    basket, remaining, shipping = view
    new = action.amounts(PricingView(basket, remaining, shipping))
    old = reference_actions.compute(
        action, reference_actions.PricingView(basket, remaining, shipping)
    )
    assert _exact(new.outcome()) == _exact(old)
    assert _exact(action.compute(PricingView(basket, remaining, shipping))) == _exact(old)


@settings(max_examples=400, deadline=None)
@given(ACTIONS, views(), st.none() | st.integers(1, 3000))
def test_the_sum_rule_gives_the_total_of_the_amounts(
    action: Any, view: tuple, cap: int | None
) -> None:
    """Where an action says it can be priced on the sum of what the lines still cost,
    the total (rounded, capped) is what its line amounts round to."""
    basket, remaining, shipping = view
    rule = action.basket_discount(basket.index) if action.reads_lines else None
    if rule is None:
        return
    amounts = action.amounts(PricingView(basket, remaining, shipping))
    total = rule.total(sum(remaining))
    if amounts.reason is not None:
        assert total == amounts.reason
        return
    assert amounts.shipping == 0
    assert isinstance(total, tuple)
    num, den = total
    assert Fraction(num, den) == Fraction(sum(amounts.lines.values()), amounts.denominator)
    # Capped at each line's remaining (never binds for a proportional discount).
    for i, line_num in amounts.lines.items():
        assert Fraction(line_num, amounts.denominator) <= remaining[i]
    shares = apportion_scaled(
        list(amounts.lines.values()), amounts.denominator, list(range(len(amounts.lines))), cap
    )
    rounded = round(Fraction(num, den))
    assert sum(shares) == (rounded if cap is None else min(rounded, cap))
