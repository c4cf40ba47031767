"""A variant's inventory policy: read in batches, set by staff."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.tables import variant_policies_t, variants_t
from hub.domain.backorders.codes import BackorderCode, InventoryPolicy
from hub.domain.errors import Code, fail
from hub.domain.inventory.changes import dialect_insert
from hub.events.outbox import Outbox


@dataclass(slots=True)
class PolicyRecord:
    variant_pk: int
    policy: InventoryPolicy = InventoryPolicy.DENY
    expected_on: date | None = None
    backorder_limit: int | None = None
    backordered: int = 0

    @property
    def sells_beyond_stock(self) -> bool:
        return self.policy is not InventoryPolicy.DENY

    @property
    def room(self) -> int | None:
        """Units that may still be sold beyond stock (None: no cap)."""
        if not self.sells_beyond_stock:
            return 0
        if self.backorder_limit is None:
            return None
        return max(self.backorder_limit - self.backordered, 0)


def _record(r: Any) -> PolicyRecord:
    return PolicyRecord(
        r.variant_id,
        InventoryPolicy(r.policy),
        r.expected_on,
        r.backorder_limit,
        int(r.backordered or 0),
    )


async def policies_for(conn: Any, variant_pks: Sequence[int]) -> dict[int, PolicyRecord]:
    """The policies of ``variant_pks`` in one statement (a variant without a row:
    DENY). ``conn``: a connection or a reader (``.all``)."""
    if not variant_pks:
        return {}
    stmt = select(variant_policies_t).where(
        variant_policies_t.c.variant_id.in_(sorted(set(variant_pks)))
    )
    rows = await conn.all(stmt) if hasattr(conn, "all") else (await conn.execute(stmt)).all()
    got = {r.variant_id: _record(r) for r in rows}
    return {v: got.get(v, PolicyRecord(v)) for v in variant_pks}


async def set_policy(
    conn: AsyncConnection,
    outbox: Outbox,
    variant_pk: int,
    policy: InventoryPolicy,
    expected_on: date | None,
    backorder_limit: int | None,
) -> PolicyRecord:
    """Set a variant's policy (``variant.inventory_policy_updated``). PREORDER needs an
    expected date; a cap below the units already backordered is refused."""
    exists = (
        await conn.execute(select(variants_t.c.id).where(variants_t.c.id == variant_pk))
    ).first()
    if exists is None:
        raise fail(Code.NOT_FOUND, "no variant with that id", "variant_id")
    if policy is InventoryPolicy.PREORDER and expected_on is None:
        raise fail(
            BackorderCode.EXPECTED_DATE_REQUIRED,
            "a pre-order needs the date the stock is expected",
            "expected_on",
        )
    if backorder_limit is not None and backorder_limit < 0:
        raise fail(Code.INVALID, "backorderLimit can't be negative", "backorder_limit")
    current = await policies_for_conn(conn, variant_pk, lock=True)
    if (
        backorder_limit is not None
        and current is not None
        and backorder_limit < current.backordered
    ):
        raise fail(
            BackorderCode.BACKORDER_LIMIT_BELOW_BACKORDERED,
            f"{current.backordered} units are already backordered; the cap can't be lower",
            "backorder_limit",
        )
    now = datetime.now(UTC)
    values = {
        "policy": policy.value,
        "expected_on": expected_on,
        "backorder_limit": backorder_limit,
        "updated_at": now,
    }
    ins = dialect_insert(conn, variant_policies_t).values(variant_id=variant_pk, **values)
    await conn.execute(ins.on_conflict_do_update(index_elements=["variant_id"], set_=values))
    rec = await policies_for_conn(conn, variant_pk)
    assert rec is not None
    outbox.add(
        "variant.inventory_policy_updated",
        {
            "variantId": variant_pk,
            "policy": rec.policy.value,
            "expectedOn": rec.expected_on.isoformat() if rec.expected_on else None,
            "backorderLimit": rec.backorder_limit,
            "backordered": rec.backordered,
        },
    )
    return rec


async def policies_for_conn(
    conn: AsyncConnection, variant_pk: int, *, lock: bool = False
) -> PolicyRecord | None:
    stmt = select(variant_policies_t).where(variant_policies_t.c.variant_id == variant_pk)
    if lock:
        stmt = stmt.with_for_update()
    r = (await conn.execute(stmt)).first()
    return _record(r) if r is not None else None
