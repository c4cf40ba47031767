"""The hub answers the same bytes with and without the compiled path, on both databases.

Three corpora, each request sent twice to the same app (same state), once on each
path, compared as raw response bodies (data, errors in order, extensions):

- every query of the contract (``../shared/contract/operations``) with several
  variable sets, as a storefront, as staff and without a key;
- the queries the test suite sends (``recorded.json``: recorded with
  ``HUB_RECORD_DOCUMENTS``, see README.md here), replayed against the demo catalog:
  ids the tests created no longer exist there, which exercises the null and error
  paths too;
- documents hypothesis draws over the hub's schema: random fields, arguments (valid
  in type, often refused by the resolvers: bad ids, cursors, page sizes), some of
  them as variables, aliases, fragments and skip/include;
- the contract queries as persisted queries (hash and text, then the hash alone).

Mutations are not replayed (a second run would meet the first one's writes); the
test suite runs every mutation on the compiled path, and the engine tests
(``test_engine.py``) cover serial execution's null propagation.
"""

from __future__ import annotations

import asyncio
import json
import re
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest
from graphql import OperationDefinitionNode, StringValueNode, parse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schema.engine import PlanCache
from tests.differential.documents import documents
from tests.helpers.app import schema_of
from tests.helpers.client import CONTRACT, Hub

HERE = Path(__file__).resolve().parent
RECORDED = json.loads((HERE / "recorded.json").read_text())

NEAR = {"latitude": 40.72, "longitude": -74.0}
CONTRACT_VARIABLES: dict[str, list[dict[str, Any]]] = {
    "ProductListing": [
        {"first": 24, "channel": "web"},
        {"first": 7, "channel": "eu"},
        {"first": 3, "after": "not-a-cursor"},
        {"first": 250, "channel": "nowhere"},
    ],
    "ProductDetail": [
        {"handle": "slub-crew-tee-0001", "near": NEAR, "channel": "web"},
        {"handle": "pima-crew-tee-0002", "channel": "eu"},
        {"handle": "no-such-product"},
    ],
    "PickupLocations": [{"near": NEAR}, {"near": NEAR, "first": 1}, {"near": NEAR, "first": 900}],
    "InventoryLevels": [
        {"variantId": "gid://hub/ProductVariant/1"},
        {"variantId": "gid://hub/ProductVariant/999999"},
        {"variantId": "not-an-id"},
    ],
    "CustomerProfile": [{}],
    "CartTotals": [{"cartId": "<cart>"}, {"cartId": "gid://hub/Cart/unknown"}],
    "OrderByToken": [{"token": "no-such-token"}],
}
CART = """mutation { cartCreate(input: {lines: [
  {merchandiseId: "gid://hub/ProductVariant/1", quantity: 2},
  {merchandiseId: "gid://hub/ProductVariant/5"}], discountCodes: ["DEMO10"]}) {
  cart { id } userErrors { code } } }"""


def _contract_queries() -> list[tuple[str, str, str]]:
    out = []
    for path in sorted((CONTRACT / "operations").glob("*.graphql")):
        text = path.read_text()
        for d in parse(text).definitions:
            if isinstance(d, OperationDefinitionNode) and d.operation.value == "query":
                assert d.name is not None
                out.append((path.name, d.name.value, text))
    return out


CONTRACT_QUERIES = _contract_queries()


_BUDGET_LEFT = re.compile(rb'"currentlyAvailable":\d+')


def _cache(hub: Hub) -> PlanCache:
    return PlanCache.of(schema_of(hub.app)._schema)


async def _post(hub: Hub, body: dict[str, Any], who: str | None, headers: Any) -> bytes:
    h = dict(headers or {})
    token = {"admin": hub.admin_token, "storefront": hub.storefront_token}.get(who or "")
    if token:
        h["Authorization"] = f"Bearer {token}"
    resp = await hub.client.post("/graphql", json=body, headers=h)
    for _ in range(5):  # replaying the whole suite drains the client's cost budget:
        if resp.status_code != 429:  # wait for it as a client would, then compare
            break
        await asyncio.sleep(resp.json()["errors"][0]["extensions"]["retryAfter"])
        resp = await hub.client.post("/graphql", json=body, headers=h)
    assert resp.status_code == 200, resp.text
    return resp.content


async def _same(
    hub: Hub, body: dict[str, Any], who: str | None = None, headers: Any = None
) -> None:
    cache = _cache(hub)
    cache.enabled = False
    try:
        standard = await _post(hub, body, who, headers)
    finally:
        cache.enabled = True
    fallbacks = cache.fallbacks
    compiled = await _post(hub, body, who, headers)
    text = body.get("query") or ""
    introspection = "__schema" in text or "__type" in text
    assert introspection or cache.fallbacks == fallbacks, f"not compiled: {body}"
    # the per-client budget drains between the two runs; everything else must match
    standard, compiled = (
        _BUDGET_LEFT.sub(b'"currentlyAvailable":_', b) for b in (standard, compiled)
    )
    assert compiled == standard, (
        f"{body}\nas {who}\nstandard {standard[:3000]!r}\ncompiled {compiled[:3000]!r}"
    )


def test_the_contract_queries_all_have_variables() -> None:
    names = {name for _, name, _ in CONTRACT_QUERIES}
    assert names, "no contract queries found"
    assert names <= set(CONTRACT_VARIABLES), names - set(CONTRACT_VARIABLES)


@pytest.mark.parametrize(
    ("file", "name", "text"), CONTRACT_QUERIES, ids=[f"{f}:{n}" for f, n, _ in CONTRACT_QUERIES]
)
async def test_contract_queries_answer_the_same(hub: Hub, file: str, name: str, text: str) -> None:
    cache = _cache(hub)
    cart = (await hub.admin(CART))["data"]["cartCreate"]["cart"]["id"]
    compiled_before = cache.compiled
    for variables in CONTRACT_VARIABLES[name]:
        variables = {k: cart if v == "<cart>" else v for k, v in variables.items()}
        body = {"query": text, "variables": variables, "operationName": name}
        for who in ("storefront", "admin", None):
            await _same(hub, body, who)
    assert cache.compiled >= compiled_before


async def test_the_test_suites_queries_answer_the_same(hub: Hub) -> None:
    assert len(RECORDED) > 100
    for rec in RECORDED:
        body = {"query": rec["query"], "variables": rec["variables"]}
        if rec.get("operationName"):
            body["operationName"] = rec["operationName"]
        await _same(hub, body, rec["as"], rec.get("headers"))


async def test_persisted_queries_answer_the_same(hub: Hub) -> None:
    """The contract queries as persisted queries (the text with its hash, then the
    hash alone): the same bytes on both paths."""
    cart = (await hub.admin(CART))["data"]["cartCreate"]["cart"]["id"]
    for _, name, text in CONTRACT_QUERIES:
        tagged = f"# differential {hub.name}\n{text}"
        ext = {"persistedQuery": {"version": 1, "sha256Hash": sha256(tagged.encode()).hexdigest()}}
        variables = {
            k: cart if v == "<cart>" else v for k, v in CONTRACT_VARIABLES[name][0].items()
        }
        base = {"variables": variables, "operationName": name, "extensions": ext}
        await _same(hub, {**base, "query": tagged}, "storefront")
        for who in ("storefront", None):
            await _same(hub, base, who)


def _custom_scalars() -> dict[str, st.SearchStrategy[Any]]:
    def strings(*values: str) -> st.SearchStrategy[Any]:
        return st.sampled_from([StringValueNode(value=v) for v in values])

    return {
        "Decimal": strings("0", "12.50", "-1", "abc"),
        "DateTime": strings("2026-01-01T00:00:00Z", "yesterday"),
        "Date": strings("2026-01-01", "13/45/2026"),
        "JSON": strings("{}", '{"a": 1}'),
    }


@pytest.fixture(scope="module")
def hub_schema(hub: Hub) -> Any:
    return schema_of(hub.app)._schema


def _generated(schema: Any) -> Any:
    return documents(
        schema,
        fields=[
            "products",
            "product",
            "collections",
            "collection",
            "channels",
            "currentChannel",
            "node",
            "nodes",
            "locations",
            "promotions",
            "cart",
            "giftCardBalance",
            "priceLists",
            "shippingZones",
        ],
        custom_scalars=_custom_scalars(),
    )


async def test_generated_queries_answer_the_same(hub: Hub, hub_schema: Any) -> None:
    cache = _cache(hub)
    compiled_before = cache.compiled

    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(doc=_generated(hub_schema), who=st.sampled_from(["storefront", "admin", None]))
    def run(doc: tuple[str, dict[str, Any]], who: str | None) -> None:
        query, variables = doc
        pending.append(({"query": query, "variables": variables}, who))

    # hypothesis drives a sync function; the requests run on the test's event loop.
    pending: list[tuple[dict[str, Any], str | None]] = []
    run()
    assert len(pending) >= 30
    for body, who in pending:
        await _same(hub, body, who)
    assert cache.compiled > compiled_before, "no generated document took the compiled path"
