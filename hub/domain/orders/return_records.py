"""Returns, their lines and substitutions as the hub reads them, and the reads that
load them for several orders (or returns) in one statement each."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, select

from hub import ids
from hub.db.database import Reader
from hub.db.tables import orders_t, return_lines_t, returns_t, substitutions_t
from hub.money import Money


class ReturnReason(StrEnum):
    DAMAGED = "DAMAGED"
    DEFECTIVE = "DEFECTIVE"
    WRONG_ITEM = "WRONG_ITEM"
    NOT_AS_DESCRIBED = "NOT_AS_DESCRIBED"
    SIZE_TOO_SMALL = "SIZE_TOO_SMALL"
    SIZE_TOO_LARGE = "SIZE_TOO_LARGE"
    UNWANTED = "UNWANTED"
    OTHER = "OTHER"


class Resolution(StrEnum):
    REFUND = "REFUND"
    STORE_CREDIT = "STORE_CREDIT"
    EXCHANGE = "EXCHANGE"


class Disposition(StrEnum):
    RESTOCK = "RESTOCK"
    QUARANTINE = "QUARANTINE"
    DISPOSE = "DISPOSE"


class FraudFlag(StrEnum):
    """Why a return was flagged (it is never blocked for it)."""

    FREQUENT_RETURNS = "FREQUENT_RETURNS"  # more than N units in D days
    HIGH_RETURN_AMOUNT = "HIGH_RETURN_AMOUNT"  # more than M in D days
    SERIAL_RETURNED_BEFORE = "SERIAL_RETURNED_BEFORE"
    LOCATION_MISMATCH = "LOCATION_MISMATCH"  # received away from the sale, high amount


class ReturnLineRecord:
    __slots__ = (
        "id",
        "order_line_pk",
        "pk",
        "quantity",
        "quantity_disposed",
        "quantity_quarantined",
        "quantity_restocked",
        "reason",
        "reason_note",
        "return_pk",
        "serial_number",
    )

    def __init__(self, row: Any) -> None:
        self.pk = row.id
        self.id = ids.encode("ReturnLine", row.id)
        self.return_pk = row.return_id
        self.order_line_pk = row.order_line_id
        self.quantity = row.quantity
        self.reason = row.reason
        self.reason_note = row.reason_note
        self.serial_number = row.serial_number
        self.quantity_restocked = row.quantity_restocked
        self.quantity_quarantined = row.quantity_quarantined
        self.quantity_disposed = row.quantity_disposed

    @property
    def quantity_received(self) -> int:
        return self.quantity_restocked + self.quantity_quarantined + self.quantity_disposed


class ReturnRecord:
    __slots__ = (
        "actor",
        "amount",
        "created_at",
        "currency",
        "customer_pk",
        "exchange_lines",
        "exchange_order_pk",
        "flags",
        "gift_card_pk",
        "id",
        "location_pk",
        "note",
        "order_pk",
        "pk",
        "received_location_pk",
        "refund_pk",
        "resolution",
        "source",
        "status",
        "updated_at",
    )

    def __init__(self, row: Any, currency: str) -> None:
        self.pk = row.id
        self.id = ids.encode("Return", row.id)
        self.order_pk = row.order_id
        self.customer_pk = row.customer_id
        self.status = row.status
        self.source = row.source
        self.location_pk = row.location_id
        self.received_location_pk = row.received_location_id
        self.resolution = row.resolution
        self.refund_pk = row.refund_id
        self.exchange_order_pk = row.exchange_order_id
        self.gift_card_pk = row.gift_card_id
        self.exchange_lines = list(row.exchange_lines or ())
        self.currency = currency
        self.amount = Money(row.amount, currency)
        self.flags = list(row.flags or ())
        self.note = row.note
        self.actor = row.actor
        self.created_at = row.created_at
        self.updated_at = row.updated_at


class SubstitutionRecord:
    __slots__ = (
        "created_at",
        "decided_at",
        "fo_line_pk",
        "id",
        "note",
        "order_pk",
        "original_variant_pk",
        "pk",
        "quantity",
        "status",
        "unit_price",
        "variant_pk",
    )

    def __init__(self, row: Any, currency: str) -> None:
        self.pk = row.id
        self.id = ids.encode("Substitution", row.id)
        self.order_pk = row.order_id
        self.fo_line_pk = row.fulfillment_order_line_id
        self.original_variant_pk = row.original_variant_id
        self.variant_pk = row.variant_id
        self.quantity = row.quantity
        self.unit_price = Money(row.unit_price, currency)
        self.status = row.status
        self.note = row.note
        self.created_at = row.created_at
        self.decided_at = row.decided_at


async def returns_by_orders(reader: Reader, orders: Sequence[Any]) -> dict[int, list[ReturnRecord]]:
    """The returns of several orders (``OrderRecord``s), oldest first: one statement."""
    if not orders:
        return {}
    currency = {o.pk: o.currency for o in orders}
    rows = await reader.all(
        select(returns_t)
        .where(returns_t.c.order_id.in_(list(currency)))
        .order_by(returns_t.c.order_id, returns_t.c.id)
    )
    out: dict[int, list[ReturnRecord]] = defaultdict(list)
    for r in rows:
        out[r.order_id].append(ReturnRecord(r, currency[r.order_id]))
    return out


async def returns_by_pks(reader: Reader, pks: Sequence[int]) -> dict[int, ReturnRecord]:
    """Returns by id, with their order's currency: one statement."""
    if not pks:
        return {}
    stmt = (
        select(returns_t, orders_t.c.currency.label("order_currency"))
        .join(orders_t, orders_t.c.id == returns_t.c.order_id)
        .where(returns_t.c.id.in_(bindparam("pks", expanding=True)))
    )
    rows = await reader.all(stmt, {"pks": sorted(set(pks))})
    return {r.id: ReturnRecord(r, r.order_currency) for r in rows}


async def lines_by_returns(
    reader: Reader, return_pks: Sequence[int]
) -> dict[int, list[ReturnLineRecord]]:
    """The lines of several returns, in order: one statement."""
    if not return_pks:
        return {}
    rows = await reader.all(
        select(return_lines_t)
        .where(return_lines_t.c.return_id.in_(sorted(set(return_pks))))
        .order_by(return_lines_t.c.return_id, return_lines_t.c.id)
    )
    out: dict[int, list[ReturnLineRecord]] = defaultdict(list)
    for r in rows:
        out[r.return_id].append(ReturnLineRecord(r))
    return out


async def substitutions_by_orders(
    reader: Reader, orders: Sequence[Any]
) -> dict[int, list[SubstitutionRecord]]:
    """The substitutions of several orders, oldest first: one statement."""
    if not orders:
        return {}
    currency = {o.pk: o.currency for o in orders}
    rows = await reader.all(
        select(substitutions_t)
        .where(substitutions_t.c.order_id.in_(list(currency)))
        .order_by(substitutions_t.c.order_id, substitutions_t.c.id)
    )
    out: dict[int, list[SubstitutionRecord]] = defaultdict(list)
    for r in rows:
        out[r.order_id].append(SubstitutionRecord(r, currency[r.order_id]))
    return out


async def substitutions_by_pks(reader: Reader, pks: Sequence[int]) -> dict[int, SubstitutionRecord]:
    """Substitutions by id, with their order's currency: one statement."""
    if not pks:
        return {}
    stmt = (
        select(substitutions_t, orders_t.c.currency.label("order_currency"))
        .join(orders_t, orders_t.c.id == substitutions_t.c.order_id)
        .where(substitutions_t.c.id.in_(sorted(set(pks))))
    )
    return {r.id: SubstitutionRecord(r, r.order_currency) for r in await reader.all(stmt)}
