"""The inventory service: the thin layer that opens and commits the transaction each
stock write runs in (its unit of work), then publishes the write's events.

The operations themselves (:mod:`~hub.domain.inventory.operations`,
:mod:`~hub.domain.inventory.transfers`, :mod:`~hub.domain.inventory.reservations`)
take the open connection, so a caller that composes several (checkout: reservations,
payments and the order) runs them in one transaction of its own instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, TypedDict, Unpack

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.database import Database
from hub.db.tables import reservations_t
from hub.domain.errors import DomainError
from hub.domain.inventory import operations as ops
from hub.domain.inventory import transfers
from hub.domain.inventory.changes import positive
from hub.domain.inventory.idempotency import Body, Done, run_in
from hub.domain.inventory.records import DEFAULT_RESERVATION_TTL, Outcome, ReserveRequest
from hub.domain.inventory.records import now as _now
from hub.domain.inventory.reservation_pg import reserve_single_statement
from hub.domain.inventory.reservations import (
    committed,
    given_back,
    reserve_body,
    settle_body,
)
from hub.events.bus import Event
from hub.events.outbox import Outbox

Publish = Callable[[Sequence[Event]], Awaitable[None]]
# Run in a receipt's transaction with the (variant, location) pairs that received
# stock and the receipt's result (``{"transfer": pk}`` for a transfer): the container
# wires the endless aisle and backorder allocation here (inventory knows no orders).
AfterReceipt = Callable[
    [AsyncConnection, Outbox, list[tuple[int, int]], dict[str, Any]], Awaitable[Any]
]


class Sale(TypedDict, total=False):
    """What a fulfilment or store sale may say besides its units."""

    reference: str | None
    serials: Sequence[str]
    key: str | None  # idempotency key


class Inventory:
    """The inventory service bound to a database and an event publisher."""

    def __init__(self, db: Database, publish: Publish | None = None) -> None:
        self.db = db
        self._publish = publish  # run after commit
        self.after_receipt: AfterReceipt | None = None

    def _receiving(self, body: Body) -> Body:
        """``body`` then :attr:`after_receipt` for the levels it changed, in its
        transaction."""

        async def wrapped(conn: AsyncConnection, outbox: Outbox) -> Done:
            levels, result = await body(conn, outbox)
            if self.after_receipt is not None:
                pairs = sorted({(lv.variant_pk, lv.location_pk) for lv in levels})
                await self.after_receipt(conn, outbox, pairs, result)
            return levels, result

        return wrapped

    async def _run(self, operation: str, key: str | None, body: Body) -> Outcome:
        """One write in its own transaction; its events published after the commit."""
        async with self.db.transaction() as conn:
            out = await run_in(conn, operation, key, body)
        await self._published(out)
        return out

    async def _published(self, out: Outcome) -> None:
        if out.events and self._publish is not None:
            await self._publish(out.events)

    # ----- staff and connector operations

    async def adjust(
        self,
        variant_pk: int,
        location_pk: int,
        delta: int,
        reason: str,
        *,
        state: str = "on_hand",
        key: str | None = None,
        actor: str = "system",
        reference: str | None = None,
    ) -> Outcome:
        ops.check_adjust(reason, state, delta)
        return await self._run(
            "adjust",
            key,
            lambda conn, outbox: ops.adjust(
                conn,
                outbox,
                variant_pk,
                location_pk,
                delta,
                reason,
                state=state,
                actor=actor,
                reference=reference,
            ),
        )

    async def set_on_hand(
        self,
        variant_pk: int,
        location_pk: int,
        quantity: int,
        expected: int | None,
        reason: str = "cycle_count",
        *,
        key: str | None = None,
        actor: str = "system",
    ) -> Outcome:
        """A counted quantity, with compare-and-set on the previous value."""
        ops.check_count(reason, quantity)
        return await self._run(
            "set_on_hand",
            key,
            lambda conn, outbox: ops.set_on_hand(
                conn, outbox, variant_pk, location_pk, quantity, expected, reason, actor=actor
            ),
        )

    async def set_thresholds(
        self,
        variant_pk: int,
        location_pk: int,
        *,
        safety_stock: int | None,
        reorder_point: int | None,
        actor: str = "system",
    ) -> Outcome:
        settings = ops.threshold_settings(safety_stock, reorder_point)
        return await self._run(
            "thresholds",
            None,
            lambda conn, outbox: ops.set_thresholds(
                conn, outbox, variant_pk, location_pk, settings, actor=actor
            ),
        )

    async def receive(
        self,
        variant_pk: int,
        location_pk: int,
        quantity: int,
        *,
        key: str | None = None,
        lot_number: str | None = None,
        expires_on: date | None = None,
        serials: Sequence[str] = (),
        actor: str = "system",
        reference: str | None = None,
    ) -> Outcome:
        ops.check_receive(quantity, serials)
        return await self._run(
            "receive",
            key,
            self._receiving(
                lambda conn, outbox: ops.receive(
                    conn,
                    outbox,
                    variant_pk,
                    location_pk,
                    quantity,
                    lot_number=lot_number,
                    expires_on=expires_on,
                    serials=serials,
                    actor=actor,
                    reference=reference,
                )
            ),
        )

    async def quarantine(
        self,
        variant_pk: int,
        location_pk: int,
        quantity: int,
        *,
        release: bool = False,
        dispose: bool = False,
        reason: str | None = None,
        key: str | None = None,
        actor: str = "system",
    ) -> Outcome:
        deltas, why = ops.quarantine_change(
            quantity, release=release, dispose=dispose, reason=reason
        )
        return await self._run(
            "quarantine",
            key,
            lambda conn, outbox: ops.quarantine(
                conn, outbox, variant_pk, location_pk, deltas, why, actor=actor
            ),
        )

    async def transfer(
        self,
        from_pk: int,
        to_pk: int,
        lines: Sequence[tuple[int, int]],
        *,
        key: str | None = None,
        actor: str = "system",
    ) -> Outcome:
        transfers.check_transfer(from_pk, to_pk, lines)
        return await self._run(
            "transfer",
            key,
            lambda conn, outbox: transfers.transfer(
                conn, outbox, from_pk, to_pk, lines, actor=actor
            ),
        )

    async def receive_transfer(
        self, transfer_pk: int, *, key: str | None = None, actor: str = "system"
    ) -> Outcome:
        return await self._run(
            "transfer_receive",
            key,
            self._receiving(
                lambda conn, outbox: transfers.receive_transfer(
                    conn, outbox, transfer_pk, actor=actor
                )
            ),
        )

    # ----- sales: reservations, commitments, fulfilment, returns

    async def reserve(
        self,
        variant_pk: int,
        location_pk: int,
        quantity: int,
        *,
        ttl: timedelta = DEFAULT_RESERVATION_TTL,
        reference: str | None = None,
        key: str | None = None,
        online: bool = True,
    ) -> Outcome:
        """Hold units for a checkout; one conditional UPDATE decides. A bundle holds
        its components instead, all or nothing. On PostgreSQL one variant is reserved
        by one autocommit statement (the POSTGRES_SINGLE_STATEMENT strategy: the
        statement is the transaction); anything else in a transaction (GENERAL)."""
        positive(quantity)
        req = ReserveRequest(variant_pk, location_pk, quantity, ttl, reference, key, online)
        if self.db.dialect == "postgresql":
            async with self.db.read() as conn:
                fast = await reserve_single_statement(conn, req)
            if fast is not None:
                await self._published(fast)
                return fast
        return await self._run("reserve", key, reserve_body(req))

    async def release(self, token: str) -> Outcome:
        body = settle_body(token, "RELEASED", "reservation_released", given_back)
        return await self._run("settle_RELEASED", None, body)

    async def commit(self, token: str, *, products: Mapping[int, int] | None = None) -> Outcome:
        """An order takes the reserved units: reserved -> committed. ``products``
        (variant -> product, when the caller knows) spares the events' look-up."""
        body = settle_body(token, "COMMITTED", "sale_committed", committed, products=products)
        return await self._run("settle_COMMITTED", None, body)

    async def fulfill(
        self, variant_pk: int, location_pk: int, quantity: int, **sale: Unpack[Sale]
    ) -> Outcome:
        """Committed units leave the building: committed and onHand go down."""
        return await self._sale("fulfill", False, variant_pk, location_pk, quantity, sale)

    async def sell_at_location(
        self, variant_pk: int, location_pk: int, quantity: int, **sale: Unpack[Sale]
    ) -> Outcome:
        """A store sale handed over on the spot (may use safety stock)."""
        return await self._sale("sell", True, variant_pk, location_pk, quantity, sale)

    async def _sale(
        self,
        operation: str,
        in_store: bool,
        variant_pk: int,
        location_pk: int,
        quantity: int,
        sale: Sale,
    ) -> Outcome:
        positive(quantity)
        reference, serials = sale.get("reference"), sale.get("serials", ())
        return await self._run(
            operation,
            sale.get("key"),
            lambda conn, outbox: ops.leave(
                conn,
                outbox,
                variant_pk,
                location_pk,
                quantity,
                in_store=in_store,
                reference=reference,
                serials=serials,
            ),
        )

    async def return_units(
        self,
        variant_pk: int,
        location_pk: int,
        quantity: int,
        *,
        restock: bool = True,
        serials: Sequence[str] = (),
        reference: str | None = None,
        key: str | None = None,
    ) -> Outcome:
        """A return at any location: back on hand, or into quarantine for inspection."""
        positive(quantity)
        return await self._run(
            "return",
            key,
            lambda conn, outbox: ops.return_units(
                conn,
                outbox,
                variant_pk,
                location_pk,
                quantity,
                restock=restock,
                serials=serials,
                reference=reference,
            ),
        )

    async def release_expired(self, now: datetime | None = None, limit: int = 500) -> int:
        """Release reservations past their expiry (the background job)."""
        at = now or _now()
        async with self.db.read() as conn:
            tokens = (
                (
                    await conn.execute(
                        select(reservations_t.c.token)
                        .where(
                            reservations_t.c.status == "ACTIVE",
                            reservations_t.c.expires_at <= at,
                            ~reservations_t.c.token.like("%.%"),
                        )
                        .order_by(reservations_t.c.expires_at)
                        .limit(limit)
                    )
                )
                .scalars()
                .all()
            )
        done = 0
        for token in tokens:
            body = settle_body(token, "EXPIRED", "reservation_expired", given_back, expired_by=at)
            try:
                await self._run("settle_EXPIRED", None, body)
                done += 1
            except DomainError:
                pass  # settled by someone else meanwhile
        return done
