"""What inventory reads and answers: the level record, the codes of its refusals, the
states a level holds and the rule that says how many units of one are sellable."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, bindparam, case, literal

from hub.db.models.inventory import STATES
from hub.db.tables import levels_t, loc_channels_t
from hub.domain.errors import fail
from hub.events.bus import Event

__all__ = [
    "DEFAULT_RESERVATION_TTL",
    "MAX_RESERVATION_TTL",
    "MIN_RESERVATION_TTL",
    "REASON_RE",
    "STATES",
    "InventoryCode",
    "LevelRecord",
    "Outcome",
    "ReserveRequest",
    "available_sql",
    "label",
    "now",
    "refuse",
]

REASON_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
DEFAULT_RESERVATION_TTL = timedelta(minutes=15)
# How long a reservation may hold stock (inventoryReserve's ttlSeconds).
MIN_RESERVATION_TTL = timedelta(seconds=10)
MAX_RESERVATION_TTL = timedelta(days=7)


class InventoryCode(StrEnum):
    """The inventory's own refusals (the common ones are :class:`hub.domain.errors.Code`)."""

    INSUFFICIENT_STOCK = "INSUFFICIENT_STOCK"
    NEGATIVE_STOCK = "NEGATIVE_STOCK"
    STALE_QUANTITY = "STALE_QUANTITY"
    INVALID_SERIAL = "INVALID_SERIAL"
    NOT_TRACKED = "NOT_TRACKED"


refuse = fail
"""A refusal with one of the domain's codes: ``hub.domain.errors.fail``, which takes
any domain's code."""


def now() -> datetime:
    return datetime.now(UTC)


def label(name: str) -> str:
    """How messages name a state or field (as clients know it): on_hand -> onHand."""
    head, *rest = name.split("_")
    return head + "".join(r.title() for r in rest)


def available_sql(t: Table = levels_t, *, online: bool = True) -> ColumnElement[Any]:
    """Sellable units of a level (never below zero). Online sales keep safety stock."""
    raw = t.c.on_hand - t.c.committed - t.c.reserved - t.c.quarantined
    if online:
        raw = raw - t.c.safety_stock
    return case((raw > 0, raw), else_=literal(0))


def on_channel(location_id: ColumnElement[Any]) -> ColumnElement[bool]:
    """Joins ``location_channels`` to the location ``location_id`` names, for the
    channel bound as the ``channel`` parameter."""
    return and_(
        loc_channels_t.c.location_id == location_id,
        loc_channels_t.c.channel_id == bindparam("channel"),
    )


class LevelRecord:
    __slots__ = (
        "available",
        "committed",
        "id",
        "incoming",
        "location_pk",
        "on_hand",
        "quarantined",
        "reorder_point",
        "reserved",
        "safety_stock",
        "updated_at",
        "variant_pk",
    )

    def __init__(self, row: Any) -> None:
        self.id: int = row.id
        self.variant_pk: int = row.variant_id
        self.location_pk: int = row.location_id
        self.on_hand: int = row.on_hand
        self.committed: int = row.committed
        self.reserved: int = row.reserved
        self.incoming: int = row.incoming
        self.quarantined: int = row.quarantined
        self.safety_stock: int = row.safety_stock
        self.reorder_point: int = row.reorder_point
        self.updated_at: datetime = row.updated_at
        self.available: int = max(
            0, self.on_hand - self.committed - self.reserved - self.quarantined - self.safety_stock
        )

    @property
    def gid(self) -> str:
        return f"gid://hub/InventoryLevel/{self.id}"

    def as_payload(self) -> dict[str, int]:
        return {
            "onHand": self.on_hand,
            "committed": self.committed,
            "reserved": self.reserved,
            "incoming": self.incoming,
            "quarantined": self.quarantined,
            "safetyStock": self.safety_stock,
            "reorderPoint": self.reorder_point,
            "available": self.available,
        }


@dataclass(frozen=True, slots=True)
class ReserveRequest:
    """Hold ``quantity`` units of a variant at a location for ``ttl``."""

    variant_pk: int
    location_pk: int
    quantity: int
    ttl: timedelta = DEFAULT_RESERVATION_TTL
    reference: str | None = None
    key: str | None = None  # idempotency key
    online: bool = True  # keep safety stock back


@dataclass
class Outcome:
    """What a write did: the levels it left and the events to publish after commit."""

    levels: list[LevelRecord]
    events: list[Event]
    replayed: bool = False
    result: dict[str, Any] = field(default_factory=dict)
