"""The HTTP tax service as a connector instance (type ``http_tax``): configured over
GraphQL (the API key write-only), pricing carts while enabled, its calls recorded as
runs (one per interval), the rules as its fallback, a manual run probing the service;
``HUB_TAX_SERVICE_URL`` still works."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from hub.demo import NEWARK
from tests.helpers.carts import CART, create, gql, stocked_variant
from tests.helpers.client import Hub, served_again
from tests.helpers.connectors import (
    CREATE,
    connector,
    create_connector,
    delete_connector,
    run_now,
    wait_runs,
)
from tests.helpers.tax_service import TaxStandIn, tax_stand_in


@pytest.fixture(scope="module")
def service() -> Iterator[TaxStandIn]:
    with tax_stand_in() as state:
        yield state


async def _cart_tax(hub: Hub, cid: str) -> Decimal:
    cart = await gql(hub, f"query($id: ID!) {{ cart(id: $id) {{ {CART} }} }}", {"id": cid})
    return Decimal(cart["cart"]["cost"]["totalTaxAmount"]["amount"])


async def _priced_cart(hub: Hub, quantity: int = 1) -> str:
    vid = await stocked_variant(hub, {NEWARK: 3}, price="20")
    out = await create(
        hub,
        {
            "lines": [{"merchandiseId": vid, "quantity": quantity}],
            "buyerIdentity": {"email": "tax@example.com", "countryCode": "US"},
        },
    )
    assert out["userErrors"] == [], out
    cid: str = out["cart"]["id"]
    return cid


async def _until_tax(hub: Hub, cid: str, expected: Decimal, within: float = 10) -> None:
    deadline = time.monotonic() + within
    while (got := await _cart_tax(hub, cid)) != expected:
        assert time.monotonic() < deadline, f"cart tax {got}, expected {expected}"
        await asyncio.sleep(0.1)


async def test_an_http_tax_instance_prices_carts_and_its_calls_are_runs(
    hub: Hub, service: TaxStandIn
) -> None:
    service.failing = False
    cid = await _priced_cart(hub)
    builtin = await _cart_tax(hub, cid)
    name = f"tax-{uuid.uuid4().hex[:8]}"
    made = await create_connector(
        hub,
        name,
        "http_tax",
        {
            "url": service.url,
            "api_key": service.api_key,
            "timeout": 0.5,
            "retries": 0,
            "report_seconds": 0.3,
        },
    )
    try:
        assert made["kind"] == "tax" and "api_key" not in made["config"]
        assert made["secrets"] == [{"name": "api_key", "isSet": True}]
        assert service.api_key not in json.dumps(await connector(hub, made["id"]))

        # The instance's engine takes over: 10% of the line and of the shipping.
        calls = service.calls
        cart = await gql(hub, f"query($id: ID!) {{ cart(id: $id) {{ {CART} }} }}", {"id": cid})
        cost = cart["cart"]["cost"]
        expected = (
            Decimal(cost["subtotalAmount"]["amount"])
            + Decimal(cost["totalShippingAmount"]["amount"])
        ) * Decimal("0.10")
        await _until_tax(hub, cid, expected.quantize(Decimal("0.01")))
        assert expected.quantize(Decimal("0.01")) != builtin
        assert service.calls > calls and service.auth[-1] == f"Bearer {service.api_key}"

        # Its calls show as runs, aggregated per interval.
        (run,) = (await wait_runs(hub, made["id"], 1, trigger="SCHEDULE"))[:1]
        assert run["status"] == "SUCCEEDED" and run["itemsWritten"] >= 1
        assert run["itemsRead"] == run["itemsWritten"] and run["errorCount"] == 0

        # The service down: a new basket is priced by the rules (answers the service
        # gave are cached for a while), and the run says so.
        service.failing = True
        other = await _priced_cart(hub, quantity=2)
        assert await _cart_tax(hub, other) == builtin == 0
        failed = await wait_runs(hub, made["id"], 1, trigger="SCHEDULE", status="FAILED")
        assert failed[0]["errors"][0]["code"] == "FALLBACK"
        assert "HTTP 500" in failed[0]["errors"][0]["message"]

        # A manual run probes the service.
        probe = await run_now(hub, made["id"], wait=True)
        assert probe["status"] == "FAILED" and "probe" in probe["message"]
        service.failing = False
        probe = await run_now(hub, made["id"], wait=True)
        assert probe["status"] == "SUCCEEDED" and probe["trigger"] == "MANUAL"
    finally:
        service.failing = False
        await delete_connector(hub, made["id"])
    await _until_tax(hub, cid, builtin)  # deleted: back to the settings' engine


async def test_http_tax_config_is_validated(hub: Hub) -> None:
    got = await hub.admin(
        CREATE,
        {
            "input": {
                "name": f"tax-{uuid.uuid4().hex[:8]}",
                "typeName": "http_tax",
                "config": {"url": "ftp://tax.example.com", "timeout": 0, "api_key": "k-123"},
            }
        },
    )
    payload: dict[str, Any] = got["data"]["connectorCreate"]
    assert payload["connector"] is None
    assert sorted(tuple(e["field"]) for e in payload["userErrors"]) == [
        ("config", "timeout"),
        ("config", "url"),
    ]
    assert "k-123" not in json.dumps(got)


async def test_the_settings_still_configure_the_tax_service(hub: Hub, service: TaxStandIn) -> None:
    service.failing = False
    async with served_again(
        hub, tax_service_url=service.url, tax_service_api_key=service.api_key
    ) as second:
        cid = await _priced_cart(second)
        cart = await gql(second, f"query($id: ID!) {{ cart(id: $id) {{ {CART} }} }}", {"id": cid})
        cost = cart["cart"]["cost"]
        expected = (
            Decimal(cost["subtotalAmount"]["amount"])
            + Decimal(cost["totalShippingAmount"]["amount"])
        ) * Decimal("0.10")
        assert Decimal(cost["totalTaxAmount"]["amount"]) == expected.quantize(Decimal("0.01"))
