"""An account, a saved address and a marketing consent as the hub reads them, and the
reads of several customers' at once (one statement each: lists stay N+1 free)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import ids
from hub.db.database import Reader, fetch_all
from hub.db.tables import accounts_t, addresses_t, consents_t, customers_t

TOPICS = ("EMAIL", "SMS")


class AccountRecord:
    __slots__ = ("email_verified_at", "has_password", "state")

    def __init__(self, row: Any) -> None:
        self.state: str = row.state
        self.email_verified_at: datetime | None = row.email_verified_at
        self.has_password = row.password_hash is not None


class AddressRecord:
    __slots__ = ("address", "customer_pk", "id", "is_default", "pk")

    def __init__(self, row: Any) -> None:
        self.pk: int = row.id
        self.id = ids.encode("MailingAddress", row.id)
        self.customer_pk: int = row.customer_id
        self.address: dict[str, Any] = dict(row.address or {})
        self.is_default = bool(row.is_default)

    def get(self, key: str) -> str | None:
        value = self.address.get(key)
        return None if value is None else str(value)


class ConsentRecord:
    __slots__ = ("granted", "recorded_at", "source", "topic")

    def __init__(self, row: Any) -> None:
        self.topic: str = row.topic
        self.granted = bool(row.granted)
        self.source: str = row.source
        self.recorded_at: datetime = row.recorded_at


Conn = Reader | AsyncConnection


async def accounts_by_customers(conn: Conn, pks: Sequence[int]) -> dict[int, AccountRecord]:
    if not pks:
        return {}
    rows = await fetch_all(
        conn, select(accounts_t).where(accounts_t.c.customer_id.in_(list(set(pks))))
    )
    return {r.customer_id: AccountRecord(r) for r in rows}


async def addresses_by_customers(conn: Conn, pks: Sequence[int]) -> dict[int, list[AddressRecord]]:
    """Each customer's addresses, oldest first."""
    if not pks:
        return {}
    rows = await fetch_all(
        conn,
        select(addresses_t)
        .where(addresses_t.c.customer_id.in_(list(set(pks))))
        .order_by(addresses_t.c.customer_id, addresses_t.c.id),
    )
    out: dict[int, list[AddressRecord]] = defaultdict(list)
    for r in rows:
        out[r.customer_id].append(AddressRecord(r))
    return out


async def addresses_by_pks(conn: Conn, pks: Sequence[int]) -> dict[int, AddressRecord]:
    if not pks:
        return {}
    rows = await fetch_all(conn, select(addresses_t).where(addresses_t.c.id.in_(list(set(pks)))))
    return {r.id: AddressRecord(r) for r in rows}


async def consents_by_customers(conn: Conn, pks: Sequence[int]) -> dict[int, list[ConsentRecord]]:
    """The consent in force per topic (the latest change), per customer."""
    if not pks:
        return {}
    rows = await fetch_all(
        conn,
        select(consents_t)
        .where(consents_t.c.customer_id.in_(list(set(pks))))
        .order_by(consents_t.c.customer_id, consents_t.c.id),
    )
    latest: dict[int, dict[str, ConsentRecord]] = defaultdict(dict)
    for r in rows:
        latest[r.customer_id][r.topic] = ConsentRecord(r)
    return {pk: [by[t] for t in TOPICS if t in by] for pk, by in latest.items()}


async def sign_in_row(conn: Conn, email: str) -> Any:
    """(customer id, email, password hash, state, verified at, merged into) of an
    email, or None."""
    rows = await fetch_all(
        conn,
        select(
            customers_t.c.id,
            customers_t.c.email,
            accounts_t.c.password_hash,
            accounts_t.c.state,
            accounts_t.c.email_verified_at,
            customers_t.c.merged_into_id,
        )
        .select_from(
            customers_t.outerjoin(accounts_t, accounts_t.c.customer_id == customers_t.c.id)
        )
        .where(customers_t.c.email == email),
    )
    return rows[0] if rows else None
