"""Deleting abandoned carts on SQLite and PostgreSQL: only carts expired longer than
the retention, never one that became an order or that a checkout runs on; and the
embedded default's background loop runs it (``hub worker`` does with Redis:
tests/test_worker.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update

from hub.composition import build_hub
from hub.db.models import CheckoutAttempt
from hub.db.tables import carts_t, groups_t, lines_t
from hub.domain.carts import delete_expired
from hub.settings import load_settings
from tests.helpers.carts import create, mutate, uid
from tests.helpers.catalog import make_product
from tests.helpers.client import Hub

attempts_t = CheckoutAttempt.__table__
NOW = datetime.now(UTC)
LONG_AGO = NOW - timedelta(days=30)


async def cart(hub: Hub, **values: Any) -> int:
    """A cart with a line and a delivery group, then set to ``values`` (its pk)."""
    vid = "gid://hub/ProductVariant/1"
    out = await create(hub, {"lines": [{"merchandiseId": vid}]})
    assert out["userErrors"] == [], out
    cid = out["cart"]["id"]
    await mutate(
        hub,
        "cartDeliveryUpdate",
        "",
        {"cartId": cid, "deliveryGroups": [{"shippingAddress": {"countryCode": "US"}}]},
    )
    token = cid.rsplit("/", 1)[1]
    async with hub.db.transaction() as conn:
        pk = (await conn.execute(select(carts_t.c.id).where(carts_t.c.token == token))).scalar()
        if values:
            await conn.execute(update(carts_t).where(carts_t.c.id == pk).values(**values))
    return pk


async def attempt(hub: Hub, cart_pk: int, status: str, locked_until: datetime) -> None:
    async with hub.db.transaction() as conn:
        await conn.execute(
            insert(attempts_t).values(
                cart_id=cart_pk, key="k", status=status, locked_until=locked_until, created_at=NOW
            )
        )


async def ordered_cart(hub: Hub) -> int:
    """A cart checked out at the till, then made to look abandoned: only the order
    pointing at it tells."""
    # Priced and stocked in both channels: later tests check every active product
    # sells in every channel.
    vid = (await make_product(hub, None, {}))["variantId"]
    cid = (await create(hub, {"lines": [{"merchandiseId": vid}]}))["cart"]["id"]
    res = await hub.admin(
        """mutation($c: ID!, $k: String!) { checkoutComplete(cartId: $c, idempotencyKey: $k,
        payment: {provider: "cash", reference: "d"}) { order { id } userErrors { code } } }""",
        {"c": cid, "k": uid()},
    )
    assert res["data"]["checkoutComplete"]["userErrors"] == [], res
    token = cid.rsplit("/", 1)[1]
    async with hub.db.transaction() as conn:
        pk = (await conn.execute(select(carts_t.c.id).where(carts_t.c.token == token))).scalar()
        await conn.execute(
            update(carts_t)
            .where(carts_t.c.id == pk)
            .values(status="ACTIVE", order_id=None, expires_at=LONG_AGO)
        )
        await conn.execute(delete(attempts_t).where(attempts_t.c.cart_id == pk))
    return pk


async def left(hub: Hub, pks: list[int]) -> set[int]:
    async with hub.db.read() as conn:
        rows = (await conn.execute(select(carts_t.c.id).where(carts_t.c.id.in_(pks)))).scalars()
        return set(rows)


async def test_only_abandoned_carts_past_the_retention_go(hub: Hub) -> None:
    soon = NOW + timedelta(minutes=10)
    doomed = {
        "abandoned": await cart(hub, expires_at=LONG_AGO),
        "lock ran out": await cart(
            hub, expires_at=LONG_AGO, status="COMPLETING", locked_until=LONG_AGO
        ),
    }
    dead_attempt = await cart(hub, expires_at=LONG_AGO)
    await attempt(hub, dead_attempt, "PENDING", LONG_AGO)  # a checkout that crashed
    doomed["crashed checkout"] = dead_attempt
    kept = {
        "fresh": await cart(hub),
        "within retention": await cart(hub, expires_at=NOW - timedelta(days=1)),
        "completed": await cart(hub, expires_at=LONG_AGO, status="COMPLETED"),
        "in checkout": await cart(hub, expires_at=LONG_AGO, status="COMPLETING", locked_until=soon),
    }
    running = await cart(hub, expires_at=LONG_AGO)
    await attempt(hub, running, "PENDING", soon)
    kept["attempt running"] = running
    finished = await cart(hub, expires_at=LONG_AGO)
    await attempt(hub, finished, "DONE", LONG_AGO)
    kept["attempt done"] = finished
    kept["has an order"] = await ordered_cart(hub)

    deleted = await delete_expired(hub.db, older_than=timedelta(days=7), limit=10_000)
    assert deleted >= len(doomed)
    everything = [*doomed.values(), *kept.values()]
    assert await left(hub, everything) == set(kept.values())
    async with hub.db.read() as conn:
        for t in (lines_t, groups_t, attempts_t):
            n = (
                await conn.execute(
                    select(t.c.cart_id).where(t.c.cart_id.in_(list(doomed.values())))
                )
            ).all()
            assert n == [], t.name
    assert await delete_expired(hub.db, older_than=timedelta(days=7)) == 0
    # A smaller limit deletes in batches, oldest first.
    more = [await cart(hub, expires_at=LONG_AGO - timedelta(hours=i)) for i in range(3)]
    assert await delete_expired(hub.db, older_than=timedelta(days=7), limit=2) == 2
    assert await left(hub, more) == {more[0]}
    assert await delete_expired(hub.db, older_than=timedelta(days=7), limit=2) == 1


async def test_the_embedded_background_loop_deletes_them(hub: Hub) -> None:
    settings = load_settings(
        database_url=str(hub.db.engine.url.render_as_string(hide_password=False)),
        cart_retention_seconds=3600,
        cart_sweep_seconds=0.2,
        reservation_sweep_seconds=0.2,
    )
    assert settings.redis_url is None
    gone = await cart(hub, expires_at=NOW - timedelta(hours=2))
    stays = await cart(hub, expires_at=NOW - timedelta(minutes=30))
    services = build_hub(settings, hub.db)
    await services.start()
    try:
        for _ in range(100):
            if gone not in await left(hub, [gone]):
                break
            await asyncio.sleep(0.1)
        assert await left(hub, [gone, stays]) == {stays}
    finally:
        await services.stop()
