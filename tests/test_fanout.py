"""Identical subscriptions share one execution per event (``schema.fanout``), against
real ``hub serve`` processes on SQLite and PostgreSQL; and, in-process, a member whose
socket stops taking messages is closed without holding up the others.

PostgreSQL comes from ``HUB_TEST_POSTGRES_URL``; without it the PostgreSQL half skips
locally and fails under CI.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
import websockets

from schema import fanout
from schema.errors import ApiError
from tests.helpers.processes import hub_run
from tests.helpers.subscriptions import (
    AVAILABILITY,
    INVENTORY_CHANGED,
    WAIT,
    Deployment,
    adjust,
    bearer,
    make_location,
    make_variant,
    served_fixture,
    subscribers,
    transport_ws,
    wait_subscribers,
)

served = served_fixture("fanout")


async def groups(d: Deployment) -> int:
    import httpx

    async with httpx.AsyncClient(timeout=10) as c:
        return (await c.get(f"{d.a.url}/readyz")).json()["subscriptionGroups"]


async def test_identical_subscriptions_share_one_leader(served: Deployment) -> None:
    product, variant, sku = await make_variant(served)
    location, _ = await make_location(served)
    made = hub_run(["apikey", "create", "--scope", "connector", "--name", "other"], served.env)
    other_key = made.stdout.strip()
    same = {"variantIds": [variant]}
    async with (
        transport_ws(served.a.ws, bearer(served.admin_token)) as one,
        transport_ws(served.a.ws, bearer(served.admin_token)) as two,
        transport_ws(served.a.ws, bearer(other_key)) as other,
        transport_ws(served.a.ws) as shop,
    ):
        for i in range(3):  # three on one connection, two on another: one group
            await one.subscribe(f"op-{i}", INVENTORY_CHANGED, same)
        await two.subscribe("x", INVENTORY_CHANGED, same)
        await two.subscribe("y", INVENTORY_CHANGED, same)
        # Another key (same scopes or not) and other variables: groups of their own.
        await other.subscribe("k", INVENTORY_CHANGED, same)
        await two.subscribe("loc", INVENTORY_CHANGED, {**same, "locationIds": [location]})
        await shop.subscribe("p", AVAILABILITY, {"productIds": [product]})
        await wait_subscribers(served.a, 8)
        assert await groups(served) == 4

        await adjust(served.a, served.admin_token, variant, location, 3)
        got = [(await one.next(f"op-{i}"))["inventoryChanged"] for i in range(3)]
        got += [(await two.next(op))["inventoryChanged"] for op in ("x", "y", "loc")]
        got.append((await other.next("k"))["inventoryChanged"])
        assert all(g == got[0] for g in got), got
        assert got[0]["variant"] == {"id": variant, "sku": sku}
        assert got[0]["level"]["onHand"] == 3
        avail = (await shop.next("p"))["availabilityChanged"]
        assert avail["variant"] == {"id": variant, "quantityAvailable": 3, "availableForSale": True}

        # One member leaves: the others keep getting events, nobody twice.
        await one.complete("op-1")
        await wait_subscribers(served.a, 7)
        await adjust(served.a, served.admin_token, variant, location, 1)
        for i in (0, 2):
            assert (await one.next(f"op-{i}"))["inventoryChanged"]["level"]["onHand"] == 4
        for op in ("x", "y", "loc"):
            assert (await two.next(op))["inventoryChanged"]["level"]["onHand"] == 4
        assert (await other.next("k"))["inventoryChanged"]["level"]["onHand"] == 4
        await one.nothing_for("op-1", 0.5)
        await one.nothing_for("op-0", 0.5)  # exactly one message per change
    # Everyone gone: no group and no bus subscriber left.
    await wait_subscribers(served.a, 0)
    assert await groups(served) == 0


async def test_legacy_and_transport_members_get_their_own_framing(served: Deployment) -> None:
    _, variant, _ = await make_variant(served)
    location, _ = await make_location(served)
    init = {"type": "connection_init", "payload": bearer(served.admin_token)}
    async with (
        websockets.connect(served.a.ws, subprotocols=["graphql-ws"]) as legacy,  # type: ignore[list-item]
        transport_ws(served.a.ws, bearer(served.admin_token)) as modern,
    ):
        await legacy.send(orjson.dumps(init).decode())
        assert orjson.loads(await asyncio.wait_for(legacy.recv(), WAIT))["type"] == "connection_ack"
        start = {"query": INVENTORY_CHANGED, "variables": {"variantIds": [variant]}}
        for op in ("a", "b"):
            await legacy.send(orjson.dumps({"id": op, "type": "start", "payload": start}).decode())
        await modern.subscribe("m", INVENTORY_CHANGED, {"variantIds": [variant]})
        await wait_subscribers(served.a, 3)
        await adjust(served.a, served.admin_token, variant, location, 2)
        seen: dict[str, Any] = {}
        while len(seen) < 2:
            msg = orjson.loads(await asyncio.wait_for(legacy.recv(), WAIT))
            if msg["type"] == "ka":
                continue
            assert msg["type"] == "data", msg
            seen[msg["id"]] = msg["payload"]["data"]["inventoryChanged"]["level"]["onHand"]
        assert seen == {"a": 2, "b": 2}
        assert (await modern.next("m"))["inventoryChanged"]["level"]["onHand"] == 2
        await legacy.send(orjson.dumps({"id": "a", "type": "stop"}).decode())
        msg = orjson.loads(await asyncio.wait_for(legacy.recv(), WAIT))
        while msg["type"] == "ka":
            msg = orjson.loads(await asyncio.wait_for(legacy.recv(), WAIT))
        assert msg == {"type": "complete", "id": "a"}
        await wait_subscribers(served.a, 2)
    await wait_subscribers(served.a, 0)


async def test_a_disconnected_member_leaves_its_group(served: Deployment) -> None:
    _, variant, _ = await make_variant(served)
    location, _ = await make_location(served)
    async with transport_ws(served.a.ws, bearer(served.admin_token)) as stays:
        await stays.subscribe("1", INVENTORY_CHANGED, {"variantIds": [variant]})
        rude = await websockets.connect(served.a.ws, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        await rude.send(
            orjson.dumps(
                {"type": "connection_init", "payload": bearer(served.admin_token)}
            ).decode()
        )
        await asyncio.wait_for(rude.recv(), WAIT)
        msg = {"query": INVENTORY_CHANGED, "variables": {"variantIds": [variant]}}
        await rude.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": msg}).decode())
        await wait_subscribers(served.a, 2)
        rude.transport.abort()  # gone without a word, while events keep coming
        for n in range(1, 4):
            await adjust(served.a, served.admin_token, variant, location, 1)
            assert (await stays.next("1"))["inventoryChanged"]["level"]["onHand"] == n
        await wait_subscribers(served.a, 1)
    await wait_subscribers(served.a, 0)
    assert await subscribers(served.a) == 0


async def test_subscriptions_stopped_at_once_leave_nothing_behind(served: Deployment) -> None:
    _, variant, _ = await make_variant(served)
    location, _ = await make_location(served)
    async with transport_ws(served.a.ws, bearer(served.admin_token)) as client:
        await client.subscribe("keep", INVENTORY_CHANGED, {"variantIds": [variant]})
        for i in range(20):  # `complete` right behind `subscribe`, before any event
            await client.subscribe(f"gone-{i}", INVENTORY_CHANGED, {"variantIds": [variant]})
            await client.complete(f"gone-{i}")
        await wait_subscribers(served.a, 1)
        assert await groups(served) == 1
        await adjust(served.a, served.admin_token, variant, location, 1)
        assert (await client.next("keep"))["inventoryChanged"]["level"]["onHand"] == 1
        for i in range(20):
            assert not client.inbox.get(f"gone-{i}"), client.inbox.get(f"gone-{i}")
    await wait_subscribers(served.a, 0)
    assert await groups(served) == 0


# ----------------------------------------------------------------- in-process


class _Socket:
    """A member's socket: takes messages at once, or (``stuck``) holds every send."""

    def __init__(self, stuck: bool = False) -> None:
        self.stuck = stuck
        self.got: list[dict[str, Any]] = []
        self.release = asyncio.Event()

    async def send_text(self, text: str) -> None:
        if self.stuck:
            await self.release.wait()
        self.got.append(orjson.loads(text))


async def test_a_stuck_member_is_closed_and_the_others_are_not_held_up() -> None:
    queue = 5
    group = fanout.Group(fanout.Broadcaster(queue), ("k",), None)
    fast, stuck = _Socket(), _Socket(stuck=True)
    members = {
        "fast": fanout.Member(group, fast.send_text, '{"id":"f","payload":', lambda: False),
        "stuck": fanout.Member(group, stuck.send_text, '{"id":"s","payload":', lambda: False),
    }
    group.members.update(members.values())
    for n in range(queue + 2):  # the first send is held, then `queue` wait, then one more
        await group._broadcast(_Result({"n": n}))
    assert [m["payload"]["data"]["n"] for m in fast.got] == list(range(queue + 2))
    assert stuck.got == []
    with pytest.raises(ApiError) as closed:
        await members["stuck"].ended
    assert closed.value.extensions == {"code": "SUBSCRIBER_OVERFLOW"}
    assert group.members == {members["fast"]}
    stuck.release.set()  # the one held send completes; nothing more goes to a closed member
    await asyncio.wait_for(members["stuck"].writer, 5)  # type: ignore[arg-type]
    assert [m["payload"]["data"]["n"] for m in stuck.got] == [0]
    await group._broadcast(_Result({"n": 99}))
    assert fast.got[-1]["payload"]["data"] == {"n": 99}
    # A member that is still served while its socket catches up gets everything in order.
    slow = _Socket(stuck=True)
    member = fanout.Member(group, slow.send_text, '{"id":"w","payload":', lambda: False)
    group.members.add(member)
    for n in range(3):
        await group._broadcast(_Result({"n": n}))
    slow.release.set()
    await asyncio.wait_for(member.writer, 5)  # type: ignore[arg-type]
    assert [m["payload"]["data"]["n"] for m in slow.got] == [0, 1, 2]
    assert member.backlog is None and not member.gone


class _Result:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data, self.errors, self.extensions = data, None, None
