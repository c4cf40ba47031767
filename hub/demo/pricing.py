"""Demo customers, a wholesale price list and shipping rate tables.

Called by :func:`hub.demo.seed_demo` inside its transaction, after the catalog. The
rows are fixed (no randomness) and few: four customers, one price list of
``WHOLESALE_VARIANTS`` variants with two volume breaks each, and three shipping zones,
so a 100,000-product load costs a handful of extra statements.

- customers: a wholesale buyer with a VAT id, a VIP (who earns the "gold" loyalty tier
  with the orders of :mod:`hub.demo.loyalty`), a regular shopper and a first-time
  shopper (no API keys: tests create them);
- ``wholesale-web``: on the ``web`` channel for the ``wholesale`` group, the first
  ``WHOLESALE_VARIANTS`` priced variants at 90% from 10 units and 80% from 50;
- zones ``us`` (weight bands, free over a subtotal, express), ``us-remote`` (Alaska
  and Hawaii, more specific than ``us``) and ``eu`` in EUR (subtotal bands, free over
  100 EUR, express by weight) for the countries the demo channels and locations use.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.tables import (
    channels_t,
    customers_t,
    entries_t,
    lists_t,
    prices_t,
    products_t,
    rates_t,
    variants_t,
    zones_t,
)
from hub.demo.data import BASE_TIME
from hub.domain.customers.matching import phone_key

__all__ = ["DEMO_CUSTOMERS", "WHOLESALE_BREAKS", "seed_pricing_demo"]

WHOLESALE_VARIANTS = 50
WHOLESALE_BREAKS = ((10, 90), (50, 80))  # (min quantity, percent of the web price)

DEMO_CUSTOMERS: tuple[dict[str, Any], ...] = (
    {
        "email": "buying@northwind-outfitters.example",
        "phone": "+49 30 5550100",
        "first_name": "Greta",
        "last_name": "Lindqvist",
        "customer_group": "wholesale",
        "segments": ["b2b"],
        "loyalty_tier": None,
        "orders_count": 42,
        "tax_exempt_vat_id": "DE123456789",
    },
    {
        "email": "ava.chen@example.com",
        "phone": "+1 212 555 0142",
        "first_name": "Ava",
        "last_name": "Chen",
        "customer_group": None,
        "segments": ["vip"],
        # gold is earned by the demo's orders (hub.demo.loyalty), which sets it here
        "loyalty_tier": None,
        "orders_count": 17,
        "tax_exempt_vat_id": None,
    },
    {
        "email": "sam.ortiz@example.com",
        "phone": None,
        "first_name": "Sam",
        "last_name": "Ortiz",
        "customer_group": None,
        "segments": [],
        "loyalty_tier": None,
        "orders_count": 3,
        "tax_exempt_vat_id": None,
    },
    {
        "email": "first.timer@example.com",
        "phone": None,
        "first_name": "Noor",
        "last_name": "Haddad",
        "customer_group": None,
        "segments": [],
        "loyalty_tier": None,
        "orders_count": 0,
        "tax_exempt_vat_id": None,
    },
)

EU_COUNTRIES = ["AT", "BE", "DE", "ES", "FR", "IE", "IT", "LU", "NL", "PT"]


def _rate(handle: str, title: str, currency: str, kind: str, amount: int, **kw: Any) -> dict:
    row = {
        "handle": handle,
        "title": title,
        "currency": currency,
        "kind": kind,
        "amount": amount,
        "min_weight_grams": None,
        "max_weight_grams": None,
        "min_subtotal": None,
        "max_subtotal": None,
        "free_over_subtotal": None,
        "min_days": None,
        "max_days": None,
        "created_at": BASE_TIME,
    }
    row.update(kw)
    return row


DEMO_ZONES: tuple[tuple[dict[str, Any], list[dict[str, Any]]], ...] = (
    (
        {"handle": "us", "name": "United States", "countries": ["US"], "regions": []},
        [
            _rate(
                "us-standard-light", "Standard", "USD", "WEIGHT", 595,
                max_weight_grams=2000, free_over_subtotal=7500, min_days=3, max_days=5,
            ),
            _rate(
                "us-standard-heavy", "Standard (heavy)", "USD", "WEIGHT", 1295,
                min_weight_grams=2000, max_weight_grams=30000, free_over_subtotal=15000,
                min_days=3, max_days=6,
            ),
            _rate("us-express", "Express", "USD", "FLAT", 2495, min_days=1, max_days=2),
        ],
    ),
    (
        {
            "handle": "us-remote",
            "name": "Alaska and Hawaii",
            "countries": ["US"],
            "regions": ["US-AK", "US-HI"],
        },
        [_rate("us-remote-standard", "Standard", "USD", "FLAT", 1995, min_days=5, max_days=10)],
    ),
    (
        {"handle": "eu", "name": "European Union", "countries": EU_COUNTRIES, "regions": []},
        [
            _rate(
                "eu-standard", "Standard", "EUR", "SUBTOTAL", 695,
                max_subtotal=5000, min_days=2, max_days=4,
            ),
            _rate(
                "eu-standard-plus", "Standard", "EUR", "SUBTOTAL", 395,
                min_subtotal=5000, free_over_subtotal=10000, min_days=2, max_days=4,
            ),
            _rate(
                "eu-express", "Express", "EUR", "WEIGHT", 1495,
                max_weight_grams=10000, min_days=1, max_days=2,
            ),
        ],
    ),
)  # fmt: skip


async def seed_pricing_demo(conn: AsyncConnection) -> dict[str, int]:
    """Insert the demo customers, wholesale list and shipping zones; return counts."""
    await conn.execute(
        insert(customers_t),
        [
            {
                **c,
                "phone_key": phone_key(c["phone"]),
                "created_at": BASE_TIME,
                "updated_at": BASE_TIME,
            }
            for c in DEMO_CUSTOMERS
        ],
    )

    web = (
        await conn.execute(
            select(channels_t.c.id, channels_t.c.currency).where(channels_t.c.handle == "web")
        )
    ).one()
    priced = (
        await conn.execute(
            select(prices_t.c.variant_id, prices_t.c.amount)
            .join(variants_t, variants_t.c.id == prices_t.c.variant_id)
            .join(products_t, products_t.c.id == variants_t.c.product_id)
            .where(
                prices_t.c.channel_id == web.id,
                products_t.c.status == "ACTIVE",
                variants_t.c.is_bundle.is_(False),
            )
            .order_by(prices_t.c.variant_id)
            .limit(WHOLESALE_VARIANTS)
        )
    ).all()
    list_pk = (
        await conn.execute(
            insert(lists_t)
            .values(
                handle="wholesale-web",
                name="Wholesale (web)",
                channel_id=web.id,
                customer_group="wholesale",
                currency=web.currency,
                priority=0,
                active=True,
                starts_at=None,
                ends_at=None,
                created_at=BASE_TIME,
                updated_at=BASE_TIME,
            )
            .returning(lists_t.c.id)
        )
    ).scalar_one()
    entries = [
        {
            "price_list_id": list_pk,
            "variant_id": r.variant_id,
            "min_quantity": qty,
            "amount": (r.amount * pct + 50) // 100,
        }
        for r in priced
        for qty, pct in WHOLESALE_BREAKS
    ]
    if entries:
        await conn.execute(insert(entries_t), entries)

    n_rates = 0
    for zone, rates in DEMO_ZONES:
        zone_pk = (
            await conn.execute(
                insert(zones_t).values(**zone, created_at=BASE_TIME).returning(zones_t.c.id)
            )
        ).scalar_one()
        await conn.execute(insert(rates_t), [{**r, "zone_id": zone_pk} for r in rates])
        n_rates += len(rates)
    return {
        "customers": len(DEMO_CUSTOMERS),
        "price_list_entries": len(entries),
        "shipping_zones": len(DEMO_ZONES),
        "shipping_rates": n_rates,
    }
