"""A signed-in customer's saved addresses: create, change, delete, choose the default.

Each operation names the customer it acts for; an address of another customer is
NOT_FOUND (never told apart from one that does not exist). The first address becomes
the default; deleting the default makes the oldest remaining one the default.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.database import Database
from hub.db.tables import addresses_t
from hub.domain.carts.validation import clean_address
from hub.domain.errors import Code, fail

MAX_ADDRESSES = 50


def _now() -> datetime:
    return datetime.now(UTC)


def _missing(field: str) -> Exception:
    return fail(Code.NOT_FOUND, "no address with that id", field)


async def _owned(conn: AsyncConnection, customer_pk: int, address_pk: int, field: str) -> Any:
    row = (
        await conn.execute(
            select(addresses_t).where(
                addresses_t.c.id == address_pk, addresses_t.c.customer_id == customer_pk
            )
        )
    ).first()
    if row is None:
        raise _missing(field)
    return row


async def create_address(db: Database, customer_pk: int, raw: dict[str, Any]) -> int:
    values = clean_address(raw, "address")
    async with db.transaction() as conn:
        count = await conn.scalar(
            select(func.count()).where(addresses_t.c.customer_id == customer_pk)
        )
        if (count or 0) >= MAX_ADDRESSES:
            raise fail(Code.LIMIT_EXCEEDED, f"at most {MAX_ADDRESSES} addresses", "address")
        at = _now()
        res = await conn.execute(
            insert(addresses_t)
            .values(
                customer_id=customer_pk,
                address=values,
                is_default=not count,
                created_at=at,
                updated_at=at,
            )
            .returning(addresses_t.c.id)
        )
        return int(res.scalar_one())


async def update_address(
    db: Database, customer_pk: int, address_pk: int, raw: dict[str, Any]
) -> int:
    async with db.transaction() as conn:
        row = await _owned(conn, customer_pk, address_pk, "id")
        merged = {**dict(row.address or {}), **{k: v for k, v in raw.items() if v is not None}}
        values = clean_address(merged, "address")
        await conn.execute(
            update(addresses_t)
            .where(addresses_t.c.id == address_pk)
            .values(address=values, updated_at=_now())
        )
    return address_pk


async def delete_address(db: Database, customer_pk: int, address_pk: int) -> int:
    async with db.transaction() as conn:
        row = await _owned(conn, customer_pk, address_pk, "id")
        await conn.execute(delete(addresses_t).where(addresses_t.c.id == address_pk))
        if row.is_default:
            oldest = await conn.scalar(
                select(func.min(addresses_t.c.id)).where(addresses_t.c.customer_id == customer_pk)
            )
            if oldest is not None:
                await conn.execute(
                    update(addresses_t).where(addresses_t.c.id == oldest).values(is_default=True)
                )
    return address_pk


async def set_default_address(db: Database, customer_pk: int, address_pk: int) -> int:
    async with db.transaction() as conn:
        await _owned(conn, customer_pk, address_pk, "addressId")
        await conn.execute(
            update(addresses_t)
            .where(addresses_t.c.customer_id == customer_pk)
            .values(is_default=addresses_t.c.id == address_pk)
        )
    return address_pk
