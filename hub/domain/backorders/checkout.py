"""Checkout's side of backorders: which short lines may be sold beyond stock (the
plan), and the backorders written with the order (the cap taken in one conditional
UPDATE per variant, so it holds under concurrent checkouts on both databases).

Where a backordered line's units wait: a pickup line at its pickup store; a shipping
line at the shipping location (active, ships, sells to the channel) with the most
``incoming`` units of the variant, else the first by fulfilment priority. Units still
available there are taken as usual (reserved, then committed); only the rest is
backordered. Ordinary carts (nothing short) never reach this module: checkout's
statement count for them is unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.tables import (
    backorders_t,
    fo_lines_t,
    fulfillment_orders_t,
    levels_t,
    variant_policies_t,
)
from hub.domain.backorders.codes import InventoryPolicy
from hub.domain.backorders.policy import PolicyRecord, policies_for
from hub.events.outbox import Outbox


@dataclass(slots=True)
class BackorderTake:
    """``quantity`` units of cart line ``line_pk`` sold beyond stock at ``location_pk``."""

    line_pk: int
    variant_pk: int
    location_pk: int
    quantity: int
    policy: InventoryPolicy
    delivery_kind: str
    expected_on: str | None = None


def _shipping_sites(sites: Sequence[Any]) -> list[Any]:
    return sorted((s for s in sites if s.ships), key=lambda s: (s.priority, s.pk))


async def _incoming(
    conn: AsyncConnection, variant_pks: Sequence[int], loc_pks: Sequence[int]
) -> dict[tuple[int, int], int]:
    if not variant_pks or not loc_pks:
        return {}
    rows = (
        await conn.execute(
            select(levels_t.c.variant_id, levels_t.c.location_id, levels_t.c.incoming).where(
                levels_t.c.variant_id.in_(sorted(set(variant_pks))),
                levels_t.c.location_id.in_(sorted(set(loc_pks))),
            )
        )
    ).all()
    return {(r.variant_id, r.location_id): int(r.incoming) for r in rows}


async def plan_backorders(
    conn: AsyncConnection,
    priced: Any,
    short: Sequence[tuple[Any, tuple[int, str] | None]],
    takes: dict[int, list[tuple[int, int]]],
    sites: Sequence[Any],
) -> tuple[list[BackorderTake], list[tuple[Any, tuple[int, str] | None]]]:
    """Of the lines routing left ``short``, those whose variant sells beyond stock
    (within its cap): what is still available at their location goes into ``takes``,
    the rest becomes a :class:`BackorderTake`. Returns (backorders, still short)."""
    policies = await policies_for(conn, [ln.variant_pk for ln, _ in short])
    kinds = {ln.pk: g.kind for g in priced.groups for ln in g.lines}
    ship = _shipping_sites(sites)
    incoming = await _incoming(conn, [ln.variant_pk for ln, _ in short], [s.pk for s in ship])
    room: dict[int, int | None] = {v: p.room for v, p in policies.items()}
    out: list[BackorderTake] = []
    still: list[tuple[Any, tuple[int, str] | None]] = []
    variant_of = {ln.pk: ln.variant_pk for ln in priced.lines}
    for ln, where in short:
        pol: PolicyRecord = policies[ln.variant_pk]
        kind = kinds.get(ln.pk, "SHIPPING")
        loc = _location(kind, where, ln.variant_pk, ship, incoming)
        if not pol.sells_beyond_stock or loc is None:
            still.append((ln, where))
            continue
        v = ln.variant_pk
        taken = sum(
            q for lp, t in takes.items() if variant_of.get(lp) == v for lk, q in t if lk == loc
        )
        have = max(priced.stock.get(v, {}).get(loc, 0) - taken, 0)
        now_units = min(have, ln.quantity)
        beyond = ln.quantity - now_units
        cap = room[v]
        if cap is not None and beyond > cap:
            still.append((ln, where))
            continue
        if cap is not None:
            room[v] = cap - beyond
        if now_units:
            takes[ln.pk] = [(loc, now_units)]
        if beyond <= 0:
            continue
        out.append(
            BackorderTake(
                ln.pk,
                v,
                loc,
                beyond,
                pol.policy,
                kind,
                pol.expected_on.isoformat() if pol.expected_on else None,
            )
        )
    return out, still


def _location(
    kind: str,
    where: tuple[int, str] | None,
    variant_pk: int,
    ship: Sequence[Any],
    incoming: dict[tuple[int, int], int],
) -> int | None:
    if kind == "PICKUP":
        return where[0] if where is not None else None
    if not ship:
        return None
    best = max(ship, key=lambda s: (incoming.get((variant_pk, s.pk), 0), -s.priority, -s.pk))
    return int(best.pk)


_TAKE_ROOM = (
    update(variant_policies_t)
    .where(
        variant_policies_t.c.variant_id == bindparam("v"),
        variant_policies_t.c.policy != InventoryPolicy.DENY.value,
        (variant_policies_t.c.backorder_limit.is_(None))
        | (
            variant_policies_t.c.backordered + bindparam("q")
            <= variant_policies_t.c.backorder_limit
        ),
    )
    .values(backordered=variant_policies_t.c.backordered + bindparam("q"))
)


class BackorderCapReached(Exception):
    """A concurrent checkout took the last units the cap allowed."""

    def __init__(self, line_pks: Sequence[int]) -> None:
        super().__init__(line_pks)
        self.line_pks = list(line_pks)


async def take_backorders(
    conn: AsyncConnection,
    outbox: Outbox,
    order_pk: int,
    order_line_pks: dict[int, int],
    backorders: Sequence[BackorderTake],
) -> None:
    """Write the order's backorders on ``conn`` (the order's transaction): take each
    variant's room under its cap (one conditional UPDATE: the row lock orders
    concurrent checkouts on PostgreSQL, SQLite has one writer), record the backorders
    against their fulfillment orders and put those on hold until stock arrives.
    ``order_line_pks``: cart line pk -> order line pk. Raises
    :class:`BackorderCapReached` (the caller rolls back) when the cap moved."""
    per_variant: dict[int, int] = {}
    for b in backorders:
        per_variant[b.variant_pk] = per_variant.get(b.variant_pk, 0) + b.quantity
    over = []
    for v in sorted(per_variant):
        got = await conn.execute(_TAKE_ROOM, {"v": v, "q": per_variant[v]})
        if got.rowcount != 1:
            over += [b.line_pk for b in backorders if b.variant_pk == v]
    if over:
        raise BackorderCapReached(over)
    fos = (
        await conn.execute(
            select(
                fo_lines_t.c.order_line_id,
                fulfillment_orders_t.c.id,
                fulfillment_orders_t.c.location_id,
                fulfillment_orders_t.c.delivery_kind,
            )
            .join(
                fulfillment_orders_t, fulfillment_orders_t.c.id == fo_lines_t.c.fulfillment_order_id
            )
            .where(fulfillment_orders_t.c.order_id == order_pk)
        )
    ).all()
    fo_of = {(r.order_line_id, r.location_id, r.delivery_kind): r.id for r in fos}
    now = datetime.now(UTC)
    rows = []
    held: dict[int, str] = {}
    for b in backorders:
        line = order_line_pks[b.line_pk]
        fo = fo_of.get((line, b.location_pk, b.delivery_kind))
        rows.append(
            {
                "variant_id": b.variant_pk,
                "location_id": b.location_pk,
                "order_id": order_pk,
                "order_line_id": line,
                "fulfillment_order_id": fo,
                "policy": b.policy.value,
                "quantity": b.quantity,
                "quantity_allocated": 0,
                "status": "OPEN",
                "created_at": now,
            }
        )
        if fo is not None:
            held[fo] = b.policy.value
    ids = (
        (await conn.execute(backorders_t.insert().returning(backorders_t.c.id), rows))
        .scalars()
        .all()
    )
    for fo, policy in sorted(held.items()):
        await conn.execute(
            update(fulfillment_orders_t)
            .where(fulfillment_orders_t.c.id == fo)
            .values(status="ON_HOLD", held_from="OPEN", hold_reason=policy, updated_at=now)
        )
    for pk, b, row in zip(sorted(ids), backorders, rows, strict=True):
        outbox.add(
            "backorder.created",
            {
                "backorderId": pk,
                "orderId": order_pk,
                "variantId": b.variant_pk,
                "locationId": b.location_pk,
                "fulfillmentOrderId": row["fulfillment_order_id"],
                "policy": b.policy.value,
                "quantity": b.quantity,
                "expectedOn": b.expected_on,
            },
        )
