"""Transfers between locations: out of the source at once, ``incoming`` at the
destination until it is received."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.database import Reader
from hub.db.tables import transfers_t
from hub.domain.errors import Code, fail
from hub.domain.inventory.changes import Change, apply_change, check_exists, positive
from hub.domain.inventory.idempotency import Done
from hub.domain.inventory.records import LevelRecord, now
from hub.events.outbox import Outbox


def check_transfer(from_pk: int, to_pk: int, lines: Sequence[tuple[int, int]]) -> None:
    if from_pk == to_pk:
        raise fail(Code.INVALID, "source and destination are the same", "to_location_id")
    if not lines:
        raise fail(Code.BLANK, "a transfer needs lines", "lines")
    for _, q in lines:
        positive(q)


async def transfer(
    conn: AsyncConnection,
    outbox: Outbox,
    from_pk: int,
    to_pk: int,
    lines: Sequence[tuple[int, int]],
    *,
    actor: str = "system",
) -> Done:
    """Ship units between locations: out of the source now, `incoming` at the
    destination until :func:`receive_transfer`."""
    for vpk, _ in lines:
        await check_exists(conn, vpk, from_pk)
        await check_exists(conn, vpk, to_pk)
    tid = (
        await conn.execute(
            insert(transfers_t)
            .values(
                from_location_id=from_pk,
                to_location_id=to_pk,
                status="IN_TRANSIT",
                lines=[{"variant_id": v, "quantity": q} for v, q in lines],
                created_at=now(),
            )
            .returning(transfers_t.c.id)
        )
    ).scalar_one()
    ref = f"transfer:{tid}"
    out: list[LevelRecord] = []
    for vpk, q in lines:
        leaving = Change(
            vpk,
            from_pk,
            "transfer_out",
            {"on_hand": -q},
            need_available=q,
            online=False,
            reference=ref,
            actor=actor,
            field="lines",
        )
        arriving = Change(
            vpk,
            to_pk,
            "transfer_in_transit",
            {"incoming": q},
            reference=ref,
            actor=actor,
            field="lines",
        )
        out.append(await apply_change(conn, leaving, outbox))
        out.append(await apply_change(conn, arriving, outbox))
    return out, {"transfer": tid}


async def receive_transfer(
    conn: AsyncConnection, outbox: Outbox, transfer_pk: int, *, actor: str = "system"
) -> Done:
    row = (
        await conn.execute(
            update(transfers_t)
            .where(transfers_t.c.id == transfer_pk, transfers_t.c.status == "IN_TRANSIT")
            .values(status="RECEIVED", received_at=now())
            .returning(transfers_t)
        )
    ).first()
    if row is None:
        raise fail(Code.NOT_FOUND, "no transfer in transit with that id", "id")
    out = []
    for line in row.lines:
        ch = Change(
            line["variant_id"],
            row.to_location_id,
            "transfer_received",
            {"incoming": -line["quantity"], "on_hand": line["quantity"]},
            reference=f"transfer:{transfer_pk}",
            actor=actor,
        )
        out.append(await apply_change(conn, ch, outbox))
    return out, {"transfer": transfer_pk}


async def transfer_destination(reader: Reader, pk: int) -> int | None:
    """Where a transfer goes (its destination location), or None if there is none."""
    got = await reader.first(select(transfers_t.c.to_location_id).where(transfers_t.c.id == pk))
    return None if got is None else int(got.to_location_id)
