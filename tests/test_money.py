from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.money import Money, MoneyError, exponent, format_minor, to_decimal, to_minor


def test_minor_units_follow_the_currency() -> None:
    assert exponent("USD") == 2 and exponent("JPY") == 0 and exponent("KWD") == 3
    assert to_minor("19.99", "USD") == 1999
    assert to_minor("19.995", "USD") == 2000  # half-up
    assert to_minor("1499.5", "JPY") == 1500
    assert to_minor("1.2345", "KWD") == 1235
    assert format_minor(1999, "USD") == "19.99"
    assert format_minor(-5, "USD") == "-0.05"
    assert format_minor(1500, "JPY") == "1500"
    assert format_minor(1235, "KWD") == "1.235"
    assert Money(1999, "EUR").amount == "19.99"


def test_bad_amounts_and_currencies() -> None:
    for bad in ("abc", "NaN", "Infinity"):
        with pytest.raises(MoneyError):
            to_minor(bad, "USD")
    with pytest.raises(MoneyError):
        to_minor("1", "XXY")


@given(st.integers(min_value=-(10**12), max_value=10**12), st.sampled_from(["USD", "JPY", "KWD"]))
def test_round_trip(minor: int, currency: str) -> None:
    assert to_minor(to_decimal(minor, currency), currency) == minor
    assert Decimal(format_minor(minor, currency)) == to_decimal(minor, currency)
