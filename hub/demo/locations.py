"""The demo's locations (warehouses in Newark and Rotterdam, stores in New York and
Berlin, a 3PL in Chicago), the channels they sell to, and the stock rules the
generator follows (:mod:`hub.demo.stock`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.demo.data import BASE_TIME, CHUNK, EU, WEB

NEWARK, ROTTERDAM, SOHO, BROOKLYN, BERLIN, CHICAGO = range(1, 7)  # location ids


def _location(
    lid: int,
    handle: str,
    name: str,
    kind: str,
    address: tuple[str, str, str, str, str],  # address1, city, region, postal code, country
    coords: tuple[float, float],
    *,
    ships: bool,
    priority: int,
    cost: int,
    currency: str,
    capacity: int | None,
    lead_days: int,
    pickup_minutes: int | None = None,  # None: no pickup
) -> dict[str, Any]:
    address1, city, region, postal_code, country = address
    return {
        "id": lid,
        "handle": handle,
        "name": name,
        "kind": kind,
        "address1": address1,
        "city": city,
        "region": region,
        "postal_code": postal_code,
        "country_code": country,
        "latitude": coords[0],
        "longitude": coords[1],
        "active": True,
        "pickup_enabled": pickup_minutes is not None,
        "pickup_lead_minutes": pickup_minutes or 0,
        "ships": ships,
        "fulfillment_priority": priority,
        "cost_per_shipment": cost,
        "cost_currency": currency,
        "daily_capacity": capacity,
        "replenishment_lead_days": lead_days,
        "created_at": BASE_TIME,
    }


LOCATIONS = (
    _location(
        NEWARK,
        "wh-newark",
        "Newark Fulfillment Center",
        "WAREHOUSE",
        ("400 Delancy St", "Newark", "NJ", "07105", "US"),
        (40.7357, -74.1724),
        ships=True,
        priority=10,
        cost=450,
        currency="USD",
        capacity=5000,
        lead_days=14,
    ),
    _location(
        ROTTERDAM,
        "wh-rotterdam",
        "Rotterdam Distribution Center",
        "WAREHOUSE",
        ("Waalhaven Zuidzijde 21", "Rotterdam", "Zuid-Holland", "3089 JH", "NL"),
        (51.9244, 4.4777),
        ships=True,
        priority=10,
        cost=390,
        currency="EUR",
        capacity=4000,
        lead_days=14,
    ),
    _location(
        SOHO,
        "store-soho",
        "SoHo Flagship",
        "STORE",
        ("121 Prince St", "New York", "NY", "10012", "US"),
        (40.7233, -73.9985),
        ships=True,
        priority=50,
        cost=700,
        currency="USD",
        capacity=200,
        lead_days=7,
        pickup_minutes=60,
    ),
    _location(
        BROOKLYN,
        "store-brooklyn",
        "Brooklyn Store",
        "STORE",
        ("350 Atlantic Ave", "Brooklyn", "NY", "11217", "US"),
        (40.6782, -73.9442),
        ships=False,
        priority=60,
        cost=0,
        currency="USD",
        capacity=150,
        lead_days=7,
        pickup_minutes=120,
    ),
    _location(
        BERLIN,
        "store-berlin",
        "Berlin Mitte Store",
        "STORE",
        ("Rosenthaler Str. 40", "Berlin", "Berlin", "10178", "DE"),
        (52.5200, 13.4050),
        ships=True,
        priority=50,
        cost=650,
        currency="EUR",
        capacity=180,
        lead_days=7,
        pickup_minutes=90,
    ),
    _location(
        CHICAGO,
        "3pl-chicago",
        "Midwest 3PL (Chicago)",
        "THIRD_PARTY",
        ("2600 S Pulaski Rd", "Chicago", "IL", "60623", "US"),
        (41.8781, -87.6298),
        ships=True,
        priority=30,
        cost=520,
        currency="USD",
        capacity=3000,
        lead_days=10,
    ),
)
LOCATION_CHANNELS = (
    {"location_id": NEWARK, "channel_id": WEB},
    {"location_id": ROTTERDAM, "channel_id": EU},
    {"location_id": SOHO, "channel_id": WEB},
    {"location_id": BROOKLYN, "channel_id": WEB},
    {"location_id": BERLIN, "channel_id": EU},
    {"location_id": CHICAGO, "channel_id": WEB},
)
WAREHOUSES = (NEWARK, ROTTERDAM)  # one per channel: every active variant is available there
STORES = (  # store, share of an active product's variants it carries, where it restocks from
    (SOHO, 0.35, NEWARK),
    (BROOKLYN, 0.25, NEWARK),
    (BERLIN, 0.30, ROTTERDAM),
)
MIN_AVAILABLE = 3  # at the channel warehouses, so a kit of two of a component is sellable
RESERVATION_EXPIRY = datetime(2099, 1, 1, tzinfo=UTC)  # demo carts: held until released
SERIALISED_LEVELS = 8  # store levels of leather goods tracked by serial number


def transfer_time(pid: int) -> datetime:
    """When the store restocks of product ``pid``'s block (CHUNK products) were sent."""
    return BASE_TIME + timedelta(minutes=((pid - 1) // CHUNK + 1) * CHUNK, days=2)


@dataclass(slots=True)
class LevelDraft:
    """One (variant, location) level being generated, before its ledger rows."""

    loc: int
    on_hand: int
    committed: int = 0
    reserved: int = 0
    incoming: int = 0
    quarantined: int = 0
    safety_stock: int = 0
    reorder_point: int = 0
    transfer_in: int = 0  # the transfer that brings `incoming` (stores), 0: a purchase order
    sent: list[tuple[int, int]] = field(default_factory=list)  # (transfer, units) sent out
