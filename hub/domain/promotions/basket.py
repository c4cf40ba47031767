"""What the engine prices: the basket and its lines, the shopper's context, and the
``Target`` that says which lines a condition counts or an action discounts.

All money is integer minor units of ``Basket.currency``. Everything here is frozen and
validated on construction; sets are coerced to ``frozenset`` so equal inputs compare
(and hash) equal however the caller built them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.money import exponent

from ._fields import (
    Fields,
    check_aware,
    check_int,
    check_opt_int,
    check_str,
    frozen_ints,
    frozen_strs,
)


def normalize_code(code: str) -> str:
    """Codes match case-insensitively and ignore surrounding spaces."""
    return code.strip().casefold()


@dataclass(frozen=True, slots=True)
class BasketLine:
    line_id: str
    variant_id: int
    product_id: int
    quantity: int
    unit_price: int
    collection_ids: frozenset[int] = frozenset()
    tags: frozenset[str] = frozenset()
    product_type: str = ""
    compare_at: int | None = None  # the "was" price; above unit_price means on sale

    def __post_init__(self) -> None:
        check_str(self.line_id, "line_id")
        check_int(self.variant_id, "variant_id", minimum=None)
        check_int(self.product_id, "product_id", minimum=None)
        check_int(self.quantity, f"line {self.line_id!r} quantity", minimum=1)
        check_int(self.unit_price, f"line {self.line_id!r} unit_price")
        check_opt_int(self.compare_at, f"line {self.line_id!r} compare_at")
        check_str(self.product_type, "product_type", blank=True)
        object.__setattr__(
            self, "collection_ids", frozen_ints(self.collection_ids, "collection_ids")
        )
        object.__setattr__(self, "tags", frozen_strs(self.tags, "tags"))

    @property
    def subtotal(self) -> int:
        return self.quantity * self.unit_price

    @property
    def on_sale(self) -> bool:
        return self.compare_at is not None and self.compare_at > self.unit_price


@dataclass(frozen=True, slots=True)
class Basket:
    currency: str
    lines: tuple[BasketLine, ...]
    shipping: int = 0  # the shipping amount before discounts
    _index: LineIndex | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        exponent(self.currency)  # MoneyError (a ValueError) for an unknown currency
        lines = tuple(self.lines)
        for line in lines:
            if not isinstance(line, BasketLine):
                raise ValueError(f"basket lines must be BasketLine, got {line!r}")
        ids = [line.line_id for line in lines]
        if len(set(ids)) != len(ids):
            raise ValueError("basket line ids must be unique")
        check_int(self.shipping, "shipping")
        object.__setattr__(self, "lines", lines)

    @property
    def subtotal(self) -> int:
        return sum(line.subtotal for line in self.lines)

    @property
    def index(self) -> LineIndex:
        """Which lines each target matches, worked out once per basket (conditions and
        actions ask for the same targets again and again)."""
        index = self._index
        if index is None:
            index = LineIndex(self)
            object.__setattr__(self, "_index", index)
        return index


@dataclass(frozen=True, slots=True)
class Context:
    """Who is buying, where and when. ``now`` must be timezone-aware so a store and a
    web server in different zones decide date windows identically."""

    channel: str
    country: str | None
    customer_id: int | None
    segments: frozenset[str]
    loyalty_tier: str | None
    first_order: bool
    now: datetime
    codes: tuple[str, ...] = ()  # as entered; matched case-insensitively

    def __post_init__(self) -> None:
        check_str(self.channel, "channel", blank=True)
        if self.country is not None:
            object.__setattr__(self, "country", check_str(self.country, "country").upper())
        check_opt_int(self.customer_id, "customer_id", minimum=None)
        object.__setattr__(self, "segments", frozen_strs(self.segments, "segments"))
        if self.loyalty_tier is not None:
            check_str(self.loyalty_tier, "loyalty_tier")
        if not isinstance(self.first_order, bool):
            raise ValueError(f"first_order must be a bool, got {self.first_order!r}")
        check_aware(self.now, "now")
        if isinstance(self.codes, str):
            raise ValueError("codes must be a sequence of strings, not one string")
        codes = tuple(self.codes)
        for code in codes:
            check_str(code, "code", blank=True)
        object.__setattr__(self, "codes", codes)


_TARGET_SETS = (
    ("product_ids", frozen_ints),
    ("variant_ids", frozen_ints),
    ("collection_ids", frozen_ints),
    ("tags", frozen_strs),
    ("product_types", frozen_strs),
    ("exclude_product_ids", frozen_ints),
    ("exclude_variant_ids", frozen_ints),
    ("exclude_collection_ids", frozen_ints),
    ("exclude_tags", frozen_strs),
    ("exclude_product_types", frozen_strs),
)


@dataclass(frozen=True, slots=True)
class Target:
    """Which lines. A line matches when it matches ANY include set (all include sets
    empty = every line) and NO exclude set; ``exclude_on_sale`` also drops lines whose
    ``compare_at`` is above their price. Ids, tags and types compare exactly."""

    product_ids: frozenset[int] = frozenset()
    variant_ids: frozenset[int] = frozenset()
    collection_ids: frozenset[int] = frozenset()
    tags: frozenset[str] = frozenset()
    product_types: frozenset[str] = frozenset()
    exclude_product_ids: frozenset[int] = frozenset()
    exclude_variant_ids: frozenset[int] = frozenset()
    exclude_collection_ids: frozenset[int] = frozenset()
    exclude_tags: frozenset[str] = frozenset()
    exclude_product_types: frozenset[str] = frozenset()
    exclude_on_sale: bool = False

    def __post_init__(self) -> None:
        for name, coerce in _TARGET_SETS:
            object.__setattr__(self, name, coerce(getattr(self, name), name))
        if not isinstance(self.exclude_on_sale, bool):
            raise ValueError("exclude_on_sale must be a bool")

    @property
    def has_excludes(self) -> bool:
        return bool(
            self.exclude_product_ids
            or self.exclude_variant_ids
            or self.exclude_collection_ids
            or self.exclude_tags
            or self.exclude_product_types
            or self.exclude_on_sale
        )

    @property
    def is_everything(self) -> bool:
        return not (
            self.product_ids
            or self.variant_ids
            or self.collection_ids
            or self.tags
            or self.product_types
        )

    def matches(self, line: BasketLine) -> bool:
        if not self.is_everything and not (
            line.product_id in self.product_ids
            or line.variant_id in self.variant_ids
            or not self.collection_ids.isdisjoint(line.collection_ids)
            or not self.tags.isdisjoint(line.tags)
            or line.product_type in self.product_types
        ):
            return False
        return not (
            line.product_id in self.exclude_product_ids
            or line.variant_id in self.exclude_variant_ids
            or not self.exclude_collection_ids.isdisjoint(line.collection_ids)
            or not self.exclude_tags.isdisjoint(line.tags)
            or line.product_type in self.exclude_product_types
            or (self.exclude_on_sale and line.on_sale)
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            name: sorted(getattr(self, name)) for name, _ in _TARGET_SETS if getattr(self, name)
        }
        if self.exclude_on_sale:
            data["exclude_on_sale"] = True
        return data

    @classmethod
    def from_json(cls, f: Fields) -> Target:
        kwargs: dict[str, Any] = {
            name: (f.ints(name) if coerce is frozen_ints else f.strs(name))
            for name, coerce in _TARGET_SETS
        }
        return f.build(cls, exclude_on_sale=f.flag("exclude_on_sale"), **kwargs)


class LineIndex:
    """Which lines a target matches, computed once per basket: a target's include
    sets are looked up in an index of the lines by product, variant, collection, tag
    and product type, and only the lines found are checked (excludes included), so a
    target naming a few products costs a few look-ups, not a pass over every line."""

    __slots__ = ("_all", "_by", "_cache", "gross", "lines")

    def __init__(self, basket: Basket) -> None:
        self.lines = basket.lines
        self.gross = basket.subtotal  # what the lines cost before any discount
        self._all = tuple(range(len(basket.lines)))
        self._cache: dict[Target, tuple[int, ...]] = {}
        self._by: tuple[dict[Any, list[int]], ...] | None = None

    def matching(self, target: Target | None) -> tuple[int, ...]:
        """Indices of the lines ``target`` matches, in basket order (all for None)."""
        if target is None or (target.is_everything and not target.has_excludes):
            return self._all
        hit = self._cache.get(target)
        if hit is None:
            lines = self.lines
            hit = tuple(i for i in self._pool(target) if target.matches(lines[i]))
            self._cache[target] = hit
        return hit

    def _pool(self, target: Target) -> Sequence[int]:
        """The lines that may match: those in one of the target's include sets."""
        includes = (
            target.product_ids,
            target.variant_ids,
            target.collection_ids,
            target.tags,
            target.product_types,
        )
        if target.is_everything or sum(map(len, includes)) > len(self.lines):
            return self._all
        by = self._by
        if by is None:
            by = self._by = self._build()
        pool: set[int] = set()
        for keys, index in zip(includes, by, strict=True):
            for key in keys:
                found = index.get(key)
                if found:
                    pool.update(found)
        return sorted(pool)

    def _build(self) -> tuple[dict[Any, list[int]], ...]:
        by: tuple[dict[Any, list[int]], ...] = ({}, {}, {}, {}, {})
        products, variants, collections, tags, types = by
        for i, line in enumerate(self.lines):
            products.setdefault(line.product_id, []).append(i)
            variants.setdefault(line.variant_id, []).append(i)
            for c in line.collection_ids:
                collections.setdefault(c, []).append(i)
            for t in line.tags:
                tags.setdefault(t, []).append(i)
            types.setdefault(line.product_type, []).append(i)
        return by


EVERYTHING = Target()
"""The target that matches every line."""


def opt_target(f: Fields, key: str = "target") -> Target | None:
    """The optional target under ``key`` (absent or null: None)."""
    return None if f.raw(key, None) is None else Target.from_json(f.nested(key))


def target_json(target: Target | None) -> dict[str, Any] | None:
    """An optional target's JSON (None stays None)."""
    return None if target is None else target.to_json()
