"""Demo customers with orders from every channel, loyalty points and a tier.

Loaded by :func:`hub.demo.seed_demo` in its transaction, after the customers. Two
tiers (``silver``: 500 points earned within two years; ``gold``: 1,000.00 USD spent
within two years). Ava Chen has orders from the web store, the Manhattan store (a
till) and a marketplace, points earned on each (1 point per dollar, the demo
channels' rule), a redemption and a welcome bonus, and reaches ``gold`` by spend;
Sam Ortiz has three smaller orders, one per source, and no tier yet. The orders are
test orders (no money moved), closed and fulfilled, and take no stock (they are past
sales). Every balance adds up from its ledger. Fixed rows: the same every load.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.tables import (
    channels_t,
    customers_t,
    loyalty_accounts_t,
    loyalty_tiers_t,
    loyalty_txns_t,
    order_lines_t,
    orders_t,
    payments_t,
    prices_t,
    products_t,
    variants_t,
)
from hub.demo.data import BASE_TIME
from hub.domain.loyalty import points_for
from hub.domain.loyalty.tiers import reached

__all__ = ["DEMO_LOYALTY_CARDS", "DEMO_TIERS", "seed_demo_loyalty"]

DEMO_TIERS: tuple[dict[str, Any], ...] = (
    {
        "handle": "silver",
        "name": "Silver",
        "rank": 1,
        "basis": "POINTS",
        "threshold": 500,
        "currency": None,
        "window_days": 730,
    },
    {
        "handle": "gold",
        "name": "Gold",
        "rank": 2,
        "basis": "SPEND",
        "threshold": 100_000,
        "currency": "USD",
        "window_days": 730,
    },
)
# Fixed card numbers, so a walkthrough can scan one at a till.
DEMO_LOYALTY_CARDS = {
    "ava.chen@example.com": "LC000000001042",
    "sam.ortiz@example.com": "LC000000002077",
}
PROVIDER = {"web": "test", "store": "cash", "marketplace": "marketplace"}
# (email, source, days after BASE_TIME, [(variant index, quantity)])
ORDERS: tuple[tuple[str, str, int, list[tuple[int, int]]], ...] = (
    ("ava.chen@example.com", "web", 20, [(0, 4), (1, 2)]),
    ("ava.chen@example.com", "store", 45, [(2, 6)]),
    ("ava.chen@example.com", "marketplace", 70, [(3, 5), (4, 3)]),
    ("ava.chen@example.com", "web", 120, [(5, 8)]),
    ("ava.chen@example.com", "store", 150, [(6, 6), (7, 4)]),
    ("sam.ortiz@example.com", "web", 30, [(8, 1)]),
    ("sam.ortiz@example.com", "store", 60, [(9, 1)]),
    ("sam.ortiz@example.com", "marketplace", 90, [(10, 2)]),
)


async def seed_demo_loyalty(conn: AsyncConnection) -> dict[str, int]:
    await conn.execute(
        insert(loyalty_tiers_t), [{**t, "created_at": BASE_TIME} for t in DEMO_TIERS]
    )
    web = (await conn.execute(select(channels_t).where(channels_t.c.handle == "web"))).one()
    variants = list(
        (
            await conn.execute(
                select(variants_t.c.id, variants_t.c.sku, products_t.c.title, prices_t.c.amount)
                .join(products_t, products_t.c.id == variants_t.c.product_id)
                .join(prices_t, prices_t.c.variant_id == variants_t.c.id)
                .where(
                    prices_t.c.channel_id == web.id,
                    products_t.c.status == "ACTIVE",
                    variants_t.c.is_bundle.is_(False),
                )
                .order_by(variants_t.c.id)
                .limit(11)
            )
        ).all()
    )
    people = {
        r.email: r.id
        for r in (
            await conn.execute(
                select(customers_t.c.id, customers_t.c.email).where(
                    customers_t.c.email.in_(list(DEMO_LOYALTY_CARDS))
                )
            )
        ).all()
    }
    accounts: dict[str, int] = {}
    for email, card in DEMO_LOYALTY_CARDS.items():
        accounts[email] = (
            await conn.execute(
                insert(loyalty_accounts_t)
                .values(
                    customer_id=people[email],
                    card_id=card,
                    points=0,
                    last_activity_at=BASE_TIME,
                    created_at=BASE_TIME,
                    updated_at=BASE_TIME,
                )
                .returning(loyalty_accounts_t.c.id)
            )
        ).scalar_one()
    ledger: dict[str, list[dict[str, Any]]] = {e: [] for e in DEMO_LOYALTY_CARDS}
    for email, source, days, picks in ORDERS:
        when = BASE_TIME + timedelta(days=days)
        pk, total = await _order(conn, web, people[email], email, source, when, picks, variants)
        ledger[email].append(
            {
                "kind": "EARN",
                "points": points_for(total, web),
                "order_id": pk,
                "amount": total,
                "currency": web.currency,
                "note": f"order #{1000 + pk}",
                "idempotency_key": f"earn:{pk}",
                "created_at": when,
            }
        )
    ava = "ava.chen@example.com"
    ledger[ava].insert(
        0,
        {"kind": "ADJUST", "points": 100, "note": "welcome bonus", "created_at": BASE_TIME},
    )
    ledger[ava].append(
        {
            "kind": "REDEEM",
            "points": -200,
            "amount": 200,
            "currency": web.currency,
            "note": "redeemed at the Manhattan store",
            "created_at": BASE_TIME + timedelta(days=160),
        }
    )
    tiers = (await conn.execute(select(loyalty_tiers_t))).all()
    for email, rows in ledger.items():
        await _ledger(conn, accounts[email], people[email], rows, tiers)
    return {"orders": len(ORDERS), "loyalty_accounts": len(accounts)}


async def _order(
    conn: AsyncConnection,
    channel: Any,
    customer_pk: int,
    email: str,
    source: str,
    when: Any,
    picks: list[tuple[int, int]],
    variants: list[Any],
) -> tuple[int, int]:
    lines = [
        {
            "variant_id": variants[i].id,
            "sku": variants[i].sku,
            "title": variants[i].title,
            "quantity": q,
            "unit_price": variants[i].amount,
            "subtotal": variants[i].amount * q,
            "discount": 0,
            "tax": 0,
            "total": variants[i].amount * q,
            "discount_allocations": [],
            "allocations": [],
            "delivery_kind": "PICKUP" if source == "store" else "SHIPPING",
        }
        for i, q in picks
    ]
    total = sum(ln["total"] for ln in lines)
    pk = (
        await conn.execute(
            insert(orders_t)
            .values(
                channel_id=channel.id,
                customer_id=customer_pk,
                email=email,
                status="CLOSED",
                payment_status="PAID",
                fulfillment_status="FULFILLED",
                currency=channel.currency,
                taxes_included=False,
                subtotal=total,
                total=total,
                discount_codes=[],
                discounts=[],
                delivery=[],
                attributes=[],
                test=True,
                source=source,
                created_at=when,
                updated_at=when,
            )
            .returning(orders_t.c.id)
        )
    ).scalar_one()
    await conn.execute(update(orders_t).where(orders_t.c.id == pk).values(name=f"#{1000 + pk}"))
    await conn.execute(insert(order_lines_t), [{**ln, "order_id": pk} for ln in lines])
    await conn.execute(
        insert(payments_t).values(
            order_id=pk,
            provider=PROVIDER[source],
            intent_id=f"demo-{pk}",
            status="captured",
            amount=total,
            currency=channel.currency,
            amount_captured=total,
            amount_refunded=0,
            test=True,
            created_at=when,
            updated_at=when,
        )
    )
    return pk, total


async def _ledger(
    conn: AsyncConnection, account_pk: int, customer_pk: int, rows: list[dict[str, Any]], tiers: Any
) -> None:
    balance = 0
    full = []
    for r in rows:
        balance += r["points"]
        full.append(
            {
                "account_id": account_pk,
                "order_id": None,
                "amount": None,
                "currency": None,
                "idempotency_key": None,
                **r,
                "balance_after": balance,
                "reversed_points": 0,
                "refunded_amount": 0,
            }
        )
    await conn.execute(insert(loyalty_txns_t), full)
    earns = (
        await conn.execute(
            select(loyalty_txns_t).where(
                loyalty_txns_t.c.account_id == account_pk, loyalty_txns_t.c.kind == "EARN"
            )
        )
    ).all()
    # The tier as of the last demo activity (the rules' windows count back from then).
    tier = reached(list(tiers), list(earns), max(r["created_at"] for r in rows))
    last = max(r["created_at"] for r in rows if r["kind"] in ("EARN", "REDEEM"))
    await conn.execute(
        update(loyalty_accounts_t)
        .where(loyalty_accounts_t.c.id == account_pk)
        .values(points=balance, tier=tier, last_activity_at=last)
    )
    await conn.execute(
        update(customers_t).where(customers_t.c.id == customer_pk).values(loyalty_tier=tier)
    )
