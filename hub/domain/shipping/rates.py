"""Shipping: zones of countries (optionally narrowed to regions) and their rate tables.

:func:`shipping_options` is what carts and checkout call: the delivery options for a
destination, a parcel weight and a merchandise subtotal in one currency, cheapest
first. Store pickup is not a rate; the cart layer offers it from the locations.

Matching: a zone covers an address when the country is one of its ``countries`` and,
if the zone lists ``regions`` (ISO 3166-2, ``"US-HI"``), the address's region is one
of them. Zones that name the address's region are more specific and win over zones
that only name its country. Of the matching zones' rates in the requested currency, a
``WEIGHT`` rate applies when ``min_weight_grams <= weight < max_weight_grams``, a
``SUBTOTAL`` rate when ``min_subtotal <= subtotal < max_subtotal`` (a missing bound is
open), a ``FLAT`` rate always; any rate costs nothing once the subtotal reaches its
``free_over_subtotal``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import ids
from hub.db.database import Database, Reader, fetch_all
from hub.db.tables import rates_t, zones_t
from hub.domain.errors import Code, Errors, fail
from hub.domain.shipping.checks import check_handle, check_name, delete_one, write
from hub.domain.shipping.checks import stored as stored_row
from hub.money import Money, MoneyError, is_currency, parse_amount, to_decimal

KINDS = ("WEIGHT", "SUBTOTAL", "FLAT")


@dataclass(frozen=True, slots=True)
class ShippingOption:
    """One way to deliver: ``amount`` in minor units of ``currency``, and a delivery
    estimate in days when the rate has one."""

    handle: str
    title: str
    amount: int
    currency: str
    min_days: int | None
    max_days: int | None


# Every rate in a currency with its zone, built once (no construction or cache key
# per call).
_RATES_IN = (
    select(
        rates_t,
        zones_t.c.countries.label("zone_countries"),
        zones_t.c.regions.label("zone_regions"),
    )
    .join(zones_t, zones_t.c.id == rates_t.c.zone_id)
    .where(rates_t.c.currency == bindparam("currency"))
)


def region_code(country: str, region: str | None) -> str | None:
    """An address region as ISO 3166-2: ("US", "ny") -> "US-NY"; "US-NY" stays."""
    if not region:
        return None
    r = region.strip().upper()
    return r if r.startswith(f"{country}-") else f"{country}-{r}"


async def shipping_options(
    conn: AsyncConnection | Reader,
    *,
    currency: str,
    country: str,
    region: str | None,
    weight_grams: int,
    subtotal: int,
) -> list[ShippingOption]:
    """Delivery options to ``country``/``region`` for a parcel of ``weight_grams`` and a
    merchandise ``subtotal`` (minor units of ``currency``), cheapest first; [] when no
    zone covers the destination. One SQL statement."""
    country = country.strip().upper()
    wanted_region = region_code(country, region)
    rows = await fetch_all(conn, _RATES_IN, {"currency": currency})
    by_region: list[Any] = []
    by_country: list[Any] = []
    for r in rows:
        if country not in (r.zone_countries or ()):
            continue
        regions = r.zone_regions or ()
        if not regions:
            by_country.append(r)
        elif wanted_region is not None and wanted_region in regions:
            by_region.append(r)
    options = []
    for r in by_region or by_country:
        if r.kind == "WEIGHT" and not _within(weight_grams, r.min_weight_grams, r.max_weight_grams):
            continue
        if r.kind == "SUBTOTAL" and not _within(subtotal, r.min_subtotal, r.max_subtotal):
            continue
        free = r.free_over_subtotal is not None and subtotal >= r.free_over_subtotal
        options.append(
            ShippingOption(
                r.handle, r.title, 0 if free else r.amount, r.currency, r.min_days, r.max_days
            )
        )
    big = 1 << 30
    options.sort(key=lambda o: (o.amount, o.max_days if o.max_days is not None else big, o.handle))
    return options


def _within(value: int, low: int | None, high: int | None) -> bool:
    return (low is None or value >= low) and (high is None or value < high)


# --------------------------------------------------------------------------- records


class ShippingRateRecord:
    __slots__ = (
        "amount",
        "currency",
        "free_over_subtotal",
        "handle",
        "id",
        "kind",
        "max_days",
        "max_subtotal",
        "max_weight_grams",
        "min_days",
        "min_subtotal",
        "min_weight_grams",
        "pk",
        "title",
        "zone_pk",
    )

    def __init__(self, row: Any) -> None:
        cur = row.currency
        self.pk = row.id
        self.id = ids.encode("ShippingRate", row.id)
        self.zone_pk = row.zone_id
        self.handle = row.handle
        self.title = row.title
        self.currency = cur
        self.kind = row.kind
        self.min_weight_grams = row.min_weight_grams
        self.max_weight_grams = row.max_weight_grams
        self.min_subtotal = None if row.min_subtotal is None else Money(row.min_subtotal, cur)
        self.max_subtotal = None if row.max_subtotal is None else Money(row.max_subtotal, cur)
        self.amount = Money(row.amount, cur)
        self.free_over_subtotal = (
            None if row.free_over_subtotal is None else Money(row.free_over_subtotal, cur)
        )
        self.min_days = row.min_days
        self.max_days = row.max_days


async def rates_by_pks(
    conn: AsyncConnection | Reader, pks: Sequence[int]
) -> dict[int, ShippingRateRecord]:
    rows = await fetch_all(conn, select(rates_t).where(rates_t.c.id.in_(list(pks))))
    return {r.id: ShippingRateRecord(r) for r in rows}


# --------------------------------------------------------------------------- writes


@dataclass
class RateInput:
    zone_pk: int | None = None  # create only
    handle: str | None = None
    title: str | None = None
    currency: str | None = None
    kind: str | None = None
    min_weight_grams: int | None = None
    max_weight_grams: int | None = None
    min_subtotal: Decimal | None = None
    max_subtotal: Decimal | None = None
    amount: Decimal | None = None
    free_over_subtotal: Decimal | None = None
    min_days: int | None = None
    max_days: int | None = None


RATE_CLEARABLE = frozenset(
    {
        "min_weight_grams",
        "max_weight_grams",
        "min_subtotal",
        "max_subtotal",
        "free_over_subtotal",
        "min_days",
        "max_days",
    }
)
# How messages name a rate's fields (as clients know them); errors name the fields
# themselves (``zone_pk``, ``min_subtotal``).
_LABELS = {
    "zone_pk": "zoneId",
    "handle": "handle",
    "title": "title",
    "currency": "currencyCode",
    "kind": "kind",
    "min_weight_grams": "minWeightGrams",
    "max_weight_grams": "maxWeightGrams",
    "min_subtotal": "minSubtotal",
    "max_subtotal": "maxSubtotal",
    "amount": "amount",
    "free_over_subtotal": "freeOverSubtotal",
    "min_days": "minDays",
    "max_days": "maxDays",
}
_MONEY = ("min_subtotal", "max_subtotal", "amount", "free_over_subtotal")


def _rate_values(errs: Errors, merged: dict[str, Any]) -> dict[str, Any]:
    """Validate a whole rate (stored values overlaid with the input) and return its
    column values, amounts in minor units of its currency."""
    check_handle(errs, merged["handle"])
    check_name(errs, merged["title"], "title")
    cur = merged["currency"]
    if not isinstance(cur, str) or not is_currency(cur):
        errs.add(Code.INVALID, f"{cur!r} is not an ISO 4217 currency code", "currency")
        return {}
    kind = merged["kind"]
    if kind not in KINDS:
        errs.add(Code.INVALID, f"kind must be one of {', '.join(KINDS)}", "kind")
    out: dict[str, Any] = {k: merged[k] for k in ("handle", "title", "currency", "kind")}
    for name in _MONEY:
        value = merged[name]
        if value is None:
            out[name] = None
            continue
        try:
            out[name] = parse_amount(value, cur)
        except MoneyError as exc:
            errs.add(Code.INVALID, str(exc), name)
    for name in ("min_weight_grams", "max_weight_grams", "min_days", "max_days"):
        value = merged[name]
        if value is not None and value < 0:
            errs.add(Code.INVALID, "can't be negative", name)
        out[name] = value
    if kind != "WEIGHT" and (out["min_weight_grams"], out["max_weight_grams"]) != (None, None):
        errs.add(Code.INVALID, "weight bounds are for WEIGHT rates", "min_weight_grams")
    if kind != "SUBTOTAL" and (out.get("min_subtotal"), out.get("max_subtotal")) != (None, None):
        errs.add(Code.INVALID, "subtotal bounds are for SUBTOTAL rates", "min_subtotal")
    for low, high in (
        ("min_weight_grams", "max_weight_grams"),
        ("min_subtotal", "max_subtotal"),
    ):
        lo, hi = out.get(low), out.get(high)
        if lo is not None and hi is not None and hi <= lo:
            errs.add(
                Code.INVALID,
                f"{_LABELS[high]} must be above {_LABELS[low]}",
                high,
            )
    lo, hi = out["min_days"], out["max_days"]
    if lo is not None and hi is not None and hi < lo:
        errs.add(Code.INVALID, "maxDays can't be below minDays", "max_days")
    return out


def new_rate_values(data: RateInput) -> dict[str, Any]:
    """The column values of a new rate (but its zone), or every reason it can't be."""
    errs = Errors()
    errs.require(
        data, ("zone_pk", "handle", "title", "currency", "kind", "amount"), _LABELS.__getitem__
    )
    errs.raise_if_any()
    merged = {k: getattr(data, k) for k in _LABELS if k != "zone_pk"}
    values = _rate_values(errs, merged)
    errs.raise_if_any()
    return values


async def insert_rate(conn: AsyncConnection, zone_pk: int, values: dict[str, Any]) -> int:
    """Insert a rate of checked ``values`` (:func:`new_rate_values`) into zone
    ``zone_pk``, in the caller's transaction."""
    zone = (await conn.execute(select(zones_t.c.id).where(zones_t.c.id == zone_pk))).first()
    if zone is None:
        raise fail(Code.NOT_FOUND, "shipping zone not found", "zone_pk")
    stmt = (
        insert(rates_t)
        .values(**values, zone_id=zone_pk, created_at=datetime.now(UTC))
        .returning(rates_t.c.id)
    )
    pk: int = (await write(conn, stmt, "rate")).scalar_one()
    return pk


def check_rate_change(data: RateInput, clear: Iterable[str] = ()) -> None:
    """Refuse what no stored rate allows: clearing a required field, another zone."""
    errs = Errors()
    for name in set(clear) - RATE_CLEARABLE:
        errs.add(Code.BLANK, f"{_LABELS.get(name, name)} can't be null", name)
    if data.zone_pk is not None:
        errs.add(Code.INVALID, "a rate can't move to another zone", "zone_pk")
    errs.raise_if_any()


async def change_rate(
    conn: AsyncConnection, pk: int, data: RateInput, *, clear: Iterable[str] = ()
) -> int:
    """Change the given fields of rate ``pk`` (checked by :func:`check_rate_change`),
    in the caller's transaction; ``clear`` names optional ones to remove. A new
    currency keeps the decimal amounts ("9.90" USD becomes "9.90" EUR)."""
    clear = set(clear)
    errs = Errors()
    row = await stored_row(conn, rates_t, pk, "rate")
    merged: dict[str, Any] = {}
    for name in _LABELS:
        if name == "zone_pk":
            continue
        stored = getattr(row, name)
        if name in _MONEY and stored is not None:
            stored = to_decimal(stored, row.currency)
        given = getattr(data, name)
        merged[name] = None if name in clear else (stored if given is None else given)
    values = _rate_values(errs, merged)
    errs.raise_if_any()
    await write(conn, update(rates_t).where(rates_t.c.id == pk).values(**values), "rate")
    return pk


async def remove_rate(conn: AsyncConnection, pk: int) -> None:
    """Delete rate ``pk``, in the caller's transaction."""
    await delete_one(conn, rates_t, pk, "rate")


# --------------------------------------------------------------------------- services
# Each checks what it can without the database, opens the transaction, runs the
# operation and commits.


async def create_rate(db: Database, data: RateInput) -> int:
    values = new_rate_values(data)
    assert data.zone_pk is not None  # new_rate_values requires it
    async with db.transaction() as conn:
        return await insert_rate(conn, data.zone_pk, values)


async def update_rate(db: Database, pk: int, data: RateInput, *, clear: Iterable[str] = ()) -> int:
    """Change the given fields (``clear`` names optional ones to remove). A new
    currency keeps the decimal amounts ("9.90" USD becomes "9.90" EUR)."""
    clear = set(clear)
    check_rate_change(data, clear)
    async with db.transaction() as conn:
        await change_rate(conn, pk, data, clear=clear)
    return pk


async def delete_rate(db: Database, pk: int) -> None:
    async with db.transaction() as conn:
        await remove_rate(conn, pk)
