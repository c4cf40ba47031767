"""Order import: an order placed elsewhere (a marketplace, a legacy store system)
written into the order book as it was sold.

- Idempotent on (source, external id): importing it again returns the first order
  (a concurrent duplicate hits the unique constraint and gets it too).
- Prices, discounts, taxes and shipping are taken as given: nothing is re-priced.
  A line's total is its units times its unit price less its discount (tax on top
  unless the order's prices include tax).
- Stock is committed (committed += quantity, through the ledger) at the given
  location, or routed by the default allocation: the channel's active ship-from
  locations in fulfillment priority order, the first that holds every line, else each
  line from the first that holds it, else split over several (what checkout does;
  the routing strategies of ``hub.domain.orders.routing`` replace it where present).
  Untracked variants and lines without a variant take no stock.
- The customer is attached through :func:`hub.domain.customers.matching.find_customer`
  (the one profile the loyalty card id, email or phone names, as a till sale; a
  merged duplicate answers the kept profile, an erased one none), else the order is a
  guest's. The order's source and email stay what the import says.
- Fulfillment orders are written as checkout writes them; the timeline gets
  ``order.imported`` and the outbox ``order.imported`` and ``order.created``.
- Payment: ``PAID`` records the money as taken elsewhere (a payment of provider
  ``external``: refunds of it are recorded, not sent anywhere), ``PENDING`` records
  none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.tables import (
    channels_t,
    customers_t,
    levels_t,
    loc_channels_t,
    locations_t,
    order_txns_t,
    orders_t,
    payments_t,
    products_t,
    variants_t,
)
from hub.domain.customers.matching import find_customer
from hub.domain.errors import Code, Errors, fail
from hub.domain.inventory.changes import Change, apply_change
from hub.domain.inventory.records import available_sql, on_channel
from hub.domain.orders.records import OrderCode
from hub.domain.orders.timeline import record_event
from hub.domain.orders.transitions import now
from hub.domain.orders.writes import insert_order
from hub.events.outbox import Outbox

EXTERNAL = "external"


@dataclass(frozen=True, slots=True)
class ImportLine:
    quantity: int
    unit_price: int
    variant_pk: int | None = None
    sku: str | None = None
    title: str | None = None
    tax: int = 0
    discount: int = 0
    location_pk: int | None = None


@dataclass(frozen=True, slots=True)
class ImportRequest:
    source: str
    external_id: str
    channel_pk: int
    lines: Sequence[ImportLine]
    location_pk: int | None = None
    email: str | None = None
    phone: str | None = None
    loyalty_card_id: str | None = None
    shipping: int = 0
    shipping_tax: int = 0
    taxes_included: bool = False
    financial_status: str = "PAID"
    note: str | None = None
    delivery_kind: str = "SHIPPING"
    attributes: list[dict[str, Any]] = field(default_factory=list)
    # The order's delivery as checkout records it ([{"kind", "address", ...}]): where a
    # marketplace ships to (kept as given; customer erasure scrubs it like any order's).
    delivery: list[dict[str, Any]] = field(default_factory=list)
    processed_at: datetime | None = None
    idempotency_key: str | None = None  # (source, external id) is the key; kept as told
    # False: the caller moves the stock itself (a till's offline sale: the goods left
    # the store already, hub.domain.pos.sync takes them out even below zero); the
    # lines are still allocated to ``location_pk`` (which is then required).
    take_stock: bool = True
    # PAID: the payments as taken ([(method, amount, reference)], e.g. a till's cash and
    # card): one external payment each when they add up to the total, else (or empty)
    # one payment of the total.
    tenders: Sequence[tuple[str, int, str | None]] = ()


async def existing_import(conn: AsyncConnection, source: str, external_id: str) -> int | None:
    return (
        await conn.execute(
            select(orders_t.c.id).where(
                orders_t.c.source == source, orders_t.c.external_id == external_id
            )
        )
    ).scalar()


def _text(errs: Errors, value: str | None, limit: int, *path: str, blank: bool = False) -> None:
    if value is None:
        return
    if (not blank and not value.strip()) or len(value) > limit or any(ord(c) < 32 for c in value):
        errs.add(Code.INVALID, f"1 to {limit} characters, without control characters", *path)


def check(req: ImportRequest) -> None:
    errs = Errors()
    _text(errs, req.source, 32, "source")
    _text(errs, req.external_id, 128, "external_id")
    _text(errs, req.email, 255, "email")
    _text(errs, req.phone, 32, "phone")
    _text(errs, req.loyalty_card_id, 64, "loyalty_card_id")
    if req.financial_status not in ("PAID", "PENDING"):
        errs.add(Code.INVALID, "financialStatus is PAID or PENDING", "financial_status")
    if req.delivery_kind not in ("SHIPPING", "PICKUP"):
        errs.add(Code.INVALID, "deliveryKind is SHIPPING or PICKUP", "delivery_kind")
    if req.note is not None and len(req.note) > 2000:
        errs.add(Code.INVALID, "note is at most 2000 characters", "note")
    for name in ("shipping", "shipping_tax"):
        if not 0 <= getattr(req, name) <= 10**9:
            errs.add(Code.INVALID, "between 0 and 10^9", name)
    if not 1 <= len(req.lines) <= 250:
        errs.add(Code.INVALID, "an order has 1 to 250 lines", "lines")
    for i, ln in enumerate(req.lines):
        at = ("lines", str(i))
        if not 1 <= ln.quantity <= 10_000:
            errs.add(Code.INVALID, "quantity is 1 to 10000", *at, "quantity")
        for name in ("unit_price", "tax", "discount"):
            if not 0 <= getattr(ln, name) <= 10**9:
                errs.add(Code.INVALID, "between 0 and 10^9", *at, name)
        if ln.discount > ln.unit_price * max(ln.quantity, 0):
            errs.add(Code.INVALID, "the discount is more than the line", *at, "discount")
        if ln.variant_pk is None and not (ln.sku and ln.title):
            errs.add(Code.INVALID, "a line names a variant, or gives sku and title", *at)
        _text(errs, ln.sku, 128, *at, "sku")
        _text(errs, ln.title, 255, *at, "title")
    errs.raise_if_any()


async def _variants(conn: AsyncConnection, req: ImportRequest) -> dict[int, Any]:
    pks = {ln.variant_pk for ln in req.lines if ln.variant_pk is not None}
    if not pks:
        return {}
    rows = (
        await conn.execute(
            select(
                variants_t.c.id, variants_t.c.sku, variants_t.c.title, variants_t.c.tracked,
                products_t.c.title.label("product_title"),
            )
            .join(products_t, products_t.c.id == variants_t.c.product_id)
            .where(variants_t.c.id.in_(pks))
        )
    ).all()  # fmt: skip
    return {r.id: r for r in rows}


async def _customer(conn: AsyncConnection, req: ImportRequest) -> int | None:
    found = await find_customer(
        conn, email=req.email, phone=req.phone, loyalty_id=req.loyalty_card_id
    )
    return found.pk if found is not None else None


async def _route(
    conn: AsyncConnection, req: ImportRequest, wanted: list[tuple[int, int, int]]
) -> dict[int, list[tuple[int, int]]]:
    """{line index: [(location, quantity)]} for ``wanted`` = [(index, variant, qty)]."""
    if req.location_pk is not None:
        return {i: [(req.location_pk, q)] for i, _, q in wanted}
    locs = (
        await conn.execute(
            select(locations_t.c.id)
            .join(loc_channels_t, on_channel(locations_t.c.id))
            .where(locations_t.c.active.is_(True), locations_t.c.ships.is_(True))
            .order_by(locations_t.c.fulfillment_priority, locations_t.c.id),
            {"channel": req.channel_pk},
        )
    ).all()
    order = [r.id for r in locs]
    rows = (
        await conn.execute(
            select(
                levels_t.c.variant_id, levels_t.c.location_id, available_sql(online=False)
            ).where(
                levels_t.c.variant_id.in_({v for _, v, _ in wanted}),
                levels_t.c.location_id.in_(order),
            )
        )
    ).all()
    left: dict[tuple[int, int], int] = {(r[0], r[1]): int(r[2]) for r in rows}
    need: dict[int, int] = {}
    for _, v, q in wanted:
        need[v] = need.get(v, 0) + q
    whole = next((x for x in order if all(left.get((v, x), 0) >= q for v, q in need.items())), None)
    out: dict[int, list[tuple[int, int]]] = {}
    for i, v, q in wanted:
        loc = (
            whole
            if whole is not None
            else next((x for x in order if left.get((v, x), 0) >= q), None)
        )
        takes = [(loc, q)] if loc is not None else []
        if loc is None:
            rest = q
            for x in order:
                have = left.get((v, x), 0)
                if have > 0 and rest > 0:
                    takes.append((x, min(have, rest)))
                    rest -= min(have, rest)
            if rest > 0:
                raise fail(
                    OrderCode.INSUFFICIENT_STOCK,
                    f"not enough stock to fill this line ({q} wanted)",
                    "lines", str(i), "quantity",
                )  # fmt: skip
        for x, n in takes:
            left[(v, x)] = left.get((v, x), 0) - n
        out[i] = takes
    return out


async def import_order(
    conn: AsyncConnection, outbox: Outbox, req: ImportRequest, *, actor: str
) -> tuple[int, bool]:
    """Write the imported order (see the module docstring): (order pk, created)."""
    check(req)
    found = await existing_import(conn, req.source, req.external_id)
    if found is not None:
        return found, False
    channel = (
        await conn.execute(select(channels_t).where(channels_t.c.id == req.channel_pk))
    ).first()
    if channel is None:
        raise fail(Code.NOT_FOUND, "no channel with that id", "channel_id")
    variants = await _checked_refs(conn, req)
    stocked = [
        (i, ln.variant_pk, ln.quantity)
        for i, ln in enumerate(req.lines)
        if ln.variant_pk is not None and variants[ln.variant_pk].tracked
    ]
    takes = await _route(conn, req, stocked)
    for i, v, _q in stocked if req.take_stock else ():
        for loc, n in takes[i]:
            await apply_change(
                conn,
                Change(
                    v, loc, "order_imported", {"committed": n}, need_available=n, online=False,
                    reference=f"{req.source}:{req.external_id}"[:255], actor=actor,
                    field="quantity",
                ),
                outbox,
            )  # fmt: skip
    lines = _line_values(req, variants, takes)
    subtotal = sum(x["subtotal"] for x in lines)
    discount = sum(x["discount"] for x in lines)
    tax = sum(x["tax"] for x in lines) + req.shipping_tax
    total = subtotal - discount + req.shipping + (0 if req.taxes_included else tax)
    customer_pk = await _customer(conn, req)
    order = {
        "cart_id": None, "channel_id": req.channel_pk, "customer_id": customer_pk,
        "email": req.email.strip().lower() if req.email else None, "phone": req.phone,
        "status": "OPEN", "fulfillment_status": "UNFULFILLED", "currency": channel.currency,
        "taxes_included": req.taxes_included, "subtotal": subtotal, "discount_total": discount,
        "shipping_total": req.shipping, "tax_total": tax, "total": total,
        "discount_codes": [], "discounts": [], "delivery": req.delivery,
        "attributes": req.attributes,
        "note": req.note, "source": req.source, "external_id": req.external_id,
        "location_id": req.location_pk,
    }  # fmt: skip
    pk = await insert_order(
        conn, outbox, order=order, lines=lines, payment=None, payment_reference=None
    )
    if req.financial_status == "PAID" and total > 0:
        await _record_paid(conn, req, pk, total, channel.currency, actor)
    else:
        status = "PAID" if total == 0 else "PENDING"
        await conn.execute(
            update(orders_t).where(orders_t.c.id == pk).values(payment_status=status)
        )
    if customer_pk is not None:
        await conn.execute(
            update(customers_t)
            .where(customers_t.c.id == customer_pk)
            .values(orders_count=customers_t.c.orders_count + 1)
        )
    await record_event(
        conn, pk, "order.imported", actor=actor,
        message=f"imported from {req.source} ({req.external_id})",
        data={"source": req.source, "externalId": req.external_id, "total": total,
              "processedAt": req.processed_at.isoformat() if req.processed_at else None,
              "idempotencyKey": (req.idempotency_key or "")[:255] or None,
              "locations": sorted({loc for t in takes.values() for loc, _ in t})},
        outbox=outbox,
    )  # fmt: skip
    return pk, True


async def _record_paid(
    conn: AsyncConnection, req: ImportRequest, pk: int, total: int, currency: str, actor: str
) -> None:
    """The money as taken elsewhere: one captured external payment per tender (or one of
    the total), each with its SALE transaction."""
    key = f"{req.source}:{req.external_id}"
    tenders = [t for t in req.tenders if t[1] > 0]
    if sum(t[1] for t in tenders) != total:  # they don't add up: the total, as before
        tenders = [(req.source, total, None)]
    at = now()
    for i, (method, amount, ref) in enumerate(tenders):
        suffix = f":{i}" if len(tenders) > 1 else ""
        reference = f"{method}:{ref}" if ref else method
        await conn.execute(
            insert(payments_t).values(
                order_id=pk, provider=EXTERNAL, intent_id=f"{key}{suffix}"[:255],
                status="captured", amount=amount, currency=currency,
                amount_captured=amount, amount_refunded=0, reference=reference[:255], test=False,
                created_at=at, updated_at=at,
            )
        )  # fmt: skip
        await conn.execute(
            insert(order_txns_t).values(
                order_id=pk, kind="SALE", provider=EXTERNAL, status="SUCCESS", amount=amount,
                currency=currency, reference=f"{key}{suffix}"[:255],
                actor=actor[:128], idempotency_key=f"import:{pk}{suffix}", created_at=at,
                updated_at=at,
            )
        )  # fmt: skip


async def _checked_refs(conn: AsyncConnection, req: ImportRequest) -> dict[int, Any]:
    """The variants the lines name (NOT_FOUND for one that does not exist, or for the
    location)."""
    variants = await _variants(conn, req)
    for i, ln in enumerate(req.lines):
        if ln.variant_pk is not None and ln.variant_pk not in variants:
            raise fail(Code.NOT_FOUND, "no variant with that id", "lines", str(i), "variant_id")
    if req.location_pk is not None:
        ok = (
            await conn.execute(select(locations_t.c.id).where(locations_t.c.id == req.location_pk))
        ).first()
        if ok is None:
            raise fail(Code.NOT_FOUND, "no location with that id", "location_id")
    return variants


def _line_values(
    req: ImportRequest, variants: dict[int, Any], takes: dict[int, list[tuple[int, int]]]
) -> list[dict[str, Any]]:
    """The order line rows, priced as given."""
    lines: list[dict[str, Any]] = []
    for i, ln in enumerate(req.lines):
        var = variants.get(ln.variant_pk) if ln.variant_pk is not None else None
        subtotal = ln.unit_price * ln.quantity
        lines.append(
            {
                "variant_id": ln.variant_pk,
                "sku": ln.sku or (var.sku if var else ""),
                "title": ln.title or (f"{var.product_title} - {var.title}" if var else ""),
                "quantity": ln.quantity,
                "unit_price": ln.unit_price,
                "compare_at": None,
                "price_source": f"import:{req.source}"[:64],
                "subtotal": subtotal,
                "discount": ln.discount,
                "tax": ln.tax,
                "total": subtotal - ln.discount,
                "discount_allocations": [],
                "allocations": [{"locationId": loc, "quantity": n} for loc, n in takes.get(i, [])],
                "delivery_kind": req.delivery_kind,
            }
        )
    return lines
