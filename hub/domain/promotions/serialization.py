"""Promotions as JSON, so the database can store definitions.

``to_dict`` writes every field of the definition (version 1), with sets as sorted
lists, percentages as decimal strings and times as ISO 8601 with their offset.
``from_dict`` reads it back, validating as it goes: wrong types, unknown fields,
unknown condition or action types, floats where decimals are wanted and naive times
all raise ``ValueError`` naming the offending path (``conditions[1].amount: ...``).

Usage state is not part of a definition: it changes with every order. The caller
passes it from its counters (``from_dict(data, usage=UsageState(...))``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._fields import Fields
from .actions import action_from_json, action_to_json
from .conditions import condition_from_json, condition_to_json
from .enums import DiscountClass
from .promotion import Combination, Promotion, UsageState

VERSION = 1


def to_dict(promotion: Promotion) -> dict[str, Any]:
    combination = promotion.combination
    code = promotion.code
    return {
        "version": VERSION,
        "id": promotion.id,
        "title": promotion.title,
        "priority": promotion.priority,
        "conditions": [condition_to_json(c) for c in promotion.conditions],
        "action": action_to_json(promotion.action),
        "combination": {
            "class": str(combination.klass),
            "combines_with": sorted(str(c) for c in combination.combines_with),
            "exclusive": combination.exclusive,
            "stop_after": combination.stop_after,
            "best_deal_group": combination.best_deal_group,
        },
        "code": list(code) if isinstance(code, tuple) else code,
        "starts_at": None if promotion.starts_at is None else promotion.starts_at.isoformat(),
        "ends_at": None if promotion.ends_at is None else promotion.ends_at.isoformat(),
        "currency": promotion.currency,
    }


def from_dict(data: Mapping[str, Any], *, usage: UsageState | None = None) -> Promotion:
    f = Fields(data, "")
    version = f.integer("version", VERSION)
    if version != VERSION:
        raise f.fail("version", f"unsupported version {version}; this engine reads {VERSION}")
    conditions = tuple(
        condition_from_json(raw, f"conditions[{n}]")
        for n, raw in enumerate(f.items("conditions", []))
    )
    action = action_from_json(f.raw("action"), "action")
    combination = _combination(f.nested("combination"))
    code = f.raw("code", None)
    if isinstance(code, list):
        code = tuple(code)
    elif code is not None and not isinstance(code, str):
        raise f.fail("code", f"expected a string, a list of strings or null, got {code!r}")
    return f.build(
        Promotion,
        id=f.integer("id", minimum=None),
        title=f.text("title", "", blank=True),
        priority=f.integer("priority", 0, minimum=None),
        conditions=conditions,
        action=action,
        combination=combination,
        code=code,
        starts_at=f.moment("starts_at"),
        ends_at=f.moment("ends_at"),
        usage=usage or UsageState(),
        currency=f.text("currency", None),
    )


def _combination(f: Fields) -> Combination:
    klass = f.text("class")
    classes = {c.value for c in DiscountClass}
    if klass not in classes:
        raise f.fail("class", f"must be one of {sorted(classes)}, got {klass!r}")
    combines_with = f.strs("combines_with")
    unknown = sorted(combines_with - classes)
    if unknown:
        raise f.fail("combines_with", f"unknown classes {unknown}; use {sorted(classes)}")
    return f.build(
        Combination,
        klass=DiscountClass(klass),
        combines_with=frozenset(DiscountClass(c) for c in combines_with),
        exclusive=f.flag("exclusive"),
        stop_after=f.flag("stop_after"),
        best_deal_group=f.text("best_deal_group", None),
    )
