"""``customerMerge``: a duplicate profile folded into the one kept.

One transaction: the duplicate is claimed first (``merged_into_id``, a conditional
UPDATE, so two merges of it can't both run), then its orders, carts, gift cards,
API keys and the profiles merged into it earlier move to the kept profile, the kept
profile takes what it lacks (phone, names, group, VAT id, segments, marketing
consent, orders count), the loyalty ledger and balance move
(:func:`hub.domain.loyalty.merge_accounts`), and both timelines record it. The
duplicate stays as a tombstone pointing at the kept profile, so its email, phone and
loyalty card still find the kept one (:func:`hub.domain.customers.matching.find_customer`).

Addresses and consents move too: the duplicate's saved addresses join the kept
profile's (one default: the kept profile's when it has one, else the duplicate's),
its consent history (``customer_consents``) joins the kept one's. The consent in
force is ``customers.accepts_marketing``, merged as "either consented"; when the
latest moved e-mail consent row says otherwise, a row with source ``merge`` records
the consent in force, so history and profile agree. The duplicate's customer tokens
(access, reset, activation) end (revoked everywhere through the outbox) and signing
in with its email and password answers ``CUSTOMER_MERGED``
(:meth:`hub.domain.accounts.service.Accounts.sign_in`): the customer signs in to the
kept profile with that one's email.

Idempotent: merging the same duplicate into the same profile again changes nothing
and answers the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import ids
from hub.db.database import Database
from hub.db.tables import (
    addresses_t,
    cards_t,
    carts_t,
    consents_t,
    customers_t,
    keys_t,
    orders_t,
    returns_t,
)
from hub.domain.customers import timeline
from hub.domain.customers.credentials import end_customer_tokens
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
        ("returns", returns_t),
        ("carts", carts_t),
        ("giftCards", cards_t),
        ("apiKeys", keys_t),
        ("mergedProfiles", customers_t),
    ):
        moved[name] = await _repoint(conn, table, merge_pk, keep_pk)
    moved["addresses"] = await _move_addresses(conn, keep_pk, merge_pk, now)
    taken = _taken(keep, dup)
    moved["consents"] = await _move_consents(conn, keep_pk, merge_pk, taken, now)
    moved["tokensEnded"] = await end_customer_tokens(conn, outbox, merge_pk, now)
    await conn.execute(
        update(customers_t).where(customers_t.c.id == keep_pk).values(**taken, updated_at=now)
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


async def _move_addresses(conn: AsyncConnection, keep_pk: int, merge_pk: int, at: datetime) -> int:
    """The duplicate's addresses join the kept profile's; one default stays (the kept
    profile's when it has one)."""
    has_default = await conn.scalar(
        select(addresses_t.c.id)
        .where(addresses_t.c.customer_id == keep_pk, addresses_t.c.is_default.is_(True))
        .limit(1)
    )
    values: dict[str, Any] = {"customer_id": keep_pk, "updated_at": at}
    if has_default is not None:
        values["is_default"] = False
    res = await conn.execute(
        update(addresses_t).where(addresses_t.c.customer_id == merge_pk).values(**values)
    )
    return int(res.rowcount or 0)


async def _move_consents(
    conn: AsyncConnection, keep_pk: int, merge_pk: int, taken: dict[str, Any], at: datetime
) -> int:
    """The duplicate's consent history joins the kept profile's; if the latest e-mail
    consent row no longer says what is in force (``accepts_marketing``), a ``merge``
    row records it."""
    res = await conn.execute(
        update(consents_t).where(consents_t.c.customer_id == merge_pk).values(customer_id=keep_pk)
    )
    moved = int(res.rowcount or 0)
    if not moved:
        return 0
    latest = await conn.scalar(
        select(consents_t.c.granted)
        .where(consents_t.c.customer_id == keep_pk, consents_t.c.topic == "EMAIL")
        .order_by(consents_t.c.id.desc())
        .limit(1)
    )
    in_force = bool(taken["accepts_marketing"])
    if latest is not None and bool(latest) != in_force:
        await conn.execute(
            insert(consents_t).values(
                customer_id=keep_pk, topic="EMAIL", granted=in_force, source="merge", recorded_at=at
            )
        )
    return moved


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
