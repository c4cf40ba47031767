"""The stand-in marketplace (``connectors.marketplace.standin``) served by uvicorn on a
free 127.0.0.1 port in a background thread, and a channel of the hub's own with a few
products priced and stocked there (what the marketplace connector publishes)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from connectors.marketplace.standin import MarketplaceStandIn
from tests.helpers.client import Hub
from tests.helpers.connectors import RUN_NOW
from tests.helpers.fulfillment import admin, gid, make_channel, make_site, uid
from tests.helpers.inventory import op
from tests.helpers.serving import listening_socket, serve_on, url_of

TOKEN = "mk-test-token"


@contextmanager
def serving(standin: MarketplaceStandIn, port: int = 0) -> Iterator[str]:
    """Serve ``standin`` until the block ends; its base URL."""
    sock = listening_socket(port)
    url = url_of(sock)
    with serve_on(
        sock,
        standin.app,
        name="stand-in marketplace",
        log_level="critical",
        access_log=False,
        http="h11",
    ):
        yield url


@dataclass
class Shop:
    """A channel with its own two locations and products priced there."""

    channel: str
    channel_id: str
    locations: list[int]
    location_handles: list[str]
    variants: dict[str, str] = field(default_factory=dict)  # sku -> variant global id
    prices: dict[str, int] = field(default_factory=dict)  # sku -> minor units


async def location_handle(hub: Hub, pk: int) -> str:
    return str(await hub.scalar("SELECT handle FROM locations WHERE id = :i", i=pk))


async def make_product(
    hub: Hub,
    shop: Shop,
    *,
    price: str = "19.99",
    stock: dict[int, int] | None = None,
    sizes: tuple[str, ...] = ("S",),
    status: str = "ACTIVE",
    attributes: list[dict[str, Any]] | None = None,
) -> list[str]:
    """A product with one variant per size, priced ``price`` in the shop's channel and
    stocked ``stock`` (location pk -> units) per variant; its SKUs."""
    handle = f"mk-{uid()}"
    i: dict[str, Any] = {
        "handle": handle,
        "title": f"Tee {handle}",
        "description": "Heavy cotton.",
        "status": status,
        "options": [{"name": "Size", "values": list(sizes)}],
        "variants": [{"sku": f"{handle}-{s}".upper(), "options": [s], "title": s} for s in sizes],
    }
    if attributes:
        i["attributes"] = attributes
    out = await admin(
        hub,
        """mutation($i: ProductInput!) { productCreate(input: $i) {
          product { variants(first: 10) { nodes { id sku } } }
          userErrors { field code message } } }""",
        {"i": i},
    )
    assert out["productCreate"]["userErrors"] == [], out
    nodes = out["productCreate"]["product"]["variants"]["nodes"]
    prices = await admin(
        hub,
        """mutation($p: [VariantPriceInput!]!) { productVariantPricesSet(prices: $p) {
          userErrors { code message } } }""",
        {"p": [{"variantId": n["id"], "channel": shop.channel, "amount": price} for n in nodes]},
    )
    assert prices["productVariantPricesSet"]["userErrors"] == [], prices
    for n in nodes:
        shop.variants[n["sku"]] = n["id"]
        shop.prices[n["sku"]] = round(float(price) * 100)
        for loc, qty in (stock or {}).items():
            await adjust(hub, n["id"], loc, qty)
    return [n["sku"] for n in nodes]


async def adjust(hub: Hub, variant_id: str, location: int, delta: int) -> None:
    got = await op(
        hub,
        "inventoryAdjust",
        {
            "variantId": variant_id,
            "locationId": gid("Location", location),
            "delta": delta,
            "reason": "received" if delta > 0 else "damaged",
        },
    )
    assert got["userErrors"] == [], got


async def make_shop(hub: Hub) -> Shop:
    channel = await make_channel(hub)
    from tests.helpers.fulfillment import channel_gid

    locs = [await make_site(hub, channel, priority=10), await make_site(hub, channel, priority=20)]
    handles = [await location_handle(hub, pk) for pk in locs]
    return Shop(channel, channel_gid(channel), locs, handles)


# ------------------------------------------------------------------ the connector


CONNECTOR_ERRORS = "userErrors { field message code }"


async def create_connector(
    hub: Hub, shop: Shop, url: str, *, locations: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    """A marketplace connector for ``shop`` at ``url`` (no schedule: runs when asked
    and on its events); the payload of connectorCreate."""
    config: dict[str, Any] = {
        "base_url": url,
        "token": TOKEN,
        "channel": shop.channel,
        "source": f"mk-{uid()}",
    }
    if locations is not None:
        config["locations"] = locations
    res = await hub.admin(
        f"""mutation($i: ConnectorCreateInput!) {{ connectorCreate(input: $i) {{
          connector {{ id name typeName config secrets {{ name isSet }} }}
          {CONNECTOR_ERRORS} }} }}""",
        {
            "i": {
                "name": f"market-{uid()}",
                "typeName": "marketplace",
                "config": config,
                "eventIntervalSeconds": 1,
                **extra,
            }
        },
    )
    assert "errors" not in res, res
    return dict(res["data"]["connectorCreate"])


async def run_ended(hub: Hub, connector_id: str) -> dict[str, Any]:
    """connectorRunNow(wait: true): the run, ended (asked again while an event run of
    the connector holds it: CONNECTOR_BUSY)."""
    deadline = time.monotonic() + 20
    while True:
        got = await hub.admin(RUN_NOW, {"id": connector_id, "wait": True})
        assert "errors" not in got, got
        payload = got["data"]["connectorRunNow"]
        busy = [e for e in payload["userErrors"] if e["code"] == "CONNECTOR_BUSY"]
        if not busy or time.monotonic() > deadline:
            assert payload["userErrors"] == [], payload
            return dict(payload["run"])
        await asyncio.sleep(0.1)
