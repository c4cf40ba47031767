"""Helpers shared by the tests (moved from tests.domain.test_promotions)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal

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
    DiscountClass,
    FixedOff,
    FreeShipping,
    HasItems,
    MinQuantity,
    MinSubtotal,
    MixAndMatch,
    PercentOff,
    Promotion,
    Target,
    TieredSpend,
    UsageState,
    VolumeTiers,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


EVERY_CLASS = frozenset(DiscountClass)


D = Decimal


def ctx(
    *codes: str,
    channel: str = "web",
    country: str | None = "US",
    customer_id: int | None = 7,
    segments: Iterable[str] = (),
    tier: str | None = None,
    first_order: bool = False,
    now: datetime = NOW,
) -> Context:
    return Context(
        channel, country, customer_id, frozenset(segments), tier, first_order, now, codes
    )


IDS = st.integers(1, 6)


TAGS = st.sampled_from(["a", "b", "c"])


PERCENTS = st.decimals(min_value=D("0.01"), max_value=D(100), places=2)


TARGETS = st.one_of(
    st.just(EVERYTHING),
    st.builds(
        Target,
        product_ids=st.frozensets(IDS, max_size=2),
        collection_ids=st.frozensets(IDS, max_size=2),
        tags=st.frozensets(TAGS, max_size=1),
        exclude_tags=st.frozensets(TAGS, max_size=1),
        exclude_on_sale=st.booleans(),
    ),
)


MAYBE_TARGET = st.none() | TARGETS


USES = st.none() | st.integers(1, 3)


ACTIONS = st.one_of(
    st.builds(PercentOff, PERCENTS, MAYBE_TARGET),
    st.builds(FixedOff, st.integers(1, 30000), MAYBE_TARGET, st.booleans()),
    st.builds(BuyXGetY, TARGETS, st.integers(1, 3), TARGETS, st.integers(1, 2), PERCENTS, USES),
    st.builds(
        TieredSpend,
        st.lists(
            st.tuples(st.integers(0, 40000), st.integers(1, 5000) | PERCENTS),
            min_size=1,
            max_size=3,
            unique_by=lambda t: t[0],
        ).map(tuple),
        MAYBE_TARGET,
    ),
    st.builds(
        VolumeTiers,
        TARGETS,
        st.lists(
            st.tuples(st.integers(1, 6), PERCENTS), min_size=1, max_size=3, unique_by=lambda t: t[0]
        ).map(tuple),
    ),
    st.builds(MixAndMatch, TARGETS, st.integers(1, 4), st.integers(0, 20000), USES),
    st.builds(
        BundlePrice,
        st.lists(st.tuples(TARGETS, st.integers(1, 2)), min_size=1, max_size=3).map(tuple),
        st.integers(0, 30000),
        USES,
    ),
    st.builds(FreeShipping, st.none() | st.integers(1, 1500)),
)


CONDITIONS = st.lists(
    st.one_of(
        st.builds(MinSubtotal, st.integers(0, 30000), MAYBE_TARGET),
        st.builds(MinQuantity, st.integers(1, 6), MAYBE_TARGET),
        st.builds(HasItems, TARGETS),
        st.builds(Channel, st.just(frozenset({"web"}))),
    ),
    max_size=1,
).map(tuple)


LINES = st.lists(
    st.fixed_dictionaries(
        {
            "variant_id": IDS,
            "product_id": IDS,
            "quantity": st.integers(1, 5),
            "unit_price": st.integers(0, 20000),
            "collection_ids": st.frozensets(IDS, max_size=2),
            "tags": st.frozensets(TAGS, max_size=2),
            "product_type": st.sampled_from(["", "shirt"]),
            "compare_at": st.none() | st.integers(0, 25000),
        }
    ),
    min_size=1,
    max_size=7,
)


PROMOTION_PARTS = st.lists(
    st.fixed_dictionaries(
        {
            "action": ACTIONS,
            "klass": st.integers(0, 1),  # index into the action's allowed classes
            "priority": st.integers(0, 2),
            "conditions": CONDITIONS,
            "combines": st.just(EVERY_CLASS)
            | st.frozensets(st.sampled_from(sorted(DiscountClass))),
            "exclusive": st.integers(0, 4).map(lambda n: n == 0),
            "stop_after": st.integers(0, 4).map(lambda n: n == 0),
            "group": st.sampled_from([None, None, "g1", "g2"]),
            "code": st.sampled_from([None, None, "A", "b", ("A", "C")]),
            "budget": st.sampled_from([None, None, None, 0, 1, 500]),
            "currency": st.sampled_from([None, None, None, None, "USD", "JPY"]),  # None: basket's
        }
    ),
    max_size=10,
)


CODES = st.lists(st.sampled_from(["A", "a", "B", "c", "zzz"]), max_size=4)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Basket, Context, list[Promotion]]:
    lines = tuple(BasketLine(line_id=f"L{n}", **kw) for n, kw in enumerate(draw(LINES)))
    b = Basket(draw(st.sampled_from(["USD", "JPY"])), lines, draw(st.integers(0, 2000)))
    promotions = []
    for pid, part in enumerate(draw(PROMOTION_PARTS), start=1):
        action = part["action"]
        classes = sorted(action.classes)
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
                usage=UsageState(budget_left=part["budget"]),
                currency=part["currency"] or b.currency,
            )
        )
    return b, ctx(*draw(CODES)), promotions
