"""The promotion engine: pure and fast (no database, no app).

Amounts are minor units. Worked examples state their arithmetic in comments."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.domain.promotions import (
    EVERYTHING,
    Action,
    Basket,
    BasketLine,
    BundlePrice,
    BuyXGetY,
    Channel,
    Combination,
    Condition,
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
    Promotion,
    Result,
    Target,
    TieredSpend,
    UsageState,
    VolumeTiers,
    apply,
    from_dict,
    to_dict,
)
from hub.domain.promotions.rounding import apportion
from tests.helpers.promotions import (
    EVERY_CLASS,
    NOW,
    D,
    ctx,
    scenarios,
)

PRODUCT, ORDER, SHIPPING = DiscountClass.PRODUCT, DiscountClass.ORDER, DiscountClass.SHIPPING


# -- builders -------------------------------------------------------------------------


def line(
    line_id: str,
    price: int,
    qty: int = 1,
    *,
    product: int | None = None,
    variant: int | None = None,
    collections: Iterable[int] = (),
    tags: Iterable[str] = (),
    ptype: str = "",
    compare_at: int | None = None,
) -> BasketLine:
    n = sum(map(ord, line_id))
    return BasketLine(
        line_id=line_id,
        variant_id=variant if variant is not None else 1000 + n,
        product_id=product if product is not None else n,
        quantity=qty,
        unit_price=price,
        collection_ids=frozenset(collections),
        tags=frozenset(tags),
        product_type=ptype,
        compare_at=compare_at,
    )


def basket(*lines: BasketLine, currency: str = "USD", shipping: int = 0) -> Basket:
    return Basket(currency, lines, shipping)


def natural_class(action: Action) -> DiscountClass:
    if isinstance(action, FreeShipping):
        return SHIPPING
    if isinstance(action, PercentOff | FixedOff | TieredSpend) and action.target is None:
        return ORDER
    return PRODUCT


def promo(
    pid: int,
    action: Action,
    *conditions: Condition,
    klass: DiscountClass | None = None,
    combines: Iterable[DiscountClass] = (),
    priority: int = 0,
    code: str | tuple[str, ...] | None = None,
    exclusive: bool = False,
    stop_after: bool = False,
    group: str | None = None,
    usage: UsageState = UsageState(),
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    currency: str | None = "USD",
) -> Promotion:
    return Promotion(
        id=pid,
        title=f"promo {pid}",
        priority=priority,
        conditions=conditions,
        action=action,
        combination=Combination(
            klass or natural_class(action),
            frozenset(combines),
            exclusive=exclusive,
            stop_after=stop_after,
            best_deal_group=group,
        ),
        code=code,
        starts_at=starts_at,
        ends_at=ends_at,
        usage=usage,
        currency=currency,
    )


def discounts(result: Result) -> dict[str, int]:
    """line_id -> discount, for lines with one."""
    return {lid: r.discount for lid, r in result.lines.items() if r.discount}


def applied(result: Result) -> list[int]:
    return [a.promotion_id for a in result.allocations]


def status(result: Result, code: str) -> tuple[bool, str | None]:
    found = result.code(code)
    assert found is not None, f"no status for {code!r}"
    return found.applicable, found.reason


def check(b: Basket, p: Promotion, c: Context | None = None) -> tuple[bool, str | None]:
    """Apply a code promotion "C" and return the code's status."""
    p = replace(p, code="C")
    return status(apply(b, c or ctx("C"), [p]), "C")


TEN = PercentOff(D(10))


def check_one(condition: Condition, **context: Any) -> tuple[bool, str | None]:
    """``check`` of a 10% off code promotion with this one condition, on one line of
    10.00, for the customer ``context`` describes (``ctx`` keywords)."""
    return check(basket(line("a", 1000)), promo(1, TEN, condition), ctx("C", **context))


# -- conditions -----------------------------------------------------------------------


def test_min_subtotal_of_the_basket_or_of_the_target_lines() -> None:
    shoes = Target(collection_ids=frozenset({5}))
    whole = promo(1, TEN, MinSubtotal(5000))
    assert check(basket(line("a", 4999)), whole) == (False, "MIN_SUBTOTAL_NOT_MET")
    assert check(basket(line("a", 2500, 2)), whole) == (True, None)
    only_shoes = promo(1, TEN, MinSubtotal(5000, shoes))
    mixed = basket(line("a", 4000, collections=[5]), line("b", 9000))
    assert check(mixed, only_shoes) == (False, "MIN_SUBTOTAL_NOT_MET")
    assert check(basket(line("a", 5000, collections=[5])), only_shoes) == (True, None)


def test_min_quantity() -> None:
    p = promo(1, TEN, MinQuantity(3, Target(tags=frozenset({"tee"}))))
    assert check(basket(line("a", 100, 2, tags=["tee"]), line("b", 100, 5)), p) == (
        False,
        "MIN_QUANTITY_NOT_MET",
    )
    assert check(basket(line("a", 100, 2, tags=["tee"]), line("b", 100, 1, tags=["tee"])), p) == (
        True,
        None,
    )


@pytest.mark.parametrize(
    "target",
    [
        Target(product_ids=frozenset({42})),
        Target(variant_ids=frozenset({4200})),
        Target(collection_ids=frozenset({3})),
        Target(tags=frozenset({"summer"})),
        Target(product_types=frozenset({"shirt"})),
    ],
    ids=["product", "variant", "collection", "tag", "product_type"],
)
def test_has_items_by_each_kind_of_target(target: Target) -> None:
    match = line(
        "a", 1000, product=42, variant=4200, collections=[3], tags=["summer"], ptype="shirt"
    )
    other = line("b", 1000, product=1, variant=100, collections=[9], tags=["winter"], ptype="sock")
    p = promo(1, TEN, HasItems(target))
    assert check(basket(other), p) == (False, "NO_MATCHING_ITEMS")
    assert check(basket(other, match), p) == (True, None)


def test_target_any_include_matches_and_excludes_win() -> None:
    sale = line("a", 800, compare_at=1000, collections=[1])
    gift = line("b", 500, collections=[1], tags=["gift-card"])
    plain = line("c", 300, collections=[2], ptype="sock")
    target = Target(
        collection_ids=frozenset({1}),
        product_types=frozenset({"sock"}),
        exclude_tags=frozenset({"gift-card"}),
        exclude_on_sale=True,
    )
    assert [t.line_id for t in (sale, gift, plain) if target.matches(t)] == ["c"]
    assert EVERYTHING.matches(sale) and EVERYTHING.matches(gift)
    # A percent off the target discounts only the sock: 10% of 300.
    result = apply(basket(sale, gift, plain), ctx(), [promo(1, PercentOff(D(10), target))])
    assert discounts(result) == {"c": 30}


def test_customer_segment() -> None:
    segment = CustomerSegment(frozenset({"vip", "staff"}))
    assert check_one(segment, segments=["newsletter"]) == (False, "CUSTOMER_NOT_ELIGIBLE")
    assert check_one(segment, segments=["newsletter", "staff"]) == (True, None)


def test_loyalty_tier() -> None:
    tier = LoyaltyTier(frozenset({"gold", "platinum"}))
    assert check_one(tier, tier="silver") == (False, "CUSTOMER_NOT_ELIGIBLE")
    assert check_one(tier, tier=None) == (False, "CUSTOMER_NOT_ELIGIBLE")
    assert check_one(tier, tier="gold") == (True, None)


def test_channel() -> None:
    channel = Channel(frozenset({"pos"}))
    assert check_one(channel, channel="web") == (False, "WRONG_CHANNEL")
    assert check_one(channel, channel="pos") == (True, None)


def test_country_is_case_insensitive_and_unknown_never_matches() -> None:
    country = Country(frozenset({"de", "AT"}))
    assert check_one(country, country="FR") == (False, "WRONG_COUNTRY")
    assert check_one(country, country=None) == (False, "WRONG_COUNTRY")
    assert check_one(country, country="De") == (True, None)
    assert check_one(country, country="at") == (True, None)


def test_date_window_condition_and_promotion_dates() -> None:
    b = basket(line("a", 1000))
    start, end = NOW, NOW + timedelta(days=7)
    for p in (
        promo(1, TEN, DateWindow(start, end)),
        promo(1, TEN, starts_at=start, ends_at=end),
    ):
        assert check(b, p, ctx("C", now=start - timedelta(seconds=1))) == (False, "NOT_STARTED")
        assert check(b, p, ctx("C", now=start)) == (True, None)  # start is inclusive
        assert check(b, p, ctx("C", now=end - timedelta(microseconds=1))) == (True, None)
        assert check(b, p, ctx("C", now=end)) == (False, "EXPIRED")  # end is exclusive
    # Offsets compare as instants: 14:00+02:00 is 12:00 UTC.
    cest = timezone(timedelta(hours=2))
    p = promo(1, TEN, starts_at=datetime(2025, 6, 1, 14, 0, tzinfo=cest))
    assert check(b, p, ctx("C", now=NOW)) == (True, None)
    assert check(b, promo(1, TEN, DateWindow(ends_at=NOW)), ctx("C")) == (False, "EXPIRED")


def test_first_order() -> None:
    assert check_one(FirstOrder(), first_order=False) == (False, "FIRST_ORDER_ONLY")
    assert check_one(FirstOrder(), first_order=True) == (True, None)


def test_coupon_code_condition_makes_a_code_promotion() -> None:
    p = promo(1, TEN, CouponCode(("Welcome", "HELLO")))
    assert p.codes == ("welcome", "hello")
    b = basket(line("a", 1000))
    assert apply(b, ctx(), [p]).allocations == ()  # not entered: not considered
    result = apply(b, ctx("  hello "), [p])
    assert discounts(result) == {"a": 100}
    assert result.allocations[0].code == "  hello "
    assert status(result, "  hello ") == (True, None)


def test_first_failing_condition_is_reported_in_order() -> None:
    p = promo(1, TEN, Channel(frozenset({"pos"})), MinSubtotal(10**6), FirstOrder())
    assert check(basket(line("a", 1000)), p) == (False, "WRONG_CHANNEL")
    p = replace(p, conditions=p.conditions[1:])
    assert check(basket(line("a", 1000)), p) == (False, "MIN_SUBTOTAL_NOT_MET")


# -- actions --------------------------------------------------------------------------


def test_percent_off_order_rounds_once_half_even_and_splits_by_largest_remainder() -> None:
    # 10% of 1005 = 100.5 -> 100 (half to even). Each line's exact share is 33.5:
    # floors give 99, the one unit left goes to the first line by line_id.
    b = basket(line("c", 335), line("a", 335), line("b", 335))
    result = apply(b, ctx(), [promo(1, TEN)])
    assert result.discount_total == 100
    assert discounts(result) == {"a": 34, "b": 33, "c": 33}
    assert result.allocations[0].line_amounts == (("c", 33), ("a", 34), ("b", 33))
    # 10% of 1015 = 101.5 -> 102 (half to even, upwards this time).
    assert apply(basket(line("a", 1015)), ctx(), [promo(1, TEN)]).discount_total == 102
    # 12.5% of 999 = 124.875 -> 125.
    p = promo(1, PercentOff(D("12.5")))
    assert apply(basket(line("a", 999)), ctx(), [p]).discount_total == 125


def test_percent_off_items() -> None:
    shirts = Target(product_types=frozenset({"shirt"}))
    b = basket(line("a", 2000, 2, ptype="shirt"), line("b", 1500), line("c", 999, ptype="shirt"))
    result = apply(b, ctx(), [promo(1, PercentOff(D(25), shirts))])
    # 25% of 4000 = 1000; 25% of 999 = 249.75; total 1249.75 -> 1250, c rounds up.
    assert discounts(result) == {"a": 1000, "c": 250}
    assert result.total == 4000 + 1500 + 999 - 1250
    assert result.allocations[0].klass == PRODUCT


def test_fixed_off_order_is_split_by_line_value_and_capped_at_the_subtotal() -> None:
    # 1000 over 2000 + 1000: exact 666.67 and 333.33 -> 666 + 333, +1 to the larger
    # remainder (a).
    result = apply(basket(line("a", 2000), line("b", 1000)), ctx(), [promo(1, FixedOff(1000))])
    assert discounts(result) == {"a": 667, "b": 333}
    capped = apply(basket(line("a", 3000), shipping=500), ctx(), [promo(1, FixedOff(5000))])
    assert capped.discount_total == 3000 and capped.total == 500


def test_fixed_off_items_once_across_lines_or_per_item() -> None:
    socks = Target(tags=frozenset({"sock"}))
    b = basket(line("a", 1000, 3, tags=["sock"]), line("b", 200, 2, tags=["sock"]), line("c", 5000))
    once = apply(b, ctx(), [promo(1, FixedOff(340, socks))])
    # 340 over 3000 + 400: 300 and 40.
    assert discounts(once) == {"a": 300, "b": 40}
    each = apply(b, ctx(), [promo(1, FixedOff(300, socks, each_item=True))])
    # 300 off each unit: 3 x 300 = 900 on a; b's units cost 200, so at most 400.
    assert discounts(each) == {"a": 900, "b": 400}


def test_buy_x_get_y_gives_the_cheapest_units_and_repeats() -> None:
    tees = Target(collection_ids=frozenset({1}))
    b2g1 = BuyXGetY(tees, 2, tees, 1)
    four = basket(
        *(line(k, p, collections=[1]) for k, p in zip("abcd", (1000, 800, 600, 400), strict=True))
    )
    assert discounts(apply(four, ctx(), [promo(1, b2g1)])) == {"d": 400}  # one use: 3 units
    six = basket(
        line("a", 1000, 2, collections=[1]),
        line("b", 800, 1, collections=[1]),
        line("c", 300, 3, collections=[1]),
        line("x", 50),  # not a tee
    )
    # 6 tees: two uses, the two cheapest tees (2 x 300) free.
    assert discounts(apply(six, ctx(), [promo(1, b2g1)])) == {"c": 600}
    capped = replace(b2g1, max_uses=1)
    assert discounts(apply(six, ctx(), [promo(1, capped)])) == {"c": 300}
    two = basket(line("a", 1000, collections=[1]), line("b", 800, collections=[1]))
    assert check(two, promo(1, b2g1)) == (False, "MIN_QUANTITY_NOT_MET")


def test_buy_x_get_y_across_targets_at_a_percentage() -> None:
    shirts = Target(product_types=frozenset({"shirt"}))
    socks = Target(product_types=frozenset({"sock"}))
    bogo = BuyXGetY(shirts, 1, socks, 1, percent_off_get=D(50))
    b = basket(
        line("s1", 3000, ptype="shirt"),
        line("s2", 2500, ptype="shirt"),
        line("k1", 999, 3, ptype="sock"),
        line("k2", 401, ptype="sock"),
    )
    # Two shirts bought: two socks at half price, the cheapest: 401 and 999.
    # 200.5 + 499.5 = 700 exactly; the lines get 200/500 or 201/499 by remainders (.5
    # each; tie -> line_id order, k1 first).
    result = apply(b, ctx(), [promo(1, bogo)])
    assert result.discount_total == 700
    assert discounts(result) == {"k1": 500, "k2": 200}
    assert check(basket(line("k", 500, 4, ptype="sock")), promo(1, bogo)) == (
        False,
        "NO_MATCHING_ITEMS",
    )


def test_buy_x_get_y_keeps_enough_shared_units_to_buy() -> None:
    # Buy 1 shirt, get 1 item (anything) free. Two shirts and two cheap extras make two
    # uses; both shirts must be bought, so the extras go free, not the 2000 shirt.
    shirts = Target(product_types=frozenset({"shirt"}))
    p = promo(1, BuyXGetY(shirts, 1, EVERYTHING, 1))
    a, b = line("a", 3000, ptype="shirt"), line("b", 2000, ptype="shirt")
    extras = (line("c", 100), line("d", 50))
    assert discounts(apply(basket(a, b, *extras), ctx(), [p])) == {"c": 100, "d": 50}
    # Three units make one use: the cheapest unit goes free.
    assert discounts(apply(basket(a, b, extras[0]), ctx(), [p])) == {"c": 100}
    # Shirts only: one is bought, the cheaper one is the free one.
    assert discounts(apply(basket(a, b), ctx(), [p])) == {"b": 2000}


def test_tiered_spend_uses_the_highest_tier_reached() -> None:
    tiers = TieredSpend(((5000, 500), (10000, D(10)), (20000, 2500)))
    p = promo(1, tiers)
    assert check(basket(line("a", 4999)), p) == (False, "MIN_SUBTOTAL_NOT_MET")
    assert apply(basket(line("a", 7500)), ctx(), [p]).discount_total == 500
    assert apply(basket(line("a", 12345)), ctx(), [p]).discount_total == 1234  # 1234.5 -> even
    assert apply(basket(line("a", 20000)), ctx(), [p]).discount_total == 2500
    shoes = promo(1, TieredSpend(((1000, 100),), Target(tags=frozenset({"shoe"}))))
    b = basket(line("a", 900, tags=["shoe"]), line("b", 5000))
    assert check(b, shoes) == (False, "MIN_SUBTOTAL_NOT_MET")


def test_volume_tiers_break_per_line() -> None:
    pens = Target(product_types=frozenset({"pen"}))
    p = promo(1, VolumeTiers(pens, ((3, D(5)), (10, D(10)))))
    b = basket(
        line("a", 150, 2, ptype="pen"),  # below the first break
        line("b", 150, 3, ptype="pen"),  # 5% of 450 = 22.5
        line("c", 99, 12, ptype="pen"),  # 10% of 1188 = 118.8
        line("d", 150, 50),  # not a pen
    )
    result = apply(b, ctx(), [p])
    # 22.5 + 118.8 = 141.3 -> 141; floors 22 + 118 = 140; +1 to c (.8 > .5).
    assert discounts(result) == {"b": 22, "c": 119}
    assert check(basket(line("a", 150, 2, ptype="pen")), p) == (False, "MIN_QUANTITY_NOT_MET")


def test_mix_and_match_groups_the_dearest_units() -> None:
    p = promo(1, MixAndMatch(Target(tags=frozenset({"candle"})), 3, 2000))
    b = basket(
        *(
            line(k, v, tags=["candle"])
            for k, v in zip("abcde", (1000, 900, 800, 700, 100), strict=True)
        )
    )
    result = apply(b, ctx(), [p])
    # 5 candles make one group of 3: the dearest (1000 + 900 + 800 = 2700) for 2000.
    # The 700 saved is split by price: 259.26 + 233.33 + 207.41 -> 259 + 233 + 208.
    assert discounts(result) == {"a": 259, "b": 233, "c": 208}
    # A group that would cost more than its units is not formed.
    cheap = basket(*(line(k, 500, tags=["candle"]) for k in "abc"))
    assert check(cheap, p) == (False, "NO_DISCOUNT")
    assert check(basket(line("a", 900, 2, tags=["candle"])), p) == (False, "MIN_QUANTITY_NOT_MET")
    six = basket(line("a", 1000, 6, tags=["candle"]))
    assert apply(six, ctx(), [p]).discount_total == 2000  # two groups of 3000 for 2000
    capped = promo(1, MixAndMatch(Target(tags=frozenset({"candle"})), 3, 2000, max_uses=1))
    assert apply(six, ctx(), [capped]).discount_total == 1000


def test_bundle_price() -> None:
    shirt, pants = (
        Target(product_types=frozenset({"shirt"})),
        Target(product_types=frozenset({"pants"})),
    )
    p = promo(1, BundlePrice(((shirt, 1), (pants, 1)), 5000))
    b = basket(line("s", 3000, 2, ptype="shirt"), line("p", 4000, ptype="pants"), line("x", 100))
    result = apply(b, ctx(), [p])
    # One set (one pants): 3000 + 4000 for 5000 saves 2000, split 3:4 ->
    # 857.14 + 1142.86 -> 857 + 1143.
    assert discounts(result) == {"s": 857, "p": 1143}
    assert check(basket(line("s", 3000, 2, ptype="shirt")), p) == (False, "NO_MATCHING_ITEMS")
    # The narrow component is filled first so a broad one does not starve it.
    red = Target(tags=frozenset({"red"}))
    pair = promo(1, BundlePrice(((EVERYTHING, 1), (red, 1)), 1000))
    b = basket(line("r", 900, tags=["red"]), line("g", 800))
    # 1700 for 1000: 700 saved, split 9:8 -> 370.59 + 329.41 -> 371 + 329.
    assert discounts(apply(b, ctx(), [pair])) == {"r": 371, "g": 329}


def test_free_shipping_and_its_cap() -> None:
    b = basket(line("a", 1000), shipping=750)
    result = apply(b, ctx(), [promo(1, FreeShipping())])
    assert (result.shipping_discount, result.total, result.discount_total) == (750, 1000, 0)
    assert result.allocations[0].shipping_amount == 750
    assert result.allocations[0].line_amounts == ()
    capped = apply(b, ctx(), [promo(1, FreeShipping(500))])
    assert (capped.shipping_discount, capped.total) == (500, 1250)
    assert check(basket(line("a", 1000)), promo(1, FreeShipping())) == (False, "NO_DISCOUNT")


def test_zero_decimal_currency() -> None:
    yen = promo(1, TEN, currency=None)  # a percentage needs no currency
    # 10% of JPY 1005 = 100.5 -> 100; of 1015 = 101.5 -> 102; of 1999 = 199.9 -> 200.
    for price, off in ((1005, 100), (1015, 102), (1999, 200)):
        result = apply(basket(line("a", price), currency="JPY"), ctx(), [yen])
        assert result.discount_total == off and result.currency == "JPY"
    fixed = promo(1, FixedOff(500), currency="JPY")
    b = basket(line("a", 1000), line("b", 1000), line("c", 1000), currency="JPY")
    # 500 over three equal lines: 166.67 each -> 166 x 3 = 498, +1 to a and b.
    assert discounts(apply(b, ctx(), [fixed])) == {"a": 167, "b": 167, "c": 166}
    # An amount in USD does not apply to a JPY basket.
    assert check(b, promo(1, FixedOff(500))) == (False, "WRONG_CURRENCY")


# -- stacking -------------------------------------------------------------------------


def test_product_and_order_discounts_combine_and_order_uses_the_discounted_subtotal() -> None:
    b = basket(line("a", 10000), line("b", 5000), shipping=900)
    items = promo(
        1,
        PercentOff(D(20), Target(product_ids=frozenset({b.lines[0].product_id}))),
        combines=[ORDER, SHIPPING],
        priority=1,
    )
    order = promo(2, FixedOff(1000), combines=[PRODUCT, SHIPPING])
    ship = promo(3, FreeShipping(), combines=[PRODUCT, ORDER])
    result = apply(b, ctx(), [ship, order, items])
    assert applied(result) == [1, 2, 3]  # class order: product, order, shipping
    # a: 10000 - 2000 = 8000; order 1000 split 8000:5000 -> 615.38 / 384.62 -> 615 / 385.
    assert discounts(result) == {"a": 2615, "b": 385}
    assert (result.discount_total, result.shipping_discount, result.total) == (3000, 900, 12000)


def test_product_discounts_compound_on_the_same_line() -> None:
    a = promo(1, PercentOff(D(10), EVERYTHING), combines=[PRODUCT], priority=2)
    b = promo(2, PercentOff(D(20), EVERYTHING), combines=[PRODUCT], priority=1)
    result = apply(basket(line("x", 1000)), ctx(), [a, b])
    assert [x.amount for x in result.allocations] == [100, 180]  # 28% in all


def test_not_combinable_by_default_and_combination_must_be_mutual() -> None:
    b = basket(line("a", 1000))
    first = promo(1, PercentOff(D(10), EVERYTHING), priority=2)
    second = promo(2, FixedOff(100), code="TWO")
    result = apply(b, ctx("TWO"), [first, second])
    assert applied(result) == [1] and status(result, "TWO") == (False, "NOT_COMBINABLE")
    # The product promotion combines with order, but the order one not with product.
    first = replace(first, combination=replace(first.combination, combines_with={ORDER}))
    assert applied(apply(b, ctx("TWO"), [first, second])) == [1]
    second = replace(second, combination=replace(second.combination, combines_with={PRODUCT}))
    assert applied(apply(b, ctx("TWO"), [first, second])) == [1, 2]


def test_exclusive_promotion_stands_alone() -> None:
    b = basket(line("a", 1000), shipping=500)
    ship = promo(1, FreeShipping(), combines=EVERY_CLASS)
    vip = promo(2, TEN, code="VIP", exclusive=True, combines=EVERY_CLASS, priority=5)
    result = apply(b, ctx("VIP"), [ship, vip])
    assert applied(result) == [2] and result.shipping_discount == 0
    # Lower priority than something already applied: it cannot join.
    result = apply(b, ctx("VIP"), [ship, replace(vip, priority=-1)])
    assert applied(result) == [1] and status(result, "VIP") == (False, "NOT_COMBINABLE")


def test_stop_after_ends_evaluation() -> None:
    b = basket(line("a", 1000), shipping=500)
    stop = promo(1, TEN, combines=EVERY_CLASS, stop_after=True, priority=5)
    ship = promo(2, FreeShipping(), combines=EVERY_CLASS, code="SHIP")
    result = apply(b, ctx("SHIP"), [stop, ship])
    assert applied(result) == [1] and status(result, "SHIP") == (False, "NOT_COMBINABLE")
    # stop_after only bites once it applies.
    failing = replace(stop, conditions=(MinSubtotal(10**6),))
    assert applied(apply(b, ctx("SHIP"), [failing, ship])) == [2]


def test_best_deal_group_applies_only_the_largest_discount() -> None:
    b = basket(line("a", 3000), line("b", 1000))
    ten = promo(1, TEN, group="welcome", priority=9, code="TEN")  # 400
    fixed = promo(2, FixedOff(500), group="welcome", code="FIVE")  # 500
    other = promo(3, FreeShipping(), combines=EVERY_CLASS, group="other")
    result = apply(basket(*b.lines, shipping=100), ctx("TEN", "FIVE"), [ten, fixed, other])
    assert applied(result) == [2]
    assert status(result, "TEN") == (False, "BETTER_DEAL_APPLIED")
    assert status(result, "FIVE") == (True, None)
    # Ties go to priority order.
    same = promo(4, FixedOff(400), group="welcome", code="FOUR")
    result = apply(b, ctx("FOUR", "TEN"), [same, ten])
    assert applied(result) == [1] and status(result, "FOUR") == (False, "BETTER_DEAL_APPLIED")


def test_priority_order_then_id_decides_who_wins() -> None:
    b = basket(line("a", 1000))
    low, high = promo(5, FixedOff(100)), promo(9, FixedOff(300), priority=1)
    assert applied(apply(b, ctx(), [low, high])) == [9]
    tie_a, tie_b = promo(5, FixedOff(100)), promo(3, FixedOff(300))
    assert applied(apply(b, ctx(), [tie_a, tie_b])) == [3]


def test_later_product_discount_reprices_an_earlier_order_discount() -> None:
    # The order promotion has the higher priority, so it is selected first; the
    # product promotion selected after it still applies first, and the order's 10%
    # is taken from what is left.
    b = basket(line("a", 1000), line("b", 1000))
    order = promo(1, TEN, combines=[PRODUCT], priority=5)
    items = promo(
        2,
        PercentOff(D(50), Target(product_ids=frozenset({b.lines[0].product_id}))),
        combines=[ORDER],
    )
    result = apply(b, ctx(), [order, items])
    assert applied(result) == [2, 1]
    assert [a.amount for a in result.allocations] == [500, 150]  # 10% of 1500
    assert result.total == 1350


# -- usage limits and budget ----------------------------------------------------------


def test_usage_limits_and_budget() -> None:
    b = basket(line("a", 10000))
    assert check(b, promo(1, TEN, usage=UsageState(code_uses_left=0))) == (
        False,
        "USAGE_LIMIT_REACHED",
    )
    assert check(b, promo(1, TEN, usage=UsageState(customer_uses_left=0))) == (
        False,
        "USAGE_LIMIT_REACHED",
    )
    assert check(b, promo(1, TEN, usage=UsageState(budget_left=0))) == (False, "BUDGET_EXHAUSTED")
    ok = UsageState(code_uses_left=1, customer_uses_left=1, budget_left=1000)
    assert check(b, promo(1, TEN, usage=ok)) == (True, None)


def test_budget_caps_the_allocation_and_is_shared_by_largest_remainder() -> None:
    b = basket(line("a", 5000), line("b", 5000), line("c", 5000))
    result = apply(b, ctx(), [promo(1, TEN, usage=UsageState(budget_left=250))])
    # 1500 wanted, 250 left: 83.33 each -> 83 x 3 + 1 to a.
    assert result.discount_total == 250
    assert discounts(result) == {"a": 84, "b": 83, "c": 83}


# -- codes ----------------------------------------------------------------------------


def test_every_entered_code_gets_a_status() -> None:
    b = basket(line("a", 1000), shipping=300)
    promotions = [
        promo(1, TEN, code=("Summer", "SUN"), combines=EVERY_CLASS),
        promo(2, FreeShipping(), MinSubtotal(5000), code="SHIP", combines=EVERY_CLASS),
        promo(3, TEN, code="LATER", starts_at=NOW + timedelta(days=1)),
    ]
    result = apply(b, ctx(" summer", "nope", "SHIP", "SUMMER", "later", ""), promotions)
    assert [(c.code, c.applicable, c.reason) for c in result.codes] == [
        (" summer", True, None),
        ("nope", False, "UNKNOWN_CODE"),
        ("SHIP", False, "MIN_SUBTOTAL_NOT_MET"),
        ("SUMMER", False, "DUPLICATE_CODE"),
        ("later", False, "NOT_STARTED"),
        ("", False, "UNKNOWN_CODE"),
    ]
    assert result.allocations[0].code == " summer"
    assert apply(b, ctx(), promotions).codes == ()


def test_a_code_shared_by_promotions_is_applicable_if_any_applies() -> None:
    b = basket(line("a", 1000))
    big = promo(1, FixedOff(500), MinSubtotal(5000), code="SAVE", priority=1)
    small = promo(2, FixedOff(100), code="SAVE")
    result = apply(b, ctx("save"), [big, small])
    assert applied(result) == [2] and status(result, "save") == (True, None)
    result = apply(b, ctx("save"), [big])
    assert status(result, "save") == (False, "MIN_SUBTOTAL_NOT_MET")


# -- determinism ----------------------------------------------------------------------


def _mixed_promotions() -> list[Promotion]:
    tees = Target(collection_ids=frozenset({1}))
    return [
        promo(1, BuyXGetY(tees, 2, tees, 1), combines=EVERY_CLASS, priority=3),
        promo(2, PercentOff(D("7.5")), combines=EVERY_CLASS, priority=3),
        promo(3, FixedOff(333), combines=EVERY_CLASS, group="g"),
        promo(4, TieredSpend(((1000, D(5)),)), combines=EVERY_CLASS, group="g"),
        promo(5, FreeShipping(200), combines=EVERY_CLASS, code="SHIP"),
        promo(6, MixAndMatch(tees, 2, 1500), combines=EVERY_CLASS, priority=1),
    ]


def test_same_inputs_give_identical_results_whatever_the_promotion_order() -> None:
    b = basket(
        line("a", 1299, 2, collections=[1]),
        line("b", 899, 3, collections=[1]),
        line("c", 4550),
        shipping=495,
    )
    c = ctx("ship")
    promotions = _mixed_promotions()
    first = apply(b, c, promotions)
    assert first.allocations and first == apply(b, c, promotions)
    rng = random.Random(1)
    for _ in range(20):
        shuffled = promotions[:]
        rng.shuffle(shuffled)
        assert apply(b, c, shuffled) == first
    # Line order changes no amount either (ties break by line_id, not position).
    flipped = apply(replace(b, lines=b.lines[::-1]), c, promotions)
    assert dict(flipped.lines) == dict(first.lines)
    assert _by_promotion(flipped) == _by_promotion(first)


def _by_promotion(result: Result) -> dict[int, tuple[int, dict[str, int], int]]:
    return {
        a.promotion_id: (a.amount, dict(a.line_amounts), a.shipping_amount)
        for a in result.allocations
    }


# -- validation and JSON --------------------------------------------------------------

ALL_CONDITIONS: tuple[Condition, ...] = (
    MinSubtotal(5000, Target(collection_ids=frozenset({1, 2}))),
    MinQuantity(2),
    HasItems(Target(tags=frozenset({"b", "a"}), exclude_on_sale=True)),
    CustomerSegment(frozenset({"vip"})),
    LoyaltyTier(frozenset({"gold"})),
    Channel(frozenset({"web", "pos"})),
    Country(frozenset({"de"})),
    DateWindow(NOW, NOW + timedelta(days=1)),
    FirstOrder(),
    CouponCode(("EXTRA",)),
)

ALL_ACTIONS: tuple[Action, ...] = (
    PercentOff(D("12.5")),
    PercentOff(D(10), Target(product_ids=frozenset({3}))),
    FixedOff(500, Target(variant_ids=frozenset({9})), each_item=True),
    BuyXGetY(EVERYTHING, 2, Target(product_types=frozenset({"sock"})), 1, D(50), max_uses=2),
    TieredSpend(((5000, 500), (10000, D("7.5")))),
    VolumeTiers(EVERYTHING, ((3, D(5)), (10, D(10)))),
    MixAndMatch(Target(tags=frozenset({"x"})), 3, 1000, max_uses=4),
    BundlePrice(((Target(product_ids=frozenset({1})), 1), (EVERYTHING, 2)), 2500),
    FreeShipping(700),
)


@pytest.mark.parametrize("action", ALL_ACTIONS, ids=lambda a: a.kind)
def test_json_round_trip(action: Action) -> None:
    p = promo(
        1,
        action,
        *ALL_CONDITIONS,
        combines={ORDER, SHIPPING},
        priority=-3,
        code=("A", "b"),
        group="g",
        starts_at=NOW,
        ends_at=NOW + timedelta(days=30),
    )
    data = to_dict(p)
    assert json.loads(json.dumps(data)) == data  # plain JSON types only
    assert from_dict(json.loads(json.dumps(data))) == p
    usage = UsageState(budget_left=100)
    assert from_dict(data, usage=usage).usage == usage


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["action"].update(type="half_off"), "action.type: unknown action 'half_off'"),
        (lambda d: d["action"].update(precent="5"), "action: unknown field(s) 'precent'"),
        (lambda d: d["action"].update(percent=12.5), "action.percent: write decimals as strings"),
        (lambda d: d["action"].update(percent="150"), "at most 100"),
        (
            lambda d: d["conditions"].append({"type": "min_subtotal", "amount": "5"}),
            "conditions[0].amount: value must be an integer",
        ),
        (
            lambda d: d.update(starts_at="2025-01-01T00:00:00"),
            "starts_at: value must be timezone-aware",
        ),
        (lambda d: d["combination"].update({"class": "SHIPPING"}), "cannot be a SHIPPING discount"),
        (lambda d: d["combination"].update(combines_with=["ORDERS"]), "unknown classes ['ORDERS']"),
        (lambda d: d.update(version=2), "unsupported version 2"),
        (lambda d: d.pop("action"), "action: is required"),
        (lambda d: d.update(code=5), "code: expected a string"),
    ],
)
def test_from_dict_rejects_bad_input_with_the_path(change: Any, message: str) -> None:
    data = to_dict(promo(1, PercentOff(D(10)), currency=None))
    change(data)
    with pytest.raises(ValueError) as info:
        from_dict(data)
    assert message in str(info.value)


def test_constructors_validate() -> None:
    with pytest.raises(ValueError, match="set its currency"):
        promo(1, FixedOff(100), currency=None)
    with pytest.raises(ValueError, match="cannot be a ORDER discount"):
        promo(1, BuyXGetY(EVERYTHING, 1, EVERYTHING, 1), klass=ORDER)
    with pytest.raises(ValueError, match="timezone-aware"):
        ctx(now=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="unique"):
        basket(line("a", 1), line("a", 2))
    with pytest.raises(ValueError, match="more than 0 and at most 100"):
        PercentOff(D(0))
    with pytest.raises(ValueError, match="Decimal"):
        PercentOff(0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="appears twice"):
        apply(basket(line("a", 1)), ctx(), [promo(1, TEN), promo(1, TEN)])
    with pytest.raises(ValueError, match="unknown currency"):
        basket(line("a", 1), currency="XXY")


def test_apportion_sums_exactly_and_never_exceeds_a_ceiling() -> None:
    thirds = [Fraction(100, 3)] * 3
    assert apportion(thirds, [0, 1, 2]) == [34, 33, 33]
    assert apportion(thirds, [2, 1, 0]) == [33, 33, 34]
    assert apportion([Fraction(1, 2), Fraction(1, 2)], [0, 1]) == [1, 0]  # exactly 1
    assert apportion([Fraction(1, 4), Fraction(1, 4)], [0, 1]) == [0, 0]  # 0.5 -> 0 (even)
    assert apportion([Fraction(5, 2)], [0]) == [2]
    assert apportion([Fraction(7, 2)], [0]) == [4]
    assert apportion([Fraction(10), Fraction(20)], [0, 1], cap=6) == [2, 4]
    assert apportion([Fraction(0), Fraction(0)], [0, 1]) == [0, 0]


# -- properties -----------------------------------------------------------------------


PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(scenarios())
def test_property_amounts_are_consistent(scenario: tuple[Basket, Context, list[Promotion]]) -> None:
    b, c, promotions = scenario
    r = apply(b, c, promotions)
    assert r.total >= 0
    assert r.subtotal == sum(line.subtotal for line in b.lines)
    for lid, lr in r.lines.items():
        assert 0 <= lr.discount <= lr.subtotal and lr.total == lr.subtotal - lr.discount, lid
    assert sum(lr.discount for lr in r.lines.values()) == r.discount_total
    assert sum(sum(a for _, a in x.line_amounts) for x in r.allocations) == r.discount_total
    assert sum(x.shipping_amount for x in r.allocations) == r.shipping_discount
    assert sum(x.amount for x in r.allocations) == r.discount_total + r.shipping_discount
    assert 0 <= r.discount_total <= r.subtotal
    assert 0 <= r.shipping_discount <= r.shipping
    assert r.total == r.subtotal - r.discount_total + r.shipping - r.shipping_discount
    assert len(r.codes) == len(c.codes)
    # Policies hold among what applied.
    by_id = {p.id: p for p in promotions}
    chosen = [by_id[x.promotion_id] for x in r.allocations]
    for x in r.allocations:
        budget = by_id[x.promotion_id].usage.budget_left
        assert budget is None or x.amount <= budget
        assert all(amount > 0 for _, amount in x.line_amounts)
    for p in chosen:
        assert not p.combination.exclusive or len(chosen) == 1
        for q in chosen:
            if p is not q:
                assert q.klass in p.combination.combines_with
    groups = [p.combination.best_deal_group for p in chosen if p.combination.best_deal_group]
    assert len(groups) == len(set(groups))


@PROPERTY
@given(scenarios(), st.randoms(use_true_random=False))
def test_property_promotion_order_does_not_matter(
    scenario: tuple[Basket, Context, list[Promotion]], rng: random.Random
) -> None:
    b, c, promotions = scenario
    shuffled = promotions[:]
    rng.shuffle(shuffled)
    assert apply(b, c, shuffled) == apply(b, c, promotions)


@settings(max_examples=100, deadline=None)
@given(scenarios(), st.randoms(use_true_random=False))
def test_property_line_order_changes_no_amount(
    scenario: tuple[Basket, Context, list[Promotion]], rng: random.Random
) -> None:
    b, c, promotions = scenario
    lines = list(b.lines)
    rng.shuffle(lines)
    first, second = apply(b, c, promotions), apply(replace(b, lines=tuple(lines)), c, promotions)
    assert dict(first.lines) == dict(second.lines)
    assert _by_promotion(first) == _by_promotion(second)
    assert first.codes == second.codes


@settings(max_examples=50, deadline=None)
@given(scenarios())
def test_property_definitions_survive_json(
    scenario: tuple[Basket, Context, list[Promotion]],
) -> None:
    _, _, promotions = scenario
    for p in promotions:
        data = json.loads(json.dumps(to_dict(p)))
        assert from_dict(data, usage=p.usage) == p


# -- micro-benchmark ------------------------------------------------------------------


def _benchmark_inputs() -> tuple[Basket, Context, list[Promotion]]:
    rng = random.Random(20250601)
    lines = tuple(
        line(
            f"line-{n:02d}",
            rng.randrange(100, 20000),
            rng.randrange(1, 6),
            product=n,
            variant=1000 + n,
            collections=rng.sample(range(1, 21), 2),
            tags=rng.sample(["new", "sale", "eco", "gift", "kids", "home"], 2),
            ptype=rng.choice(["shirt", "pants", "sock", "shoe"]),
        )
        for n in range(50)
    )
    b = Basket("USD", lines, 995)

    def target() -> Target:
        return rng.choice(
            [
                Target(collection_ids=frozenset(rng.sample(range(1, 21), 3))),
                Target(tags=frozenset({rng.choice(["new", "sale", "eco"])})),
                Target(product_ids=frozenset(rng.sample(range(60), 5))),
                Target(product_types=frozenset({rng.choice(["shirt", "sock"])})),
            ]
        )

    makers = [
        lambda: PercentOff(D(rng.randrange(5, 40)), target()),
        lambda: PercentOff(D(rng.randrange(5, 20))),
        lambda: FixedOff(rng.randrange(100, 2000), target()),
        lambda: BuyXGetY(target(), 2, target(), 1),
        lambda: TieredSpend(((10000, 500), (50000, D(10)))),
        lambda: VolumeTiers(target(), ((3, D(5)), (5, D(10)))),
        lambda: MixAndMatch(target(), 3, 5000),
        lambda: BundlePrice(((target(), 1), (target(), 1)), 6000),
        lambda: FreeShipping(),
    ]
    promotions = []
    for pid in range(1, 501):
        action = rng.choice(makers)()
        conditions: list[Condition] = []
        if rng.random() < 0.5:
            conditions.append(MinSubtotal(rng.randrange(0, 100000)))
        if rng.random() < 0.3:
            conditions.append(Channel(frozenset({rng.choice(["web", "pos"])})))
        if rng.random() < 0.2:
            conditions.append(CustomerSegment(frozenset({"vip"})))
        promotions.append(
            promo(
                pid,
                action,
                *conditions,
                klass=rng.choice(sorted(action.classes)),
                combines=rng.sample(sorted(DiscountClass), rng.randrange(0, 4)),
                priority=rng.randrange(0, 10),
                code=f"CODE{pid}" if rng.random() < 0.3 else None,
                group=rng.choice([None, None, None, "g1", "g2"]),
                stop_after=rng.random() < 0.01,
                usage=UsageState(budget_left=rng.choice([None, None, 5000])),
            )
        )
    codes = tuple(f"code{n}" for n in rng.sample(range(1, 501), 5))
    return b, ctx(*codes, segments=["vip"]), promotions


def test_micro_benchmark(capsys: pytest.CaptureFixture[str]) -> None:
    b, c, promotions = _benchmark_inputs()
    first = apply(b, c, promotions)
    runs = 5
    start = time.perf_counter()
    for _ in range(runs):
        assert apply(b, c, promotions) == first
    per_apply = (time.perf_counter() - start) / runs
    with capsys.disabled():
        print(
            f"\npromotions benchmark: {len(b.lines)} lines x {len(promotions)} promotions: "
            f"{per_apply * 1000:.1f} ms per apply "
            f"({len(first.allocations)} applied, discount {first.discount_total}, "
            f"shipping discount {first.shipping_discount})"
        )
