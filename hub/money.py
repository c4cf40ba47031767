"""Money: integer minor units in the database, ``Decimal`` in Python, a decimal
string on the wire. Never a float."""

from __future__ import annotations

import re
from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_UP,
    Decimal,
    InvalidOperation,
    localcontext,
)
from functools import lru_cache

from babel.numbers import get_currency_precision, list_currencies

from hub.bounds import INT32_MAX, INT32_MIN, INT64_MAX

_CURRENCIES = frozenset(list_currencies())

# A decimal amount on the wire: ASCII digits, an optional minus sign and fraction; no
# exponent, no NaN or Infinity, no spaces. 40 digits is far past any column, so a
# longer text is refused before it is parsed.
DECIMAL_RE = re.compile(r"-?[0-9]{1,40}(?:\.[0-9]{1,40})?")
DECIMAL_FORMAT = 'a decimal string such as "19.99" (digits, an optional "-" and fraction)'

# The largest amounts the money columns hold, in minor units.
MAX_MINOR = INT32_MAX  # prices, rates, gift cards, orders: 32-bit columns
MAX_MINOR_64 = INT64_MAX  # promotion budgets and redemptions: 64-bit columns


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


class InvalidDecimal(Decimal):
    """What the GraphQL ``Decimal`` scalar makes of text that is not a plain decimal
    (``"1e30"``, ``"NaN"``, ``"١٢"``): a NaN that remembers the text, so the input
    guard can answer it as a userError on its field instead of failing the request."""

    text: str

    def __new__(cls, text: str) -> InvalidDecimal:
        obj = super().__new__(cls, "NaN")
        obj.text = text
        return obj


def parse_decimal(text: str) -> Decimal | None:
    """``text`` as a Decimal if it is a plain decimal string (see ``DECIMAL_RE``)."""
    if isinstance(text, str) and DECIMAL_RE.fullmatch(text):
        return Decimal(text)
    return None


def parse_amount(
    amount: Decimal | str | int,
    currency: str,
    *,
    max_minor: int = MAX_MINOR,
    allow_negative: bool = False,
) -> int:
    """A client's amount in minor units of ``currency``, exactly: refused (MoneyError,
    with a message for the client) when it is not a finite decimal, has more decimals
    than the currency has ("0.001" USD is not a price of 0.00), is negative (unless
    allowed) or is larger than ``max_minor``, what its column holds."""
    if isinstance(amount, InvalidDecimal):
        raise MoneyError(f"{amount.text[:40]!r} is not {DECIMAL_FORMAT}")
    if isinstance(amount, Decimal):
        value = amount
    else:
        parsed = parse_decimal(str(amount))
        if parsed is None:
            raise MoneyError(f"{str(amount)[:40]!r} is not {DECIMAL_FORMAT}")
        value = parsed
    if not value.is_finite():
        raise MoneyError(f"not a finite amount: {value}")
    exp = exponent(currency)
    if value and value.adjusted() > 40:  # far beyond any column; skip the arithmetic
        raise MoneyError(
            f"the amount is larger than the largest the hub holds "
            f"({format_minor(max_minor, currency)} {currency})"
        )
    with localcontext() as ctx:
        ctx.prec = 200  # exact for anything DECIMAL_RE lets through
        scaled = value.scaleb(exp)
        if scaled != scaled.to_integral_value():
            unit = "no decimals" if exp == 0 else f"at most {exp} decimals"
            raise MoneyError(f"{currency} amounts have {unit}, got {value}")
    if value < 0 and not allow_negative:
        raise MoneyError(f"the amount can't be negative, got {value}")
    if abs(scaled) > max_minor:
        largest = format_minor(max_minor, currency)
        raise MoneyError(
            f"the amount is larger than the largest the hub holds ({largest} {currency})"
        )
    return int(scaled)


def bound_minor(amount: Decimal, currency: str, *, lower: bool) -> int | None:
    """A filter bound in minor units, so that any decimal filters exactly: rounded
    inwards (a minimum up, a maximum down) and clamped to what a 32-bit column holds.
    None when no amount can meet it (a minimum above the largest amount, a maximum
    below the smallest)."""
    if not amount.is_finite():
        raise MoneyError(f"not a finite amount: {amount}")
    if amount and amount.adjusted() > 40:
        scaled = Decimal(1 if amount > 0 else -1).scaleb(50)
    else:
        with localcontext() as ctx:
            ctx.prec = 200
            scaled = amount.scaleb(exponent(currency)).to_integral_value(
                ROUND_CEILING if lower else ROUND_FLOOR
            )
    if (lower and scaled > INT32_MAX) or (not lower and scaled < INT32_MIN):
        return None
    return max(INT32_MIN, min(INT32_MAX, int(scaled)))


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
