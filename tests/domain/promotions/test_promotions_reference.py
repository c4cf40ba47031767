"""The promotions engine gives exactly what the engine before lazy re-pricing gave.

``reference_promotions_engine`` is the engine as of fc4cae7 (eager re-pricing of the
later classes every time an earlier class changes, Fraction arithmetic in
``apportion``). On random baskets and promotion sets (the property tests' strategy,
plus sets where many promotions of every class stack, in interleaved priorities),
the new engine's result must be equal, field for field.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.domain.promotions import Basket, BasketLine, Context, apply
from hub.domain.promotions.promotion import UsageState
from hub.domain.promotions.rounding import apportion
from hub.domain.promotions.serialization import from_dict
from tests.domain.promotions import reference_promotions_engine as reference
from tests.helpers.promotions import scenarios

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = datetime(2026, 6, 1, tzinfo=UTC)
EVERY = ["PRODUCT", "ORDER", "SHIPPING"]
TYPES = ("Sweater", "Shirt", "Hat")


@SETTINGS
@given(scenarios())
def test_same_result_as_the_reference_engine(scenario: tuple) -> None:
    basket, ctx, promotions = scenario
    assert apply(basket, ctx, promotions) == reference.apply(basket, ctx, promotions)


def _stacking(rng: random.Random, n: int) -> list:
    """Promotions of every kind that all combine, priorities interleaving the classes:
    the case where later classes are re-priced the most."""
    out = []
    for i in range(n):
        kind = rng.randrange(9)
        broad = {"product_types": [rng.choice(TYPES)]}
        pct = str(rng.choice((5, 10, 15, 20)))
        action = [
            {"type": "percent_off", "percent": pct, "target": broad},
            {"type": "percent_off", "percent": pct},
            {"type": "fixed_off", "amount": rng.choice((1, 99, 500)), "target": broad},
            {"type": "buy_x_get_y", "buy": broad, "buy_qty": 2, "get": broad, "get_qty": 1},
            {"type": "tiered_spend", "tiers": [{"threshold": 1000, "amount": 150}]},
            {
                "type": "volume_tiers",
                "target": broad,
                "tiers": [{"min_quantity": 2, "percent": "5"}],
            },
            {"type": "mix_and_match", "target": broad, "n": 3, "price": 900},
            {"type": "fixed_off", "amount": rng.choice((3, 250))},
            {"type": "free_shipping", "max_amount": rng.choice((None, 100, 300))},
        ][kind]
        klass = "ORDER" if kind in (1, 4, 7) else "SHIPPING" if kind == 8 else "PRODUCT"
        definition = {
            "id": i + 1,
            "title": f"p{i}",
            "priority": rng.randrange(20),
            "currency": "USD",
            "action": action,
            "combination": {
                "class": klass,
                "combines_with": EVERY if rng.random() < 0.9 else [klass],
                "best_deal_group": "g" if rng.random() < 0.05 else None,
                "stop_after": rng.random() < 0.01,
            },
        }
        usage = UsageState(budget_left=rng.choice((50, 400, 2000))) if rng.random() < 0.1 else None
        out.append(from_dict(definition, usage=usage))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(1, 12), st.integers(5, 60))
def test_same_result_when_many_stack(seed: int, lines: int, count: int) -> None:
    rng = random.Random(seed)
    basket = Basket(
        "USD",
        tuple(
            BasketLine(
                line_id=f"l{i}",
                variant_id=i + 1,
                product_id=i + 1,
                quantity=rng.choice((1, 2, 3, 7)),
                unit_price=rng.randrange(1, 20000),
                product_type=rng.choice(TYPES),
            )
            for i in range(lines)
        ),
        shipping=rng.choice((0, 495, 995)),
    )
    ctx = Context("web", "US", None, frozenset(), None, False, NOW)
    promotions = _stacking(rng, count)
    assert apply(basket, ctx, promotions) == reference.apply(basket, ctx, promotions)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.fractions(min_value=0, max_value=10_000, max_denominator=10_000), min_size=1, max_size=30
    ),
    st.none() | st.integers(0, 20_000),
)
def test_apportion_is_the_fraction_version(exact: list[Fraction], cap: int | None) -> None:
    ranks = list(range(len(exact)))[::-1]
    assert apportion(exact, ranks, cap) == reference.apportion(exact, ranks, cap)
