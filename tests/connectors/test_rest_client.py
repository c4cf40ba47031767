"""The REST connector's config, mapping and HTTP client (connectors/rest), against the
stand-in API of tests/helpers/rest_standin.py (its wire format is documented there):
each pagination style, each auth style (401 on wrong credentials), retries with
backoff on 500s and timeouts, and what a config refuses."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from connectors.base import CatalogRow, CustomerRow, StockRow
from connectors.rest import RestClient, RestConfig, RestError
from connectors.rest.config import Pull
from connectors.rest.mapping import BodyMapper, ItemError, RowMapper
from tests.helpers.rest_standin import RestStandIn, serve_rest_standin

PRODUCTS = {
    "name": "products",
    "path": "/products",
    "target": "catalog",
    "items": "data",
    "pagination": {
        "style": "cursor",
        "next_cursor": "meta.next_cursor",
        "size_param": "limit",
        "size": 2,
    },
    "incremental": {"param": "updated_since", "field": "updated_at"},
    "fields": {
        "sku": "code",
        "product_handle": "lower(family)",
        "product_title": "name",
        "active": "active",
        "prices": "{web: to_cents(price)}",
        "stock": "from_pairs(stock[].[warehouse, qty])",
    },
}
STOCK = {
    "name": "stock",
    "path": "/stock",
    "target": "stock",
    "items": "results",
    "pagination": {"style": "page", "size_param": "per_page", "size": 2},
    "fields": {"sku": "sku", "location": "warehouse", "on_hand": "on_hand"},
}
CONTACTS = {
    "name": "contacts",
    "path": "/contacts",
    "target": "customers",
    "items": "items",
    "pagination": {"style": "offset", "size_param": "limit", "size": 2},
    "fields": {
        "external_id": "to_string(id)",
        "email": "email",
        "first_name": "first",
        "accepts_marketing": "optin",
        "segments": "tags",
    },
}


def config(url: str, **extra: Any) -> RestConfig:
    data: dict[str, Any] = {
        "base_url": url,
        "retries": 2,
        "backoff_seconds": 0.01,
        "timeout_seconds": 0.5,
        "pull": [PRODUCTS, STOCK, CONTACTS],
    }
    return RestConfig.model_validate({**data, **extra})


@pytest.fixture(scope="module")
def server() -> Iterator[RestStandIn]:
    with serve_rest_standin() as state:
        yield state


@pytest.fixture
def api(server: RestStandIn) -> RestStandIn:
    server.reset()
    return server


async def all_items(cfg: RestConfig, name: str, since: Any = None) -> list[list[Any]]:
    pull = next(p for p in cfg.pull if p.name == name)
    async with RestClient(cfg) as client:
        return [page async for page in client.pages(pull, since)]


def product(n: int, updated: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    return {
        "code": f"SKU-{n}",
        "family": "Shirt",
        "name": f"Shirt {n}",
        "price": "19.99",
        "active": True,
        "stock": [{"warehouse": "NL", "qty": n}],
        "updated_at": updated,
    }


# ================================================================== pagination


async def test_cursor_pagination_follows_next_cursor_and_sends_the_high_water_mark(
    api: RestStandIn,
) -> None:
    api.products.extend(product(n, f"2026-01-0{n}T00:00:00Z") for n in range(1, 6))
    pages = await all_items(config(api.url), "products")
    assert [[p["code"] for p in page] for page in pages] == [
        ["SKU-1", "SKU-2"],
        ["SKU-3", "SKU-4"],
        ["SKU-5"],
    ]
    assert [q.get("cursor") for _, _, q, _ in api.requests] == [None, "2", "4"]
    assert all(q["limit"] == "2" for _, _, q, _ in api.requests)

    api.requests.clear()
    pages = await all_items(config(api.url), "products", since="2026-01-04T00:00:00Z")
    assert [p["code"] for page in pages for p in page] == ["SKU-4", "SKU-5"]
    assert api.requests[0][2]["updated_since"] == "2026-01-04T00:00:00Z"


async def test_page_pagination_stops_at_a_short_page(api: RestStandIn) -> None:
    api.stock.extend({"sku": f"S{n}", "warehouse": "NL", "on_hand": n} for n in range(5))
    pages = await all_items(config(api.url), "stock")
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [q["page"] for _, _, q, _ in api.requests] == ["1", "2", "3"]

    api.requests.clear()
    api.stock.pop()  # 4 rows: the third page is empty and ends the pull
    pages = await all_items(config(api.url), "stock")
    assert [len(p) for p in pages] == [2, 2, 0]


async def test_offset_pagination_moves_by_the_items_received(api: RestStandIn) -> None:
    api.contacts.extend({"id": n, "email": f"c{n}@example.com"} for n in range(3))
    pages = await all_items(config(api.url), "contacts")
    assert [[c["id"] for c in p] for p in pages] == [[0, 1], [2]]
    assert [q["offset"] for _, _, q, _ in api.requests] == ["0", "2"]


async def test_max_pages_bounds_a_pull(api: RestStandIn) -> None:
    api.stock.extend({"sku": f"S{n}", "warehouse": "NL", "on_hand": n} for n in range(9))
    stock = {**STOCK, "pagination": {**STOCK["pagination"], "max_pages": 2}}
    cfg = config(api.url, pull=[stock])
    with pytest.raises(RestError) as err:
        await all_items(cfg, "stock")
    assert err.value.code == "TOO_MANY_PAGES"
    assert len(api.requests) == 2


async def test_items_that_are_not_a_list_are_a_bad_response(api: RestStandIn) -> None:
    cfg = config(api.url, pull=[{**STOCK, "items": "page"}])
    with pytest.raises(RestError) as err:
        await all_items(cfg, "stock")
    assert err.value.code == "BAD_RESPONSE"


# ================================================================== auth


@pytest.mark.parametrize(
    ("server_auth", "client_auth", "secrets"),
    [
        (("bearer", "tok-1"), {"style": "bearer"}, {"token": "tok-1"}),
        (("header", "X-Api-Key", "k-2"), {"style": "header"}, {"token": "k-2"}),
        (
            ("header", "X-Erp-Token", "k-3"),
            {"style": "header", "header": "X-Erp-Token"},
            {"token": "k-3"},
        ),
        (("basic", "hub", "pw-4"), {"style": "basic", "username": "hub"}, {"password": "pw-4"}),
    ],
)
async def test_each_auth_style_is_sent_and_wrong_credentials_are_unauthorized(
    api: RestStandIn,
    server_auth: tuple[str, ...],
    client_auth: dict[str, Any],
    secrets: dict[str, str],
) -> None:
    api.auth = server_auth
    api.stock.append({"sku": "S", "warehouse": "NL", "on_hand": 1})
    ok = config(api.url, auth=client_auth, **secrets)
    assert [len(p) for p in await all_items(ok, "stock")] == [1]

    wrong = config(api.url, auth=client_auth, **{k: v + "-wrong" for k, v in secrets.items()})
    with pytest.raises(RestError) as err:
        await all_items(wrong, "stock")
    assert err.value.code == "UNAUTHORIZED"
    # Not retried: a wrong key stays wrong.
    assert api.statuses("/stock") == [200, 401]


# ================================================================== retries


async def test_500s_and_timeouts_are_retried_with_backoff_then_succeed(api: RestStandIn) -> None:
    api.stock.append({"sku": "S", "warehouse": "NL", "on_hand": 1})
    api.faults.extend(["500", "slow"])
    api.slow_seconds = 1.0
    cfg = config(api.url)
    async with RestClient(cfg) as client:
        pages = [p async for p in client.pages(cfg.pull[1])]
        assert client.attempts == 3
    assert [len(p) for p in pages] == [1]
    assert api.statuses("/stock")[0] == 500


async def test_retries_give_up_with_the_last_failure(api: RestStandIn) -> None:
    api.faults.extend(["500"] * 3)
    with pytest.raises(RestError) as err:
        await all_items(config(api.url), "stock")
    assert err.value.code == "HTTP_ERROR"
    assert "HTTP 500" in str(err.value) and "after 3 attempts" in str(err.value)
    assert api.statuses("/stock") == [500, 500, 500]


async def test_an_unreachable_server_is_unreachable() -> None:
    sock_url = "http://127.0.0.1:9"  # discard port: nothing listens
    with pytest.raises(RestError) as err:
        await all_items(config(sock_url, retries=1), "stock")
    assert err.value.code == "UNREACHABLE"


# ================================================================== mapping


def test_a_catalog_mapping_makes_catalog_rows() -> None:
    mapper = RowMapper(Pull.model_validate(PRODUCTS))
    assert mapper.row(product(3)) == CatalogRow(
        sku="SKU-3",
        product_handle="shirt",
        product_title="Shirt 3",
        active=True,
        prices={"web": 1999},
        stock={"NL": 3},
    )
    assert mapper.key_of(product(3), 0) == "SKU-3"
    # A price or stock entry that is null is not given (the hub leaves it as it is).
    bare = mapper.row({**product(4), "price": None, "stock": None})
    assert (bare.prices, bare.stock) == (None, None)
    assert mapper.mark_of(product(3)) == "2026-01-01T00:00:00Z"
    assert RowMapper(Pull.model_validate(STOCK)).row(
        {"sku": "A", "warehouse": "NL", "on_hand": "7"}
    ) == StockRow("A", "NL", 7)


def test_a_customers_mapping_puts_profile_extras_in_attributes() -> None:
    mapper = RowMapper(Pull.model_validate(CONTACTS))
    row = mapper.row({"id": 9, "email": "a@b.example", "first": "A", "optin": "yes", "tags": ["x"]})
    assert row == CustomerRow("a@b.example", None, "A", None, "9", True, {"segments": ["x"]})


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({**product(1), "price": "twelve"}, "prices: 'twelve' is not an amount"),
        ({**product(1), "code": None}, "sku: Input should be a valid string"),
        ({**product(1), "active": "perhaps"}, "active: Input should be a valid boolean"),
        (
            {**product(1), "stock": [{"warehouse": "NL", "qty": "many"}]},
            "stock.NL: Input should be a valid integer",
        ),
    ],
)
def test_an_item_that_does_not_map_says_why(item: dict[str, Any], message: str) -> None:
    with pytest.raises(ItemError) as err:
        RowMapper(Pull.model_validate(PRODUCTS)).row(item)
    assert str(err.value).startswith(message), str(err.value)


def test_a_push_rule_maps_an_event_to_a_path_and_a_body() -> None:
    rule = BodyMapper(
        RestConfig.model_validate(
            {
                "base_url": "http://erp.example",
                "push": [
                    {
                        "topic": "customer.*",
                        "method": "PUT",
                        "path": "/customers/{id}",
                        "path_params": {"id": "data.customerId"},
                        "body": {"event": "topic", "changed": "data.changed", "key": "eventId"},
                    }
                ],
            }
        ).push[0]
    )
    path, body = rule.request("customer.updated", 41, {"customerId": 7, "changed": ["email"]})
    assert path == "/customers/7"
    assert body == {"event": "customer.updated", "changed": ["email"], "key": 41}
    with pytest.raises(ItemError):
        rule.request("customer.updated", 42, {"changed": []})


# ================================================================== config


@pytest.mark.parametrize(
    ("change", "loc", "message"),
    [
        ({"base_url": "ftp://x"}, ("base_url",), "http(s) URL"),
        ({"auth": {"style": "bearer"}}, (), "needs the token secret"),
        ({"auth": {"style": "basic", "username": "u"}}, (), "needs auth.username and the password"),
        ({"auth": {"style": "magic"}}, ("auth", "style"), "Input should be"),
        (
            {"pull": [{**STOCK, "fields": {**STOCK["fields"], "sku": "sku["}}]},
            ("pull", 0, "fields", "sku"),
            "not a JMESPath expression",
        ),
        (
            {"pull": [{**STOCK, "fields": {**STOCK["fields"], "on_hand": "nope(x)"}}]},
            ("pull", 0, "fields", "on_hand"),
            "unknown function nope()",
        ),
        (
            {"pull": [{**STOCK, "fields": {"sku": "sku", "location": "w"}}]},
            ("pull", 0),
            "needs on_hand",
        ),
        (
            {"pull": [{**STOCK, "fields": {**STOCK["fields"], "colour": "c"}}]},
            ("pull", 0),
            "colour: not a field of stock",
        ),
        (
            {"pull": [{**PRODUCTS, "pagination": {"style": "cursor"}}]},
            ("pull", 0, "pagination"),
            "needs next_cursor",
        ),
        ({"pull": [STOCK, STOCK]}, (), "names must be unique"),
        ({"pull": [{**STOCK, "path": "stock?x=1"}]}, ("pull", 0, "path"), "a path starts with /"),
        (
            {"push": [{"topic": "order.created", "path": "/o/{id}"}]},
            ("push", 0),
            "path_params must give id",
        ),
        ({"pull": [{**STOCK, "target": "orders"}]}, ("pull", 0, "target"), "Input should be"),
        ({"extra": 1}, ("extra",), "Extra inputs are not permitted"),
    ],
)
def test_a_bad_config_says_where(
    change: dict[str, Any], loc: tuple[Any, ...], message: str
) -> None:
    with pytest.raises(ValidationError) as err:
        RestConfig.model_validate({"base_url": "http://erp.example", **change})
    errors = err.value.errors(include_input=False, include_url=False)
    assert any(e["loc"] == loc and message in e["msg"] for e in errors), errors


def test_a_config_round_trips_through_its_json() -> None:
    cfg = config("http://erp.example/api/", auth={"style": "bearer"}, token="t")
    again = RestConfig.model_validate(cfg.model_dump(mode="json"))
    assert again == cfg and again.base_url == "http://erp.example/api"


def test_the_documented_configs_are_valid() -> None:
    """The YAML examples of docs/rest-connector.md and the README validate as they are."""
    root = Path(__file__).resolve().parents[2]
    found = 0
    for doc in (root / "docs" / "rest-connector.md", root / "README.md"):
        for block in re.findall(r"^```yaml\n(.*?)^```", doc.read_text(), re.S | re.M):
            data = yaml.safe_load(block)
            entries = data.get("connectors", [data]) if isinstance(data, dict) else []
            for entry in entries:
                if entry.get("type", "rest") == "rest" and "config" in entry:
                    RestConfig.model_validate(entry["config"])
                    found += 1
    assert found >= 3
