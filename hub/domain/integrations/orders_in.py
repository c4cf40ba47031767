"""Orders from outside systems (``HubGateway.import_orders``): each mapping becomes one
:class:`hub.domain.orders.ImportRequest` through the order import
(:mod:`hub.domain.orders.importer`), so an order is written once per (source,
external id) — importing it again answers ``unchanged`` with the first order's id —
its stock committed through the ledger and ``order.imported`` / ``order.created``
published. A bad order is ``rejected`` with a stable code and why; it never stops the
others.

The mapping (keys a connector fills; amounts in the channel's minor units)::

    {"source": "acme-market",          # 1-32 chars, the order's source
     "external_id": "MO-1001",         # its id there, 1-128 chars
     "channel": "web",                 # a channel handle
     "currency": "USD",                # optional: must be the channel's
     "lines": [{"sku": "TEE-M", "quantity": 2, "unit_price": 1999,
                "tax": 0, "discount": 0, "title": "...",   # optional
                "external_id": "MO-1001-1"}],              # optional: its line id there
     "email": ..., "phone": ..., "note": ..., "processed_at": "RFC 3339",
     "shipping": 499, "shipping_tax": 0, "taxes_included": false,
     "financial_status": "PAID",       # or PENDING
     "location": "newark",             # optional location handle to commit stock at
     "shipping_address": {"firstName", "lastName", "address1", "address2", "city",
                          "province", "postalCode", "countryCode", "phone"}}

Lines name variants by SKU (an unknown SKU rejects the order: ``NOT_FOUND``). The
external line ids are kept on the order (the ``externalLineIds`` attribute) so the
connector can name the outside system's lines when it reports shipments
(:func:`hub.domain.integrations.listings.order_refs`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from connectors.base import Publish, RowResult
from hub.db.database import Database
from hub.db.tables import channels_t, locations_t, variants_t
from hub.domain.errors import Code, DomainError, fail
from hub.domain.integrations.listings import EXTERNAL_LINES
from hub.domain.orders import ImportLine, ImportRequest
from hub.domain.orders.service import Orders

ADDRESS_KEYS = (
    "firstName", "lastName", "company", "address1", "address2", "city", "province",
    "postalCode", "countryCode", "phone",
)  # fmt: skip
MAX_ORDERS = 500


class _Refs:
    """Channels, locations and variants the batch names, each looked up once."""

    def __init__(self) -> None:
        self.channels: dict[str, tuple[int, str]] = {}
        self.locations: dict[str, int] = {}
        self.variants: dict[str, int] = {}

    async def load(self, orders: Orders, rows: Sequence[Mapping[str, Any]]) -> None:
        channels = {str(r.get("channel")) for r in rows}
        locations = {str(r["location"]) for r in rows if r.get("location")}
        skus = {
            str(ln.get("sku"))
            for r in rows
            if isinstance(r.get("lines"), list)
            for ln in r["lines"]
            if isinstance(ln, Mapping)
        }
        async with orders.db.read() as conn:
            for c in await conn.execute(
                select(channels_t.c.id, channels_t.c.handle, channels_t.c.currency).where(
                    channels_t.c.handle.in_(channels)
                )
            ):
                self.channels[c.handle] = (int(c.id), c.currency)
            if locations:
                for loc in await conn.execute(
                    select(locations_t.c.id, locations_t.c.handle).where(
                        locations_t.c.handle.in_(locations)
                    )
                ):
                    self.locations[loc.handle] = int(loc.id)
            if skus:
                for v in await conn.execute(
                    select(variants_t.c.id, variants_t.c.sku).where(variants_t.c.sku.in_(skus))
                ):
                    self.variants[v.sku] = int(v.id)


def _int(value: Any, *path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(Code.INVALID, "a whole number (minor units)", *path)
    return value


def _str(value: Any, *path: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise fail(Code.INVALID, "text", *path)
    return value


def _lines(row: Mapping[str, Any], refs: _Refs) -> tuple[list[ImportLine], list[str]]:
    raw = row.get("lines")
    if not isinstance(raw, list) or not raw:
        raise fail(Code.INVALID, "an order has 1 to 250 lines", "lines")
    lines, external = [], []
    for i, ln in enumerate(raw):
        at = ("lines", str(i))
        if not isinstance(ln, Mapping):
            raise fail(Code.INVALID, "a line is an object", *at)
        sku = _str(ln.get("sku"), *at, "sku")
        if not sku or sku not in refs.variants:
            raise fail(Code.NOT_FOUND, f"no variant with SKU {sku!r}", *at, "sku")
        lines.append(
            ImportLine(
                quantity=_int(ln.get("quantity"), *at, "quantity"),
                unit_price=_int(ln.get("unit_price"), *at, "unit_price"),
                variant_pk=refs.variants[sku],
                sku=sku,
                title=_str(ln.get("title"), *at, "title") or None,
                tax=_int(ln.get("tax", 0), *at, "tax"),
                discount=_int(ln.get("discount", 0), *at, "discount"),
            )
        )
        external.append(str(ln.get("external_id") or ""))
    return lines, external


def _address(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise fail(Code.INVALID, "an address is an object", "shipping_address")
    out = {k: str(raw[k])[:255] for k in ADDRESS_KEYS if raw.get(k) not in (None, "")}
    return out or None


def _processed_at(raw: Any) -> datetime | None:
    if raw is None or isinstance(raw, datetime):
        return raw
    try:
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise fail(Code.INVALID, "an RFC 3339 time", "processed_at") from None


def request(row: Mapping[str, Any], refs: _Refs) -> ImportRequest:
    """The import request of one mapping (DomainError when it is not one)."""
    channel = refs.channels.get(str(row.get("channel")))
    if channel is None:
        raise fail(Code.NOT_FOUND, f"no channel {row.get('channel')!r}", "channel")
    if row.get("currency") not in (None, channel[1]):
        raise fail(Code.CURRENCY_MISMATCH, f"the channel sells in {channel[1]}", "currency")
    location = None
    if row.get("location"):
        location = refs.locations.get(str(row["location"]))
        if location is None:
            raise fail(Code.NOT_FOUND, f"no location {row['location']!r}", "location")
    lines, external = _lines(row, refs)
    address = _address(row.get("shipping_address"))
    shipping = _int(row.get("shipping", 0), "shipping")
    shipping_tax = _int(row.get("shipping_tax", 0), "shipping_tax")
    attributes = list(row.get("attributes") or [])
    if any(external):
        attributes.append({"key": EXTERNAL_LINES, "value": json.dumps(external)})
    delivery: list[dict[str, Any]] = (
        [{"kind": "SHIPPING", "address": address, "locationId": None, "option": None,
          "shipping": shipping, "shippingDiscount": 0, "tax": shipping_tax, "lineIds": []}]
        if address
        else []
    )  # fmt: skip
    return ImportRequest(
        source=str(row.get("source") or ""),
        external_id=str(row.get("external_id") or ""),
        channel_pk=channel[0],
        lines=lines,
        location_pk=location,
        email=_str(row.get("email"), "email") or None,
        phone=_str(row.get("phone"), "phone") or None,
        shipping=shipping,
        shipping_tax=shipping_tax,
        taxes_included=bool(row.get("taxes_included", False)),
        financial_status=str(row.get("financial_status") or "PAID"),
        note=_str(row.get("note"), "note"),
        attributes=attributes,
        delivery=delivery,
        processed_at=_processed_at(row.get("processed_at")),
    )


def _rejected(key: str, exc: DomainError) -> RowResult:
    first = exc.errors[0] if exc.errors else None
    code = str(first.code) if first else Code.INVALID.value
    where = ".".join(first.field) if first and first.field else ""
    message = (f"{where}: " if where else "") + (first.message if first else str(exc))
    return RowResult(key, "rejected", code, message[:500])


async def import_orders(
    db: Database,
    rows: Sequence[Mapping[str, Any]],
    *,
    publish: Publish | None = None,
    actor: str = "connector",
) -> list[RowResult]:
    """Import each mapping (see the module docstring) once, each in its own
    transaction, its events handed to ``publish`` after the commit; one result per
    row, in order: ``created`` or ``unchanged`` with the order's pk, or ``rejected``."""
    if len(rows) > MAX_ORDERS:
        raise ValueError(f"at most {MAX_ORDERS} orders at once")
    orders = Orders(db, {}, publish)  # no payment provider: the money moved elsewhere
    refs = _Refs()
    await refs.load(orders, rows)
    out: list[RowResult] = []
    for row in rows:
        key = f"{row.get('source')}:{row.get('external_id')}"
        try:
            req = request(row, refs)
            pk, created = await orders.import_order(req, actor=actor)
        except DomainError as exc:
            out.append(_rejected(key, exc))
            continue
        out.append(RowResult(key, "created" if created else "unchanged", id=pk))
    return out
