"""A checkout attempt and its lease.

An attempt (``checkout_attempts``, per cart and client key) holds a lease while it
runs: a random token, valid ``HUB_CHECKOUT_LEASE_SECONDS``, on the attempt row, on the
cart it locked (``COMPLETING``) and, by their reference, on the reservations it made.
:class:`Heartbeat` renews all three every third of the lease; when the process dies
they lapse together within seconds: the expiry job releases the reservations, a retry
with the same key takes the attempt over (:func:`claim`), another key may lock the
cart. Every write that finishes or undoes an attempt is conditional on its lease, so
an attempt that lost it (stalled while another took over) writes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db import fast
from hub.db.database import Database
from hub.db.tables import attempts_t, carts_t, checkout_payments_t, reservations_t
from hub.domain.checkout.payments import OPEN, Prepared
from hub.domain.inventory import dialect_insert

log = logging.getLogger("hub.checkout")

payments_t = checkout_payments_t


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Attempt:
    """One running attempt: its cart and key, its lease, what it reserved and the
    payment row it pays with."""

    cart_pk: int
    key: str
    lease: str
    reference: str  # its reservations' (renewed by it)
    tokens: dict[int, list[tuple[int, int, str]]] = field(default_factory=dict)
    payment: Prepared | None = None
    split: list[Prepared | None] = field(default_factory=list)  # split tender's rows


class Heartbeat:
    """Renews an attempt's lease every third of it while the attempt runs (a task
    named ``hub-...``: the app's background work, not the request's)."""

    def __init__(self, db: Database, attempt: Attempt, ttl: timedelta) -> None:
        self.db = db
        self.attempt = attempt
        self.ttl = ttl
        self.lost = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="hub-checkout-lease")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        a = self.attempt
        while True:
            await asyncio.sleep(self.ttl.total_seconds() / 3)
            try:
                async with self.db.transaction() as conn:
                    params = {
                        "cart": a.cart_pk,
                        "key_": a.key,
                        "lease_": a.lease,
                        "ref": a.reference,
                        "until": now() + self.ttl,
                    }
                    held = await conn.execute(_RENEW_ATTEMPT, params)
                    await conn.execute(_RENEW_CART, params)
                    await conn.execute(_RENEW_RESERVATIONS, params)
                if held.rowcount != 1:
                    self.lost = True
                    log.warning("checkout of cart %s lost its lease", a.cart_pk)
                    return
            except Exception:  # the next beat tries again; the lease may still hold
                log.warning("checkout of cart %s: renewing its lease failed", a.cart_pk)


_ATTEMPT = fast.Prebuilt(
    select(attempts_t).where(
        attempts_t.c.cart_id == bindparam("cart"), attempts_t.c.key == bindparam("key")
    )
)


async def find_attempt(conn: AsyncConnection, cart_pk: int, key: str) -> Any:
    row = (await fast.execute(conn, _ATTEMPT, {"cart": cart_pk, "key": key})).first()
    if row is not None and row.status == "PENDING" and row.locked_until < now():
        return None  # a crashed attempt (its lease lapsed): take it over
    return row


# The checkout's writes of its cart and attempt, built once (bound per call). Those
# that finish or undo an attempt hold only while its lease does: they match only
# the cart it locked and the attempt it holds, by its lease.
_LEASED_CART = (
    carts_t.c.id == bindparam("cart"),
    carts_t.c.status == "COMPLETING",
    carts_t.c.checkout_lease == bindparam("lease_"),
)
_LEASED_ATTEMPT = (
    attempts_t.c.cart_id == bindparam("cart"),
    attempts_t.c.key == bindparam("key_"),
    attempts_t.c.status == "PENDING",
    attempts_t.c.lease == bindparam("lease_"),
)
_CLAIM: dict[str, Any] = {}  # per dialect: INSERT .. ON CONFLICT DO NOTHING
_RECLAIM = (
    update(attempts_t)
    .where(
        attempts_t.c.cart_id == bindparam("cart"),
        attempts_t.c.key == bindparam("key_"),
        attempts_t.c.status == "PENDING",
        attempts_t.c.locked_until < bindparam("now"),
    )
    .values(locked_until=bindparam("until"), lease=bindparam("lease_"))
)
LOCK_CART = (
    update(carts_t)
    .where(
        carts_t.c.id == bindparam("cart"),
        carts_t.c.version == bindparam("version_"),
        carts_t.c.expires_at > bindparam("now"),
        or_(
            carts_t.c.status == "ACTIVE",
            and_(carts_t.c.status == "COMPLETING", carts_t.c.locked_until < bindparam("now")),
        ),
    )
    .values(
        status="COMPLETING", locked_until=bindparam("until"), checkout_lease=bindparam("lease_")
    )
    # Whether the cart has payments not settled yet (an earlier attempt's): only then
    # does the attempt look them up.
    .returning(
        select(payments_t.c.id)
        .where(payments_t.c.cart_id == bindparam("cart"), payments_t.c.status.in_(OPEN))
        .exists()
        .label("open_payments")
    )
)
COMPLETE_CART = (
    update(carts_t)
    .where(*_LEASED_CART)
    .values(
        status="COMPLETED",
        order_id=bindparam("order"),
        locked_until=None,
        checkout_lease=None,
        updated_at=bindparam("now"),
    )
)
ATTEMPT_DONE = (
    update(attempts_t).where(*_LEASED_ATTEMPT).values(status="DONE", order_id=bindparam("order"))
)
UNLOCK_CART = (
    update(carts_t)
    .where(*_LEASED_CART)
    .values(status="ACTIVE", locked_until=None, checkout_lease=None)
)
FORGET_ATTEMPT = delete(attempts_t).where(*_LEASED_ATTEMPT)
_RENEW_ATTEMPT = update(attempts_t).where(*_LEASED_ATTEMPT).values(locked_until=bindparam("until"))
_RENEW_CART = update(carts_t).where(*_LEASED_CART).values(locked_until=bindparam("until"))
_RENEW_RESERVATIONS = (
    update(reservations_t)
    .where(reservations_t.c.reference == bindparam("ref"), reservations_t.c.status == "ACTIVE")
    .values(expires_at=bindparam("until"))
)


def _claim_stmt(conn: AsyncConnection) -> Any:
    """INSERT .. ON CONFLICT DO NOTHING of a PENDING attempt (built once per dialect)."""
    stmt = _CLAIM.get(conn.dialect.name)
    if stmt is None:
        stmt = _CLAIM[conn.dialect.name] = (
            dialect_insert(conn, attempts_t)
            .values(
                cart_id=bindparam("cart"),
                key=bindparam("key_"),
                status="PENDING",
                locked_until=bindparam("until"),
                lease=bindparam("lease_"),
                created_at=bindparam("now"),
            )
            .on_conflict_do_nothing(index_elements=["cart_id", "key"])
            .returning(attempts_t.c.key)
        )
    return stmt


async def claim(conn: AsyncConnection, cart_pk: int, key: str, lease: str, ttl: timedelta) -> bool:
    """Record the key as PENDING under ``lease`` (or take over a PENDING one whose
    lease lapsed). False when another request holds it or finished it."""
    at = now()
    params = {"cart": cart_pk, "key_": key, "until": at + ttl, "now": at, "lease_": lease}
    got = (await conn.execute(_claim_stmt(conn), params)).first()
    if got is not None:
        return True
    took = await conn.execute(_RECLAIM, params)
    return took.rowcount == 1


async def claim_and_lock(
    conn: AsyncConnection, cart_pk: int, version: int, key: str, lease: str, ttl: timedelta
) -> tuple[bool, Any]:
    """:func:`claim` the key, then lock the cart (``COMPLETING`` under ``lease``, only at
    ``version``): (claimed, the lock's row with ``open_payments``, or None when the
    cart moved). On PostgreSQL a new key takes one statement for both."""
    at = now()
    params = {
        "cart": cart_pk,
        "key_": key,
        "version_": version,
        "now": at,
        "until": at + ttl,
        "lease_": lease,
    }
    if conn.dialect.name == "postgresql":
        both = (await fast.execute(conn, _claim_and_lock(conn), params)).one()
        if both.claimed:
            return True, both if both.locked else None
        # The key is known: take over a lapsed attempt (or wait for a live one).
        if (await conn.execute(_RECLAIM, params)).rowcount != 1:
            return False, None
    elif not await claim(conn, cart_pk, key, lease, ttl):
        return False, None
    return True, (await conn.execute(LOCK_CART, params)).first()


_BOTH: dict[str, Any] = {}


def _claim_and_lock(conn: AsyncConnection) -> Any:
    """PostgreSQL: the claim's INSERT and, only if it inserted, the cart's lock."""
    stmt = _BOTH.get("postgresql")
    if stmt is None:
        claimed = _claim_stmt(conn).cte("claimed")
        locked = LOCK_CART.where(select(claimed.c.key).exists()).cte("locked")
        stmt = _BOTH["postgresql"] = fast.Prebuilt(
            select(
                select(func.count()).select_from(claimed).scalar_subquery().label("claimed"),
                select(func.count()).select_from(locked).scalar_subquery().label("locked"),
                select(func.bool_or(locked.c.open_payments))
                .scalar_subquery()
                .label("open_payments"),
            )
        )
    return stmt


async def pause(path: str) -> None:
    """Tests only: say we got here (``<path>.reached``), then wait while ``path`` exists."""
    await asyncio.to_thread(_wait_while, Path(path))


def _wait_while(path: Path) -> None:
    path.with_name(path.name + ".reached").write_text(str(os.getpid()))
    while path.exists():
        time.sleep(0.05)
