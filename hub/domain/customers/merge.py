"""``customerMerge``: a duplicate profile folded into the one kept.

One transaction: the duplicate is claimed first (``merged_into_id``, a conditional
UPDATE, so two merges of it can't both run), then its orders, carts, gift cards,
API keys and the profiles merged into it earlier move to the kept profile, the kept
profile takes what it lacks (phone, names, group, VAT id, segments, marketing
consent, orders count), the loyalty ledger and balance move
(:func:`hub.domain.loyalty.merge_accounts`), and both timelines record it. The
duplicate stays as a tombstone pointing at the kept profile, so its email, phone and
loyalty card still find the kept one (:func:`hub.domain.customers.matching.find_customer`).

Idempotent: merging the same duplicate into the same profile again changes nothing
and answers the same. Consents: the kept profile consents to marketing when either
did (there are no consent timestamps yet to pick the latest).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import ids
from hub.db.database import Database
from hub.db.tables import cards_t, carts_t, customers_t, keys_t, orders_t
from hub.domain.customers import timeline
from hub.domain.errors import Code, fail
from hub.domain.loyalty.ledger import merge_accounts
from hub.events.bus import Event
from hub.events.outbox import Outbox


@dataclass(slots=True)
class Merged:
    keep_pk: int
    replayed: bool
    orders: int = 0
    points: int = 0


async def _customer(conn: AsyncConnection, pk: int) -> Any:
    return (await conn.execute(select(customers_t).where(customers_t.c.id == pk))).first()


async def merge_customer(
    conn: AsyncConnection, keep_pk: int, merge_pk: int, outbox: Outbox
) -> Merged:
    """Merge ``merge_pk`` into ``keep_pk`` on ``conn`` (see the module docstring)."""
    if keep_pk == merge_pk:
        raise fail(Code.INVALID, "a customer can't be merged into itself", "merge_id")
    keep = await _customer(conn, keep_pk)
    if keep is None:
        raise fail(Code.NOT_FOUND, "customer not found", "keep_id")
    dup = await _customer(conn, merge_pk)
    if dup is None:
        raise fail(Code.NOT_FOUND, "customer not found", "merge_id")
    if dup.merged_into_id == keep_pk:
        return Merged(keep_pk, replayed=True)
    if keep.merged_into_id is not None:
        raise fail(Code.INVALID, "this customer was merged into another: keep that one", "keep_id")
    if keep.erased_at is not None or dup.erased_at is not None:
        raise fail(Code.INVALID, "an erased customer can't be merged", "merge_id")
    now = datetime.now(UTC)
    claimed = await conn.execute(
        update(customers_t)
        .where(customers_t.c.id == merge_pk, customers_t.c.merged_into_id.is_(None))
        .values(merged_into_id=keep_pk, updated_at=now)
    )
    if claimed.rowcount != 1:
        raise fail(Code.INVALID, "this customer was merged into another already", "merge_id")
    moved = {}
    for name, table in (
        ("orders", orders_t),
        ("carts", carts_t),
        ("giftCards", cards_t),
        ("apiKeys", keys_t),
        ("mergedProfiles", customers_t),
    ):
        moved[name] = await _repoint(conn, table, merge_pk, keep_pk)
    await conn.execute(
        update(customers_t)
        .where(customers_t.c.id == keep_pk)
        .values(**_taken(keep, dup), updated_at=now)
    )
    points = await merge_accounts(conn, keep_pk, merge_pk, outbox=outbox)
    data = {
        "mergedId": ids.encode("Customer", merge_pk),
        "keptId": ids.encode("Customer", keep_pk),
        "moved": moved,
        "loyaltyPoints": points,
    }
    await timeline.record(conn, keep_pk, "MERGED", data, key=f"merge:{merge_pk}")
    await timeline.record(conn, merge_pk, "MERGED_INTO", data, key=f"merge:{merge_pk}")
    outbox.add("customer.merged", {"customerId": keep_pk, "mergedCustomerId": merge_pk})
    return Merged(keep_pk, replayed=False, orders=moved["orders"], points=points)


async def _repoint(conn: AsyncConnection, table: Table, old: int, new: int) -> int:
    col = table.c.merged_into_id if table is customers_t else table.c.customer_id
    res = await conn.execute(update(table).where(col == old).values({col.name: new}))
    return int(res.rowcount or 0)


def _taken(keep: Any, dup: Any) -> dict[str, Any]:
    """What the kept profile takes from the duplicate: what it lacks."""
    values: dict[str, Any] = {
        "orders_count": keep.orders_count + dup.orders_count,
        "accepts_marketing": bool(keep.accepts_marketing or dup.accepts_marketing),
        "segments": list(dict.fromkeys([*(keep.segments or ()), *(dup.segments or ())])),
    }
    for name in ("phone", "phone_key", "customer_group", "tax_exempt_vat_id"):
        if getattr(keep, name) is None and getattr(dup, name) is not None:
            values[name] = getattr(dup, name)
    if not keep.first_name and not keep.last_name:
        values["first_name"], values["last_name"] = dup.first_name, dup.last_name
    return values


async def merge_customers(db: Database, keep_pk: int, merge_pk: int) -> tuple[Merged, list[Event]]:
    """:func:`merge_customer` in a transaction of its own; the events to publish."""
    outbox = Outbox()
    async with db.transaction() as conn:
        merged = await merge_customer(conn, keep_pk, merge_pk, outbox)
        events = await outbox.flush(conn)
    return merged, events
