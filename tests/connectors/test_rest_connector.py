"""The REST connector end to end over GraphQL, on SQLite and PostgreSQL: instances made
with ``connectorCreate`` (type ``rest``), run with ``connectorRunNow`` or by events,
their runs read with ``connectorRuns``, and their effects read through the catalog,
inventory and customer API. The remote ERP/CRM is the stand-in of
tests/helpers/rest_standin.py (its wire format is documented there)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from hub import ids
from hub.demo import NEWARK, ROTTERDAM
from tests.helpers.carts import stocked_variant
from tests.helpers.client import Hub
from tests.helpers.connectors import (
    CREATE,
    RUN_NOW,
    connector,
    create_connector,
    delete_connector,
    runs,
    update_connector,
    wait_runs,
)
from tests.helpers.orders import place
from tests.helpers.rest_standin import Received, RestStandIn, serve_rest_standin

PRODUCT = """query($h: String!) { product(handle: $h) { title status
  variants(first: 10) { nodes { sku price { amount currencyCode }
    inventoryLevels(first: 10) { nodes { onHand location { handle } } } } } } }"""
CUSTOMER = """query($id: ID!) { customer(id: $id) { id email firstName lastName segments
  acceptsMarketing marketingConsents { topic granted source } } }"""
CUSTOMER_CREATE = """mutation($input: CustomerInput!) { staffCustomerCreate(input: $input) {
  customer { id } userErrors { field code message } } }"""
CUSTOMER_UPDATE = """mutation($id: ID!, $input: CustomerInput!) {
  staffCustomerUpdate(id: $id, input: $input) { customer { id } userErrors { code } } }"""
CONNECTORS = "query { connectors(first: 100) { nodes { name } } }"
CASH = {"provider": "cash", "reference": "till-1"}


@pytest.fixture(scope="module")
def server() -> Iterator[RestStandIn]:
    with serve_rest_standin() as state:
        yield state


@pytest.fixture
async def api(server: RestStandIn) -> AsyncIterator[RestStandIn]:
    server.reset()
    yield server
    server.reset()


def pushed(api: RestStandIn) -> int:
    """Orders the stand-in ERP received."""
    return sum(1 for r in api.received if r.path == "/orders")


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def erp(url: str, **extra: Any) -> dict[str, Any]:
    """An ERP instance: products by cursor (incremental on updated_at), stock by page,
    orders pushed."""
    return {
        "kind": "erp",
        "base_url": url,
        "auth": {"style": "bearer"},
        "token": "erp-token",
        "retries": 2,
        "backoff_seconds": 0.01,
        "timeout_seconds": 0.5,
        "pull": [
            {
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
                    "product_handle": "family",
                    "product_title": "name",
                    "active": "active",
                    "option_names": '`["Size"]`',
                    "option_values": "[size]",
                    "prices": "{web: to_cents(price)}",
                    "stock": "from_pairs(stock[].[warehouse, qty])",
                },
            },
            {
                "name": "stock",
                "path": "/stock",
                "target": "stock",
                "items": "results",
                "pagination": {"style": "page", "size_param": "per_page", "size": 2},
                "fields": {"sku": "sku", "location": "warehouse", "on_hand": "on_hand"},
            },
        ],
        "push": [
            {
                "topic": "order.created",
                "path": "/orders",
                "body": {
                    "number": "data.name",
                    "total": "data.total",
                    "currency": "data.currency",
                    "lines": "data.lines[].{sku: sku, qty: quantity}",
                },
            }
        ],
        **extra,
    }


def crm(url: str) -> dict[str, Any]:
    """A CRM instance: contacts by offset (incremental on modified), basic auth, profile
    changes pushed."""
    return {
        "kind": "crm",
        "base_url": url,
        "auth": {"style": "basic", "username": "hub"},
        "password": "crm-pass",
        "retries": 2,
        "backoff_seconds": 0.01,
        "timeout_seconds": 0.5,
        "pull": [
            {
                "name": "contacts",
                "path": "/contacts",
                "target": "customers",
                "items": "items",
                "pagination": {"style": "offset", "size_param": "limit", "size": 2},
                "incremental": {"param": "modified_since", "field": "modified"},
                "fields": {
                    "external_id": "to_string(id)",
                    "email": "email",
                    "first_name": "first",
                    "last_name": "last",
                    "accepts_marketing": "optin",
                    "segments": "tags",
                },
            }
        ],
        "push": [
            {
                "topic": "customer.updated",
                "method": "PUT",
                "path": "/customers/{id}",
                "path_params": {"id": "data.customerId"},
                "body": {
                    "event": "topic",
                    "email": "data.email",
                    "first": "data.firstName",
                    "last": "data.lastName",
                    "optin": "data.acceptsMarketing",
                    "changed": "data.changed",
                    "source": "data.source",
                },
            }
        ],
    }


def product(code: str, family: str, price: str, updated: str, **more: Any) -> dict[str, Any]:
    return {
        "code": code,
        "family": family,
        "name": family.title(),
        "price": price,
        "size": code.rsplit("-", 1)[1],
        "active": True,
        "stock": [{"warehouse": "wh-newark", "qty": 4}],
        "updated_at": updated,
        **more,
    }


async def variants(hub: Hub, handle: str) -> dict[str, tuple[str, dict[str, int]]]:
    got = await hub.admin(PRODUCT, {"h": handle})
    assert "errors" not in got, got
    found = got["data"]["product"]
    assert found is not None, handle
    return {
        v["sku"]: (
            v["price"]["amount"],
            {lv["location"]["handle"]: lv["onHand"] for lv in v["inventoryLevels"]["nodes"]},
        )
        for v in found["variants"]["nodes"]
    }


async def run(hub: Hub, gid: str, within: float = 15.0) -> dict[str, Any]:
    """``connectorRunNow(wait: true)``, once the instance is free: an instance with
    push rules also runs on events (its own sync's stock and customer events wake it,
    and leave it at once), and a manual run asked for meanwhile is CONNECTOR_BUSY."""
    deadline = time.monotonic() + within
    while True:
        got = await hub.admin(RUN_NOW, {"id": gid, "wait": True})
        assert "errors" not in got, got
        payload = got["data"]["connectorRunNow"]
        if payload["run"] is not None:
            ended: dict[str, Any] = payload["run"]
            return ended
        assert [e["code"] for e in payload["userErrors"]] == ["CONNECTOR_BUSY"], payload
        assert time.monotonic() < deadline, "the connector stayed busy"
        await asyncio.sleep(0.05)


async def received(api: RestStandIn, path: str, n: int, within: float = 15.0) -> list[Received]:
    """The first ``n`` bodies pushed to ``path`` (waits for them: pushes run on events,
    in the background)."""
    deadline = time.monotonic() + within
    while True:
        got = [r for r in api.received if r.path == path]
        if len(got) >= n:
            return got
        assert time.monotonic() < deadline, f"{len(got)} of {n} pushes to {path}"
        await asyncio.sleep(0.05)


def errors(run: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["item"], e["code"]) for e in run["errors"]]


# ====================================================================== ERP pull


async def test_erp_pull_writes_products_prices_and_stock_incrementally(
    hub: Hub, api: RestStandIn
) -> None:
    api.auth = ("bearer", "erp-token")
    fam = uid("rest-tee")
    a, b, c = f"{fam}-S", f"{fam}-M", f"{fam}-L"
    api.products.extend(
        [
            product(a, fam, "19.99", "2026-01-01T00:00:00Z"),
            product(b, fam, "21.50", "2026-01-02T00:00:00Z"),
            product(c, fam, "23", "2026-01-03T00:00:00Z"),
        ]
    )
    api.stock.append({"sku": a, "warehouse": "wh-rotterdam", "on_hand": 7})
    api.faults.extend(["500", "slow"])  # the first request fails twice, then succeeds
    api.slow_seconds = 1.0
    made = await create_connector(hub, uid("erp"), "rest", erp(api.url), scheduleSeconds=None)
    try:
        # Secrets are write-only.
        assert "token" not in made["config"] and "erp-token" not in json.dumps(made)
        assert {"name": "token", "isSet": True} in made["secrets"]

        done = await run(hub, made["id"])
        assert done["status"] == "SUCCEEDED", done["errors"]
        # A manual run also sends the pending events its push rules match. On
        # PostgreSQL a new instance starts at the server-wide transaction horizon, so
        # another test's order.created committed just before may come (at least once):
        # each counts as read and written.
        early = pushed(api)
        assert (done["itemsRead"], done["itemsWritten"], done["errorCount"]) == (
            4 + early,
            4 + early,
            0,
        )
        assert api.statuses("/products") == [500, 0, 200, 200]  # 0: timed out
        assert await variants(hub, fam) == {
            a: ("19.99", {"wh-newark": 4, "wh-rotterdam": 7}),
            b: ("21.50", {"wh-newark": 4}),
            c: ("23.00", {"wh-newark": 4}),
        }
        state = await connector(hub, made["id"])
        assert json.loads(state["cursor"]) == {"products": "2026-01-03T00:00:00Z"}

        # Next run: only what changed since the high-water mark is asked for.
        api.requests.clear()
        api.products[0] = product(a, fam, "17.00", "2026-01-05T00:00:00Z")
        again = await run(hub, made["id"])
        assert again["status"] == "SUCCEEDED", again
        sent = [q for _, p, q, _ in api.requests if p == "/products"]
        assert sent[0]["updated_since"] == "2026-01-03T00:00:00Z"
        # c (at the mark) and a (changed) read, a written; the stock row is unchanged.
        late = pushed(api) - early
        assert (again["itemsRead"], again["itemsWritten"]) == (3 + late, 1 + late)
        assert (await variants(hub, fam))[a][0] == "17.00"
        # Its own stock changes don't wake it: it asks only for its push rules' topics.
        await asyncio.sleep(1.5)
        assert [r["trigger"] for r in await runs(hub, made["id"])] == ["MANUAL", "MANUAL"]
        assert (await connector(hub, made["id"]))["kind"] == "erp"
    finally:
        await delete_connector(hub, made["id"])


async def test_erp_items_that_fail_are_recorded_and_outages_fail_the_run(
    hub: Hub, api: RestStandIn
) -> None:
    api.auth = ("bearer", "erp-token")
    fam = uid("rest-cap")
    api.products.extend(
        [
            product(f"{fam}-1", fam, "twelve", "2026-02-01T00:00:00Z"),
            product(f"{fam}-2", fam, "5.00", "2026-02-01T00:00:00Z"),
        ]
    )
    api.stock.append({"sku": f"{fam}-2", "warehouse": "wh-nowhere", "on_hand": 1})
    made = await create_connector(hub, uid("erp"), "rest", erp(api.url), scheduleSeconds=None)
    try:
        done = await run(hub, made["id"])
        assert done["status"] == "PARTIAL", done
        assert done["itemsRead"] == 3 and done["itemsWritten"] == 1 and done["errorCount"] == 2
        (bad_item, hub_rejected) = done["errors"]
        assert (bad_item["item"], bad_item["code"]) == (f"{fam}-1", "INVALID_ITEM")
        assert "'twelve' is not an amount" in bad_item["message"]
        assert hub_rejected["item"] == f"{fam}-2@wh-nowhere" and hub_rejected["code"]
        assert "wh-nowhere" in hub_rejected["message"]
        cursor = (await connector(hub, made["id"]))["cursor"]

        # An outage: every retry answers 500. The run fails, the cursor stays.
        api.faults.extend(["500"] * 3)
        down = await run(hub, made["id"])
        assert down["status"] == "FAILED"
        assert ("products", "HTTP_ERROR") in errors(down)
        assert any("after 3 attempts" in e["message"] for e in down["errors"])
        after = await connector(hub, made["id"])
        assert after["cursor"] == cursor and after["failures"] == 1

        # Wrong credentials: 401, not retried, the run fails saying so.
        await update_connector(hub, made["id"], config={**erp(api.url), "token": "stale"})
        api.requests.clear()
        refused = await run(hub, made["id"])
        assert refused["status"] == "FAILED"
        assert {("products", "UNAUTHORIZED"), ("stock", "UNAUTHORIZED")} <= set(errors(refused))
        assert api.statuses("/products") == [401] and api.statuses("/stock") == [401]
    finally:
        await delete_connector(hub, made["id"])


# ====================================================================== ERP push


async def test_erp_push_sends_new_orders_mapped_with_an_idempotency_key(
    hub: Hub, api: RestStandIn
) -> None:
    api.auth = ("bearer", "erp-token")
    config = erp(api.url, pull=[])
    made = await create_connector(
        hub, uid("erp-push"), "rest", config, scheduleSeconds=None, eventIntervalSeconds=0
    )
    try:
        api.faults.append("500")  # the first push is retried
        order, _ = await place(hub, payment=CASH, token=hub.admin_token)
        pushed = await received(api, "/orders", 1)
        assert pushed[0].body["number"] == order["name"]
        assert pushed[0].body["currency"] == order["totalPrice"]["currencyCode"]
        assert pushed[0].body["lines"] == [
            {"sku": ln["sku"], "qty": ln["quantity"]} for ln in order["lineItems"]["nodes"]
        ]
        assert pushed[0].headers["authorization"] == "Bearer erp-token"
        assert pushed[0].headers["idempotency-key"].startswith(f"hub-{ids.decode(made['id'])[1]}-")
        assert api.statuses("/orders") == [500, 200]

        # A push the ERP refuses (4xx) is recorded against the event and not retried.
        api.push_status = 422
        await place(hub, payment=CASH, token=hub.admin_token)
        await received(api, "/orders", 2)
        partial = await wait_runs(hub, made["id"], 1, trigger="EVENT", status="PARTIAL")
        (err,) = partial[0]["errors"]
        assert err["item"].startswith("order.created#") and err["code"] == "HTTP_ERROR"
        assert "HTTP 422" in err["message"]

        # The ERP is down (every retry of the push answers 500): the run fails, and the
        # framework's next run (after its backoff) sends the same event again.
        api.push_status = 201
        api.faults.extend(["500"] * 3)
        third, _ = await place(hub, payment=CASH, token=hub.admin_token)
        failed = await wait_runs(hub, made["id"], 1, trigger="EVENT", status="FAILED")
        assert any(e["code"] == "HTTP_ERROR" for e in failed[0]["errors"])
        later = [r for r in await received(api, "/orders", 3) if r.body["number"] == third["name"]]
        assert later and later[0].headers["idempotency-key"].startswith("hub-")
    finally:
        await delete_connector(hub, made["id"])


async def test_erp_push_sends_stock_movements_coalesced_with_the_latest_levels(
    hub: Hub, api: RestStandIn
) -> None:
    rule = {
        "topic": "inventory.changed",
        "path": "/movements",
        "body": {
            "variant": "data.variantId",
            "levels": "data.levels[].{location: locationId, onHand: level.onHand}",
            "events": "data.coalesced",
        },
    }
    config = erp(api.url, pull=[], push=[rule], auth={"style": "none"})
    made = await create_connector(
        hub, uid("erp-stock"), "rest", config, scheduleSeconds=None, eventIntervalSeconds=0
    )
    try:
        vid = await stocked_variant(hub, {NEWARK: 5, ROTTERDAM: 3})
        pk = ids.decode(vid)[1]
        deadline = time.monotonic() + 15
        while True:
            mine = [r.body for r in api.received if r.body["variant"] == pk]
            if sum(b["events"] for b in mine) >= 2 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        # Two stock events (one per location): at most one push each, the latest level
        # of every location that changed in the batch.
        assert sum(b["events"] for b in mine) == 2 and 1 <= len(mine) <= 2, mine
        latest: dict[int, int] = {}
        for body in mine:
            latest.update({lv["location"]: lv["onHand"] for lv in body["levels"]})
        assert latest == {NEWARK: 5, ROTTERDAM: 3}
    finally:
        await delete_connector(hub, made["id"])


# ====================================================================== CRM


async def test_crm_pull_creates_and_updates_customers_and_their_consent(
    hub: Hub, api: RestStandIn
) -> None:
    api.auth = ("basic", "hub", "crm-pass")
    known = f"{uid('crm-known')}@example.com"
    made_customer = await hub.admin(CUSTOMER_CREATE, {"input": {"email": known, "firstName": "K"}})
    known_id = made_customer["data"]["staffCustomerCreate"]["customer"]["id"]
    fresh = f"{uid('crm-new')}@example.com"
    contacts = [
        {
            "id": 1,
            "email": known.upper(),
            "first": "Kim",
            "last": "Lee",
            "optin": True,
            "tags": ["vip"],
            "modified": 100,
        },
        {
            "id": 2,
            "email": fresh,
            "first": "Nia",
            "last": "Obi",
            "optin": True,
            "tags": [],
            "modified": 101,
        },
        {"id": 3, "email": "not-an-email", "first": "X", "optin": False, "modified": 102},
    ]
    made = await create_connector(
        hub, uid("crm"), "rest", crm(api.url), scheduleSeconds=None, eventIntervalSeconds=0
    )
    try:
        api.contacts.extend(contacts)
        assert made["kind"] == "crm"
        done = await run(hub, made["id"])
        assert done["status"] == "PARTIAL", done
        assert (done["itemsRead"], done["itemsWritten"]) == (3, 2)
        assert errors(done) == [("3", "INVALID")]
        got = (await hub.admin(CUSTOMER, {"id": known_id}))["data"]["customer"]
        assert (got["firstName"], got["lastName"], got["segments"]) == ("Kim", "Lee", ["vip"])
        assert got["acceptsMarketing"] is True
        assert got["marketingConsents"] == [{"topic": "EMAIL", "granted": True, "source": "import"}]
        # The CRM's own changes are not sent back to it.
        assert [r.body for r in api.received if r.body["source"] != "staff"] == []

        # The CRM withdraws Kim's consent: the next (incremental) run records it.
        api.contacts[0] = {**api.contacts[0], "optin": False, "modified": 200}
        api.requests.clear()
        again = await run(hub, made["id"])
        assert again["status"] == "PARTIAL" and again["itemsWritten"] == 1
        assert api.requests[0][2]["modified_since"] == "102"
        got = (await hub.admin(CUSTOMER, {"id": known_id}))["data"]["customer"]
        assert got["acceptsMarketing"] is False
        assert got["marketingConsents"] == [
            {"topic": "EMAIL", "granted": False, "source": "import"}
        ]

        # A change made in the hub is pushed to the CRM, mapped.
        upd = await hub.admin(CUSTOMER_UPDATE, {"id": known_id, "input": {"lastName": "Lee-Park"}})
        assert upd["data"]["staffCustomerUpdate"]["userErrors"] == []
        path = f"/customers/{ids.decode(known_id)[1]}"
        for _ in range(100):
            puts = [r for r in await received(api, path, 1) if r.body["changed"] == ["lastName"]]
            if puts:
                break
            await asyncio.sleep(0.1)
        # Once (at least once: a retried run may send it again, with the same key).
        assert len({p.headers["idempotency-key"] for p in puts}) == 1
        put = puts[0]
        assert put.method == "PUT"
        assert put.body == {
            "event": "customer.updated",
            "email": known.lower(),
            "first": "Kim",
            "last": "Lee-Park",
            "optin": False,
            "changed": ["lastName"],
            "source": "staff",
        }
        assert [r.body for r in api.received if r.body["source"] != "staff"] == []
        assert put.headers["authorization"].startswith("Basic ")
    finally:
        await delete_connector(hub, made["id"])


# ====================================================================== config


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (
            {
                "pull": [
                    {
                        "name": "p",
                        "path": "/p",
                        "target": "catalog",
                        "fields": {"sku": "a[", "product_handle": "h"},
                    }
                ]
            },
            ["config", "pull", "0", "fields", "sku"],
            "not a JMESPath expression",
        ),
        ({"auth": {"style": "bearer"}, "token": None}, ["config"], "needs the token secret"),
        (
            {"push": [{"topic": "cart.updated", "path": "/carts"}]},
            ["config", "push", "0", "topic"],
            "a push topic is",
        ),
    ],
)
async def test_a_bad_mapping_is_a_user_error_and_creates_nothing(
    hub: Hub, change: dict[str, Any], path: list[str], message: str
) -> None:
    name = uid("bad-rest")
    config = {**erp("http://127.0.0.1:9"), **change}
    got = await hub.admin(CREATE, {"input": {"name": name, "typeName": "rest", "config": config}})
    assert "errors" not in got, got
    payload = got["data"]["connectorCreate"]
    assert payload["connector"] is None
    assert any(
        e["code"] == "INVALID_CONNECTOR_CONFIG" and e["field"] == path and message in e["message"]
        for e in payload["userErrors"]
    ), payload["userErrors"]
    names = [n["name"] for n in (await hub.admin(CONNECTORS))["data"]["connectors"]["nodes"]]
    assert name not in names
