"""The expression language of the REST connector's mappings: JMESPath.

A mapping says, per hub field, which JMESPath expression over the remote item gives
its value (``"sku"``, ``"product.handle"``, ``"{web: to_cents(price)}"``). JMESPath is
a specified language (jmespath.org, with a compliance suite every implementation
passes), so a mapping means the same thing to an ERP's team reading it as to the hub;
expressions are compiled once, when the connector's config is validated, so a typo is
a ``userError`` at ``connectorCreate`` rather than a failing run.

Beyond JMESPath's built-in functions (``to_number``, ``to_string``, ``join``,
``contains``, ``length``, ...), mappings may call:

- ``to_cents(amount)``: a decimal amount (``"19.99"``, ``19.99``) in minor units of a
  two-decimal currency (``1999``), rounded half-even; ``null`` stays ``null``;
- ``to_minor(amount, digits)``: the same for any number of decimals (``0`` for JPY);
- ``from_pairs(pairs)``: an object from ``[key, value]`` pairs, e.g.
  ``from_pairs(stock[].[warehouse, qty])`` for a location -> quantity map (``null``
  stays ``null``);
- ``lower(s)`` / ``upper(s)``: case of a string (``null`` stays ``null``).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

import jmespath
from jmespath import exceptions as jexc
from jmespath import functions
from jmespath.parser import ParsedResult


class HubFunctions(functions.Functions):
    """The functions mappings may call beyond JMESPath's own (module docstring)."""

    @functions.signature({"types": ["number", "string", "null"]})
    def _func_to_cents(self, amount: Any) -> int | None:
        return _minor(amount, 2)

    @functions.signature({"types": ["number", "string", "null"]}, {"types": ["number"]})
    def _func_to_minor(self, amount: Any, digits: Any) -> int | None:
        return _minor(amount, int(digits))

    @functions.signature({"types": ["array", "null"]})
    def _func_from_pairs(self, pairs: list[Any] | None) -> dict[str, Any] | None:
        if pairs is None:
            return None
        out: dict[str, Any] = {}
        for pair in pairs:
            if isinstance(pair, list) and len(pair) == 2 and pair[0] is not None:
                out[str(pair[0])] = pair[1]
        return out

    @functions.signature({"types": ["string", "null"]})
    def _func_lower(self, s: str | None) -> str | None:
        return None if s is None else s.lower()

    @functions.signature({"types": ["string", "null"]})
    def _func_upper(self, s: str | None) -> str | None:
        return None if s is None else s.upper()


def _minor(amount: Any, digits: int) -> int | None:
    if amount is None or isinstance(amount, bool):
        return None
    try:
        value = Decimal(str(amount).strip()) * (Decimal(10) ** digits)
    except InvalidOperation:
        raise ValueError(f"{amount!r} is not an amount") from None
    if not value.is_finite():
        raise ValueError(f"{amount!r} is not an amount")
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


OPTIONS = jmespath.Options(custom_functions=HubFunctions())
MAX_EXPRESSION = 2000


class Expression:
    """A compiled JMESPath expression (its source kept for the config and messages)."""

    __slots__ = ("_parsed", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self._parsed: ParsedResult = jmespath.compile(source)

    def __call__(self, data: Any) -> Any:
        """The expression's value over ``data``; ValueError when it can't be computed
        (a function given the wrong type, an amount that isn't one)."""
        try:
            return self._parsed.search(data, options=OPTIONS)
        except jexc.JMESPathError as exc:
            raise ValueError(f"{self.source}: {exc}") from None

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"


def check(source: str) -> str:
    """``source`` if it is a valid expression (a pydantic validator: ValueError says
    where it is wrong)."""
    if not source or not source.strip():
        raise ValueError("an expression can't be blank")
    if len(source) > MAX_EXPRESSION:
        raise ValueError(f"an expression is at most {MAX_EXPRESSION} characters")
    try:
        parsed = jmespath.compile(source)
    except jexc.ParseError as exc:
        raise ValueError(
            f"not a JMESPath expression: {exc.msg} at column {exc.lex_position}"
        ) from None
    except jexc.JMESPathError as exc:
        raise ValueError(f"not a JMESPath expression: {exc}") from None
    _check_functions(parsed.parsed)
    return source


def _check_functions(node: Any) -> None:
    """Unknown function names are a config error, not a failure at run time."""
    if isinstance(node, dict):
        if node.get("type") == "function_expression":
            name = node.get("value")
            table = OPTIONS.custom_functions.FUNCTION_TABLE  # type: ignore[union-attr]
            if name not in table:
                raise ValueError(f"unknown function {name}()")
            spec = table[name]["signature"]
            given = len(node.get("children", ()))
            variadic = bool(spec) and spec[-1].get("variadic")
            if given < len(spec) - (1 if variadic else 0) or (not variadic and given > len(spec)):
                raise ValueError(f"{name}() takes {len(spec)} argument(s), {given} given")
        for child in node.get("children", ()):
            _check_functions(child)
