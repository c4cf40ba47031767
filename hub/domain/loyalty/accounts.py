"""A customer's loyalty account, and the one way its balance moves (:func:`move`):
a key already used on the account returns its row; else one UPDATE of the balance
(for a debit, conditional on ``points >= debit``: two redemptions can never both
spend the last points, on SQLite or PostgreSQL; the CHECK ``points >= 0`` backs it
up), then the ledger row with the ``balance_after`` that UPDATE returned. All in the
caller's transaction."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.dialect import dialect_insert
from hub.db.tables import loyalty_accounts_t, loyalty_txns_t
from hub.domain.errors import Code, fail
from hub.domain.loyalty.records import MAX_NOTE, LoyaltyCode

CARD_PREFIX = "LC"


def _now() -> datetime:
    return datetime.now(UTC)


def new_card_id() -> str:
    """A loyalty card number: LC and 12 random digits."""
    return CARD_PREFIX + "".join(secrets.choice("0123456789") for _ in range(12))


async def account_of(conn: AsyncConnection, customer_pk: int) -> Any:
    return (
        await conn.execute(
            select(loyalty_accounts_t).where(loyalty_accounts_t.c.customer_id == customer_pk)
        )
    ).first()


async def ensure_account(conn: AsyncConnection, customer_pk: int) -> Any:
    """The customer's account row, opened now if it has none (concurrent openers
    get the same one)."""
    row = await account_of(conn, customer_pk)
    if row is not None:
        return row
    now = _now()
    await conn.execute(
        dialect_insert(conn, loyalty_accounts_t)
        .values(
            customer_id=customer_pk,
            card_id=new_card_id(),
            points=0,
            last_activity_at=now,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["customer_id"])
    )
    return await account_of(conn, customer_pk)


class Moved:
    """A ledger row written by :func:`move` (or the earlier one its key names)."""

    __slots__ = ("balance", "pk", "points", "replayed")

    def __init__(self, pk: int, points: int, balance: int, replayed: bool) -> None:
        self.pk, self.points, self.balance, self.replayed = pk, points, balance, replayed


async def move(
    conn: AsyncConnection,
    account_pk: int,
    kind: str,
    points: int,
    *,
    key: str | None = None,
    order_pk: int | None = None,
    amount: int | None = None,
    currency: str | None = None,
    note: str | None = None,
    activity: bool = False,
    now: datetime | None = None,
) -> Moved:
    """Move ``points`` (signed) on the account with a ledger row of ``kind``. A debit
    larger than the balance raises INSUFFICIENT_POINTS (the caller's transaction
    rolls back); a ``key`` used before on the account returns that row, unchanged."""
    now = now or _now()
    if key is not None:
        row = (
            await conn.execute(
                select(loyalty_txns_t).where(
                    loyalty_txns_t.c.account_id == account_pk,
                    loyalty_txns_t.c.idempotency_key == key,
                )
            )
        ).first()
        if row is not None:  # the key was used: that row, nothing moves
            return Moved(row.id, row.points, row.balance_after, True)
    stmt = update(loyalty_accounts_t).where(loyalty_accounts_t.c.id == account_pk)
    if points < 0:
        stmt = stmt.where(loyalty_accounts_t.c.points >= -points)
    values: dict[str, Any] = {"points": loyalty_accounts_t.c.points + points, "updated_at": now}
    if activity:
        values["last_activity_at"] = now
    balance = (
        await conn.execute(stmt.values(**values).returning(loyalty_accounts_t.c.points))
    ).scalar()
    if balance is None:
        raise fail(
            LoyaltyCode.INSUFFICIENT_POINTS,
            f"not enough loyalty points for {-points}",
            "points",
        )
    ins = (
        dialect_insert(conn, loyalty_txns_t)
        .values(
            account_id=account_pk,
            kind=kind,
            points=points,
            balance_after=balance,
            order_id=order_pk,
            amount=amount,
            currency=currency,
            reversed_points=0,
            refunded_amount=0,
            note=(note or None) and note[:MAX_NOTE],
            idempotency_key=key,
            created_at=now,
        )
        .returning(loyalty_txns_t.c.id)
    )
    if key is not None:
        ins = ins.on_conflict_do_nothing(index_elements=["account_id", "idempotency_key"])
    pk = (await conn.execute(ins)).scalar()
    if pk is None:  # a concurrent request with the same key won: roll this one back
        raise fail(Code.TAKEN, "a concurrent request used this idempotency key", "idempotency_key")
    return Moved(pk, points, int(balance), False)
