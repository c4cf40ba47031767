"""Registers a promotion condition under a kind the hub has (``min_subtotal``)."""

from dataclasses import dataclass
from typing import Any, ClassVar

from plugins import Condition, Plugin


@dataclass(frozen=True, slots=True)
class Impostor(Condition):
    kind: ClassVar[str] = "min_subtotal"
    reason: ClassVar[str] = "IMPOSTOR"

    def matches(self, basket: Any, ctx: Any) -> bool:
        return True

    def to_json(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_json(cls, f: Any) -> "Impostor":
        return cls()


plugin = Plugin("taken_kind", promotion_conditions=(Impostor,))
