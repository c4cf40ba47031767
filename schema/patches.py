"""Partial updates: an input's optional fields are left out (unchanged), sent as
null (cleared) or given a value (set)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from strawberry.types.unset import UNSET


def apply_given(source: Any, target: Any, names: Iterable[str]) -> set[str]:
    """Copy each of ``names`` that ``source`` gives a value onto ``target``; the names
    sent as an explicit null, to clear, are returned; those left out are skipped."""
    clear: set[str] = set()
    for name in names:
        value = getattr(source, name)
        if value is UNSET:
            continue
        if value is None:
            clear.add(name)
        else:
            setattr(target, name, value)
    return clear
