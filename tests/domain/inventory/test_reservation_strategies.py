"""The two strategies of one reservation operation write the same thing.

``GENERAL`` (any database) and ``POSTGRES_SINGLE_STATEMENT`` (one statement on
PostgreSQL) run on the same inputs, each in a transaction that is rolled back
afterwards, so both start from the same rows; then their resulting levels,
reservations, ledger movements, emitted events, idempotency results and answers (or
refusals) are compared. On SQLite the general strategy runs and its rows are checked.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.tables import idem_t, levels_t, moves_t, reservations_t
from hub.domain.errors import DomainError
from hub.domain.inventory import Outcome, ReservationStrategy, ReserveRequest, reserve
from hub.events.outbox import outbox as outbox_t
from tests.helpers.app import hub_of
from tests.helpers.client import Hub

GENERAL = ReservationStrategy.GENERAL
SINGLE = ReservationStrategy.POSTGRES_SINGLE_STATEMENT

Prepare = Callable[[AsyncConnection], Awaitable[None]]


async def _variant(hub: Hub) -> int:
    """A priced variant (as the catalog tests expect every product of the web channel
    to be)."""
    h = f"strategy-{uuid.uuid4().hex[:8]}"
    res = await hub.admin(
        """mutation($i: ProductInput!) { productCreate(input: $i) {
        product { variants(first: 1) { nodes { id } } } userErrors { code } } }""",
        {"i": {"handle": h, "title": h, "status": "ACTIVE", "variants": [{"sku": h.upper()}]}},
    )
    gid = res["data"]["productCreate"]["product"]["variants"]["nodes"][0]["id"]
    await hub.admin(
        """mutation($p: [VariantPriceInput!]!) { productVariantPricesSet(prices: $p) {
        userErrors { code } } }""",
        {"p": [{"variantId": gid, "channel": "web", "amount": "10"}]},
    )
    return int(gid.rsplit("/", 1)[1])


async def _location(hub: Hub) -> int:
    """A warehouse of the web channel, with coordinates (as the storefront tests
    expect of every location there)."""
    res = await hub.admin(
        """mutation($i: LocationInput!) { locationCreate(input: $i) {
        location { id } userErrors { field code } } }""",
        {
            "i": {
                "handle": f"strategy-{uuid.uuid4().hex[:8]}",
                "name": "Strategy test",
                "kind": "WAREHOUSE",
                "countryCode": "US",
                "latitude": 40.0,
                "longitude": -74.0,
                "channels": ["web"],
            }
        },
    )
    return int(res["data"]["locationCreate"]["location"]["id"].rsplit("/", 1)[1])


async def _stock(hub: Hub, vpk: int, lpk: int, on_hand: int, safety: int, reorder: int) -> None:
    inventory = hub_of(hub.app).inventory
    await inventory.adjust(vpk, lpk, on_hand, "received")
    await inventory.set_thresholds(vpk, lpk, safety_stock=safety, reorder_point=reorder)


def _normal(value: Any, tokens: list[str]) -> Any:
    """``value`` with this run's random tokens and clock readings taken out."""
    if isinstance(value, dict):
        return {
            k: _normal(v, tokens)
            for k, v in value.items()
            if k not in ("occurredAt", "expires_at", "levels")
        }
    if isinstance(value, (list, tuple)):
        return type(value)(_normal(v, tokens) for v in value)
    if isinstance(value, str):
        for i, t in enumerate(tokens):
            value = value.replace(t, f"<token{i}>")
    return value


async def _rows(conn: AsyncConnection, vpks: list[int], since: int, key: str | None) -> Any:
    levels = (
        await conn.execute(
            select(levels_t).where(levels_t.c.variant_id.in_(vpks)).order_by(levels_t.c.id)
        )
    ).all()
    reservations = (
        await conn.execute(
            select(reservations_t)
            .where(reservations_t.c.variant_id.in_(vpks))
            .order_by(reservations_t.c.variant_id)
        )
    ).all()
    moves = (
        await conn.execute(
            select(moves_t)
            .where(moves_t.c.variant_id.in_(vpks), moves_t.c.id > since)
            .order_by(moves_t.c.variant_id)
        )
    ).all()
    keys = (await conn.execute(select(idem_t).where(idem_t.c.key == key))).all() if key else []
    drop = {"id", "updated_at", "created_at", "expires_at"}
    return (
        [{k: v for k, v in r._mapping.items() if k not in drop} for r in levels],
        [{k: v for k, v in r._mapping.items() if k not in drop} for r in reservations],
        [{k: v for k, v in r._mapping.items() if k not in drop} for r in moves],
        [dict(r.result) if isinstance(r.result, dict) else r.result for r in keys],
    )


async def _events(conn: AsyncConnection, out: Outcome) -> list[Any]:
    """The outcome's events, each as its outbox row holds it."""
    rows = (
        await conn.execute(
            select(outbox_t.c.id, outbox_t.c.topic, outbox_t.c.payload).where(
                outbox_t.c.id.in_([e.id for e in out.events])
            )
        )
    ).all()
    stored = {r.id: (r.topic, r.payload) for r in rows}
    assert [stored[e.id] for e in out.events] == [(e.topic, e.payload) for e in out.events]
    return [(e.topic, e.payload) for e in out.events]


async def _run(
    hub: Hub,
    strategy: ReservationStrategy,
    requests: list[ReserveRequest],
    vpks: list[int],
    prepare: Prepare | None = None,
) -> Any:
    """Each request in turn, in one transaction rolled back afterwards: what each
    answered (or refused) and the rows it left."""
    async with hub.db.engine.connect() as conn:
        trans = await conn.begin()
        try:
            if hub.name == "sqlite":
                # Take the write lock first (waiting for it), so that no other writer
                # commits between this transaction's first read and its first write.
                await conn.execute(text("UPDATE variants SET tracked = tracked WHERE id = 0"))
            if prepare is not None:
                await prepare(conn)
            since = (await conn.execute(select(func.coalesce(func.max(moves_t.c.id), 0)))).scalar()
            answers, tokens = [], []
            for req in requests:
                # Each request as its own unit of work: a refusal writes nothing.
                step = await conn.begin_nested()
                try:
                    out = await reserve(conn, req, strategy)
                except DomainError as exc:
                    await step.rollback()
                    answers.append(("refused", [(e.field, e.message, e.code) for e in exc.errors]))
                    continue
                await step.commit()
                if "reservation" in out.result:
                    tokens.append(out.result["reservation"])
                levels = [(lv.variant_pk, lv.as_payload()) for lv in out.levels]
                events = await _events(conn, out)
                answers.append((out.replayed, out.result, levels, events))
            rows = await _rows(conn, vpks, since, requests[0].key)
        finally:
            await trans.rollback()
    return _normal((answers, rows), tokens)


async def _both(hub: Hub, *args: Any, **kwargs: Any) -> Any:
    general = await _run(hub, GENERAL, *args, **kwargs)
    if hub.name == "postgresql":
        assert await _run(hub, SINGLE, *args, **kwargs) == general
    return general


@pytest.fixture
async def stocked(hub: Hub) -> tuple[int, int]:
    """A variant with 10 on hand at a location, 2 kept back, reordered at 4."""
    vpk, lpk = await _variant(hub), await _location(hub)
    await _stock(hub, vpk, lpk, 10, 2, 4)
    return vpk, lpk


async def test_a_reservation(hub: Hub, stocked: tuple[int, int]) -> None:
    vpk, lpk = stocked
    req = ReserveRequest(vpk, lpk, 3, timedelta(minutes=5), reference="order-7")
    answers, (levels, reservations, moves, _) = await _both(hub, [req], [vpk])
    assert levels[0]["reserved"] == 3 and levels[0]["on_hand"] == 10
    assert [(r["quantity"], r["status"], r["reference"]) for r in reservations] == [
        (3, "ACTIVE", "order-7")
    ]
    assert [(m["reason"], m["d_reserved"], m["reference"]) for m in moves] == [
        ("reserved", 3, "order-7")
    ]
    assert [topic for topic, _ in answers[0][3]] == ["inventory.changed"]


async def test_the_low_stock_transition_and_the_default_reference(
    hub: Hub, stocked: tuple[int, int]
) -> None:
    vpk, lpk = stocked
    # 8 sellable online; taking 4 leaves 4, at the reorder point.
    answers, (_, _, moves, _) = await _both(hub, [ReserveRequest(vpk, lpk, 4)], [vpk])
    assert [topic for topic, _ in answers[0][3]] == ["inventory.changed", "stock.low"]
    assert moves[0]["reference"] == "reservation:<token0>"


async def test_refusals(hub: Hub, stocked: tuple[int, int]) -> None:
    vpk, lpk = stocked
    too_many = ReserveRequest(vpk, lpk, 9)  # 8 sellable online
    at_till = ReserveRequest(vpk, lpk, 10, online=False)  # safety stock may go
    nowhere = ReserveRequest(vpk, await _location(hub), 1)  # no level there
    answers, (levels, reservations, _, _) = await _both(hub, [too_many, at_till, nowhere], [vpk])
    assert answers[0][0] == "refused" and answers[2][0] == "refused"
    assert answers[0][1][0][2] == "INSUFFICIENT_STOCK"
    assert levels[0]["reserved"] == 10 and len(reservations) == 1


async def test_an_idempotency_key_answers_its_first_result(
    hub: Hub, stocked: tuple[int, int]
) -> None:
    vpk, lpk = stocked
    req = ReserveRequest(vpk, lpk, 2, key=f"k-{uuid.uuid4().hex}")
    answers, (levels, reservations, _, keys) = await _both(hub, [req, req], [vpk])
    assert answers[0][0] is False and answers[1][0] is True
    assert answers[1][3] == []  # a replay emits nothing
    assert levels[0]["reserved"] == 2 and len(reservations) == 1
    assert keys == [{"reservation": "<token0>"}]


async def test_untracked_variants_and_bundles(hub: Hub, stocked: tuple[int, int]) -> None:
    vpk, lpk = stocked
    other = await _variant(hub)
    bundle = await _variant(hub)
    for vpk_ in (other, bundle):  # for sale, as the catalog tests expect
        await _stock(hub, vpk_, lpk, 1, 0, 0)

    async def prepare(conn: AsyncConnection) -> None:
        await conn.execute(text("UPDATE variants SET tracked = false WHERE id = :v"), {"v": other})
        await conn.execute(
            text("UPDATE variants SET is_bundle = true WHERE id = :v"), {"v": bundle}
        )
        await conn.execute(
            text(
                "INSERT INTO bundle_components (bundle_variant_id, component_variant_id, quantity)"
                " VALUES (:b, :c, 2)"
            ),
            {"b": bundle, "c": vpk},
        )

    requests = [ReserveRequest(other, lpk, 1), ReserveRequest(bundle, lpk, 3)]
    answers, (levels, reservations, moves, _) = await _both(
        hub, requests, [vpk, other, bundle], prepare=prepare
    )
    assert answers[0] == (
        "refused",
        [(["variant_id"], "the variant is not stock-tracked", "NOT_TRACKED")],
    )
    assert levels[0]["reserved"] == 6  # 3 kits of 2
    assert [(r["variant_id"], r["quantity"]) for r in reservations] == [(vpk, 6)]
    assert [m["d_reserved"] for m in moves] == [6]
