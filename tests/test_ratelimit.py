"""Rate limits (issue 7 point 9): the shared limiter on both backends (memory, Redis),
failed API key attempts per address (429 with Retry-After, JSON), ``giftCardBalance``
and discount codes counted per alias, and batches (refused: batching is off)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from hub.ratelimit import MemoryLimiter, Rate, RedisLimiter
from tests.helpers.client import Hub
from tests.helpers.edge import client, codes, edge_app
from tests.helpers.processes import free_port, reachable_redis


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest):
    if request.param == "memory":
        yield MemoryLimiter()
        return
    lim = RedisLimiter(reachable_redis(), f"hubtest-{uuid.uuid4().hex[:10]}:rl:")
    yield lim
    await lim.aclose()


async def test_leaky_bucket(limiter) -> None:
    rate = Rate(5, 1.0)  # 5 units, 5 a second
    key = f"k-{uuid.uuid4().hex}"
    got = [await limiter.hit(key, rate) for _ in range(5)]
    assert all(d.allowed for d in got)
    assert [round(d.remaining) for d in got] == [4, 3, 2, 1, 0]
    refused = await limiter.hit(key, rate)
    assert not refused.allowed and 0.1 < refused.retry_after <= 0.21
    assert refused.retry_after_seconds == 1 and refused.limit == 5
    # A refusal takes nothing; peeking takes nothing.
    assert not (await limiter.peek(key, rate)).allowed
    await asyncio.sleep(0.45)  # two units back
    assert (await limiter.peek(key, rate, 2)).allowed
    assert not (await limiter.peek(key, rate, 3)).allowed
    assert (await limiter.hit(key, rate, 2)).allowed
    assert not (await limiter.hit(key, rate)).allowed
    # Weighted: a cost larger than the bucket never fits; other keys are untouched.
    assert not (await limiter.hit(f"{key}-2", rate, 6)).allowed
    assert (await limiter.hit(f"{key}-2", rate, 5)).allowed


async def test_redis_buckets_are_shared_and_survive_an_outage() -> None:
    url, prefix = reachable_redis(), f"hubtest-{uuid.uuid4().hex[:10]}:rl:"
    a, b = RedisLimiter(url, prefix), RedisLimiter(url, prefix)
    rate = Rate(3, 60)
    try:
        assert (await a.hit("shared", rate, 2)).allowed
        assert (await b.hit("shared", rate)).allowed
        assert not (await a.hit("shared", rate)).allowed  # the other process spent it
    finally:
        await a.aclose()
        await b.aclose()
    # Redis unreachable: limits still hold, per process, and no request fails.
    down = RedisLimiter(f"redis://127.0.0.1:{free_port()}/0", prefix, timeout=0.2)
    try:
        assert [(await down.hit("x", rate)).allowed for _ in range(4)] == [True] * 3 + [False]
    finally:
        await down.aclose()


def test_limit_settings_fail_in_one_line() -> None:
    from hub.settings import SettingsError, load_settings

    for bad, name in (
        ({"rate_limit_gift_card_balance": "lots"}, "HUB_RATE_LIMIT_GIFT_CARD_BALANCE"),
        ({"cost_bucket_size": 100}, "HUB_COST_BUCKET_SIZE"),
        ({"max_body_bytes": 10}, "HUB_MAX_BODY_BYTES"),
    ):
        with pytest.raises(SettingsError) as err:
            load_settings(database_url="sqlite+aiosqlite://", **bad)
        assert name in str(err.value) and "\n" not in str(err.value), err.value
    off = load_settings(
        database_url="sqlite+aiosqlite://", rate_limit_discount_codes="off", cost_bucket_size=0
    )
    assert off.rate_limit_discount_codes is None and off.cost_bucket_size == 0


def test_rate_settings_parse() -> None:
    assert Rate.parse("20/60s") == Rate(20, 60)
    assert Rate.parse("100/5m") == Rate(100, 300)
    assert Rate.parse("1000/h") == Rate(1000, 3600)
    assert Rate.parse("off") is None
    for bad in ("20", "x/1s", "20/0s", "0/1s"):
        with pytest.raises(ValueError):
            Rate.parse(bad)


async def test_failed_key_attempts_are_limited_per_address(hub: Hub) -> None:
    async with edge_app(hub, rate_limit_auth_failures="5/60s") as app:
        body = {"query": "{ channels { handle } }"}
        async with client(app, "10.1.0.1") as guesser, client(app, "10.1.0.2") as other:
            for i in range(5):
                h = {"Authorization": f"Bearer hub_guess{i}"}
                assert (await guesser.post("/graphql", json=body, headers=h)).status_code == 401
            for h in ({"Authorization": "Bearer hub_guess9"}, {"Authorization": "Token x"}):
                resp = await guesser.post("/graphql", json=body, headers=h)
                assert resp.status_code == 429, resp.text
                err = resp.json()
                assert codes(err) == ["THROTTLED"]
                wait = err["errors"][0]["extensions"]["retryAfter"]
                assert 1 <= wait <= 12 and resp.headers["retry-after"] == str(wait)
            # Without a key the storefront still works from there; a key already seen
            # (cached) too; other addresses are not affected.
            assert (await guesser.post("/graphql", json=body)).status_code == 200
            good = {"Authorization": f"Bearer {hub.storefront_token}"}
            assert (await other.post("/graphql", json=body, headers=good)).status_code == 200
            assert (await guesser.post("/graphql", json=body, headers=good)).status_code == 200
            bad = {"Authorization": "Bearer hub_other"}
            assert (await other.post("/graphql", json=body, headers=bad)).status_code == 401


GIFT = "query($c: String!) { %s }"


async def test_gift_card_balance_counts_every_alias(hub: Hub) -> None:
    async with edge_app(hub, rate_limit_gift_card_balance="30/60s") as app:
        fields = " ".join(
            f"g{i}: giftCardBalance(code: $c) {{ balance {{ amount }} }}" for i in range(50)
        )
        async with client(app, "10.2.0.1") as c, client(app, "10.2.0.2") as other:
            res = (
                await c.post(
                    "/graphql", json={"query": GIFT % fields, "variables": {"c": "NOPE-0000"}}
                )
            ).json()
            throttled = [e for e in res["errors"] if e["extensions"]["code"] == "THROTTLED"]
            assert len(throttled) == 20 and len(res["errors"]) == 20
            assert all(e["extensions"]["retryAfter"] >= 1 for e in throttled)
            answered = [k for k, v in res["data"].items() if v is None]
            assert len(answered) == 50  # null: unknown code (30) or throttled (20)
            one = GIFT % "giftCardBalance(code: $c) { balance { amount } }"
            res = (
                await c.post(
                    "/graphql", json={"query": one, "variables": {"c": "DEMO-GIFT-0000-0050"}}
                )
            ).json()
            assert codes(res) == ["THROTTLED"] and res["data"]["giftCardBalance"] is None
            res = (
                await other.post(
                    "/graphql", json={"query": one, "variables": {"c": "DEMO-GIFT-0000-0050"}}
                )
            ).json()
            assert res["data"]["giftCardBalance"]["balance"]["amount"] == "50.00"


async def test_discount_codes_count_every_code_entered(hub: Hub) -> None:
    async with edge_app(hub, rate_limit_discount_codes="12/300s") as app:
        async with client(app, "10.3.0.1") as c:
            made = (
                await c.post(
                    "/graphql",
                    json={
                        "query": """mutation($codes: [String!]) { cartCreate(input:
                        {discountCodes: $codes}) { cart { id discountCodes { code } } } }""",
                        "variables": {"codes": [f"GUESS{i}" for i in range(10)]},
                    },
                )
            ).json()
            cart = made["data"]["cartCreate"]["cart"]["id"]
            update = """mutation($c: ID!, $codes: [String!]!) {
              a: cartDiscountCodesUpdate(cartId: $c, discountCodes: $codes) {
                cart { discountCodes { code applicable reason } } }
            }"""
            ok = (
                await c.post(
                    "/graphql",
                    json={"query": update, "variables": {"c": cart, "codes": ["DEMO10", "X1"]}},
                )
            ).json()
            assert "errors" not in ok, ok  # 12 codes entered so far: at the limit
            refused = (
                await c.post(
                    "/graphql", json={"query": update, "variables": {"c": cart, "codes": ["Y"]}}
                )
            ).json()
            assert codes(refused) == ["THROTTLED"]
            assert refused["errors"][0]["extensions"]["retryAfter"] >= 1
            # Nothing was written: the cart still has the two codes.
            got = (
                await c.post(
                    "/graphql",
                    json={
                        "query": "query($c: ID!) { cart(id: $c) { discountCodes { code } } }",
                        "variables": {"c": cart},
                    },
                )
            ).json()
            assert [d["code"] for d in got["data"]["cart"]["discountCodes"]] == ["DEMO10", "X1"]
            # Clearing codes (none entered) is never refused.
            clear = (
                await c.post(
                    "/graphql", json={"query": update, "variables": {"c": cart, "codes": []}}
                )
            ).json()
            assert "errors" not in clear


async def test_batches_are_refused(hub: Hub) -> None:
    ops = [{"query": '{ giftCardBalance(code: "A") { expiresAt } }'}] * 3
    resp = await hub.client.post("/graphql", json=ops)
    assert resp.status_code == 400 and codes(resp.json()) == ["BAD_REQUEST"]
    assert "batched" in resp.json()["errors"][0]["message"]
