"""Costs that cannot be dodged (issue 7 point 2), in-process on SQLite and PostgreSQL:
id lists multiply their selection, aliases and fragments count, and the per-client cost
bucket (leaky bucket, state in ``extensions.cost.throttleStatus``) refuses a client
that spent it with 429 ``THROTTLED`` and a retry-after, without touching others."""

from __future__ import annotations

import asyncio

from tests.helpers.client import Hub, contract_operation
from tests.helpers.edge import client, codes, edge_app

LISTING = contract_operation("ProductListing")
# The selection of the probe: one product costs 1 + (2 + 10 x (1 + (2 + 6 x (1 +
# (1 + (1 + 1 + 1 x 0)))))) ... computed by the hub; only the multiplication is pinned.
PROBE = """... on Product { variants(first: 10) { nodes { storeAvailability(first: 6) {
  nodes { location { channels { handle } } } } } } }"""


async def product_ids(hub: Hub, n: int) -> list[str]:
    res = await hub.gql(f"{{ products(first: {n}) {{ nodes {{ id }} }} }}")
    return [p["id"] for p in res["data"]["products"]["nodes"]]


async def cost_of(hub: Hub, query: str, variables: dict | None = None) -> int:
    res = await hub.gql(query, variables)
    return res["extensions"]["cost"]["requestedQueryCost"]


async def test_id_lists_multiply_their_selection(hub: Hub) -> None:
    ids = await product_ids(hub, 250)
    one = await cost_of(
        hub, "query($i: [ID!]!) { nodes(ids: $i) { " + PROBE + " } }", {"i": ids[:1]}
    )
    item = one - 2
    assert item > 100
    for n in (2, 50, 250):
        literal = "[" + ", ".join(f'"{i}"' for i in ids[:n]) + "]"
        assert await cost_of(hub, f"{{ nodes(ids: {literal}) {{ {PROBE} }} }}") == 2 + n * item
        by_var = "query($i: [ID!]!) { nodes(ids: $i) { " + PROBE + " } }"
        assert await cost_of(hub, by_var, {"i": ids[:n]}) == 2 + n * item
    # The probe: twenty aliases of 250 ids, refused before anything runs.
    aliases = " ".join(f"a{k}: nodes(ids: $i) {{ {PROBE} }}" for k in range(20))
    res = await hub.gql(f"query($i: [ID!]!) {{ {aliases} }}", {"i": ids})
    assert codes(res) == ["MAX_COST_EXCEEDED"] and res.get("data") is None
    assert res["extensions"]["cost"]["requestedQueryCost"] == 20 * (2 + 250 * item)


async def test_aliases_and_fragments_are_counted(hub: Hub) -> None:
    base = await cost_of(
        hub, "{ products(first: 10) { nodes { id variants(first: 5) { nodes { id } } } } }"
    )
    assert base == 2 + 10 * (1 + 2 + 5 * 1)
    aliased = "{ a: products(first: 10) { nodes { id } } b: products(first: 10) { nodes { id } } }"
    assert await cost_of(hub, aliased) == 2 * (2 + 10 * 1)
    frag = "fragment V on Product { variants(first: 5) { nodes { id } } }"
    spread = (
        "{ products(first: 10) { nodes { ...V ...V x: variants(first: 5) { nodes { id } } } } } "
        + frag
    )
    assert await cost_of(hub, spread) == 2 + 10 * (1 + 3 * (2 + 5))
    inline = "{ products(first: 10) { nodes { ... on Product { variants(first: 5) { nodes { id } } } } } }"  # noqa: E501
    assert await cost_of(hub, inline) == base


async def test_listing_reports_its_throttle_status(hub: Hub) -> None:
    res = await hub.gql(LISTING, {"first": 24})
    cost = res["extensions"]["cost"]
    status = cost["throttleStatus"]
    assert status["maximumAvailable"] == 200_000 and status["restoreRate"] == 20_000
    assert 0 <= status["currentlyAvailable"] <= 200_000 - cost["requestedQueryCost"] + 20_000


async def test_a_spent_bucket_throttles_that_client_only(hub: Hub) -> None:
    async with edge_app(
        hub, max_query_cost=2000, cost_bucket_size=3000, cost_restore_rate=1000
    ) as app:
        async with client(app, "10.0.0.1") as greedy, client(app, "10.0.0.2") as other:
            body = {"query": LISTING, "variables": {"first": 24}}
            first = (await greedy.post("/graphql", json=body)).json()
            cost = first["extensions"]["cost"]["requestedQueryCost"]
            assert 1000 < cost <= 2000, cost
            left = first["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"]
            assert 3000 - cost - 1 <= left <= 3000 - cost + 100
            refused = None
            for _ in range(4):  # the bucket runs dry within a few pages
                resp = await greedy.post("/graphql", json=body)
                if resp.status_code == 429:
                    refused = resp
                    break
                assert resp.status_code == 200 and "errors" not in resp.json()
            assert refused is not None, "the bucket never ran dry"
            err = refused.json()
            assert codes(err) == ["THROTTLED"] and err.get("data") is None
            wait = err["errors"][0]["extensions"]["retryAfter"]
            assert 1 <= wait <= 2 and refused.headers["retry-after"] == str(wait)
            status = err["extensions"]["cost"]["throttleStatus"]
            assert (
                status
                == {
                    "maximumAvailable": 3000,
                    "currentlyAvailable": status["currentlyAvailable"],
                    "restoreRate": 1000,
                }
                and status["currentlyAvailable"] < cost
            )
            # Another client has its own bucket; a cheap query still fits the greedy one's.
            ok = await other.post("/graphql", json=body)
            assert ok.status_code == 200 and "errors" not in ok.json()
            # Refills at the restore rate.
            await asyncio.sleep(wait)
            again = await greedy.post("/graphql", json=body)
            assert again.status_code == 200 and "errors" not in again.json(), again.text
        # A key is its own client, wherever it calls from.
        async with client(app, "10.0.0.1") as keyed:
            h = {"Authorization": f"Bearer {hub.storefront_token}"}
            resp = await keyed.post("/graphql", json=body, headers=h)
            assert resp.status_code == 200


async def test_the_bucket_can_be_turned_off(hub: Hub) -> None:
    async with edge_app(hub, cost_bucket_size=0) as app, client(app) as c:
        res = (await c.post("/graphql", json={"query": LISTING, "variables": {"first": 24}})).json()
        assert "throttleStatus" not in res["extensions"]["cost"]
        assert res["extensions"]["cost"]["requestedQueryCost"] > 0


async def _key_id(hub: Hub, name: str) -> int:
    return int(await hub.scalar("SELECT id FROM api_keys WHERE name = :n", n=name))


async def test_a_server_side_storefront_has_a_bucket_per_shopper(hub: Hub) -> None:
    """One SSR key serving many shoppers (HUB_COST_PER_BUYER_KEYS): each shopper named
    by X-Hub-Buyer has a bucket of its own; a key not listed still shares one."""
    ssr = await _key_id(hub, "tests-storefront")
    body = {"query": LISTING, "variables": {"first": 24}}
    key = {"Authorization": f"Bearer {hub.storefront_token}"}
    async with edge_app(
        hub,
        max_query_cost=2000,
        cost_bucket_size=3000,
        cost_restore_rate=1000,
        cost_per_buyer_keys=frozenset({ssr}),
    ) as app:
        async with client(app, "10.0.0.9") as server:
            statuses = []
            for _ in range(5):
                resp = await server.post("/graphql", json=body, headers={**key, "X-Hub-Buyer": "a"})
                statuses.append(resp.status_code)
            assert 429 in statuses, statuses  # shopper a spent its bucket
            other = await server.post("/graphql", json=body, headers={**key, "X-Hub-Buyer": "b"})
            assert other.status_code == 200 and "errors" not in other.json()
            status = other.json()["extensions"]["cost"]["throttleStatus"]
            assert status["maximumAvailable"] == 3000
            assert status["currentlyAvailable"] > 3000 - 2 * 2000  # a fresh bucket
            # Without the header the shopper is the request's address.
            plain = await server.post("/graphql", json=body, headers=key)
            assert plain.status_code == 200
            # The admin key is not listed: one bucket whatever the header says.
            admin = {"Authorization": f"Bearer {hub.admin_token}"}
            refused = None
            for i in range(5):
                resp = await server.post(
                    "/graphql", json=body, headers={**admin, "X-Hub-Buyer": f"x{i}"}
                )
                if resp.status_code == 429:
                    refused = resp
                    break
            assert refused is not None and codes(refused.json()) == ["THROTTLED"]


async def test_a_key_may_have_a_bucket_size_of_its_own(hub: Hub) -> None:
    ssr = await _key_id(hub, "tests-storefront")
    body = {"query": LISTING, "variables": {"first": 24}}
    async with (
        edge_app(
            hub,
            max_query_cost=2000,
            cost_bucket_size=3000,
            cost_restore_rate=1000,
            cost_key_bucket_sizes={ssr: 50_000},
        ) as app,
        client(app) as c,
    ):
        key = {"Authorization": f"Bearer {hub.storefront_token}"}
        for _ in range(6):  # would have run dry in a bucket of 3,000
            resp = await c.post("/graphql", json=body, headers=key)
            assert resp.status_code == 200, resp.text
        status = resp.json()["extensions"]["cost"]["throttleStatus"]
        assert status["maximumAvailable"] == 50_000 and status["restoreRate"] == 1000
        anonymous = [(await c.post("/graphql", json=body)).status_code for _ in range(5)]
        assert 429 in anonymous
