"""Reading orders: by id, a customer's (newest first), and the lines and payments of
several orders in one statement each."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Table, bindparam, func, select

from hub.db.database import Reader
from hub.db.tables import order_lines_t, orders_t, payments_t
from hub.domain.orders.records import (
    STATUS_TOKEN_PREFIX,
    OrderLineRecord,
    OrderRecord,
    PaymentRecord,
    status_token_hash,
)

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
