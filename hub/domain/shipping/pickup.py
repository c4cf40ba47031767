"""Pickup stock: does the store a cart picks up at hold its lines, and which nearby
stores do.

:func:`pickup_locations` reads, in one statement, the locations a priced cart's pickup
groups chose and every active location that offers pickup and sells to the cart's
channel. :func:`shortages` then compares each pickup line with what its location can
sell (the units :func:`hub.domain.inventory.stock_by_location` counts: online
availability, safety stock kept back; lines of the same variant in the same group
count together) and, for each line short, lists the nearest other pickup locations
that hold all of it, by great-circle distance from the chosen one. Checkout takes a
pickup line from its location only, by the same count, so a cart without such a
warning does not fail checkout for want of pickup stock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, or_, select

from hub.db.tables import loc_channels_t, locations_t
from hub.domain.inventory import LocationRecord, distance_km, on_channel, pickup_time

NEAREST = 3  # pickup locations offered instead, at most

_PICKUP_LOCATIONS = (
    select(
        locations_t.c.id,
        locations_t.c.name,
        locations_t.c.country_code,
        locations_t.c.region,
        locations_t.c.postal_code,
        locations_t.c.latitude,
        locations_t.c.longitude,
        and_(
            locations_t.c.active.is_(True),
            locations_t.c.pickup_enabled.is_(True),
            loc_channels_t.c.channel_id.is_not(None),
        ).label("offers_pickup"),
    )
    .outerjoin(loc_channels_t, on_channel(locations_t.c.id))
    .where(
        or_(
            locations_t.c.id.in_(bindparam("chosen", expanding=True)),
            and_(
                locations_t.c.active.is_(True),
                locations_t.c.pickup_enabled.is_(True),
                loc_channels_t.c.channel_id.is_not(None),
            ),
        )
    )
)


async def pickup_locations(conn: Any, channel_pk: int, chosen: Sequence[int]) -> dict[int, Any]:
    """The chosen pickup locations and every pickup location of the channel, by pk."""
    rows = (await conn.execute(_PICKUP_LOCATIONS, {"channel": channel_pk, "chosen": chosen})).all()
    return {r.id: r for r in rows}


@dataclass(frozen=True, slots=True)
class Shortage:
    """A pickup line its location can't cover: how many it has, and where else."""

    line: Any  # a PricedLine
    location: Any  # the chosen location's row (None: gone)
    have: int
    nearest: list[tuple[Any, float | None]]  # (location row, km from the chosen one)


def shortages(
    groups: Iterable[Any],
    stock: Mapping[int, Mapping[int, int]],
    locations: Mapping[int, Any],
) -> list[Shortage]:
    """The pickup lines short at their location (see the module docstring)."""
    out: list[Shortage] = []
    offering = [r for r in locations.values() if r.offers_pickup]
    for g in groups:
        if g.kind != "PICKUP":
            continue
        here = locations.get(g.location_pk or 0)
        wanted: dict[int, int] = {}
        for ln in g.lines:
            if not (ln.sellable and ln.tracked):
                continue
            wanted[ln.variant_pk] = wanted.get(ln.variant_pk, 0) + ln.quantity
            at = stock.get(ln.variant_pk, {})
            have = at.get(g.location_pk, 0) if here is not None and here.offers_pickup else 0
            if have >= wanted[ln.variant_pk]:
                continue
            others = [
                r
                for r in offering
                if r.id != g.location_pk and at.get(r.id, 0) >= wanted[ln.variant_pk]
            ]
            before = wanted[ln.variant_pk] - ln.quantity  # earlier lines of the variant
            left = max(0, min(have - before, ln.quantity))
            out.append(Shortage(ln, here, left, _nearest(here, others)))
    return out


def _nearest(here: Any, others: list[Any]) -> list[tuple[Any, float | None]]:
    def km(r: Any) -> float | None:
        if here is None or None in (here.latitude, here.longitude, r.latitude, r.longitude):
            return None
        return distance_km(here.latitude, here.longitude, r.latitude, r.longitude)

    ranked = sorted(
        ((r, km(r)) for r in others),
        key=lambda p: (p[1] is None, p[1] if p[1] is not None else 0.0, p[0].name, p[0].id),
    )
    return ranked[:NEAREST]


# --------------------------------------------------------------------------- per store


class StoreAvailabilityRecord:
    """A variant at one store: how many units it can sell, and when a pickup order is
    usually ready (only where pickup is offered and the variant is in stock)."""

    __slots__ = ("available", "distance_km", "location", "pick_up_time", "quantity_available")

    def __init__(self, location: LocationRecord, qty: int, distance: float | None) -> None:
        self.location = location
        self.quantity_available = qty
        self.available = qty > 0
        self.distance_km = distance
        self.pick_up_time = (
            pickup_time(location.pickup_lead_minutes)
            if location.pickup_enabled and qty > 0
            else None
        )


def store_availability(
    locations: Iterable[LocationRecord],
    stock: Mapping[int, int],
    *,
    near: tuple[float, float] | None = None,
    pickup_enabled: bool | None = None,
) -> list[StoreAvailabilityRecord]:
    """A variant's availability at each of ``locations`` (``stock``: units sellable
    per location), nearest first when ``near`` (latitude, longitude) is given, else by
    fulfilment priority; ``pickup_enabled`` keeps only the locations that (don't)
    offer pickup."""
    rows = []
    for loc in locations:
        if pickup_enabled is not None and loc.pickup_enabled != pickup_enabled:
            continue
        dist = loc.distance_from(*near) if near is not None else None
        rows.append(StoreAvailabilityRecord(loc, stock.get(loc.pk, 0), dist))
    if near is not None:
        rows.sort(key=lambda r: (r.distance_km is None, r.distance_km or 0.0, r.location.pk))
    else:
        rows.sort(key=lambda r: (r.location.fulfillment_priority, r.location.pk))
    return rows
