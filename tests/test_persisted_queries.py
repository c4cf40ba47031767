"""Persisted queries over HTTP, on SQLite and PostgreSQL: Apollo's automatic persisted
queries protocol (hash only, ``PersistedQueryNotFound``, registration with the text),
GET with ``Cache-Control`` for anonymous catalog reads, the allow-list mode and the
``hub persisted-queries load`` command with Apollo's and Relay's manifests."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import orjson

from tests.helpers.app import schema_of
from tests.helpers.client import Hub, contract_operation
from tests.helpers.edge import client, codes, edge_app
from tests.helpers.processes import hub_env, hub_exit

LISTING = contract_operation("ProductListing")
VARIABLES = {"first": 3, "channel": "web"}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def apq(digest: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


def unique(query: str, tag: str) -> str:
    """The same operation with a comment: another text, another hash (each test and
    backend registers its own)."""
    return f"# {tag}\n{query}"


def get_params(digest: str, variables: dict[str, Any], name: str | None = None) -> dict:
    params = {"extensions": json.dumps(apq(digest)), "variables": json.dumps(variables)}
    if name:
        params["operationName"] = name
    return params


def store_of(hub: Hub) -> Any:
    for route in hub.app.routes:
        if getattr(route, "path", None) == "/graphql":
            return route.endpoint.persisted
    raise LookupError("no /graphql")


async def test_apollo_round_trip_hash_then_text_then_hash(hub: Hub) -> None:
    query = unique(LISTING, f"round-trip {hub.name}")
    digest = sha(query)
    plain = (
        await hub.client.post("/graphql", json={"query": query, "variables": VARIABLES})
    ).json()
    assert "errors" not in plain

    # 1. The hash alone, unknown: Apollo's clients look for this message and code.
    first = await hub.client.post(
        "/graphql", json={"variables": VARIABLES, "extensions": apq(digest)}
    )
    assert first.status_code == 200
    err = first.json()["errors"][0]
    assert err["message"] == "PersistedQueryNotFound"
    assert err["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"

    # 2. The text with its hash: answered and registered.
    body = {"query": query, "variables": VARIABLES, "extensions": apq(digest)}
    second = await hub.client.post("/graphql", json=body)
    assert second.status_code == 200 and second.json()["data"] == plain["data"]
    assert await hub.scalar("SELECT count(*) FROM persisted_queries WHERE id = :i", i=digest) == 1

    # 3. The hash alone now runs it, with no more statements than the text would.
    with hub.count_statements() as by_text:
        await hub.client.post("/graphql", json={"query": query, "variables": VARIABLES})
    with hub.count_statements() as by_hash:
        third = await hub.client.post(
            "/graphql", json={"variables": VARIABLES, "extensions": apq(digest)}
        )
    assert third.json()["data"] == plain["data"]
    assert len(by_hash) == len(by_text)

    # 4. Another process (an empty LRU) finds it in the database: one more statement.
    store_of(hub).forget()
    with hub.count_statements() as from_db:
        fourth = await hub.client.post(
            "/graphql", json={"variables": VARIABLES, "extensions": apq(digest.upper())}
        )
    assert fourth.json()["data"] == plain["data"]
    assert len(from_db) == len(by_text) + 1


async def test_a_persisted_query_is_neither_parsed_nor_validated_again(hub: Hub) -> None:
    query = unique(LISTING, f"no-parse {hub.name}")
    digest = sha(query)
    body = {"query": query, "variables": VARIABLES, "extensions": apq(digest)}
    expected = (await hub.client.post("/graphql", json=body)).json()["data"]
    documents = schema_of(hub.app).documents  # type: ignore[attr-defined]
    key = documents.digest(query)
    documents._entries.clear()
    documents.size = 0
    got = await hub.client.post(
        "/graphql", json={"variables": VARIABLES, "extensions": apq(digest)}
    )
    assert got.json()["data"] == expected
    # The document came with the persisted entry: the text went through no parser.
    assert documents.get(key) is None and len(documents) == 0


async def test_a_hash_that_does_not_match_the_text_is_refused(hub: Hub) -> None:
    body = {"query": LISTING, "variables": VARIABLES, "extensions": apq("0" * 64)}
    resp = await hub.client.post("/graphql", json=body)
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["message"] == "provided sha does not match query"
    assert await hub.scalar("SELECT count(*) FROM persisted_queries WHERE id = :i", i="0" * 64) == 0
    for bad in ({"version": 2, "sha256Hash": sha(LISTING)}, {"version": 1}, "x"):
        resp = await hub.client.post(
            "/graphql", json={"query": LISTING, "extensions": {"persistedQuery": bad}}
        )
        assert resp.status_code == 400 and codes(resp.json()) == ["BAD_REQUEST"]


async def test_an_invalid_document_is_not_registered(hub: Hub) -> None:
    query = f"# invalid {hub.name}\n{{ products(first: 1) {{ nodes {{ noSuchField }} }} }}"
    digest = sha(query)
    resp = await hub.client.post("/graphql", json={"query": query, "extensions": apq(digest)})
    assert codes(resp.json()) == ["GRAPHQL_VALIDATION_FAILED"]
    again = await hub.client.post("/graphql", json={"extensions": apq(digest)})
    assert codes(again.json()) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_get_is_cacheable_for_anonymous_catalog_reads_only(hub: Hub) -> None:
    query = unique(LISTING, f"get {hub.name}")
    digest = sha(query)
    body = {"query": query, "variables": VARIABLES, "extensions": apq(digest)}
    posted = await hub.client.post("/graphql", json=body)
    assert posted.headers.get("cache-control") is None  # POST answers are never cached

    params = get_params(digest, VARIABLES, "ProductListing")
    got = await hub.client.get("/graphql", params=params)
    assert got.status_code == 200 and got.json()["data"] == posted.json()["data"]
    assert got.headers["cache-control"] == "public, max-age=60"
    assert "Authorization" in got.headers["vary"] and "X-Hub-Channel" in got.headers["vary"]

    # A caller with a key (a storefront's SSR, a customer) is never cached publicly.
    keyed = await hub.client.get(
        "/graphql", params=params, headers={"Authorization": f"Bearer {hub.storefront_token}"}
    )
    assert keyed.status_code == 200 and keyed.headers["cache-control"] == "private, no-store"

    # An answer with errors is not cached.
    bad = await hub.client.get("/graphql", params=get_params(digest, {"first": 3, "after": "x"}))
    assert "errors" in bad.json() and bad.headers["cache-control"] == "private, no-store"

    # Not the catalog (a cart): private.
    cart_q = f'# cart {hub.name}\nquery {{ cart(id: "gid://hub/Cart/999999") {{ id }} }}'
    await hub.client.post("/graphql", json={"query": cart_q, "extensions": apq(sha(cart_q))})
    cart = await hub.client.get("/graphql", params=get_params(sha(cart_q), {}))
    assert cart.status_code == 200 and cart.json()["data"] == {"cart": None}
    assert cart.headers["cache-control"] == "private, no-store"

    # Mutations never run over GET, persisted or not.
    mutation = f"# m {hub.name}\nmutation {{ cartCreate(input: {{}}) {{ cart {{ id }} }} }}"
    refused = await hub.client.get(
        "/graphql", params={"query": mutation, "extensions": json.dumps(apq(sha(mutation)))}
    )
    assert refused.status_code == 405 and codes(refused.json()) == ["METHOD_NOT_ALLOWED"]

    async with (
        edge_app(hub, persisted_query_max_age=300, persisted_query_local_seconds=30) as app,
        client(app) as c,
    ):
        longer = await c.get("/graphql", params=params)
        assert longer.headers["cache-control"] == "public, max-age=300"
        # The process keeps such an answer a while: the same GET runs no statement.
        with hub.count_statements() as statements:
            kept = await c.get("/graphql", params=params)
        assert statements == [] and kept.content == longer.content
        assert kept.headers["cache-control"] == "public, max-age=300"
        assert kept.headers["x-request-id"] != longer.headers["x-request-id"]
        # Not for a caller with a key, nor for another channel.
        with hub.count_statements() as statements:
            other = await c.get("/graphql", params=params, headers={"X-Hub-Channel": "eu"})
        assert statements and other.status_code == 200
    async with edge_app(hub, persisted_query_max_age=0) as app, client(app) as c:
        off = await c.get("/graphql", params=params)
        assert off.status_code == 200 and off.headers["cache-control"] == "private, no-store"


async def test_allow_list_mode_runs_registered_operations_only(hub: Hub) -> None:
    registered = unique(LISTING, f"allowed {hub.name}")
    await hub.client.post(
        "/graphql",
        json={"query": registered, "variables": VARIABLES, "extensions": apq(sha(registered))},
    )
    other = unique(LISTING, f"not allowed {hub.name}")
    async with edge_app(hub, persisted_queries_only=True) as app, client(app) as c:
        ok = await c.post(
            "/graphql", json={"variables": VARIABLES, "extensions": apq(sha(registered))}
        )
        assert ok.status_code == 200 and "errors" not in ok.json()
        # The same text sent in full is registered: it runs too.
        full = await c.post("/graphql", json={"query": registered, "variables": VARIABLES})
        assert full.status_code == 200 and "errors" not in full.json()
        for body in (
            {"query": other, "variables": VARIABLES},
            {"query": other, "variables": VARIABLES, "extensions": apq(sha(other))},
        ):
            refused = await c.post("/graphql", json=body)
            assert refused.status_code == 403
            assert codes(refused.json()) == ["PERSISTED_QUERY_NOT_ALLOWED"]
        assert (
            await hub.scalar("SELECT count(*) FROM persisted_queries WHERE id = :i", i=sha(other))
            == 0
        )
        # The admin scope (GraphiQL, tooling) is not bound by the list.
        admin = await c.post(
            "/graphql",
            json={"query": other, "variables": VARIABLES},
            headers={"Authorization": f"Bearer {hub.admin_token}"},
        )
        assert admin.status_code == 200 and "errors" not in admin.json()


def _database_url(hub: Hub) -> str:
    return hub.db.engine.url.render_as_string(hide_password=False)


async def test_the_cli_loads_apollo_and_relay_manifests(hub: Hub, tmp_path: Path) -> None:
    apollo_q = unique(LISTING, f"apollo manifest {hub.name}")
    relay_q = f"# relay {hub.name}\nquery RelayChannels {{ channels {{ handle }} }}"
    relay_id = hashlib.md5(relay_q.encode()).hexdigest()  # relay-compiler's default ids
    apollo = {
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [
            {"id": sha(apollo_q), "name": "ProductListing", "type": "query", "body": apollo_q}
        ],
    }
    (tmp_path / "apollo.json").write_bytes(orjson.dumps(apollo))
    (tmp_path / "relay.json").write_bytes(orjson.dumps({relay_id: relay_q}))
    env = hub_env(_database_url(hub))
    for name, added in (("apollo.json", 1), ("relay.json", 2), ("apollo.json", 0)):
        out = hub_exit(["persisted-queries", "load", str(tmp_path / name)], env)
        assert out.returncode == 0, out.stderr
        assert f"{added} operations registered" in out.stdout
    async with edge_app(hub, persisted_queries_only=True) as app, client(app) as c:
        for op_id, variables in ((sha(apollo_q), VARIABLES), (relay_id, {}), (sha(relay_q), {})):
            resp = await c.post("/graphql", json={"variables": variables, "extensions": apq(op_id)})
            assert resp.status_code == 200 and "errors" not in resp.json(), resp.text
    # A manifest with an operation the schema refuses loads nothing.
    broken = {sha("{ nope }"): "{ nope }", **{relay_id: relay_q}}
    (tmp_path / "broken.json").write_bytes(orjson.dumps(broken))
    out = hub_exit(["persisted-queries", "load", str(tmp_path / "broken.json")], env)
    assert out.returncode == 1 and "don't validate" in out.stderr
    assert "Traceback" not in out.stderr
    count = await hub.scalar("SELECT count(*) FROM persisted_queries WHERE query = '{ nope }'")
    assert count == 0


def _socket_answers(url: str, registered: str, other: str) -> list[dict[str, Any]]:
    """In allow-list mode, over graphql-transport-ws: the first message answering each
    of two subscribe messages (an app of its own, on its own event loop)."""
    from starlette.testclient import TestClient

    from hub.app import create_app
    from hub.settings import load_settings

    app = create_app(load_settings(database_url=url, persisted_queries_only=True))
    out = []
    with (
        TestClient(app) as tc,
        tc.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws,
    ):
        ws.send_json({"type": "connection_init"})
        assert ws.receive_json()["type"] == "connection_ack"
        for i, query in enumerate((other, registered)):
            ws.send_json({"id": str(i), "type": "subscribe", "payload": {"query": query}})
            out.append(ws.receive_json())
    return out


async def test_allow_list_mode_holds_on_websockets(hub: Hub) -> None:
    registered = f"# ws allowed {hub.name}\n{{ channels {{ handle }} }}"
    await hub.client.post(
        "/graphql", json={"query": registered, "extensions": apq(sha(registered))}
    )
    other = f"# ws other {hub.name}\n{{ channels {{ handle }} }}"
    refused, ok = await asyncio.to_thread(_socket_answers, _database_url(hub), registered, other)
    assert refused["type"] == "error"
    assert refused["payload"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_ALLOWED"
    assert ok["type"] == "next" and ok["payload"]["data"]["channels"]
