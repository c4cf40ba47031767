"""A customer as the hub reads it, who may see it, and the reads."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import ids
from hub.auth import Principal
from hub.db.database import Reader, fetch_all
from hub.db.tables import customers_t


class CustomerCode(StrEnum):
    """userErrors codes of customers beyond the common ones (``hub.domain.errors.Code``:
    BLANK, INVALID, TAKEN, TOO_LONG, LIMIT_EXCEEDED, NOT_FOUND)."""

    # Not this caller's customer (a customer key asking for another's data).
    ACCESS_DENIED = "ACCESS_DENIED"


class CustomerRecord:
    __slots__ = (
        "accepts_marketing",
        "created_at",
        "customer_group",
        "email",
        "erased_at",
        "first_name",
        "id",
        "last_name",
        "loyalty_tier",
        "merged_into_pk",
        "orders_count",
        "phone",
        "pk",
        "segments",
        "tax_exempt_vat_id",
        "updated_at",
    )

    def __init__(self, row: Any) -> None:
        self.pk: int = row.id
        self.id = ids.encode("Customer", row.id)
        self.email: str = row.email
        self.phone: str | None = row.phone
        self.first_name: str = row.first_name
        self.last_name: str = row.last_name
        self.customer_group: str | None = row.customer_group
        self.segments: list[str] = list(row.segments or ())
        self.loyalty_tier: str | None = row.loyalty_tier
        self.orders_count: int = row.orders_count
        self.tax_exempt_vat_id: str | None = row.tax_exempt_vat_id
        self.accepts_marketing: bool = bool(row.accepts_marketing)
        self.merged_into_pk: int | None = row.merged_into_id
        self.erased_at = row.erased_at
        self.created_at = row.created_at
        self.updated_at = row.updated_at

    @property
    def display_name(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return name or self.email


async def customers_by_pks(
    conn: Reader | AsyncConnection, pks: Iterable[int]
) -> dict[int, CustomerRecord]:
    wanted = list(set(pks))
    if not wanted:
        return {}
    rows = await fetch_all(conn, select(customers_t).where(customers_t.c.id.in_(wanted)))
    return {r.id: CustomerRecord(r) for r in rows}


async def get_customer(conn: Reader | AsyncConnection, pk: int) -> CustomerRecord | None:
    return (await customers_by_pks(conn, [pk])).get(pk)


async def customer_by_email(conn: Reader | AsyncConnection, email: str) -> CustomerRecord | None:
    rows = await fetch_all(
        conn, select(customers_t).where(customers_t.c.email == email.strip().lower())
    )
    return CustomerRecord(rows[0]) if rows else None


async def customer_for_principal(
    conn: Reader | AsyncConnection, principal: Principal
) -> CustomerRecord | None:
    """The customer an API key acts for (a key with the customer scope), else None."""
    if principal.customer_id is None:
        return None
    return await get_customer(conn, principal.customer_id)


def may_look_up(principal: Principal) -> bool:
    """Customers are looked up by id with a staff key or a customer key only."""
    return principal.can("customers") or principal.customer_id is not None


def can_see(principal: Principal, customer_pk: int) -> bool:
    """Staff see every customer; a customer key only its own."""
    return principal.can("customers") or (
        principal.customer_id is not None and principal.customer_id == customer_pk
    )
