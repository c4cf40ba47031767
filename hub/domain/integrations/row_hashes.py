"""What a connector instance last imported, row by row: a content hash per row key
(``feed_row_hashes``), so a re-import hands the hub only the rows whose content
changed. The connector computes the hashes; the hub keeps them."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import bindparam, delete, select

from hub.db.database import Database
from hub.db.tables import feed_hashes_t
from hub.domain.inventory import dialect_insert

CHUNK = 1000


async def row_hashes(db: Database, instance_id: int) -> dict[str, str]:
    """Every row key of the instance with its hash (one SELECT)."""
    async with db.read() as conn:
        rows = await conn.execute(
            select(feed_hashes_t.c.key, feed_hashes_t.c.hash).where(
                feed_hashes_t.c.instance_id == instance_id
            )
        )
        return {r.key: r.hash for r in rows}


async def save_row_hashes(db: Database, instance_id: int, hashes: Mapping[str, str]) -> None:
    """Record (insert or replace) the hashes of the rows just imported."""
    items = list(hashes.items())
    for start in range(0, len(items), CHUNK):
        chunk = items[start : start + CHUNK]
        async with db.transaction() as conn:
            stmt = dialect_insert(conn, feed_hashes_t)
            stmt = stmt.on_conflict_do_update(
                index_elements=["instance_id", "key"], set_={"hash": stmt.excluded.hash}
            )
            await conn.execute(
                stmt, [{"instance_id": instance_id, "key": k, "hash": h} for k, h in chunk]
            )


async def forget_row_hashes(db: Database, instance_id: int) -> int:
    """Drop every hash of the instance (it starts afresh); how many."""
    async with db.transaction() as conn:
        res = await conn.execute(
            delete(feed_hashes_t).where(feed_hashes_t.c.instance_id == bindparam("instance")),
            {"instance": instance_id},
        )
        return res.rowcount or 0
