"""Money: integer minor units in the database, ``Decimal`` in Python, a decimal
string on the wire. Never a float."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from babel.numbers import get_currency_precision, list_currencies

_CURRENCIES = frozenset(list_currencies())


class MoneyError(ValueError):
    pass


def is_currency(code: str) -> bool:
    return code in _CURRENCIES


@lru_cache(maxsize=512)
def exponent(currency: str) -> int:
    """Number of minor-unit digits of an ISO 4217 currency (USD 2, JPY 0, KWD 3)."""
    if currency not in _CURRENCIES:
        raise MoneyError(f"unknown currency {currency!r}")
    return get_currency_precision(currency)


def to_minor(amount: Decimal | str | int, currency: str) -> int:
    """Round a decimal amount half-up to the currency's minor unit."""
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    except InvalidOperation:
        raise MoneyError(f"not a decimal amount: {amount!r}") from None
    if not value.is_finite():
        raise MoneyError(f"not a finite amount: {amount!r}")
    exp = exponent(currency)
    return int((value * (10**exp)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@lru_cache(maxsize=8192)
def format_minor(minor: int, currency: str) -> str:
    """Minor units to the wire's decimal string, e.g. 1999 USD -> "19.99"."""
    exp = exponent(currency)
    if exp == 0:
        return str(minor)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**exp)
    return f"{sign}{whole}.{frac:0{exp}d}"


def to_decimal(minor: int, currency: str) -> Decimal:
    return Decimal(format_minor(minor, currency))


class Money:
    """An amount in one currency, as the API shows it. Plain attributes only."""

    __slots__ = ("amount", "currency_code", "minor")

    def __init__(self, minor: int, currency: str) -> None:
        self.minor = minor
        self.currency_code = currency
        self.amount = format_minor(minor, currency)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Money)
            and self.minor == other.minor
            and self.currency_code == other.currency_code
        )

    def __hash__(self) -> int:
        return hash((self.minor, self.currency_code))

    def __repr__(self) -> str:
        return f"Money({self.amount} {self.currency_code})"
