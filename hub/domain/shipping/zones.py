"""Shipping zones: countries, optionally narrowed to regions (ISO 3166-2), each with
its rate table; their records and staff writes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import ids
from hub.db.database import Database, Reader, fetch_all
from hub.db.tables import rates_t, zones_t
from hub.domain.errors import Code, Errors
from hub.domain.shipping.checks import (
    check_handle,
    check_name,
    delete_one,
    stored,
    write,
)
from hub.domain.shipping.rates import ShippingRateRecord

COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
REGION_RE = re.compile(r"^([A-Z]{2})-[A-Z0-9]{1,3}$")
MAX_COUNTRIES = 250
MAX_REGIONS = 500


class ShippingZoneRecord:
    __slots__ = ("countries", "handle", "id", "name", "pk", "rates", "regions")

    def __init__(self, row: Any) -> None:
        self.pk = row.id
        self.id = ids.encode("ShippingZone", row.id)
        self.handle = row.handle
        self.name = row.name
        self.countries = list(row.countries or ())
        self.regions = list(row.regions or ())
        self.rates: list[ShippingRateRecord] = []


async def list_zones(
    conn: AsyncConnection | Reader, pks: Sequence[int] | None = None
) -> list[ShippingZoneRecord]:
    """Zones (all, or those in ``pks``) with their rates: two statements."""
    stmt = select(zones_t).order_by(zones_t.c.id)
    if pks is not None:
        stmt = stmt.where(zones_t.c.id.in_(list(pks)))
    zones = [ShippingZoneRecord(r) for r in await fetch_all(conn, stmt)]
    if zones:
        by_pk = {z.pk: z for z in zones}
        rates = await fetch_all(
            conn,
            select(rates_t)
            .where(rates_t.c.zone_id.in_(list(by_pk)))
            .order_by(rates_t.c.zone_id, rates_t.c.amount, rates_t.c.id),
        )
        for r in rates:
            by_pk[r.zone_id].rates.append(ShippingRateRecord(r))
    return zones


# --------------------------------------------------------------------------- writes


@dataclass
class ZoneInput:
    handle: str | None = None
    name: str | None = None
    countries: list[str] | None = None
    regions: list[str] | None = None


def _clean_zone(errs: Errors, data: ZoneInput, countries_now: list[str]) -> dict[str, Any]:
    check_handle(errs, data.handle)
    check_name(errs, data.name, "name")
    values: dict[str, Any] = {
        k: v for k, v in (("handle", data.handle), ("name", data.name)) if v is not None
    }
    countries = countries_now
    if data.countries is not None:
        countries = list(dict.fromkeys(c.strip().upper() for c in data.countries))
        if not countries:
            errs.add(Code.BLANK, "a zone needs at least one country", "countries")
        elif len(countries) > MAX_COUNTRIES:
            errs.add(Code.LIMIT_EXCEEDED, f"at most {MAX_COUNTRIES} countries", "countries")
        for i, c in enumerate(countries):
            if not COUNTRY_RE.match(c):
                errs.add(
                    Code.INVALID, f"{c!r} is not an ISO 3166-1 alpha-2 code", "countries", str(i)
                )
        values["countries"] = countries
    if data.regions is not None:
        regions = list(dict.fromkeys(r.strip().upper() for r in data.regions))
        if len(regions) > MAX_REGIONS:
            errs.add(Code.LIMIT_EXCEEDED, f"at most {MAX_REGIONS} regions", "regions")
        for i, r in enumerate(regions):
            m = REGION_RE.match(r)
            if m is None:
                errs.add(
                    Code.INVALID,
                    f"{r!r} is not an ISO 3166-2 code such as US-HI",
                    "regions",
                    str(i),
                )
            elif m.group(1) not in countries:
                errs.add(
                    Code.INVALID,
                    f"region {r} is outside the zone's countries",
                    "regions",
                    str(i),
                )
        values["regions"] = regions
    return values


def new_zone_values(data: ZoneInput) -> dict[str, Any]:
    """The column values of a new zone, or every reason it can't be."""
    errs = Errors()
    errs.require(data, ("handle", "name", "countries"))
    values = _clean_zone(errs, data, [])
    errs.raise_if_any()
    values.setdefault("regions", [])
    return values


async def insert_zone(conn: AsyncConnection, values: dict[str, Any]) -> int:
    """Insert a zone of checked ``values`` (:func:`new_zone_values`), in the caller's
    transaction."""
    stmt = insert(zones_t).values(**values, created_at=datetime.now(UTC)).returning(zones_t.c.id)
    pk: int = (await write(conn, stmt, "zone")).scalar_one()
    return pk


async def change_zone(conn: AsyncConnection, pk: int, data: ZoneInput) -> int:
    """Change the given fields of zone ``pk``, in the caller's transaction."""
    row = await stored(conn, zones_t, pk, "zone")
    errs = Errors()
    if data.countries is not None and data.regions is None and row.regions:
        data.regions = list(row.regions)  # re-check them against the new countries
    values = _clean_zone(errs, data, list(row.countries or ()))
    errs.raise_if_any()
    if values:
        await write(conn, update(zones_t).where(zones_t.c.id == pk).values(**values), "zone")
    return pk


async def remove_zone(conn: AsyncConnection, pk: int) -> None:
    """Delete a zone and its rates, in the caller's transaction."""
    await delete_one(conn, zones_t, pk, "zone")


# --------------------------------------------------------------------------- services
# Each checks what it can without the database, opens the transaction, runs the
# operation and commits.


async def create_zone(db: Database, data: ZoneInput) -> int:
    values = new_zone_values(data)
    async with db.transaction() as conn:
        return await insert_zone(conn, values)


async def update_zone(db: Database, pk: int, data: ZoneInput) -> int:
    async with db.transaction() as conn:
        await change_zone(conn, pk, data)
    return pk


async def delete_zone(db: Database, pk: int) -> None:
    """Delete a zone and its rates."""
    async with db.transaction() as conn:
        await remove_zone(conn, pk)
