"""Reservations: units held for a checkout until they are committed (an order takes
them), released, or expire.

One operation reserves (:func:`reserve`), in one of two strategies that write the same
rows, ledger lines and events (``tests/domain/inventory/test_reservation_strategies.py`` runs both
on the same inputs and compares):

- ``GENERAL``: :func:`hub.domain.inventory.changes.apply_change` per variant (a bundle
  holds each of its components, all or nothing), on any database;
- ``POSTGRES_SINGLE_STATEMENT``: one variant in ONE statement
  (:mod:`hub.domain.inventory.reservation_pg`), so the hot row's lock is held for the
  shortest time; it hands a bundle (and anything it can't answer) to ``GENERAL``.

One path settles reservations (:func:`settle`): commit (reserved -> committed), release
and expiry (reserved goes back), for one token or a checkout's many.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, or_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.tables import reservations_t
from hub.domain.errors import Code, fail
from hub.domain.inventory.changes import (
    Change,
    apply_change,
    components,
    insert_ledger,
    product_of,
)
from hub.domain.inventory.idempotency import Body, Done, run_in
from hub.domain.inventory.records import (
    MAX_RESERVATION_TTL,
    MIN_RESERVATION_TTL,
    LevelRecord,
    Outcome,
    ReserveRequest,
    now,
)
from hub.domain.inventory.reservation_pg import reserve_single_statement
from hub.events.outbox import Outbox

Deltas = Callable[[int], dict[str, int]]


class ReservationStrategy(StrEnum):
    GENERAL = "general"
    POSTGRES_SINGLE_STATEMENT = "postgres_single_statement"

    @classmethod
    def for_dialect(cls, dialect: str) -> ReservationStrategy:
        return cls.POSTGRES_SINGLE_STATEMENT if dialect == "postgresql" else cls.GENERAL


def reservation_ttl(seconds: int | None, default_seconds: int) -> timedelta:
    """A reservation's lifetime: ``seconds`` (or the default), within the bounds."""
    ttl = timedelta(seconds=seconds or default_seconds)
    if ttl < MIN_RESERVATION_TTL or ttl > MAX_RESERVATION_TTL:
        raise fail(Code.INVALID, "ttlSeconds must be between 10 seconds and 7 days", "ttl_seconds")
    return ttl


def reserve_body(req: ReserveRequest) -> Body:
    """The GENERAL strategy's write (run by :func:`run_in`, which claims the key)."""

    async def body(conn: AsyncConnection, outbox: Outbox) -> Done:
        comps = await components(conn, req.variant_pk)
        token = secrets.token_urlsafe(18)
        parts = comps or [(req.variant_pk, 1)]
        out = []
        for cpk, per in parts:
            ch = Change(
                cpk,
                req.location_pk,
                "reserved",
                {"reserved": req.quantity * per},
                need_available=req.quantity * per,
                online=req.online,
                reference=req.reference or f"reservation:{token}",
            )
            out.append(await apply_change(conn, ch, outbox))
            await conn.execute(
                insert(reservations_t).values(
                    token=token if cpk == parts[0][0] else f"{token}.{cpk}",
                    variant_id=cpk,
                    location_id=req.location_pk,
                    quantity=req.quantity * per,
                    status="ACTIVE",
                    reference=req.reference,
                    expires_at=now() + req.ttl,
                    created_at=now(),
                )
            )
        return out, {"reservation": token, "expires_at": (now() + req.ttl).isoformat()}

    return body


async def reserve(
    conn: AsyncConnection, req: ReserveRequest, strategy: ReservationStrategy | None = None
) -> Outcome:
    """Reserve on ``conn``, the caller's open transaction (the events are in its outbox
    rows, to publish after commit). ``strategy``: the dialect's best by default."""
    strategy = strategy or ReservationStrategy.for_dialect(conn.dialect.name)
    if strategy is ReservationStrategy.POSTGRES_SINGLE_STATEMENT:
        fast = await reserve_single_statement(conn, req)
        if fast is not None:
            return fast
    return await run_in(conn, "reserve", req.key, reserve_body(req))


# --------------------------------------------------------------------------- settling


def _like(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def committed(q: int) -> dict[str, int]:
    return {"reserved": -q, "committed": q}


def given_back(q: int) -> dict[str, int]:
    return {"reserved": -q}


async def settle(
    conn: AsyncConnection,
    outbox: Outbox,
    tokens: Sequence[str],
    status: str,
    reason: str,
    deltas_for: Deltas,
    *,
    products: Mapping[int, int] | None = None,
    expired_by: datetime | None = None,
) -> list[LevelRecord]:
    """Settle the active reservations of ``tokens`` (a bundle's parts with them) on
    ``conn``: mark them ``status``, then change each level by ``deltas_for(quantity)``
    with the ledger reason ``reason``, in few statements: one UPDATE of the
    reservations, one INSERT of all their ledger rows, then one conditional UPDATE per
    level, in the order of ``tokens``. NOT_FOUND (and nothing written) when a token has
    no active reservation. ``products``: variant -> product, when the caller knows
    (spares the events' look-up); ``expired_by``: settle only if still expired then (a
    checkout may have just renewed its lease on the reservation)."""
    if not tokens:
        return []
    match = or_(
        reservations_t.c.token.in_(list(tokens)),
        *(reservations_t.c.token.like(f"{_like(t)}.%", escape="\\") for t in tokens),
    )
    still = () if expired_by is None else (reservations_t.c.expires_at <= expired_by,)
    rows = (
        await conn.execute(
            update(reservations_t)
            .where(match, reservations_t.c.status == "ACTIVE", *still)
            .values(status=status)
            .returning(reservations_t)
        )
    ).all()
    by_token: dict[str, list[Any]] = {t: [] for t in tokens}
    for r in rows:
        base = r.token if r.token in by_token else r.token.rsplit(".", 1)[0]
        while base not in by_token and "." in base:  # a split of a split
            base = base.rsplit(".", 1)[0]
        by_token[base].append(r)
    if not all(by_token.values()):
        raise fail(Code.NOT_FOUND, "no active reservation with that token", "token")
    changes = [
        Change(
            r.variant_id,
            r.location_id,
            reason,
            deltas_for(r.quantity),
            reference=r.reference or f"reservation:{t}",
            product_pk=(products or {}).get(r.variant_id),
        )
        for t in tokens
        for r in sorted(by_token[t], key=lambda r: r.id)
    ]
    for ch in changes:
        await product_of(conn, ch)
    await insert_ledger(conn, changes)
    return [await apply_change(conn, ch, outbox, ledger=False) for ch in changes]


async def commit_reservations(
    conn: AsyncConnection,
    tokens: Sequence[str],
    outbox: Outbox,
    *,
    products: Mapping[int, int] | None = None,
) -> list[LevelRecord]:
    """An order takes the reserved units of ``tokens``: reserved -> committed (see
    :func:`settle`), on the caller's transaction."""
    return await settle(
        conn, outbox, tokens, "COMMITTED", "sale_committed", committed, products=products
    )


def settle_body(
    token: str,
    status: str,
    reason: str,
    deltas_for: Deltas,
    *,
    products: Mapping[int, int] | None = None,
    expired_by: datetime | None = None,
) -> Body:
    """:func:`settle` of one token as a write (for :func:`run_in`)."""

    async def body(conn: AsyncConnection, outbox: Outbox) -> Done:
        levels = await settle(
            conn,
            outbox,
            [token],
            status,
            reason,
            deltas_for,
            products=products,
            expired_by=expired_by,
        )
        return levels, {"reservation": token}

    return body


async def release(conn: AsyncConnection, token: str) -> Outcome:
    """Give a reservation's units back, on the caller's transaction."""
    body = settle_body(token, "RELEASED", "reservation_released", given_back)
    return await run_in(conn, "settle_RELEASED", None, body)
