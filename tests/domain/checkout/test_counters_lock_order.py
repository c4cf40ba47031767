"""The one-statement promotion counters (PostgreSQL: hub.domain.checkout.counters) lock
the promotions an order takes in id order, whatever plan the UPDATE gets. Without
that, two checkouts of the same promotions deadlocked under ``bench/checkout.py
--workers 2``: on a small ``promotions`` table the UPDATE ran as a hash join over a
sequential scan, locking in the order of the rows' current versions on disk, which
every update moves."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from hub.domain.checkout.counters import _TAKE_ALL
from tests.helpers.client import Hub
from tests.schema.test_checkout_speed import _code_promotion

LOCK = text("SELECT id FROM promotions WHERE id = :p FOR UPDATE")
LOCK_NOWAIT = text("SELECT id FROM promotions WHERE id = :p FOR UPDATE NOWAIT")


async def test_the_counters_lock_promotions_in_id_order(hub: Hub) -> None:
    if hub.name != "postgresql":
        pytest.skip("the one-statement counters are PostgreSQL's (SQLite: redeem())")
    first = await _code_promotion(hub, f"ORD{uuid.uuid4().hex[:8]}")
    second = await _code_promotion(hub, f"ORD{uuid.uuid4().hex[:8]}")
    assert first < second
    # The first one's current version moves behind the second's on disk.
    engine = hub.db.engine
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE promotions SET times_used = times_used WHERE id = :p"), {"p": first}
        )
    async with engine.connect() as holder, engine.connect() as taker, engine.connect() as probe:
        await holder.begin()
        await holder.execute(LOCK, {"p": first})  # another checkout holds the first

        await taker.begin()
        # The plan of a small table: no index scans, no nested loop or merge join.
        for knob in ("indexscan", "bitmapscan", "nestloop", "mergejoin"):
            await taker.execute(text(f"SET LOCAL enable_{knob} = off"))
        take = asyncio.create_task(
            taker.execute(
                _TAKE_ALL,
                {
                    "pids": [first, second],
                    "spends": [0, 0],
                    "codes": [None, None],
                    "amounts": [100, 100],
                    "ns": [0, 1],
                    "key": None,
                    "ref": f"gid://hub/Order/lock-{uuid.uuid4().hex[:6]}",
                    "currency": "USD",
                    "now": datetime.now(UTC),
                },
            )
        )
        await asyncio.sleep(0.5)
        assert not take.done()  # waiting for the first promotion...
        await probe.begin()
        try:
            # ... without holding the second: it locks in id order.
            await probe.execute(LOCK_NOWAIT, {"p": second})
            second_free = True
        except DBAPIError:
            second_free = False
        await probe.rollback()
        await holder.rollback()
        row = (await asyncio.wait_for(take, 10)).one()
        await taker.rollback()
        assert second_free, "the counters locked the second promotion before the first"
        assert (row.promotions, row.codes) == (2, 0)
