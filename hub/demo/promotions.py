"""The demo store's promotions: one of every kind the engine supports, and DEMO10.

Loaded by ``hub.demo.seed_demo`` in its transaction, after the catalog. Deterministic
(fixed ids, dates and codes) and a few dozen rows, so it costs nothing next to a
100,000-product load. Amounts are minor units: USD for the ``web`` channel, EUR for
``eu``; promotions that hold no amount (percentages, free gifts) have no currency and
apply in both.

How they stack: every promotion combines with every class (product, order,
shipping), so product discounts, DEMO10 and free shipping add up; the automatic order
discounts (spend tiers, VIP, the EU channel offer) and the WELCOME15 code form one
best-deal group, of which only the largest applies.

Codes: ``DEMO10`` (10% off the order, unlimited), ``WELCOME15`` (15% off a first
order, once per customer) and ``BFCM26`` (25% off outerwear, only from 27 November to
1 December 2026, so entering it outside that window explains ``NOT_STARTED`` /
``EXPIRED``)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.tables import codes_t, promotions_t
from hub.demo.data import BASE_TIME as CREATED
from hub.domain.promotions import (
    BundlePrice,
    BuyXGetY,
    Channel,
    Combination,
    CustomerSegment,
    DiscountClass,
    FirstOrder,
    FixedOff,
    FreeShipping,
    MinSubtotal,
    MixAndMatch,
    PercentOff,
    Promotion,
    Target,
    TieredSpend,
    VolumeTiers,
    normalize_code,
    to_dict,
)

__all__ = ["DEMO_CODES", "seed_demo_promotions"]

PRODUCT, ORDER, SHIPPING = DiscountClass.PRODUCT, DiscountClass.ORDER, DiscountClass.SHIPPING
EVERY = frozenset(DiscountClass)
ORDER_DEALS = "order-deals"  # best-deal group of the automatic order discounts
# Demo collection ids (hub.demo.COLLECTIONS, in order).
OUTERWEAR, KNITWEAR = 4, 5


def _types(*names: str) -> Target:
    return Target(product_types=frozenset(names))


def _combo(klass: DiscountClass, group: str | None = None) -> Combination:
    return Combination(klass, combines_with=EVERY, best_deal_group=group)


# Long: one literal per promotion of the demo, in id order; a list reads best whole.
def _promotions() -> list[tuple[Promotion, dict[str, Any]]]:
    """(engine promotion, extra columns) in id order."""
    rows: list[tuple[Promotion, dict[str, Any]]] = []

    def add(
        title: str,
        priority: int,
        action: Any,
        klass: DiscountClass,
        *,
        conditions: tuple[Any, ...] = (),
        currency: str | None = None,
        group: str | None = None,
        **extra: Any,
    ) -> None:
        promotion = Promotion(
            id=len(rows) + 1,
            title=title,
            priority=priority,
            conditions=conditions,
            action=action,
            combination=_combo(klass, group),
            currency=currency,
            starts_at=extra.pop("starts_at", None),
            ends_at=extra.pop("ends_at", None),
        )
        rows.append((promotion, extra))

    # -- product discounts, automatic, any currency
    add(
        "10% off knitwear",
        50,
        PercentOff(Decimal(10), Target(collection_ids=frozenset({KNITWEAR}))),
        PRODUCT,
    )
    add(
        "Buy 2 tees, get a pair of socks free",
        45,
        BuyXGetY(_types("T-Shirt"), 2, _types("Socks"), 1, Decimal(100), max_uses=1),
        PRODUCT,
        usage_limit=5000,
    )
    add(
        "Buy 2 kitchen pieces, get a third half price",
        44,
        BuyXGetY(_types("Kitchen"), 2, _types("Kitchen"), 1, Decimal(50)),
        PRODUCT,
    )
    add(
        "Socks by the bundle: 3+ pairs 10% off, 6+ 20% off",
        40,
        VolumeTiers(_types("Socks"), ((3, Decimal(10)), (6, Decimal(20)))),
        PRODUCT,
    )
    # -- product discounts with prices, per currency
    for currency, three_hats, kit in (("USD", 6000, 9900), ("EUR", 5500, 8900)):
        add(
            f"Any 3 hats for {three_hats // 100} {currency}",
            35,
            MixAndMatch(_types("Hat"), 3, three_hats),
            PRODUCT,
            currency=currency,
        )
        add(
            f"Tee + sweater layering set for {kit / 100:.2f} {currency}",
            30,
            BundlePrice(((_types("T-Shirt"), 1), (_types("Sweater"), 1)), kit),
            PRODUCT,
            currency=currency,
        )
    # -- order discounts, automatic: the best one applies
    for currency, tiers in (
        ("USD", ((10000, 500), (20000, 1200), (30000, Decimal(8)))),
        ("EUR", ((9000, 500), (18000, 1100), (27000, Decimal(8)))),
    ):
        add(
            f"Spend more, save more ({currency})",
            20,
            TieredSpend(tiers),
            ORDER,
            currency=currency,
            group=ORDER_DEALS,
        )
    add(
        "VIP: 12% off everything",
        25,
        PercentOff(Decimal(12)),
        ORDER,
        conditions=(CustomerSegment(frozenset({"vip"})),),
        group=ORDER_DEALS,
        budget=500000,
        currency="USD",
    )
    add(
        "EU store: 10 EUR off orders over 100 EUR",
        22,
        FixedOff(1000),
        ORDER,
        conditions=(Channel(frozenset({"eu"})), MinSubtotal(10000)),
        currency="EUR",
        group=ORDER_DEALS,
    )
    # -- shipping
    for currency, threshold in (("USD", 7500), ("EUR", 7000)):
        add(
            f"Free shipping over {threshold // 100} {currency}",
            10,
            FreeShipping(),
            SHIPPING,
            conditions=(MinSubtotal(threshold),),
            currency=currency,
        )
    # -- codes
    add("DEMO10: 10% off the order", 100, PercentOff(Decimal(10)), ORDER, code="DEMO10")
    add(
        "WELCOME15: 15% off your first order",
        24,
        PercentOff(Decimal(15)),
        ORDER,
        conditions=(FirstOrder(),),
        group=ORDER_DEALS,
        code="WELCOME15",
        per_customer_limit=1,
    )
    add(
        "BFCM26: 25% off outerwear, Black Friday to Cyber Monday",
        60,
        PercentOff(Decimal(25), Target(collection_ids=frozenset({OUTERWEAR}))),
        PRODUCT,
        code="BFCM26",
        starts_at=datetime(2026, 11, 27, tzinfo=UTC),
        ends_at=datetime(2026, 12, 1, tzinfo=UTC),
    )
    return rows


DEMO_CODES = ("DEMO10", "WELCOME15", "BFCM26")


async def seed_demo_promotions(conn: AsyncConnection) -> int:
    """Insert the demo promotions and codes into empty tables; returns how many."""
    promotions: list[dict[str, Any]] = []
    codes: list[dict[str, Any]] = []
    for promotion, extra in _promotions():
        data = to_dict(promotion)
        code = extra.pop("code", None)
        promotions.append(
            {
                "id": promotion.id,
                "title": promotion.title,
                "status": "ACTIVE",
                "method": "CODE" if code else "AUTOMATIC",
                "priority": promotion.priority,
                "definition": {
                    k: data[k] for k in ("version", "conditions", "action", "combination")
                },
                "currency": promotion.currency,
                "starts_at": promotion.starts_at,
                "ends_at": promotion.ends_at,
                "usage_limit": extra.pop("usage_limit", None),
                "per_customer_limit": extra.pop("per_customer_limit", None),
                "budget": extra.pop("budget", None),
                "spent": 0,
                "times_used": 0,
                "created_at": CREATED,
                "updated_at": CREATED,
            }
        )
        if extra:
            raise ValueError(f"demo promotion {promotion.id}: unknown settings {sorted(extra)}")
        if code:
            codes.append(
                {
                    "id": len(codes) + 1,
                    "promotion_id": promotion.id,
                    "code": normalize_code(code),
                    "display_code": code,
                    "usage_limit": None,
                    "times_used": 0,
                    "created_at": CREATED,
                }
            )
    await conn.execute(insert(promotions_t), promotions)
    await conn.execute(insert(codes_t), codes)
    if conn.dialect.name == "postgresql":
        for name in ("promotions", "discount_codes"):
            await conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"(SELECT MAX(id) FROM {name}))"
                )
            )
    return len(promotions)
