"""``posSync``: a till's offline transactions, each applied once.

Each transaction runs in a transaction of its own (one bad transaction never fails
the rest of the batch). Its idempotency record, a ``pos_sync_transactions`` row unique
per (store, till, client transaction id), is the first row it writes: a replay (in the
same batch, a later batch, or concurrently from another request) finds it and answers
the stored result without doing anything again; two requests racing on one id meet at
the unique index and the loser reads the winner's result. A rejection writes nothing
(not even its record): sending it again re-evaluates it, which is how a return whose
sale had not arrived yet succeeds later. Within a batch, transactions apply in the
till's order (local time, then sale before return before count), and the results come
back in the batch's order. Stock moves through conditional UPDATEs (never read-modify-
write), so tills syncing the same variants at once lose no units; a deadlock or
serialization failure between them is retried.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from hub.db.database import Database
from hub.db.tables import locations_t, pos_sync_t
from hub.domain.errors import Code, DomainError, fail
from hub.domain.inventory.oversold import discrepancies
from hub.domain.pos.sync_apply import Ctx, apply
from hub.domain.pos.sync_types import (
    ACCEPTED,
    ACCEPTED_WITH_CONFLICTS,
    KIND_ORDER,
    MAX_BATCH,
    REJECTED,
    PosSyncCode,
    PosTxn,
    Rejected,
    TxnResult,
    check_txn,
)
from hub.events.bus import Event
from hub.events.outbox import Outbox

log = logging.getLogger(__name__)

__all__ = ["PosSync", "discrepancies"]

RETRIES = 4


def _when(t: PosTxn | Rejected, i: int) -> tuple[Any, ...]:
    """Where a transaction goes in the till's order (malformed ones last: they are
    rejected anyway)."""
    if isinstance(t, PosTxn) and t.kind in KIND_ORDER and t.occurred_at.tzinfo is not None:
        return (0, t.occurred_at, KIND_ORDER[t.kind], i)
    return (1, i)


class PosSync:
    """The thin service: one transaction per synced transaction, events published
    after each commit."""

    def __init__(
        self, db: Database, publish: Callable[[Sequence[Event]], Awaitable[None]], tolerance: int
    ) -> None:
        self.db, self.publish, self.tolerance = db, publish, tolerance

    async def sync(
        self,
        location_pk: int,
        till: str,
        batch: Sequence[PosTxn | Rejected],
        *,
        actor: str,
        may_count: bool,
    ) -> list[TxnResult]:
        """The results of ``batch`` in its order (a :class:`Rejected` entry stands for a
        transaction the API could not parse)."""
        from hub.domain.pos.sync_types import ID_RE

        if not ID_RE.match(till or ""):
            raise fail(Code.INVALID, "a till id is 1 to 63 of A-Z a-z 0-9 . _ : -", "till_id")
        if len(batch) > MAX_BATCH:
            raise fail(PosSyncCode.BATCH_TOO_LARGE, f"at most {MAX_BATCH} transactions", "batch")
        async with self.db.read() as conn:
            found = (
                await conn.execute(select(locations_t.c.id).where(locations_t.c.id == location_pk))
            ).first()
        if found is None:
            raise fail(Code.NOT_FOUND, "no location with that id", "location_id")
        order = sorted(range(len(batch)), key=lambda i: _when(batch[i], i))
        results: list[TxnResult | None] = [None] * len(batch)
        for i in order:
            results[i] = await self._one(location_pk, till, batch[i], actor, may_count)
        return [r for r in results if r is not None]

    async def _one(
        self, location_pk: int, till: str, t: PosTxn | Rejected, actor: str, may_count: bool
    ) -> TxnResult:
        if isinstance(t, Rejected):
            return TxnResult(t.client_txn_id, REJECTED, str(t.code), t.message)
        try:
            check_txn(t)
        except Rejected as exc:
            return TxnResult(t.client_txn_id, REJECTED, str(exc.code), exc.message)
        for attempt in range(RETRIES):
            stored = await self._stored(location_pk, till, t.client_txn_id)
            if stored is not None:
                return stored
            try:
                return await self._apply(location_pk, till, t, actor, may_count)
            except Rejected as exc:
                return TxnResult(t.client_txn_id, REJECTED, str(exc.code), exc.message)
            except DomainError as exc:
                err = exc.errors[0]
                return TxnResult(t.client_txn_id, REJECTED, str(err.code), err.message)
            except IntegrityError:
                continue  # a concurrent sync of the same id won: read its result
            except DBAPIError as exc:  # deadlock or serialization failure: again
                log.info("posSync %s:%s retried: %s", till, t.client_txn_id, exc)
                await asyncio.sleep(0.05 * (attempt + 1))
            except Exception:  # a fault of the hub's: this one fails, the batch goes on
                log.exception("posSync %s:%s failed", till, t.client_txn_id)
                break
        stored = await self._stored(location_pk, till, t.client_txn_id)
        if stored is not None:
            return stored
        return TxnResult(
            t.client_txn_id, REJECTED, str(PosSyncCode.FAILED),
            "not applied (the hub's fault, logged): send it again",
        )  # fmt: skip

    async def _stored(self, location_pk: int, till: str, cid: str) -> TxnResult | None:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(pos_sync_t).where(
                        pos_sync_t.c.location_id == location_pk,
                        pos_sync_t.c.till_id == till,
                        pos_sync_t.c.client_txn_id == cid,
                    )
                )
            ).first()
        if row is None:
            return None
        r: dict[str, Any] = row.result or {}
        return TxnResult(
            cid, row.status, r.get("code"), r.get("message"), list(r.get("conflicts") or []),
            row.order_id, replayed=True,
        )  # fmt: skip

    async def _apply(
        self, location_pk: int, till: str, t: PosTxn, actor: str, may_count: bool
    ) -> TxnResult:
        outbox = Outbox()
        async with self.db.transaction() as conn:
            sync_pk = (
                await conn.execute(
                    insert(pos_sync_t)
                    .values(
                        location_id=location_pk, till_id=till, client_txn_id=t.client_txn_id,
                        kind=t.kind, status=ACCEPTED, result={}, occurred_at=t.occurred_at,
                    )
                    .returning(pos_sync_t.c.id)
                )
            ).scalar_one()  # fmt: skip
            ctx = Ctx(
                conn, outbox, location_pk=location_pk, till=till, actor=actor,
                tolerance=self.tolerance, sync_pk=sync_pk, may_count=may_count,
            )  # fmt: skip
            await apply(ctx, t)
            status = ACCEPTED_WITH_CONFLICTS if ctx.conflicts else ACCEPTED
            res = TxnResult(t.client_txn_id, status, conflicts=ctx.conflicts, order_pk=ctx.order_pk)
            await conn.execute(
                update(pos_sync_t)
                .where(pos_sync_t.c.id == sync_pk)
                .values(status=status, result=res.stored(), order_id=ctx.order_pk)
            )
            events = await outbox.flush(conn)
        await self.publish(events)
        return res
