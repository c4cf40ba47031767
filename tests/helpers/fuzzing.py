"""Hypothesis strategies for fuzzing the served hub with schemathesis.

The built-in generators would mostly send ids that name nothing and strings no
field accepts, so almost every request would stop at the first lookup. These mix
values that reach the domain (ids of the demo data and of carts made for the run,
channel handles, currencies, codes) with hostile ones: control characters and NUL,
strings longer than any column, non-ASCII digits, numbers far beyond what any
column holds, exponents, NaN and Infinity.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import schemathesis
from graphql import (
    BooleanValueNode,
    FloatValueNode,
    IntValueNode,
    ListValueNode,
    NullValueNode,
    ObjectFieldNode,
    ObjectValueNode,
    StringValueNode,
    ValueNode,
)
from graphql.language import NameNode
from hypothesis import strategies as st

INT32 = 2**31 - 1

# Ids of objects that exist in a `hub seed --demo --products 60` database, plus the
# carts the test makes; filled in by the fixture (module state, read at draw time).
ID_POOL: list[str] = []

_TYPES = (
    "Product",
    "ProductVariant",
    "Collection",
    "Channel",
    "Location",
    "Customer",
    "PriceList",
    "ShippingZone",
    "ShippingRate",
    "Promotion",
    "DiscountCode",
    "GiftCard",
    "Order",
    "InventoryLevel",
)


def demo_ids() -> list[str]:
    """Global ids of the demo data (small primary keys of every type)."""
    return [f"gid://hub/{t}/{n}" for t in _TYPES for n in (1, 2, 3, 5, 8)]


def _pool_id(i: int) -> str:
    pool = ID_POOL or demo_ids()
    return pool[i % len(pool)]


_HOSTILE_IDS = st.sampled_from(
    [
        "gid://hub/ProductVariant/١٢",  # Arabic-Indic digits: int() takes them
        "gid://hub/ProductVariant/²",  # a digit to isdigit(), not to int()
        "gid://hub/ProductVariant/１",  # fullwidth one
        "gid://hub/ProductVariant/" + "9" * 18,
        "gid://hub/ProductVariant/" + "9" * 19,
        "gid://hub/ProductVariant/" + str(2**63),
        "gid://hub/ProductVariant/" + "0" * 17 + "1",
        "gid://hub/ProductVariant/-1",
        "gid://hub/ProductVariant/1\x00",
        "gid://hub/Product/1 ",
        "gid://hub/Cart/",
        "gid://hub/Cart/\x00",
        "gid://hub/Cart/" + "a" * 300,
        "gid://hub/Nope/1",
        "gid://hub//1",
        "",
    ]
)

_POOL = st.integers(min_value=0, max_value=10**6).map(_pool_id)
# Mostly ids of things that exist, so requests get past the first look-up.
IDS = st.one_of(
    _POOL,
    _POOL,
    _POOL,
    _HOSTILE_IDS,
    st.text(max_size=12).map(lambda s: "gid://hub/ProductVariant/" + s),
)

_KNOWN_STRINGS = [
    "web",
    "eu",
    "USD",
    "EUR",
    "JPY",
    "KWD",
    "US",
    "DE",
    "NY",
    "US-HI",
    "ada@example.com",
    "DEMO10",
    "DEMO-GIFT-0000-0050",
    "cash",
    "terminal",
    "gift_card",
    "stripe",
    "standard",
    "reduced",
    "damaged",
    "received",
    "wholesale",
    "vip",
    "gold",
    "us",
    "new-arrivals",
    "demo-1",
    "a" * 64,
    "a" * 65,
    "a" * 255,
    "a" * 256,
    ("x" * 250) + "@example.com",  # 262 characters
    "١٢",
    "0.001",
    "1e30",
]
_KNOWN = st.sampled_from(_KNOWN_STRINGS)
STRINGS = st.one_of(
    _KNOWN,
    _KNOWN,
    st.sampled_from(["é" * 1000, "é" * 5001, "é" * 70_000]),
    # A value that would otherwise be accepted, with a NUL or a control character in it.
    st.tuples(_KNOWN, st.sampled_from(["\x00", "\x01", "\n", "\t", "\x1b", "\x7f", "\x85"])).map(
        lambda p: p[0][:3] + p[1] + p[0][3:]
    ),
    # Any code point but surrogates, NUL and other control characters included.
    st.text(max_size=24),
    st.text(alphabet=st.characters(max_codepoint=0x20), max_size=6).map(lambda s: f"a{s}b"),
)

INTS = st.one_of(
    st.sampled_from([0, 1, 2, -1, 250, 251, 10_000, 10_001, INT32, INT32 - 1, -INT32 - 1]),
    st.integers(min_value=0, max_value=50),  # page sizes and quantities that pass
    st.integers(min_value=-INT32 - 1, max_value=INT32),
)

DECIMALS = st.one_of(
    # Unbounded: any size, any number of places, exponents, NaN, Infinity.
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.integers().map(str),
    st.sampled_from(
        [
            "0.001",
            "1e30",
            "1E+2",
            "100000000000",
            "21474836.47",
            "21474836.48",
            "92233720368547758.07",
            "-0",
            "-1",
            "0.000000000000000000001",
            "9" * 60,
            " 1",
            "١٢",
            "NaN",
            "-Infinity",
        ]
    ),
    st.text(max_size=8),
)

_JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    STRINGS.filter(lambda s: len(s) < 300),
    DECIMALS,
)
_JSON_KEYS = st.sampled_from(["type", "amount", "percent", "items"]) | STRINGS
_JSON = st.recursive(
    _JSON_LEAF,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_JSON_KEYS, inner, max_size=3),
    max_leaves=8,
)


def _definition(amount: object, percent: object) -> dict:
    return {
        "conditions": [{"type": "min_subtotal", "amount": amount}],
        "action": {"type": "percent_off", "percent": percent},
    }


JSON_VALUES = st.one_of(
    _JSON,
    st.builds(_definition, st.integers() | DECIMALS, DECIMALS),
)

FLOATS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 90.0, -90.0, 180.0, -180.0, 90.000001, 1e308]),
)

DATETIMES = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.sampled_from(
        [
            "9999-12-31T23:59:59Z",
            "0001-01-01T00:00:00Z",
            "0001-01-01T00:00:00+14:00",
            "2030-01-01T00:00:00",
            "2030-02-30T00:00:00Z",
            "",
        ]
    ),
    st.text(max_size=10),
)


def _string_node(value: str) -> StringValueNode:
    return StringValueNode(value=value)


def json_node(value: object) -> ValueNode:
    """A JSON value as a GraphQL literal (objects and lists as such, not as text)."""
    if value is None:
        return NullValueNode()
    if isinstance(value, bool):
        return BooleanValueNode(value=value)
    if isinstance(value, int):
        return IntValueNode(value=str(value))
    if isinstance(value, float):
        return FloatValueNode(value=repr(value))
    if isinstance(value, str):
        return StringValueNode(value=value)
    if isinstance(value, list):
        return ListValueNode(values=tuple(json_node(v) for v in value))
    assert isinstance(value, dict)
    return ObjectValueNode(
        fields=tuple(
            ObjectFieldNode(name=NameNode(value=_name(k)), value=json_node(v))
            for k, v in value.items()
        )
    )


def _name(key: str) -> str:
    """Object keys in a GraphQL literal are names: keep those that are."""
    return key if key.isidentifier() and key.isascii() else f"k_{zlib.crc32(key.encode()) % 1000}"


def register() -> None:
    """Register the strategies with schemathesis (process-wide)."""
    scalar = schemathesis.graphql.scalar
    scalar("ID", IDS.map(_string_node))
    scalar("String", STRINGS.map(_string_node))
    scalar("Int", INTS.map(lambda i: IntValueNode(value=str(i))))
    scalar("Float", FLOATS.map(lambda f: FloatValueNode(value=repr(float(f)))))
    scalar("Decimal", DECIMALS.map(_string_node))
    scalar("DateTime", DATETIMES.map(_string_node))
    scalar("Date", DATETIMES.map(lambda s: s[:10]).map(_string_node))
    scalar("JSON", JSON_VALUES.map(json_node))


def use_ids(ids: Sequence[str]) -> None:
    ID_POOL[:] = list(ids)
