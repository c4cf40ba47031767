"""The hub side of catalog and stock imports (``HubGateway.upsert_catalog`` and
``set_stock``): what an ERP, a file feed or a REST connector hands the hub as
:class:`~connectors.base.CatalogRow` / :class:`~connectors.base.StockRow`, written
through the catalog's and inventory's rules, fast.

- Each row is checked on its own first (:func:`check_row`): a bad row is *rejected*
  with a stable :class:`RowCode` and a message, and never fails the others.
- The rest is written in batches (``batch_size`` rows, default 1,000, per
  transaction) with set-based statements (:mod:`.catalog_batch`): a handful of
  SELECTs per batch, never one per row; inserts and updates as executemany.
- Products are matched by handle, variants by SKU. ``None`` fields are left alone.
  A product's price ranges and search text are kept in step; stock moves through
  :func:`hub.domain.inventory.bulk.set_on_hand_many` (ledger row and outbox event per
  level that moves), so ``hub inventory verify`` stays clean.
- Idempotent: a row equal to what the hub holds is ``unchanged`` and writes nothing.

If a batch hits a constraint another writer raced it to (a handle or SKU created
between the read and the write), it is rolled back and its rows are retried one per
transaction, so only the row concerned is rejected (``CONFLICT``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import CatalogRow, Publish, RowResult, StockRow
from hub.db.database import Database
from hub.db.tables import variants_t
from hub.domain.integrations.catalog_batch import write_batch
from hub.domain.integrations.catalog_rows import (
    SYNC_REASON,
    Reference,
    Rejected,
    RowCode,
    check_row,
    check_stock,
    load_reference,
    rejected,
)
from hub.domain.inventory.bulk import LevelTarget, set_on_hand_many
from hub.events.outbox import Outbox

BATCH_SIZE = 1000


# --------------------------------------------------------------------------- imports


RETRIES = 3  # attempts of a row alone after its batch lost a race


async def _run_batches(
    db: Database,
    rows: Sequence[object],
    results: list[RowResult | None],
    write: Callable[[AsyncConnection, Outbox, list[int]], Awaitable[dict[int, RowResult]]],
    batch_size: int,
    publish: Publish | None,
) -> None:
    """Write the rows whose result is still None, ``batch_size`` per transaction; a
    batch a racing writer broke is retried one row per transaction (each row up to
    :data:`RETRIES` times: the other writer's batch may still be committing)."""
    todo = [i for i in range(len(rows)) if results[i] is None]
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        try:
            await _one_transaction(db, batch, results, write, publish)
        except IntegrityError:
            for i in batch:
                for attempt in range(1, RETRIES + 1):
                    try:
                        await _one_transaction(db, [i], results, write, publish)
                        break
                    except IntegrityError as exc:
                        if attempt == RETRIES:
                            results[i] = RowResult(
                                _key(rows[i]), "rejected", str(RowCode.CONFLICT), _first_line(exc)
                            )
                        else:
                            await asyncio.sleep(0.05 * attempt)


# A write that changes nothing but takes SQLite's write lock: the batch's reads then
# see what no other writer can change before it commits (SQLite begins a transaction
# at the first write, so reads before it would see a moment that may have passed).
_SQLITE_LOCK = text("UPDATE feed_row_hashes SET hash = hash WHERE 0 = 1")


async def _one_transaction(
    db: Database,
    batch: list[int],
    results: list[RowResult | None],
    write: Callable[[AsyncConnection, Outbox, list[int]], Awaitable[dict[int, RowResult]]],
    publish: Publish | None,
) -> None:
    async with db.transaction() as conn:
        if conn.dialect.name == "sqlite":
            await conn.execute(_SQLITE_LOCK)
        outbox = Outbox()
        done = await write(conn, outbox, batch)
        events = await outbox.flush(conn, bulk=True)
    for i, res in done.items():
        results[i] = res
    if events and publish is not None:
        await publish(events)


def _key(row: object) -> str:
    """A row's key in its result: the source's name for it (``CatalogRow.item``), else
    its SKU."""
    return str(getattr(row, "item", None) or getattr(row, "sku", ""))


def _first_line(exc: Exception) -> str:
    return str(exc.orig if hasattr(exc, "orig") else exc).splitlines()[0][:200]


async def upsert_catalog(
    db: Database,
    rows: Sequence[CatalogRow],
    *,
    publish: Publish | None = None,
    batch_size: int = BATCH_SIZE,
    tax_classes: frozenset[str] | None = None,
    actor: str = "connector",
) -> list[RowResult]:
    """Create or update products, variants, prices and stock from ``rows``: one
    :class:`RowResult` per row, in order (``key``: the SKU). ``publish`` gets each
    batch's events after its commit (else the outbox dispatcher publishes them);
    ``tax_classes``: the classes a row may name (None: any slug)."""
    async with db.read() as conn:
        ref = await load_reference(conn, tax_classes)
    results: list[RowResult | None] = [None] * len(rows)
    first_row: dict[str, int] = {}
    for i, row in enumerate(rows):
        try:
            check_row(row, ref)
        except Rejected as r:
            results[i] = rejected(_key(row), r.code, r.message)
            continue
        if row.sku in first_row:
            results[i] = rejected(
                _key(row),
                RowCode.DUPLICATE_SKU,
                f"sku given twice (first as item {first_row[row.sku] + 1})",
            )
            continue
        first_row[row.sku] = i

    async def write(
        conn: AsyncConnection, outbox: Outbox, batch: list[int]
    ) -> dict[int, RowResult]:
        return await write_batch(conn, outbox, [(i, rows[i]) for i in batch], ref, actor)

    await _run_batches(db, rows, results, write, batch_size, publish)
    return [r for r in results if r is not None]


async def set_stock(
    db: Database,
    rows: Sequence[StockRow],
    *,
    publish: Publish | None = None,
    batch_size: int = BATCH_SIZE,
    actor: str = "connector",
) -> list[RowResult]:
    """Set absolute on-hand levels (``key``: ``<sku>@<location>``), in batches, through
    the ledger: one :class:`RowResult` per row, in order."""
    async with db.read() as conn:
        ref = await load_reference(conn, None)
    results: list[RowResult | None] = [None] * len(rows)
    seen: set[tuple[str, str]] = set()
    for i, row in enumerate(rows):
        key = f"{row.sku}@{row.location}"
        try:
            check_stock({row.location: row.on_hand}, ref)
            if (row.sku, row.location) in seen:
                raise Rejected(RowCode.DUPLICATE_SKU, "the same sku and location appear twice")
        except Rejected as r:
            results[i] = rejected(key, r.code, r.message)
            continue
        seen.add((row.sku, row.location))

    async def write(
        conn: AsyncConnection, outbox: Outbox, batch: list[int]
    ) -> dict[int, RowResult]:
        return await _write_stock(conn, outbox, [(i, rows[i]) for i in batch], ref, actor)

    await _run_batches(db, rows, results, write, batch_size, publish)
    return [r for r in results if r is not None]


async def _write_stock(
    conn: AsyncConnection,
    outbox: Outbox,
    items: list[tuple[int, StockRow]],
    ref: Reference,
    actor: str,
) -> dict[int, RowResult]:
    skus = {row.sku for _, row in items}
    found = {
        r.sku: (r.id, r.product_id)
        for r in await conn.execute(
            select(variants_t.c.sku, variants_t.c.id, variants_t.c.product_id).where(
                variants_t.c.sku.in_(skus)
            )
        )
    }
    out: dict[int, RowResult] = {}
    targets: list[tuple[int, str, LevelTarget]] = []
    for i, row in items:
        key = f"{row.sku}@{row.location}"
        if row.sku not in found:
            out[i] = rejected(key, RowCode.UNKNOWN_SKU, f"no variant with sku {row.sku!r}")
            continue
        vpk, ppk = found[row.sku]
        targets.append((i, key, LevelTarget(vpk, ref.locations[row.location], row.on_hand, ppk)))
    outcomes = await set_on_hand_many(
        conn, outbox, [t for _, _, t in targets], reason=SYNC_REASON, actor=actor
    )
    for (i, key, target), o in zip(targets, outcomes, strict=True):
        if o.refused is not None:
            out[i] = rejected(key, RowCode.NOT_TRACKED, o.message or "")
        else:
            out[i] = RowResult(key, "updated" if o.changed else "unchanged", id=target.variant_pk)
    return out


async def channel_currencies(db: Database) -> dict[str, str]:
    """Every channel's currency by handle (a feed reads its amounts in them)."""
    async with db.read() as conn:
        ref = await load_reference(conn, None)
    return {handle: currency for handle, (_, currency) in ref.channels.items()}
