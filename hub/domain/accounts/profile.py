"""Operations on the caller's transaction: the account row, consents, guest orders.

A guest's orders (placed with no customer, under an email) join the account of that
email once the email is verified (activation, a password reset or a sign-in after
either): one UPDATE that also moves the customer's order count.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.tables import accounts_t, consents_t, customers_t, orders_t

SOURCES = ("storefront", "staff", "checkout", "import")


async def ensure_account(conn: AsyncConnection, customer_pk: int, at: datetime) -> None:
    """The customer's account row (INVITED, without a password) if it has none."""
    found = await conn.scalar(
        select(accounts_t.c.customer_id).where(accounts_t.c.customer_id == customer_pk)
    )
    if found is None:
        await conn.execute(
            insert(accounts_t).values(
                customer_id=customer_pk, state="INVITED", created_at=at, updated_at=at
            )
        )


async def set_account(
    conn: AsyncConnection, customer_pk: int, at: datetime, **values: object
) -> None:
    await conn.execute(
        update(accounts_t)
        .where(accounts_t.c.customer_id == customer_pk)
        .values(**values, updated_at=at)
    )


async def record_consent(
    conn: AsyncConnection,
    customer_pk: int,
    topic: str,
    granted: bool,
    source: str,
    at: datetime,
) -> None:
    """A change of consent, kept with when and from where it came. E-mail marketing's
    consent in force is also the profile's ``accepts_marketing``, the one place
    marketing events check (:mod:`hub.domain.customers.consent`)."""
    await conn.execute(
        insert(consents_t).values(
            customer_id=customer_pk, topic=topic, granted=granted, source=source, recorded_at=at
        )
    )
    if topic == "EMAIL":
        await conn.execute(
            update(customers_t)
            .where(customers_t.c.id == customer_pk)
            .values(accepts_marketing=granted)
        )


async def claim_guest_orders(conn: AsyncConnection, customer_pk: int, email: str) -> int:
    """Attach the guest orders placed with ``email`` to the customer (its email is
    verified); how many."""
    res = await conn.execute(
        update(orders_t)
        .where(orders_t.c.customer_id.is_(None), orders_t.c.email == email)
        .values(customer_id=customer_pk)
    )
    claimed = int(res.rowcount or 0)
    if claimed:
        await conn.execute(
            update(customers_t)
            .where(customers_t.c.id == customer_pk)
            .values(orders_count=customers_t.c.orders_count + claimed)
        )
    return claimed
