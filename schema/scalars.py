"""Scalars with the hub's own input rules.

``Decimal`` (money amounts, budgets, price filters) accepts only a plain decimal
string (``"19.99"``, ``"-5"``, ``"1500"``): ASCII digits, an optional minus sign and
fraction, no exponent, NaN, Infinity or spaces, as ``hub.money.DECIMAL_RE`` defines;
an integer or a float with such a form is taken too. Anything else becomes a
:class:`hub.money.InvalidDecimal`, which the input guard (``schema.inputs``) answers
on its field (a userError in a mutation) before any resolver runs.
"""

from __future__ import annotations

import decimal
from typing import Any

import strawberry
from graphql import FloatValueNode, IntValueNode, StringValueNode, ValueNode
from strawberry.exceptions import StrawberryInputCoercionError

from hub.money import DECIMAL_FORMAT, InvalidDecimal, parse_decimal


def parse_decimal_value(value: Any) -> decimal.Decimal:
    if isinstance(value, bool):
        raise StrawberryInputCoercionError(f"Decimal takes {DECIMAL_FORMAT}, not a boolean")
    if isinstance(value, str):
        text = value
    elif isinstance(value, int | float):
        text = repr(value) if isinstance(value, float) else str(value)
    else:
        raise StrawberryInputCoercionError(f"Decimal takes {DECIMAL_FORMAT}")
    parsed = parse_decimal(text)
    return parsed if parsed is not None else InvalidDecimal(text)


def parse_decimal_literal(node: ValueNode, _variables: Any = None) -> decimal.Decimal:
    if isinstance(node, StringValueNode):
        return parse_decimal_value(node.value)
    if isinstance(node, IntValueNode | FloatValueNode):
        parsed = parse_decimal(node.value)
        return parsed if parsed is not None else InvalidDecimal(node.value)
    raise StrawberryInputCoercionError(f"Decimal takes {DECIMAL_FORMAT}")


HubDecimal = strawberry.scalar(
    name="Decimal",
    description=f"A decimal number: {DECIMAL_FORMAT}. An amount has at most the "
    "decimals of its currency.",
    serialize=str,
    parse_value=parse_decimal_value,
    parse_literal=parse_decimal_literal,
)

SCALAR_OVERRIDES: dict[object, Any] = {decimal.Decimal: HubDecimal}
