"""Customer tokens: access (sign-in), password reset and activation.

A token is random (256 bits); only its SHA-256 is stored. Access tokens carry the
``hubca_`` prefix and authenticate like API keys (:mod:`hub.auth`); ending one writes
an ``auth.revoked`` event so every process drops it and closes its websockets. Reset
and activation tokens are taken once, by one conditional UPDATE (two concurrent uses:
one wins), and issuing a new one ends the customer's earlier ones of that kind.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.auth import CUSTOMER_TOKEN, CUSTOMER_TOKEN_PREFIX, REVOKED_TOPIC, token_digest
from hub.db.tables import customer_tokens_t as tokens_t
from hub.events.outbox import Outbox

ACCESS = "access"
RESET = "reset"
ACTIVATION = "activation"
MAX_TOKEN = 200


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    customer_pk: int
    token: str
    expires_at: datetime
    pk: int


def plausible(raw: str) -> bool:
    return 0 < len(raw) <= MAX_TOKEN


async def issue(
    conn: AsyncConnection, customer_pk: int, kind: str, lifetime: timedelta
) -> IssuedToken:
    """A new token of ``kind`` for the customer (a reset or activation token ends the
    earlier unused ones of its kind)."""
    at = now()
    if kind != ACCESS:
        await conn.execute(
            update(tokens_t)
            .where(
                tokens_t.c.customer_id == customer_pk,
                tokens_t.c.kind == kind,
                tokens_t.c.ended_at.is_(None),
            )
            .values(ended_at=at)
        )
    raw = secrets.token_urlsafe(32)
    if kind == ACCESS:
        raw = CUSTOMER_TOKEN_PREFIX + raw
    expires = at + lifetime
    pk = (
        await conn.execute(
            insert(tokens_t)
            .values(
                customer_id=customer_pk,
                kind=kind,
                token_hash=token_digest(raw),
                created_at=at,
                expires_at=expires,
            )
            .returning(tokens_t.c.id)
        )
    ).scalar_one()
    return IssuedToken(customer_pk, raw, expires, pk)


async def take_once(conn: AsyncConnection, customer_pk: int, kind: str, raw: str) -> bool:
    """Use a reset or activation token of this customer: True once, if it is valid."""
    if not plausible(raw):
        return False
    at = now()
    res = await conn.execute(
        update(tokens_t)
        .where(
            tokens_t.c.token_hash == token_digest(raw),
            tokens_t.c.kind == kind,
            tokens_t.c.customer_id == customer_pk,
            tokens_t.c.ended_at.is_(None),
            tokens_t.c.expires_at > at,
        )
        .values(ended_at=at)
    )
    return res.rowcount == 1


async def end_access(conn: AsyncConnection, outbox: Outbox, raw: str) -> tuple[int, int] | None:
    """End a valid access token: (its id, its customer), or None if it was not one."""
    if not raw.startswith(CUSTOMER_TOKEN_PREFIX) or not plausible(raw):
        return None
    at = now()
    row = (
        await conn.execute(
            update(tokens_t)
            .where(
                tokens_t.c.token_hash == token_digest(raw),
                tokens_t.c.kind == ACCESS,
                tokens_t.c.ended_at.is_(None),
                tokens_t.c.expires_at > at,
            )
            .values(ended_at=at)
            .returning(tokens_t.c.id, tokens_t.c.customer_id)
        )
    ).first()
    if row is None:
        return None
    outbox.add(REVOKED_TOPIC, {"kind": CUSTOMER_TOKEN, "id": row.id})
    return row.id, row.customer_id


async def end_all_access(conn: AsyncConnection, outbox: Outbox, customer_pk: int) -> list[int]:
    """End every access token of the customer (a new password): their ids."""
    rows = (
        await conn.execute(
            update(tokens_t)
            .where(
                tokens_t.c.customer_id == customer_pk,
                tokens_t.c.kind == ACCESS,
                tokens_t.c.ended_at.is_(None),
            )
            .values(ended_at=now())
            .returning(tokens_t.c.id)
        )
    ).all()
    for r in rows:
        outbox.add(REVOKED_TOPIC, {"kind": CUSTOMER_TOKEN, "id": r.id})
    return [r.id for r in rows]
