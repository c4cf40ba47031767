"""Clienteling: staff find a profile by name, email, phone or loyalty card number, and
see what it bought across every channel (web, store, marketplace).

:func:`search` is one statement per page; :func:`stats_of` and
:func:`recent_orders_of` answer a whole page of customers in one statement each, so
a page costs the same statements whatever its size.

Return count: the returns (``returns`` rows) opened on the customer's orders, whatever
the channel, except the requests staff declined and the returns cancelled; counted by
order, so the returns of orders a merge moved to the profile count there too. Still
one statement: the per-order counts join the stats query as a subquery.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, literal, or_, select

from hub.db.database import Reader
from hub.db.tables import customers_t, loyalty_accounts_t, orders_t, payments_t, returns_t
from hub.domain.customers.records import CustomerRecord
from hub.domain.orders.records import OrderRecord
from hub.domain.paging import PageRequest, id_page, rank_within

MAX_QUERY = 255
# Orders that count as bought: not cancelled, and paid (or being paid) for.
COUNTED = ("AUTHORIZED", "PAID", "PARTIALLY_REFUNDED", "REFUNDED")
# Returns that don't count: a request staff declined, a return cancelled.
NOT_RETURNED = ("DECLINED", "CANCELLED")


@dataclass(slots=True)
class CurrencyStats:
    currency: str
    orders: int = 0
    spent: int = 0  # paid totals, less what was refunded (minor units)

    @property
    def average(self) -> int:
        return self.spent // self.orders if self.orders else 0


@dataclass(slots=True)
class Stats:
    orders_count: int = 0
    return_count: int = 0
    last_order_at: datetime | None = None
    by_currency: list[CurrencyStats] = field(default_factory=list)


def _matches(query: str) -> Any:
    q = query.strip().lower()
    c = customers_t
    name = func.lower(c.c.first_name + literal(" ") + c.c.last_name)
    conds = [
        name.contains(q, autoescape=True),
        c.c.email.contains(q, autoescape=True),
        c.c.id.in_(
            select(loyalty_accounts_t.c.customer_id).where(
                loyalty_accounts_t.c.card_id == q.upper()
            )
        ),
    ]
    digits = re.sub(r"\D", "", q)
    if len(digits) >= 4:
        conds.append(c.c.phone_key.contains(digits, autoescape=True))
    return or_(*conds)


async def search(
    reader: Reader, query: str | None, page: PageRequest
) -> tuple[list[CustomerRecord], list[str], bool, bool]:
    """A page of live profiles (not merged away, not erased), oldest first (by id):
    those whose name, email, phone or loyalty card number match ``query``."""
    stmt = select(customers_t).where(
        customers_t.c.merged_into_id.is_(None), customers_t.c.erased_at.is_(None)
    )
    if query and query.strip():
        stmt = stmt.where(_matches(query[:MAX_QUERY]))
    rows, cursors, has_next, has_prev = await id_page(
        reader, stmt, customers_t.c.id, page, "Customer"
    )
    return [CustomerRecord(r) for r in rows], cursors, has_next, has_prev


async def stats_of(reader: Reader, pks: Sequence[int]) -> dict[int, Stats]:
    """Each customer's orders count, spend and average per currency, last order and
    return count: one statement for the whole page."""
    if not pks:
        return {}
    o = orders_t
    refunded = (
        select(payments_t.c.order_id, func.sum(payments_t.c.amount_refunded).label("refunded"))
        .group_by(payments_t.c.order_id)
        .subquery()
    )
    returned = (
        select(returns_t.c.order_id, func.count().label("n"))
        .where(returns_t.c.status.not_in(NOT_RETURNED))
        .group_by(returns_t.c.order_id)
        .subquery()
    )
    counted = (o.c.status != "CANCELLED") & o.c.payment_status.in_(COUNTED)
    rows = await reader.all(
        select(
            o.c.customer_id,
            o.c.currency,
            func.sum(case((counted, 1), else_=0)).label("orders"),
            func.sum(case((counted, o.c.total), else_=0)).label("total"),
            func.sum(case((counted, func.coalesce(refunded.c.refunded, 0)), else_=0)).label(
                "refunded"
            ),
            func.sum(func.coalesce(returned.c.n, 0)).label("returns"),
            func.max(o.c.created_at).label("last"),
        )
        .select_from(
            o.outerjoin(refunded, refunded.c.order_id == o.c.id).outerjoin(
                returned, returned.c.order_id == o.c.id
            )
        )
        .where(o.c.customer_id.in_(list(set(pks))))
        .group_by(o.c.customer_id, o.c.currency)
        .order_by(o.c.customer_id, o.c.currency)
    )
    out: dict[int, Stats] = {}
    for r in rows:
        s = out.setdefault(r.customer_id, Stats())
        n = int(r.orders or 0)
        s.orders_count += n
        s.return_count += int(r.returns or 0)
        last = r.last
        if last is not None and (s.last_order_at is None or last > s.last_order_at):
            s.last_order_at = last
        if n:
            spent = int(r.total or 0) - int(r.refunded or 0)
            s.by_currency.append(CurrencyStats(r.currency, n, spent))
    return out


async def recent_orders_of(
    reader: Reader, pks: Sequence[int], size: int
) -> dict[int, list[OrderRecord]]:
    """The ``size`` newest orders of each customer (every channel), newest first: one
    statement for the whole page."""
    if not pks or size <= 0:
        return {}
    o = orders_t
    rn = rank_within(o.c.customer_id, o.c.id.desc())
    sub = select(o, rn).where(o.c.customer_id.in_(list(set(pks)))).subquery()
    rows = await reader.all(
        select(sub).where(sub.c.rn <= size).order_by(sub.c.customer_id, sub.c.id.desc())
    )
    out: dict[int, list[OrderRecord]] = defaultdict(list)
    for r in rows:
        out[r.customer_id].append(OrderRecord(r))
    return out
