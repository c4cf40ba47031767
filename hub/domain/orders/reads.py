"""Reading orders: by id, a customer's (newest first), and the lines and payments of
several orders in one statement each."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Table, and_, bindparam, exists, func, or_, select

from hub.db.database import Reader
from hub.db.tables import (
    fulfillment_orders_t,
    order_events_t,
    order_lines_t,
    order_txns_t,
    orders_t,
    payments_t,
    refund_lines_t,
    refunds_t,
)
from hub.domain.orders.records import (
    STATUS_TOKEN_PREFIX,
    EventRecord,
    OrderLineRecord,
    OrderRecord,
    PaymentRecord,
    RefundLineRecord,
    RefundRecord,
    TransactionRecord,
    status_token_hash,
)
from hub.domain.paging import encode_cursor

R = TypeVar("R")

_ORDERS_BY_PKS = select(orders_t).where(orders_t.c.id.in_(bindparam("pks", expanding=True)))


async def orders_by_pks(reader: Reader, pks: Sequence[int]) -> dict[int, OrderRecord]:
    if not pks:
        return {}
    rows = await reader.all(_ORDERS_BY_PKS, {"pks": list(set(pks))})
    return {r.id: OrderRecord(r) for r in rows}


async def _by_order(
    reader: Reader,
    table: Table,
    orders: Sequence[OrderRecord],
    record: Callable[[Any, str], R],
) -> dict[int, list[R]]:
    """The rows of ``table`` of several orders, oldest first, in one statement."""
    if not orders:
        return {}
    currency = {o.pk: o.currency for o in orders}
    rows = await reader.all(
        select(table)
        .where(table.c.order_id.in_(list(currency)))
        .order_by(table.c.order_id, table.c.id)
    )
    out: dict[int, list[R]] = defaultdict(list)
    for r in rows:
        out[r.order_id].append(record(r, currency[r.order_id]))
    return out


async def lines_by_orders(
    reader: Reader, orders: Sequence[OrderRecord]
) -> dict[int, list[OrderLineRecord]]:
    """Every line of several orders: one statement."""
    return await _by_order(reader, order_lines_t, orders, OrderLineRecord)


async def payments_by_orders(
    reader: Reader, orders: Sequence[OrderRecord]
) -> dict[int, list[PaymentRecord]]:
    return await _by_order(reader, payments_t, orders, PaymentRecord)


async def orders_for_customer(
    reader: Reader, customer_pk: int | None, *, limit: int, before_pk: int | None = None
) -> list[OrderRecord]:
    """Newest first; ``customer_pk`` None lists every order (staff)."""
    stmt = select(orders_t)
    if customer_pk is not None:
        stmt = stmt.where(orders_t.c.customer_id == customer_pk)
    if before_pk is not None:
        stmt = stmt.where(orders_t.c.id < before_pk)
    rows = await reader.all(stmt.order_by(orders_t.c.id.desc()).limit(limit))
    return [OrderRecord(r) for r in rows]


async def events_by_orders(
    reader: Reader, orders: Sequence[OrderRecord]
) -> dict[int, list[EventRecord]]:
    """The timelines of several orders, oldest first: one statement."""
    return await _by_order(reader, order_events_t, orders, lambda r, _c: EventRecord(r))


async def transactions_by_orders(
    reader: Reader, orders: Sequence[OrderRecord]
) -> dict[int, list[TransactionRecord]]:
    return await _by_order(reader, order_txns_t, orders, TransactionRecord)


async def refunds_by_orders(
    reader: Reader, orders: Sequence[OrderRecord]
) -> dict[int, list[RefundRecord]]:
    """The refunds of several orders with their lines: two statements."""
    refunds = await _by_order(reader, refunds_t, orders, lambda r, c: RefundRecord(r, c))
    pks = [r.pk for rs in refunds.values() for r in rs]
    if pks:
        by_refund: dict[int, RefundRecord] = {r.pk: r for rs in refunds.values() for r in rs}
        for row in await reader.all(
            select(refund_lines_t)
            .where(refund_lines_t.c.refund_id.in_(pks))
            .order_by(refund_lines_t.c.id)
        ):
            rec = by_refund[row.refund_id]
            rec.lines.append(RefundLineRecord(row, rec.currency))
    return refunds


SORT_KEYS: dict[str, Any] = {
    "CREATED_AT": orders_t.c.created_at,
    "TOTAL": orders_t.c.total,
    "NAME": None,  # "#" + (1000 + id): the id's order
}
CURSOR_TYPES: dict[str, Any] = {"CREATED_AT": "datetime", "TOTAL": "int32", "NAME": None}


@dataclass(frozen=True, slots=True)
class OrderFilter:
    status: str | None = None
    payment_status: str | None = None
    fulfillment_status: str | None = None
    channel_pk: int | None = None
    location_pk: int | None = None
    customer_pk: int | None = None
    created_at_min: datetime | None = None
    created_at_max: datetime | None = None
    query: str | None = None
    # A staff role's scope (None: everywhere): orders at one of these locations (their
    # own, or one of their fulfillment orders'), of one of these channels.
    location_pks: frozenset[int] | None = None
    channel_pks: frozenset[int] | None = None


def _filtered(stmt: Any, f: OrderFilter) -> Any:
    c = orders_t.c
    for col, value in (
        (c.status, f.status),
        (c.payment_status, f.payment_status),
        (c.fulfillment_status, f.fulfillment_status),
        (c.channel_id, f.channel_pk),
        (c.customer_id, f.customer_pk),
    ):
        if value is not None:
            stmt = stmt.where(col == value)
    if f.location_pk is not None:
        at = exists().where(
            fulfillment_orders_t.c.order_id == c.id,
            fulfillment_orders_t.c.location_id == f.location_pk,
        )
        stmt = stmt.where(or_(c.location_id == f.location_pk, at))
    if f.location_pks is not None:
        scope = sorted(f.location_pks)
        at_any = exists().where(
            fulfillment_orders_t.c.order_id == c.id,
            fulfillment_orders_t.c.location_id.in_(scope),
        )
        stmt = stmt.where(or_(c.location_id.in_(scope), at_any))
    if f.channel_pks is not None:
        stmt = stmt.where(c.channel_id.in_(sorted(f.channel_pks)))
    if f.created_at_min is not None:
        stmt = stmt.where(c.created_at >= f.created_at_min)
    if f.created_at_max is not None:
        stmt = stmt.where(c.created_at <= f.created_at_max)
    if f.query:
        q = f.query.strip()
        term = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conds = [func.lower(c.email).like(f"%{term}%", escape="\\"), c.name == q]
        if not q.startswith("#"):
            conds.append(c.name == f"#{q}")
        stmt = stmt.where(or_(*conds))
    return stmt


async def search_orders(
    reader: Reader,
    f: OrderFilter,
    *,
    sort: str,
    reverse: bool,
    limit: int,
    after: tuple[Any, int] | None,
) -> tuple[list[OrderRecord], list[str], bool]:
    """A keyset page of orders matching ``f`` sorted by ``sort`` (then id), ascending
    or ``reverse``: (orders, cursors, has_next). One statement."""
    col = SORT_KEYS[sort]
    c = orders_t.c
    stmt = _filtered(select(orders_t), f)
    if after is not None:
        value, pk = after
        if col is None:
            stmt = stmt.where(c.id < pk if reverse else c.id > pk)
        elif reverse:
            stmt = stmt.where(or_(col < value, and_(col == value, c.id < pk)))
        else:
            stmt = stmt.where(or_(col > value, and_(col == value, c.id > pk)))
    keys = [c.id] if col is None else [col, c.id]
    stmt = stmt.order_by(*[k.desc() if reverse else k.asc() for k in keys]).limit(limit + 1)
    rows = await reader.all(stmt)
    recs = [OrderRecord(r) for r in rows[:limit]]
    kind = f"Order:{sort}"
    cursors = [
        encode_cursor(kind, _cursor_value(getattr(r, col.key)) if col is not None else None, r.id)
        for r in rows[:limit]
    ]
    return recs, cursors, len(rows) > limit


def _cursor_value(v: Any) -> Any:
    return v.isoformat() if isinstance(v, datetime) else v


async def order_by_status_token(reader: Reader, token: str) -> OrderRecord | None:
    """A guest order by its status token (None for anything else)."""
    if not token.startswith(STATUS_TOKEN_PREFIX) or len(token) > 100:
        return None
    row = await reader.first(
        select(orders_t).where(orders_t.c.status_token_hash == status_token_hash(token))
    )
    return OrderRecord(row) if row is not None else None


async def orders_of_customers(
    reader: Reader, customer_pks: Sequence[int], *, limit: int, before_pk: int | None = None
) -> dict[int, list[OrderRecord]]:
    """Each customer's newest ``limit`` orders (older than ``before_pk`` when given),
    every channel, for several customers in one statement."""
    if not customer_pks:
        return {}
    rank = (
        func.row_number()
        .over(partition_by=orders_t.c.customer_id, order_by=orders_t.c.id.desc())
        .label("rank_")
    )
    inner = select(orders_t, rank).where(orders_t.c.customer_id.in_(list(set(customer_pks))))
    if before_pk is not None:
        inner = inner.where(orders_t.c.id < before_pk)
    sub = inner.subquery()
    rows = await reader.all(
        select(sub).where(sub.c.rank_ <= limit).order_by(sub.c.customer_id, sub.c.id.desc())
    )
    out: dict[int, list[OrderRecord]] = defaultdict(list)
    for r in rows:
        out[r.customer_id].append(OrderRecord(r))
    return out
