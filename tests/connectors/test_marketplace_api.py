"""The stand-in marketplace speaks docs/marketplace-api.md: the connector's HTTP
client against it on a real 127.0.0.1 port (bearer auth, batches with per-item
results, the updated_since/cursor order listing, idempotent shipments and
cancellations, the error codes and which of them are worth a retry)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.marketplace import MarketplaceClient, MarketplaceError
from connectors.marketplace.standin import MarketplaceStandIn
from tests.helpers.marketplace import TOKEN, serving


@pytest.fixture
def market() -> Iterator[tuple[MarketplaceStandIn, str]]:
    standin = MarketplaceStandIn(token=TOKEN)
    with serving(standin) as url:
        yield standin, url


def _listing(sku: str, title: str = "Tee") -> dict:
    return {"sku": sku, "title": title, "description": "", "attributes": {"size": "M"}}


async def test_listings_and_offers_in_batches(market: tuple[MarketplaceStandIn, str]) -> None:
    standin, url = market
    async with MarketplaceClient(url, "wrong") as bad:
        with pytest.raises(MarketplaceError) as info:
            await bad.put_listings([_listing("A")])
        assert (info.value.status, info.value.code, info.value.retryable) == (
            401, "unauthorized", False,
        )  # fmt: skip
    async with MarketplaceClient(url, TOKEN) as api:
        got = await api.put_listings([_listing("A"), _listing("B"), _listing("C", title="")])
        assert [(r["sku"], r["status"]) for r in got] == [
            ("A", "created"), ("B", "created"), ("C", "error"),
        ]  # fmt: skip
        assert got[2]["error"]["code"] == "invalid"
        again = await api.put_listings([_listing("A"), _listing("B", "Tee 2")])
        assert [r["status"] for r in again] == ["unchanged", "updated"]
        offers = await api.put_offers(
            [
                {"sku": "A", "price": {"amount": 1999, "currency": "USD"}, "quantity": 3},
                {"sku": "Z", "price": {"amount": 1, "currency": "USD"}, "quantity": 1},
                {"sku": "B", "quantity": 2},
            ]
        )
        assert [(r["status"], (r.get("error") or {}).get("code")) for r in offers] == [
            ("created", None), ("error", "conflict"), ("error", "not_found"),
        ]  # fmt: skip
        patched = await api.put_offers([{"sku": "A", "quantity": 7}])
        assert patched[0]["status"] == "updated"
        assert standin.offers["A"]["quantity"] == 7
        assert standin.offers["A"]["price"] == {"amount": 1999, "currency": "USD"}
        await api.end_listing("A")
        assert standin.listings["A"]["status"] == "ended" and standin.offers["A"]["quantity"] == 0
        with pytest.raises(MarketplaceError) as info:
            await api.end_listing("nope")
        assert (info.value.status, info.value.retryable) == (404, False)


async def test_orders_list_ship_and_cancel(market: tuple[MarketplaceStandIn, str]) -> None:
    standin, url = market
    async with MarketplaceClient(url, TOKEN) as api:
        await api.put_listings([_listing("A"), _listing("B")])
        await api.put_offers(
            [{"sku": s, "price": {"amount": 500, "currency": "USD"}, "quantity": 10} for s in "AB"]
        )
        made = [standin.place_order([("A", 1), ("B", 2)]) for _ in range(5)]
        assert standin.offers["B"]["quantity"] == 0
        pages = [p async for p in api.orders_since(None, limit=2)]
        assert [len(p) for p in pages] == [2, 2, 1]
        assert [o["id"] for p in pages for o in p] == [o["id"] for o in made]
        last = made[-1]["updated_at"]
        assert [o["id"] for p in [p async for p in api.orders_since(last)] for o in p] == [
            made[-1]["id"]
        ]
        oid = made[0]["id"]
        line = made[0]["lines"][1]["id"]
        ship = {"shipment_id": "hub-1", "carrier": "UPS", "tracking_number": "1Z",
                "lines": [{"line_id": line, "quantity": 1}]}  # fmt: skip
        await api.ship(oid, ship)
        await api.ship(oid, ship)  # the same shipment again: answered, not shipped twice
        order = await api.order(oid)
        assert len(order["shipments"]) == 1 and order["status"] == "partially_shipped"
        assert order["lines"][1]["quantity_shipped"] == 1
        await api.update_tracking(oid, "hub-1", {"tracking_number": "1Z-NEW"})
        assert (await api.order(oid))["shipments"][0]["tracking_number"] == "1Z-NEW"
        with pytest.raises(MarketplaceError) as info:
            await api.cancel(oid, "changed my mind")
        assert (info.value.status, info.value.code) == (409, "conflict")
        other = made[1]["id"]
        assert (await api.cancel(other, "no stock"))["status"] == "cancelled"
        assert (await api.cancel(other, "no stock"))["status"] == "cancelled"
        with pytest.raises(MarketplaceError) as info:
            await api.ship(other, {**ship, "shipment_id": "hub-2"})
        assert info.value.code == "conflict"
        standin.fail_next(1, 503)
        with pytest.raises(MarketplaceError) as info:
            await api.order(oid)
        assert (info.value.status, info.value.retryable) == (503, True)
        assert (await api.order(oid))["id"] == oid
    async with MarketplaceClient("http://127.0.0.1:9", TOKEN, timeout=2) as down:
        with pytest.raises(MarketplaceError) as info:
            await down.order(oid)
        assert info.value.status is None and info.value.retryable
