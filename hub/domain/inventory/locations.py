"""Locations: warehouses, stores, third-party and dropship sites; where each ships
from, whether it offers pickup, and which channels it sells to."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, delete, exists, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.database import Database, Reader, fetch_all
from hub.db.models.inventory import LOCATION_KINDS
from hub.db.tables import channels_t, levels_t, loc_channels_t, locations_t, moves_t, transfers_t
from hub.domain.errors import Code, Errors, fail
from hub.domain.handles import HANDLE_RE, handle_key
from hub.domain.inventory.records import label, now
from hub.money import MoneyError, is_currency, parse_amount


class LocationRecord:
    __slots__ = (
        "active",
        "address1",
        "channel_pks",
        "city",
        "cost_currency",
        "cost_per_shipment",
        "country_code",
        "daily_capacity",
        "distance_km",
        "fulfillment_priority",
        "handle",
        "kind",
        "latitude",
        "longitude",
        "name",
        "pickup_enabled",
        "pickup_lead_minutes",
        "pickup_window_hours",
        "pk",
        "postal_code",
        "region",
        "replenishment_lead_days",
        "ships",
    )

    def __init__(self, row: Any, channel_pks: Sequence[int] = ()) -> None:
        self.pk: int = row.id
        self.handle: str = row.handle
        self.name: str = row.name
        self.kind: str = row.kind
        self.address1: str = row.address1
        self.city: str = row.city
        self.region: str = row.region
        self.postal_code: str = row.postal_code
        self.country_code: str = row.country_code
        self.latitude: float | None = row.latitude
        self.longitude: float | None = row.longitude
        self.active: bool = row.active
        self.pickup_enabled: bool = row.pickup_enabled
        self.pickup_lead_minutes: int = row.pickup_lead_minutes
        self.ships: bool = row.ships
        self.fulfillment_priority: int = row.fulfillment_priority
        self.cost_per_shipment: int = row.cost_per_shipment
        self.cost_currency: str = row.cost_currency
        self.daily_capacity: int | None = row.daily_capacity
        self.replenishment_lead_days: int = row.replenishment_lead_days
        self.pickup_window_hours: int = getattr(row, "pickup_window_hours", 72)
        self.channel_pks = list(channel_pks)
        self.distance_km: float | None = None

    @property
    def id(self) -> str:
        return f"gid://hub/Location/{self.pk}"

    def distance_from(self, lat: float, lon: float) -> float | None:
        if self.latitude is None or self.longitude is None:
            return None
        return round(distance_km(lat, lon, self.latitude, self.longitude), 3)


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance on a 6,371 km sphere."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(a)))


def pickup_time(minutes: int) -> str:
    """How long a pickup order usually takes to be ready, in words."""
    if minutes < 60:
        return f"Usually ready in {max(minutes, 1)} minutes"
    if minutes < 24 * 60:
        hours = round(minutes / 60)
        return f"Usually ready in {hours} hour{'s' if hours != 1 else ''}"
    days = round(minutes / (24 * 60))
    return f"Usually ready in {days} day{'s' if days != 1 else ''}"


# --------------------------------------------------------------------------- reads


async def locations_by_pks(reader: Reader, pks: Sequence[int]) -> dict[int, LocationRecord]:
    rows = await reader.all(select(locations_t).where(locations_t.c.id.in_(pks)))
    chans = await _location_channels(reader, [r.id for r in rows])
    return {r.id: LocationRecord(r, chans.get(r.id, ())) for r in rows}


async def _location_channels(reader: Reader, pks: Sequence[int]) -> dict[int, list[int]]:
    if not pks:
        return {}
    rows = await reader.all(select(loc_channels_t).where(loc_channels_t.c.location_id.in_(pks)))
    out: dict[int, list[int]] = defaultdict(list)
    for r in rows:
        out[r.location_id].append(r.channel_id)
    return out


async def list_locations(
    reader: Reader,
    *,
    channel_pk: int | None = None,
    pickup_enabled: bool | None = None,
    active_only: bool = True,
) -> list[LocationRecord]:
    stmt = select(locations_t)
    if active_only:
        stmt = stmt.where(locations_t.c.active.is_(True))
    if pickup_enabled is not None:
        stmt = stmt.where(locations_t.c.pickup_enabled.is_(pickup_enabled))
    if channel_pk is not None:
        stmt = stmt.where(
            locations_t.c.id.in_(
                select(loc_channels_t.c.location_id).where(
                    loc_channels_t.c.channel_id == channel_pk
                )
            )
        )
    rows = await reader.all(stmt.order_by(locations_t.c.id))
    chans = await _location_channels(reader, [r.id for r in rows])
    return [LocationRecord(r, chans.get(r.id, ())) for r in rows]


# --------------------------------------------------------------------------- writes


_LOCATION_FIELDS = (
    "handle",
    "name",
    "kind",
    "address1",
    "city",
    "region",
    "postal_code",
    "country_code",
    "latitude",
    "longitude",
    "active",
    "pickup_enabled",
    "pickup_lead_minutes",
    "ships",
    "fulfillment_priority",
    "cost_currency",
    "daily_capacity",
    "replenishment_lead_days",
    "pickup_window_hours",
)


def location_values(data: dict[str, Any], creating: bool) -> dict[str, Any]:
    """The location's column values, or every reason it can't be (fields named by
    their keys in ``data``)."""
    errs = Errors()
    if creating:
        for name in ("handle", "name", "kind", "country_code"):
            if not data.get(name):
                errs.add(Code.BLANK, f"{label(name)} is required", name)
    if "handle" in data and not HANDLE_RE.match(data["handle"] or ""):
        errs.add(Code.INVALID, "handle must be lowercase letters, digits and dashes", "handle")
    if "kind" in data and data["kind"] not in LOCATION_KINDS:
        errs.add(Code.INVALID, "unknown location kind", "kind")
    for name in ("name", "address1", "city", "region", "postal_code"):
        column = locations_t.c[name].type
        assert isinstance(column, String) and column.length is not None
        limit = column.length
        if isinstance(data.get(name), str) and len(data[name]) > limit:
            errs.add(Code.TOO_LONG, f"{label(name)} is longer than {limit} characters", name)
    if "country_code" in data and not re.fullmatch(r"[A-Z]{2}", data["country_code"] or ""):
        errs.add(Code.INVALID, "countryCode must be ISO 3166-1 alpha-2", "country_code")
    if "latitude" in data and not -90 <= data["latitude"] <= 90:
        errs.add(Code.INVALID, "latitude must be between -90 and 90", "latitude")
    if "longitude" in data and not -180 <= data["longitude"] <= 180:
        errs.add(Code.INVALID, "longitude must be between -180 and 180", "longitude")
    for name in ("pickup_lead_minutes", "daily_capacity", "replenishment_lead_days"):
        if name in data and data[name] < 0:
            errs.add(Code.INVALID, f"{label(name)} can't be negative", name)
    if "pickup_window_hours" in data and not 1 <= data["pickup_window_hours"] <= 24 * 90:
        errs.add(Code.INVALID, "pickupWindowHours is 1 to 2160 (90 days)", "pickup_window_hours")
    values = {k: data[k] for k in _LOCATION_FIELDS if k in data}
    currency = data.get("cost_currency", "USD")
    if "cost_currency" in data and not is_currency(currency):
        errs.add(Code.INVALID, "costCurrency must be an ISO 4217 code", "cost_currency")
    elif "cost_per_shipment" in data:
        try:
            values["cost_per_shipment"] = parse_amount(data["cost_per_shipment"], currency)
        except MoneyError as exc:
            errs.add(Code.INVALID, str(exc), "cost_per_shipment")
    errs.raise_if_any()
    return values


_CHANNEL_HANDLES = select(channels_t.c.handle).order_by(channels_t.c.id)  # built once


async def _set_location_channels(conn: AsyncConnection, pk: int, handles: Sequence[str]) -> None:
    handles = [handle_key(h) for h in handles]
    rows = (
        await conn.execute(
            select(channels_t.c.handle, channels_t.c.id).where(channels_t.c.handle.in_(handles))
        )
    ).all()
    found = {r.handle: r.id for r in rows}
    missing = [h for h in handles if h not in found]
    if missing:
        known = ", ".join(r.handle for r in await fetch_all(conn, _CHANNEL_HANDLES)) or "none yet"
        raise fail(
            Code.NOT_FOUND,
            f"unknown channel(s): {', '.join(missing)}; the channels are: {known}",
            "channels",
        )
    await conn.execute(delete(loc_channels_t).where(loc_channels_t.c.location_id == pk))
    if found:
        await conn.execute(
            insert(loc_channels_t),
            [{"location_id": pk, "channel_id": cid} for cid in dict.fromkeys(found.values())],
        )


async def _check_location(conn: AsyncConnection, pk: int) -> None:
    if (await conn.execute(select(locations_t.c.id).where(locations_t.c.id == pk))).first() is None:
        raise fail(Code.NOT_FOUND, "location not found", "id")


async def insert_location(
    conn: AsyncConnection, values: dict[str, Any], channels: Sequence[str] = ()
) -> int:
    """Insert a location of checked ``values`` (:func:`location_values`) selling to the
    channels of the handles ``channels``, in the caller's transaction."""
    try:
        pk: int = (
            await conn.execute(
                insert(locations_t).values(**values, created_at=now()).returning(locations_t.c.id)
            )
        ).scalar_one()
    except IntegrityError:
        raise fail(Code.TAKEN, "handle is already taken", "handle") from None
    await _set_location_channels(conn, pk, channels)
    return pk


async def change_location(
    conn: AsyncConnection,
    pk: int,
    values: dict[str, Any],
    channels: Sequence[str] | None = None,
) -> int:
    """Change location ``pk`` to checked ``values`` (:func:`location_values`), and its
    channels to the handles ``channels`` unless None, in the caller's transaction."""
    await _check_location(conn, pk)
    if values:
        try:
            await conn.execute(update(locations_t).where(locations_t.c.id == pk).values(**values))
        except IntegrityError:
            raise fail(Code.TAKEN, "handle is already taken", "handle") from None
    if channels is not None:
        await _set_location_channels(conn, pk, channels)
    return pk


async def remove_location(conn: AsyncConnection, pk: int) -> None:
    """Delete a location with no stock history, in the caller's transaction; refuse
    (IN_USE) otherwise."""
    await _check_location(conn, pk)
    used = (
        await conn.execute(
            select(
                exists().where(moves_t.c.location_id == pk)
                | exists().where(transfers_t.c.from_location_id == pk)
                | exists().where(transfers_t.c.to_location_id == pk)
            )
        )
    ).scalar()
    if used:
        raise fail(
            Code.IN_USE,
            "the location has stock history; set active: false to stop using it",
            "id",
        )
    await conn.execute(delete(levels_t).where(levels_t.c.location_id == pk))
    await conn.execute(delete(locations_t).where(locations_t.c.id == pk))


# --------------------------------------------------------------------------- services
# Each checks its input, opens the transaction, runs the operation and commits.


async def create_location(db: Database, data: dict[str, Any]) -> int:
    values = location_values(data, creating=True)
    async with db.transaction() as conn:
        return await insert_location(conn, values, data.get("channels", []))


async def update_location(db: Database, pk: int, data: dict[str, Any]) -> int:
    values = location_values(data, creating=False)
    async with db.transaction() as conn:
        return await change_location(conn, pk, values, data.get("channels"))


async def delete_location(db: Database, pk: int) -> None:
    """Delete a location with no stock and no history; deactivate it otherwise."""
    async with db.transaction() as conn:
        await remove_location(conn, pk)
