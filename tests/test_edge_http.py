"""The HTTP edge, in-process on SQLite and PostgreSQL: JSON errors with codes for every
refusal (401, malformed bodies, parse/validation/limits), request bounds (body, query,
variables; 413 before anything is parsed), the byte-bounded document cache, the
introspection switch and the staff-only location fields (issue 7 points 3 and 10,
issue 8 point 9)."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from hub.auth import create_api_key, revoke_api_key
from tests.helpers.app import schema_of
from tests.helpers.client import Hub
from tests.helpers.edge import client, codes, edge_app

SHOP = "{ channels { handle } }"


async def post(hub: Hub, content: bytes | str, **headers: str) -> httpx.Response:
    h = {"content-type": "application/json", **headers}
    return await hub.client.post("/graphql", content=content, headers=h)


def only_error(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"errors"}, body
    assert codes(body) == [code], body
    assert body["errors"][0]["message"]
    return body["errors"][0]


async def test_401_is_graphql_json(hub: Hub) -> None:
    resp = await hub.client.post(
        "/graphql", json={"query": SHOP}, headers={"Authorization": "Bearer hub_unknown"}
    )
    err = only_error(resp, 401, "UNAUTHENTICATED")
    assert "API key" in err["message"]
    assert resp.headers["www-authenticate"].startswith("Bearer")
    assert resp.headers["x-request-id"]
    # A revoked key, and a scheme that isn't Bearer, alike.
    pk, token = await create_api_key(hub.db, "edge-401", ["storefront"])
    assert await revoke_api_key(hub.db, pk)
    resp = await hub.client.post(
        "/graphql", json={"query": SHOP}, headers={"Authorization": f"Bearer {token}"}
    )
    only_error(resp, 401, "UNAUTHENTICATED")
    resp = await hub.client.post(
        "/graphql", json={"query": SHOP}, headers={"Authorization": f"Basic {token}"}
    )
    only_error(resp, 401, "UNAUTHENTICATED")


async def test_expired_key_is_refused(hub: Hub) -> None:
    from datetime import UTC, datetime, timedelta

    _, gone = await create_api_key(
        hub.db, "edge-expired", ["admin"], expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    resp = await hub.client.post(
        "/graphql", json={"query": SHOP}, headers={"Authorization": f"Bearer {gone}"}
    )
    only_error(resp, 401, "UNAUTHENTICATED")
    _, later = await create_api_key(
        hub.db, "edge-later", ["admin"], expires_at=datetime.now(UTC) + timedelta(hours=1)
    )
    ok = await hub.gql(SHOP, token=later)
    assert ok["data"]["channels"]


async def test_malformed_bodies_are_json_errors(hub: Hub) -> None:
    bad = [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b'"a string"', "JSON object"),
        (b"42", "JSON object"),
        (b"null", "JSON object"),
        (b'[{"query": "{ channels { handle } }"}]', "batched"),
        (b'{"query": 5}', "query"),
        (b'{"query": {"a": 1}}', "query"),
        (b'{"query": ["{ x }"]}', "query"),
        (b"{}", "query"),
        (b'{"query": "   "}', "query"),
        (b'{"query": "{ channels { handle } }", "variables": [1]}', "variables"),
        (b'{"query": "{ channels { handle } }", "variables": "x"}', "variables"),
        (b'{"query": "{ channels { handle } }", "operationName": 7}', "operationName"),
        (b'{"query": "{ channels { handle } }", "extensions": 1}', "extensions"),
    ]
    for content, says in bad:
        err = only_error(await post(hub, content), 400, "BAD_REQUEST")
        assert says in err["message"], (content, err)
    # Not JSON at all, and mutations over GET: refused with their own status.
    resp = await hub.client.post(
        "/graphql", content=b"query=x", headers={"content-type": "text/plain"}
    )
    only_error(resp, 415, "UNSUPPORTED_MEDIA_TYPE")
    resp = await hub.client.get(
        "/graphql", params={"query": "mutation { cartCreate { cart { id } } }"}
    )
    only_error(resp, 405, "METHOD_NOT_ALLOWED")
    resp = await hub.client.put("/graphql", json={"query": SHOP})
    assert resp.status_code == 405


async def test_every_graphql_error_has_a_code(hub: Hub) -> None:
    res = await hub.gql("{ channels { handle }")
    assert codes(res) == ["GRAPHQL_PARSE_FAILED"]
    res = await hub.gql("{ channels { nope } }")
    assert codes(res) == ["GRAPHQL_VALIDATION_FAILED"]
    # A failed validation still reports the cost it could compute.
    res = await hub.gql("{ products(first: 5) { nodes { nope id } } }")
    assert codes(res) == ["GRAPHQL_VALIDATION_FAILED"]
    assert res["extensions"]["cost"]["requestedQueryCost"] == 2 + 5 * 1

    inner = "id"
    for _ in range(5):
        inner = f"variants(first: 1) {{ nodes {{ product {{ {inner} }} }} }}"
    res = await hub.gql(f"{{ products(first: 1) {{ nodes {{ {inner} }} }} }}")
    assert codes(res) == ["MAX_DEPTH_EXCEEDED"]
    assert "exceeds maximum operation depth of 12" in res["errors"][0]["message"]
    assert res["extensions"]["cost"]["requestedQueryCost"] > 0

    aliases = " ".join(f"c{i}: channels {{ handle }}" for i in range(51))
    assert codes(await hub.gql(f"{{ {aliases} }}")) == ["MAX_ALIASES_EXCEEDED"]
    # Aliases inside a fragment count each time the fragment is spread.
    frag = " ".join(f"h{i}: handle" for i in range(20))
    spread = "fragment F on Channel { " + frag + " }"
    res = await hub.gql(
        "{ a: channels { ...F } b: channels { ...F } c: channels { ...F } } " + spread
    )
    assert codes(res) == ["MAX_ALIASES_EXCEEDED"]
    assert "63 aliases" in res["errors"][0]["message"]

    many = "{ " + " ".join("a" for _ in range(10_001)) + " }"
    assert codes(await hub.gql(many)) == ["MAX_TOKENS_EXCEEDED"]
    costly = "{ products(first: 250) { nodes { variants(first: 250) { nodes { id } } } } }"
    assert codes(await hub.gql(costly)) == ["MAX_COST_EXCEEDED"]
    res = await hub.gql("{ products(first: 251) { nodes { id } } }")
    assert codes(res) == ["INVALID_PAGE"]
    # Variables that don't coerce, an unknown operation name.
    res = await hub.gql("query($n: Int!) { products(first: $n) { nodes { id } } }", {"n": "x"})
    assert codes(res) == ["BAD_USER_INPUT"]
    resp = await hub.client.post(
        "/graphql", json={"query": "query A { channels { handle } }", "operationName": "B"}
    )
    only_error(resp, 400, "BAD_REQUEST")


async def test_body_over_the_limit_is_413_before_it_is_read(hub: Hub) -> None:
    big = b'{"query": "{ channels { handle } }", "pad": "' + b"x" * 10_000_000 + b'"}'
    resp = await post(hub, big)
    err = only_error(resp, 413, "PAYLOAD_TOO_LARGE")
    assert "1048576" in err["message"]

    # Chunked (no Content-Length): refused once the bytes read pass the limit, so the
    # rest is never read.
    sent = 0

    async def chunks() -> Any:
        nonlocal sent
        yield b'{"query": "{ channels { handle } }", "pad": "'
        for _ in range(160):  # 10 MB in 64 KB chunks
            sent += 65536
            yield b"y" * 65536
        yield b'"}'

    resp = await hub.client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )
    only_error(resp, 413, "PAYLOAD_TOO_LARGE")
    assert sent < 2_000_000, f"{sent} bytes were read before the refusal"
    # Just under the limit is fine (and then the query length decides).
    ok = await post(hub, orjson.dumps({"query": SHOP, "pad": "z" * 900_000}))
    assert ok.status_code == 200 and ok.json()["data"]["channels"]


async def test_query_and_variables_bounds(hub: Hub) -> None:
    long_query = "{ channels { handle } }" + " " * 100_000
    err = only_error(await post(hub, orjson.dumps({"query": long_query})), 413, "QUERY_TOO_LARGE")
    assert "100000" in err["message"]
    async with edge_app(hub, max_query_length=1000) as app, client(app) as c:
        resp = await c.get("/graphql", params={"query": "{ channels { handle } }" + " " * 1000})
        only_error(resp, 413, "QUERY_TOO_LARGE")
    variables = {"v": ["gid://hub/ProductVariant/1"] * 20_000}  # ~ 600 KB as JSON
    resp = await post(hub, orjson.dumps({"query": SHOP, "variables": variables}))
    only_error(resp, 413, "VARIABLES_TOO_LARGE")


async def test_document_cache_is_bounded_by_bytes_and_keyed_by_hash(hub: Hub) -> None:
    async with edge_app(hub, document_cache_bytes=20_000_000) as app:
        store = schema_of(app).documents
        async with client(app) as c:
            for i in range(50):  # distinct documents of ~9 KB each
                pad = " ".join(f"a{i}_{j}: handle" for j in range(40))
                q = f"query Q{i} {{ channels {{ {pad} }} }}" + " " * 8000
                resp = await c.post("/graphql", json={"query": q})
                assert resp.status_code == 200 and "errors" not in resp.json(), resp.text
        assert 0 < store.size <= 20_000_000
        assert 0 < len(store) < 50  # older ones were evicted
        assert all(isinstance(k, bytes) and len(k) == 16 for k in store._entries)
        # A hot document is served from the cache: the same AST object again.
        async with client(app) as c:
            for _ in range(2):
                await c.post("/graphql", json={"query": SHOP})
        entry = store.get(store.digest(SHOP))
        assert entry is not None and entry.errors == []


async def test_introspection_can_be_switched_off(hub: Hub) -> None:
    q = "{ __schema { queryType { name } } }"
    on = await hub.gql(q)
    assert on["data"]["__schema"]["queryType"]["name"] == "Query"
    async with edge_app(hub, introspection=False) as app, client(app) as c:
        off = (await c.post("/graphql", json={"query": q})).json()
        assert set(codes(off)) == {"INTROSPECTION_DISABLED"} and off.get("data") is None
        typed = await c.post("/graphql", json={"query": '{ __type(name: "Query") { name } }'})
        assert set(codes(typed.json())) == {"INTROSPECTION_DISABLED"}
        plain = await c.post("/graphql", json={"query": "{ __typename channels { handle } }"})
        assert plain.json()["data"]["__typename"] == "Query"


async def test_location_costs_and_capacity_are_staff_only(hub: Hub) -> None:
    q = """{ locations(first: 3) { nodes {
      name costPerShipment { amount } dailyCapacity fulfillmentPriority } } }"""
    anon = await hub.gql(q)
    assert set(codes(anon)) == {"ACCESS_DENIED"}
    for loc in anon["data"]["locations"]["nodes"]:
        assert loc["name"]
        assert loc["costPerShipment"] is None
        assert loc["dailyCapacity"] is None and loc["fulfillmentPriority"] is None
    store = await hub.gql(q, token=hub.storefront_token)
    assert set(codes(store)) == {"ACCESS_DENIED"}
    staff = await hub.admin(q)
    assert "errors" not in staff
    assert all(n["fulfillmentPriority"] is not None for n in staff["data"]["locations"]["nodes"])
    assert all(n["costPerShipment"] is not None for n in staff["data"]["locations"]["nodes"])
