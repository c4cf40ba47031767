"""Subscriptions over websockets against real ``hub serve`` processes, on SQLite and on
PostgreSQL: the contract ``InventoryChanged`` document over graphql-transport-ws, the
legacy graphql-ws protocol, storefront availability, connection auth, clean-up after a
disconnect, and (with Redis) a change made on one process reaching a subscriber of
another. Plus, in-process, that one event costs the same queries for one storefront
subscriber as for twenty, and that an idle subscription holds no database connection.

PostgreSQL comes from ``HUB_TEST_POSTGRES_URL`` and Redis from ``HUB_TEST_REDIS_URL``
(default ``redis://127.0.0.1:6379/0``); either missing skips its tests locally and fails
them under CI (``CI`` set).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import websockets

from hub.auth import ANONYMOUS
from schema.context import HubContext
from tests.helpers.app import hub_of, schema_of
from tests.helpers.client import Hub
from tests.helpers.processes import hub_run, unavailable
from tests.helpers.subscriptions import (
    AVAILABILITY,
    INVENTORY_CHANGED,
    WAIT,
    Deployment,
    TransportWS,
    adjust,
    bearer,
    deployment,
    make_location,
    make_variant,
    served_fixture,
    stock_op,
    transport_ws,
    wait_subscribers,
)

# ----------------------------------------------------------------- real hub processes


def _redis_url() -> str:
    url = os.environ.get("HUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
    except redis.RedisError as exc:
        unavailable(f"Redis: {url} is not reachable ({exc})")
    return url


served = served_fixture("subs")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    redis_url = _redis_url()
    tmp = tmp_path_factory.mktemp(f"cluster-{request.param}")
    with deployment(request.param, tmp, processes=2, redis_url=redis_url) as d:
        yield d


# ------------------------------------------------------------------------- HTTP helpers


# ---------------------------------------------------------------------- websocket clients


# ------------------------------------------------------------------------------ tests


async def test_inventory_changed_over_graphql_transport_ws(served: Deployment) -> None:
    _, variant, sku = await make_variant(served)
    (here, here_name), (there, _) = await make_location(served), await make_location(served)
    async with transport_ws(served.a.ws, bearer(served.admin_token)) as client:
        await client.subscribe("all", INVENTORY_CHANGED, {"variantIds": [variant]})
        await client.subscribe(
            "here", INVENTORY_CHANGED, {"variantIds": [variant], "locationIds": [here]}
        )
        await wait_subscribers(served.a, 2)

        await adjust(served.a, served.admin_token, variant, there, 4)
        got = (await client.next("all"))["inventoryChanged"]
        assert got["location"]["id"] == there and got["level"]["onHand"] == 4

        level = await adjust(served.a, served.admin_token, variant, here, 7)
        assert level["onHand"] == 7
        got = (await client.next("all"))["inventoryChanged"]
        # The filtered subscription's first event is this one: the other location's
        # change never reached it.
        assert (await client.next("here"))["inventoryChanged"] == got
        assert got["variant"] == {"id": variant, "sku": sku}
        assert got["location"] == {"id": here, "name": here_name}
        assert got["reason"] == "received"
        assert got["level"] == {
            "onHand": 7,
            "committed": 0,
            "reserved": 0,
            "incoming": 0,
            "quarantined": 0,
            "safetyStock": 0,
            "available": 7,
        }
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$", got["occurredAt"])

        # The levels right after each change, reservations included.
        await stock_op(
            served.a,
            served.admin_token,
            "inventoryReserve",
            "InventoryReserveInput",
            variantId=variant,
            locationId=here,
            quantity=2,
        )
        got = (await client.next("here"))["inventoryChanged"]
        assert got["level"]["onHand"] == 7 and got["level"]["reserved"] == 2
        assert got["level"]["available"] == 5 and got["reason"] == "reserved"

        await client.complete("here")
        await wait_subscribers(served.a, 1)
    await wait_subscribers(served.a, 0)


async def test_legacy_graphql_ws_protocol(served: Deployment) -> None:
    _, variant, sku = await make_variant(served)
    location, _ = await make_location(served)
    init = {"headers": {"Authorization": f"Bearer {served.admin_token}"}}
    async with websockets.connect(served.a.ws, subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "graphql-ws"

        async def recv() -> dict[str, Any]:
            while True:
                raw = await asyncio.wait_for(ws.recv(), WAIT)
                assert isinstance(raw, str)
                msg = orjson.loads(raw)
                if msg["type"] != "ka":
                    return msg

        await ws.send(orjson.dumps({"type": "connection_init", "payload": init}).decode())
        assert (await recv())["type"] == "connection_ack"
        start = {"query": INVENTORY_CHANGED, "variables": {"variantIds": [variant]}}
        await ws.send(orjson.dumps({"id": "1", "type": "start", "payload": start}).decode())
        await wait_subscribers(served.a, 1)
        await adjust(served.a, served.admin_token, variant, location, 3)
        msg = await recv()
        assert msg["type"] == "data" and msg["id"] == "1", msg
        change = msg["payload"]["data"]["inventoryChanged"]
        assert change["variant"]["sku"] == sku and change["level"]["onHand"] == 3
        await ws.send(orjson.dumps({"id": "1", "type": "stop"}).decode())
        assert await recv() == {"type": "complete", "id": "1"}
        await wait_subscribers(served.a, 0)


async def test_storefront_sees_availability_flip(served: Deployment) -> None:
    product, variant, _ = await make_variant(served)
    location, _ = await make_location(served)
    await adjust(served.a, served.admin_token, variant, location, 1)
    # Anonymous: no key at all. Two subscriptions on one connection, in two channels:
    # the product is priced only in `web`, so `eu` storefronts never hear of it.
    async with transport_ws(served.a.ws) as client:
        await client.subscribe("web", AVAILABILITY, {"productIds": [product]})
        eu = AVAILABILITY.replace('channel: "web"', 'channel: "eu"')
        await client.subscribe("eu", eu, {"productIds": [product]})
        await wait_subscribers(served.a, 2)

        await adjust(served.a, served.admin_token, variant, location, 1)
        got = (await client.next("web"))["availabilityChanged"]
        assert got["product"] == {"id": product, "availableForSale": True}
        assert got["variant"] == {"id": variant, "quantityAvailable": 2, "availableForSale": True}

        for _ in range(2):  # sell both units, the last one flips availability
            await stock_op(
                served.a,
                served.admin_token,
                "inventorySell",
                "InventoryMoveInput",
                variantId=variant,
                locationId=location,
                quantity=1,
            )
        assert (await client.next("web"))["availabilityChanged"]["variant"][
            "quantityAvailable"
        ] == 1
        got = (await client.next("web"))["availabilityChanged"]
        assert got["variant"] == {"id": variant, "quantityAvailable": 0, "availableForSale": False}
        assert got["product"] == {"id": product, "availableForSale": False}
        await client.nothing_for("eu", 1.0)


async def test_connection_auth(served: Deployment) -> None:
    _, variant, _ = await make_variant(served)
    # An unknown token refuses the connection (graphql-transport-ws: 4403).
    async with websockets.connect(served.a.ws, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(
            orjson.dumps({"type": "connection_init", "payload": bearer("hub_nope")}).decode()
        )
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), WAIT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403

    # A revoked one too, on the legacy protocol: connection_error, then the close.
    made = hub_run(["apikey", "create", "--scope", "connector", "--name", "gone"], served.env)
    key_id = re.search(r"key (\d+) created", made.stderr).group(1)  # type: ignore[union-attr]
    hub_run(["apikey", "revoke", key_id], served.env)
    async with websockets.connect(served.a.ws, subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
        init = {"type": "connection_init", "payload": bearer(made.stdout.strip())}
        await ws.send(orjson.dumps(init).decode())
        msg = orjson.loads(await asyncio.wait_for(ws.recv(), WAIT))
        assert msg["type"] == "connection_error", msg
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), WAIT)

    # No key is an anonymous storefront: stock levels are refused, before anything runs.
    async with transport_ws(served.a.ws) as client:
        await client.subscribe("1", INVENTORY_CHANGED, {"variantIds": [variant]})
        msg = await client.message("1")
        assert msg["type"] == "error", msg
        assert msg["payload"][0]["extensions"]["code"] == "ACCESS_DENIED"
        # Bad ids are refused the same way.
        await client.subscribe("2", AVAILABILITY, {"productIds": ["gid://hub/Location/1"]})
        msg = await client.message("2")
        assert msg["type"] == "error" and msg["payload"][0]["extensions"]["code"] == "INVALID_ID"
    await wait_subscribers(served.a, 0)

    # The key can also come as a header in the payload, or on the handshake itself.
    async with transport_ws(
        served.a.ws, {"headers": {"Authorization": f"Bearer {served.admin_token}"}}
    ) as client:
        await client.subscribe("1", INVENTORY_CHANGED, {"variantIds": [variant]})
        await wait_subscribers(served.a, 1)
    async with websockets.connect(
        served.a.ws,
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        additional_headers={"Authorization": f"Bearer {served.admin_token}"},
    ) as ws:
        await ws.send('{"type":"connection_init"}')
        assert orjson.loads(await asyncio.wait_for(ws.recv(), WAIT))["type"] == "connection_ack"
    await wait_subscribers(served.a, 0)


async def test_browser_from_another_origin_may_subscribe(served: Deployment) -> None:
    """CORS allows any origin by default; websockets follow it (keys carry identity)."""
    async with websockets.connect(
        served.a.ws,
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        origin="https://shop.example.com",  # type: ignore[arg-type]
    ) as ws:
        await ws.send('{"type":"connection_init"}')
        assert orjson.loads(await asyncio.wait_for(ws.recv(), WAIT))["type"] == "connection_ack"


async def test_disconnect_leaves_no_bus_subscribers(served: Deployment) -> None:
    _, variant, _ = await make_variant(served)
    location, _ = await make_location(served)
    await wait_subscribers(served.a, 0)
    polite = await websockets.connect(served.a.ws, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    rude = await websockets.connect(served.a.ws, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    try:
        for ws in (polite, rude):
            init = {"type": "connection_init", "payload": bearer(served.admin_token)}
            await ws.send(orjson.dumps(init).decode())
            assert orjson.loads(await asyncio.wait_for(ws.recv(), WAIT))["type"] == "connection_ack"
            client = TransportWS(ws)
            for i in range(3):
                await client.subscribe(str(i), INVENTORY_CHANGED, {"variantIds": [variant]})
        await wait_subscribers(served.a, 6)
        # An event in flight while they go.
        await adjust(served.a, served.admin_token, variant, location, 1)
        await polite.close()
        rude.transport.abort()  # no close frame: the TCP connection just drops
        await wait_subscribers(served.a, 0)
    finally:
        await polite.close()
        rude.transport.abort()
    # The server is still fine afterwards.
    async with transport_ws(served.a.ws, bearer(served.admin_token)) as client:
        await client.subscribe("1", INVENTORY_CHANGED, {"variantIds": [variant]})
        await wait_subscribers(served.a, 1)
        await adjust(served.a, served.admin_token, variant, location, 1)
        assert (await client.next("1"))["inventoryChanged"]["level"]["onHand"] == 2
    await wait_subscribers(served.a, 0)


async def test_change_on_one_process_reaches_subscribers_of_another(cluster: Deployment) -> None:
    a, b = cluster.a, cluster.b
    _, variant, sku = await make_variant(cluster)
    location, _ = await make_location(cluster)
    async with (
        transport_ws(b.ws, bearer(cluster.admin_token)) as on_b,
        transport_ws(a.ws, bearer(cluster.admin_token)) as on_a,
    ):
        await on_b.subscribe("1", INVENTORY_CHANGED, {"variantIds": [variant]})
        await on_a.subscribe("1", INVENTORY_CHANGED, {"variantIds": [variant]})
        await wait_subscribers(b, 1)
        await wait_subscribers(a, 1)

        level = await adjust(a, cluster.admin_token, variant, location, 5)
        assert level["onHand"] == 5
        got = (await on_b.next("1"))["inventoryChanged"]
        assert got["variant"]["sku"] == sku and got["level"]["onHand"] == 5
        assert (await on_a.next("1"))["inventoryChanged"] == got

        await adjust(b, cluster.admin_token, variant, location, -2)
        assert (await on_a.next("1"))["inventoryChanged"]["level"]["onHand"] == 3
        assert (await on_b.next("1"))["inventoryChanged"]["level"]["onHand"] == 3
    await wait_subscribers(a, 0)
    await wait_subscribers(b, 0)


# ------------------------------------------------------------ in-process: shared reads


async def test_one_event_costs_the_same_reads_for_twenty_storefronts(hub: Hub) -> None:
    """A stock change is read once per process and channel, however many storefronts
    follow the product; and an idle subscription holds no database connection."""
    from tests.helpers.inventory import make_location as new_location
    from tests.helpers.inventory import make_variant as new_variant

    variant = await new_variant(hub)
    location = await new_location(hub)
    found = await hub.gql(
        "query($v: ID!) { node(id: $v) { ... on ProductVariant { product { id } } } }",
        {"v": variant},
    )
    product = found["data"]["node"]["product"]["id"]
    bus = hub_of(hub.app).bus
    base = bus.subscriber_count
    subs: list[tuple[HubContext, Any]] = []
    waiting: list[asyncio.Future[Any]] = []

    async def follow(n: int) -> None:
        """``n`` more anonymous storefronts, each waiting for its next event."""
        for _ in range(n):
            ctx = HubContext(hub_of(hub.app), principal=ANONYMOUS)
            stream = await schema_of(hub.app).subscribe(
                AVAILABILITY, variable_values={"productIds": [product]}, context_value=ctx
            )
            subs.append((ctx, stream))
            waiting.append(asyncio.ensure_future(anext(stream)))
        deadline = time.monotonic() + WAIT
        while bus.subscriber_count < base + len(subs):  # each is live on the bus
            assert time.monotonic() < deadline, "subscriptions did not start"
            await asyncio.sleep(0.01)

    async def change(on_hand: int) -> int:
        """One stock change; the statements it took until every subscriber had it."""
        with hub.count_statements() as seen:
            res = await hub.admin(
                """mutation($i: InventoryAdjustInput!) { inventoryAdjust(input: $i) {
                userErrors { code } } }""",
                {
                    "i": {
                        "variantId": variant,
                        "locationId": location,
                        "delta": 1,
                        "reason": "received",
                    }
                },
            )
            assert res["data"]["inventoryAdjust"]["userErrors"] == []
            results = await asyncio.wait_for(asyncio.gather(*waiting), WAIT)
        for r in results:
            assert r.errors is None, r.errors
            got = r.data["availabilityChanged"]["variant"]
            assert got == {"id": variant, "quantityAvailable": on_hand, "availableForSale": True}
        waiting[:] = [asyncio.ensure_future(anext(stream)) for _, stream in subs]
        return len([s for s in seen if "outbox" not in s])  # the sweeper's aren't ours

    try:
        await follow(1)
        await change(1)  # warm: the level row exists from now on
        one = await change(2)
        await follow(19)
        twenty = await change(3)
        assert twenty == one, f"{one} statements for one subscriber, {twenty} for twenty"
        # Idle subscriptions hold no connection (others may borrow one for a moment).
        deadline = time.monotonic() + WAIT
        while hub.db.engine.pool.checkedout():
            assert time.monotonic() < deadline, "an idle subscription holds a connection"
            await asyncio.sleep(0.05)
    finally:
        for fut in waiting:
            fut.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        for ctx, stream in subs:
            await stream.aclose()
            await ctx.close()
    assert bus.subscriber_count == base
