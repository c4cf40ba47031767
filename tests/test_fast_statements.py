"""hub.db.fast: prebuilt statements run on PostgreSQL without SQLAlchemy's
per-statement work give what SQLAlchemy gives (rows, row counts, errors, the
transaction), are seen by statement listeners, and go through SQLAlchemy whenever
what they skip matters (SQLite, an open audit scope, no transaction begun yet)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy import exc as sa_exc

from hub.db import fast
from hub.db.tables import carts_t, lines_t, pricing_gen_t, products_t, variants_t
from hub.domain.audit.scope import Actor, audit_scope
from hub.domain.carts.reuse import CROSSED, GENERATION
from tests.helpers.carts import create, stocked_variant
from tests.helpers.client import Hub

# A cart with its pricing generation and whether anything crossed a window (a scalar
# subquery, parameters used twice); a join with columns of the same name from two
# tables (SQLAlchemy's keys tell them apart); a literal in the statement.
CART = fast.Prebuilt(
    select(carts_t, GENERATION, CROSSED).where(carts_t.c.token == bindparam("token"))
)
JOINED = fast.Prebuilt(
    select(
        variants_t.c.id, variants_t.c.title, products_t.c.id, products_t.c.title, products_t.c.tags
    )
    .join(products_t, products_t.c.id == variants_t.c.product_id)
    .where(variants_t.c.id == bindparam("v"))
)
LINES = fast.Prebuilt(select(lines_t).where(lines_t.c.cart_id == bindparam("cart")))
GEN_ROW = fast.Prebuilt(select(pricing_gen_t).where(pricing_gen_t.c.id == 1))
BUMP = fast.Prebuilt(
    update(pricing_gen_t)
    .where(pricing_gen_t.c.id == 1)
    .values(n=pricing_gen_t.c.n + bindparam("by"))
)
# An expanding IN list: expanded per call, whatever its length (none included).
AMONG = fast.Prebuilt(
    select(variants_t.c.id, variants_t.c.sku)
    .where(variants_t.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(variants_t.c.id)
)
# A text() statement: its columns are known from its rows.
TEXT = fast.Prebuilt(text("SELECT id, n, :x AS x FROM pricing_generation WHERE id = :id"))
DUPLICATE = fast.Prebuilt(insert(pricing_gen_t).values(id=bindparam("id"), n=bindparam("n")))


async def test_rows_are_sqlalchemys(hub: Hub) -> None:
    vid = await stocked_variant(hub, {1: 3})
    await create(hub, {"lines": [{"merchandiseId": vid, "quantity": 2}]})
    (latest,) = await hub.rows("SELECT id, token FROM carts ORDER BY id DESC LIMIT 1")
    row, token = latest.id, latest.token
    now = datetime.now(UTC)
    cases = [
        (CART, {"token": token, "since": now - timedelta(days=1), "until": now}),
        (JOINED, {"v": int(vid.rsplit("/", 1)[1])}),
        (LINES, {"cart": row}),
        (GEN_ROW, {}),
        (TEXT, {"x": "y", "id": 1}),
        (AMONG, {"ids": [1, 2, int(vid.rsplit("/", 1)[1])]}),
        (AMONG, {"ids": [3]}),
    ]
    before = fast.used
    async with hub.db.read() as conn:
        for prebuilt, params in cases:
            got = (await fast.execute(conn, prebuilt, params)).all()
            want = (await conn.execute(prebuilt.stmt, params)).all()
            assert [tuple(r) for r in got] == [tuple(r) for r in want]
            assert got and list(got[0]._fields) == list(want[0]._fields)
        none = await fast.execute(conn, AMONG, {"ids": []})
        assert none.all() == [] and (await conn.execute(AMONG.stmt, {"ids": []})).all() == []
        with pytest.raises(sa_exc.NoResultFound):  # as Result.one() raises
            none.one()
    # On PostgreSQL every one ran without SQLAlchemy; SQLite runs them all through it.
    assert fast.used - before == (len(cases) + 1 if hub.name == "postgresql" else 0)
    async with hub.db.read() as conn:
        (row,) = (await fast.execute(conn, GEN_ROW)).all()
    assert row.id == 1 and row.n >= 0  # attribute access, as on SQLAlchemy's rows
    assert row._mapping == {"id": 1, "n": row.n}


async def test_writes_are_in_the_callers_transaction(hub: Hub) -> None:
    start = await hub.scalar("SELECT n FROM pricing_generation")

    class Undo(Exception):
        pass

    with pytest.raises(Undo):
        async with hub.db.transaction() as conn:
            await conn.execute(text("SELECT 1"))  # the transaction begins
            done = await fast.execute(conn, BUMP, {"by": 5})
            assert done.rowcount == 1
            inside = (await fast.execute(conn, GEN_ROW)).one()
            assert inside.n == start + 5
            raise Undo
    assert await hub.scalar("SELECT n FROM pricing_generation") == start
    with pytest.raises(Undo):
        async with hub.db.transaction() as conn:
            # The first statement of the transaction: it begins it, as SQLAlchemy would.
            assert (await fast.execute(conn, BUMP, {"by": 3})).rowcount == 1
            raise Undo
    assert await hub.scalar("SELECT n FROM pricing_generation") == start
    async with hub.db.transaction() as conn:
        assert (await fast.execute(conn, BUMP, {"by": 7})).rowcount == 1
        assert (await fast.execute(conn, BUMP, {"by": -7})).rowcount == 1
    assert await hub.scalar("SELECT n FROM pricing_generation") == start


async def test_errors_are_sqlalchemys(hub: Hub) -> None:
    with pytest.raises(sa_exc.IntegrityError):
        async with hub.db.transaction() as conn:
            await conn.execute(text("SELECT 1"))
            await fast.execute(conn, DUPLICATE, {"id": 1, "n": 0})
    # The connection went back to the pool usable.
    assert await hub.scalar("SELECT count(*) FROM pricing_generation") == 1


async def test_a_lost_connection_is_reported_as_sqlalchemy_reports_it(hub: Hub) -> None:
    async with hub.db.read() as conn:
        pid = (await conn.execute(text("SELECT 1"))).scalar()
        if hub.name == "postgresql":
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar()
            async with hub.db.read() as other:
                await other.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            with pytest.raises(sa_exc.DBAPIError) as lost:
                await fast.execute(conn, GEN_ROW)
            assert lost.value.connection_invalidated
        else:  # SQLite has no server to lose: the statement simply runs
            assert (await fast.execute(conn, GEN_ROW)).one().id == 1
    assert await hub.scalar("SELECT count(*) FROM pricing_generation") == 1


async def test_listeners_see_them_and_an_audit_scope_sends_them_through_sqlalchemy(
    hub: Hub,
) -> None:
    with hub.count_statements() as seen:
        async with hub.db.read() as conn:
            await fast.execute(conn, GEN_ROW)
    assert len(seen) == 1 and "pricing_generation" in seen[0]
    before = fast.used
    with audit_scope(Actor("staff_user", 1, "test", "staff"), "test.fast"):
        async with hub.db.read() as conn:
            assert (await fast.execute(conn, GEN_ROW)).one().id == 1
    assert fast.used == before
