"""shipping_options on both databases: zone matching by country and region, weight and
subtotal bands, free-over thresholds, currencies, and the demo rate tables.

Zones made here use currencies the demo zones don't (one per test), so they never
change what the demo-based tests see."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from hub.domain import shipping
from hub.domain.errors import DomainError
from hub.domain.shipping import ShippingOption, shipping_options
from tests.helpers.client import Hub


def _uid() -> str:
    return uuid.uuid4().hex[:8]


async def _options(hub: Hub, **kw: object) -> list[ShippingOption]:
    args = {"region": None, "weight_grams": 500, "subtotal": 1000, **kw}
    async with hub.db.read() as conn:
        return await shipping_options(conn, **args)  # type: ignore[arg-type]


async def _zone(hub: Hub, countries: list[str], regions: list[str] | None = None) -> int:
    return await shipping.create_zone(
        hub.db,
        shipping.ZoneInput(
            handle=f"z-{_uid()}", name="Test zone", countries=countries, regions=regions
        ),
    )


async def _rate(hub: Hub, zone: int, currency: str, kind: str, amount: str, **kw: object) -> str:
    handle = f"r-{_uid()}"
    await shipping.create_rate(
        hub.db,
        shipping.RateInput(
            zone_pk=zone,
            handle=handle,
            title=kw.pop("title", "Rate"),  # type: ignore[arg-type]
            currency=currency,
            kind=kind,
            amount=Decimal(amount),
            **kw,  # type: ignore[arg-type]
        ),
    )
    return handle


async def test_demo_us_rates_by_weight_and_free_over(hub: Hub) -> None:
    light = await _options(hub, currency="USD", country="US", region="NY", subtotal=5000)
    assert [(o.handle, o.amount) for o in light] == [
        ("us-standard-light", 595),
        ("us-express", 2495),
    ]
    assert light[0] == ShippingOption("us-standard-light", "Standard", 595, "USD", 3, 5)
    heavy = await _options(hub, currency="USD", country="US", weight_grams=2000, subtotal=5000)
    assert [o.handle for o in heavy] == ["us-standard-heavy", "us-express"]  # [min, max)
    free = await _options(hub, currency="USD", country="US", subtotal=7500)
    assert [(o.handle, o.amount) for o in free] == [("us-standard-light", 0), ("us-express", 2495)]
    # Too heavy for the weight bands: only the flat express rate is left.
    huge = await _options(hub, currency="USD", country="US", weight_grams=30000)
    assert [o.handle for o in huge] == ["us-express"]


async def test_demo_region_zone_is_more_specific(hub: Hub) -> None:
    for region in ("HI", "us-hi", "US-AK"):
        got = await _options(hub, currency="USD", country="US", region=region)
        assert [o.handle for o in got] == ["us-remote-standard"], region
    got = await _options(hub, currency="USD", country="us", region="CA")
    assert "us-remote-standard" not in {o.handle for o in got} and got


async def test_demo_eu_subtotal_bands(hub: Hub) -> None:
    low = await _options(hub, currency="EUR", country="DE", subtotal=4999)
    assert [(o.handle, o.amount) for o in low] == [("eu-standard", 695), ("eu-express", 1495)]
    mid = await _options(hub, currency="EUR", country="NL", subtotal=5000)
    assert [(o.handle, o.amount) for o in mid] == [("eu-standard-plus", 395), ("eu-express", 1495)]
    high = await _options(hub, currency="EUR", country="NL", subtotal=10000)
    assert (high[0].handle, high[0].amount) == ("eu-standard-plus", 0)


async def test_no_zone_or_no_rate_in_the_currency_is_empty(hub: Hub) -> None:
    assert await _options(hub, currency="USD", country="JP") == []
    assert await _options(hub, currency="JPY", country="US") == []  # US rates are in USD
    assert await _options(hub, currency="USD", country="DE") == []  # EU rates are in EUR


async def test_bands_flat_free_over_and_order(hub: Hub) -> None:
    zone = await _zone(hub, ["AU", "NZ"])
    light = await _rate(
        hub, zone, "AUD", "WEIGHT", "9.50", max_weight_grams=1000, min_days=2, max_days=6
    )
    heavy = await _rate(hub, zone, "AUD", "WEIGHT", "19", min_weight_grams=1000)
    small = await _rate(hub, zone, "AUD", "SUBTOTAL", "12", max_subtotal=Decimal("50"))
    big = await _rate(
        hub,
        zone,
        "AUD",
        "SUBTOTAL",
        "8",
        min_subtotal=Decimal("50"),
        free_over_subtotal=Decimal("150"),
    )
    flat = await _rate(hub, zone, "AUD", "FLAT", "9.50", min_days=1, max_days=3)

    def handles(opts: list[ShippingOption]) -> list[str]:
        return [o.handle for o in opts]

    got = await _options(hub, currency="AUD", country="AU", weight_grams=999, subtotal=4999)
    # Cheapest first; on a tie the faster estimate first.
    assert handles(got) == [flat, light, small]
    got = await _options(hub, currency="AUD", country="NZ", weight_grams=1000, subtotal=5000)
    assert handles(got) == [big, flat, heavy]
    got = await _options(hub, currency="AUD", country="NZ", weight_grams=0, subtotal=15000)
    assert [(o.handle, o.amount) for o in got] == [(big, 0), (flat, 950), (light, 950)]
    assert got[0].currency == "AUD"
    assert await _options(hub, currency="AUD", country="FJ") == []


async def test_region_only_zone_does_not_cover_other_regions(hub: Hub) -> None:
    zone = await _zone(hub, ["CA"], ["CA-NU", "CA-YT"])
    north = await _rate(hub, zone, "CAD", "FLAT", "30")
    assert [o.handle for o in await _options(hub, currency="CAD", country="CA", region="NU")] == [
        north
    ]
    assert await _options(hub, currency="CAD", country="CA", region="ON") == []
    assert await _options(hub, currency="CAD", country="CA", region=None) == []
    country_zone = await _zone(hub, ["CA"])
    everywhere = await _rate(hub, country_zone, "CAD", "FLAT", "10")
    got = await _options(hub, currency="CAD", country="CA", region="ON")
    assert [o.handle for o in got] == [everywhere]
    got = await _options(hub, currency="CAD", country="CA", region="CA-YT")
    assert [o.handle for o in got] == [north]


async def test_one_statement(hub: Hub) -> None:
    async with hub.db.read() as conn:
        with hub.count_statements() as seen:
            await shipping_options(
                conn, currency="USD", country="US", region="NY", weight_grams=10, subtotal=10
            )
    assert len(seen) == 1


async def test_bad_zones_and_rates_write_nothing(hub: Hub) -> None:
    before = (
        await hub.scalar("SELECT count(*) FROM shipping_zones"),
        await hub.scalar("SELECT count(*) FROM shipping_rates"),
    )
    bad_zones = [
        (shipping.ZoneInput("Bad Handle", "x", ["US"]), "INVALID"),
        (shipping.ZoneInput(f"z-{_uid()}", "x", ["USA"]), "INVALID"),
        (shipping.ZoneInput(f"z-{_uid()}", "x", []), "BLANK"),
        (shipping.ZoneInput(f"z-{_uid()}", "x", ["US"], ["DE-BE"]), "INVALID"),
        (shipping.ZoneInput("us", "x", ["US"]), "TAKEN"),
    ]
    for data, code in bad_zones:
        with pytest.raises(DomainError) as err:
            await shipping.create_zone(hub.db, data)
        assert code in [e.code for e in err.value.errors], data
    zone = await _zone(hub, ["CH"])
    before = (before[0] + 1, before[1])
    base = {"zone_pk": zone, "title": "x", "currency": "CHF", "amount": Decimal("5")}
    bad_rates = [
        ({"kind": "FLAT", "max_weight_grams": 100}, "INVALID"),
        ({"kind": "WEIGHT", "min_subtotal": Decimal("1")}, "INVALID"),
        ({"kind": "WEIGHT", "min_weight_grams": 500, "max_weight_grams": 500}, "INVALID"),
        ({"kind": "FLAT", "currency": "XYZ"}, "INVALID"),
        ({"kind": "FLAT", "amount": Decimal("-1")}, "INVALID"),
        ({"kind": "FLAT", "min_days": 5, "max_days": 2}, "INVALID"),
        ({"kind": "FLAT", "zone_pk": 10**12}, "NOT_FOUND"),
        ({"kind": "FLAT", "handle": "us-express"}, "TAKEN"),
    ]
    for kw, code in bad_rates:
        data = {**base, "handle": f"r-{_uid()}", **kw}
        with pytest.raises(DomainError) as err:
            await shipping.create_rate(hub.db, shipping.RateInput(**data))  # type: ignore[arg-type]
        assert code in [e.code for e in err.value.errors], kw
    after = (
        await hub.scalar("SELECT count(*) FROM shipping_zones"),
        await hub.scalar("SELECT count(*) FROM shipping_rates"),
    )
    assert after == before
