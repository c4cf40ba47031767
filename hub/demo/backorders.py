"""The demo's variants that sell beyond stock (issue 14, item 6; README, "Backorders
and pre-orders"): storefronts read them through ``ProductVariant.inventoryPolicy``.

- the first variant of the last active demo product (by id) allows backorders, up to
  25 units beyond stock;
- the first variant of the active product before it is a pre-order, stock expected on
  2027-03-01, up to 50 units.

Both stay stocked as the demo stocks every variant (so the demo's stock counts and
listings read as before); a checkout beyond their stock is taken as a backorder. The
variants are picked by a query over the seeded catalog, which is deterministic for a
seed; the date is fixed."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.tables import products_t, variant_policies_t, variants_t

DEMO_PREORDER_EXPECTED_ON = date(2027, 3, 1)
_AT = datetime(2026, 1, 1, tzinfo=UTC)


async def seed_demo_backorders(conn: AsyncConnection) -> dict[str, int]:
    """Write the two policies; their variants' pks by kind ({} for a catalog too
    small to hold two active products with a plain, tracked variant)."""
    first_variant = (
        select(variants_t.c.product_id, variants_t.c.id)
        .join(products_t, products_t.c.id == variants_t.c.product_id)
        .where(
            products_t.c.status == "ACTIVE",
            variants_t.c.tracked.is_(True),
            variants_t.c.is_bundle.is_(False),
        )
        .order_by(variants_t.c.product_id.desc(), variants_t.c.position, variants_t.c.id)
    )
    picked: list[int] = []
    seen: set[int] = set()
    for r in (await conn.execute(first_variant.limit(200))).all():
        if r.product_id not in seen:
            seen.add(r.product_id)
            picked.append(r.id)
        if len(picked) == 2:
            break
    if len(picked) < 2:
        return {}
    backorder, preorder = picked
    await conn.execute(
        insert(variant_policies_t),
        [
            {"variant_id": backorder, "policy": "BACKORDER", "expected_on": None,
             "backorder_limit": 25, "backordered": 0, "updated_at": _AT},
            {"variant_id": preorder, "policy": "PREORDER",
             "expected_on": DEMO_PREORDER_EXPECTED_ON, "backorder_limit": 50,
             "backordered": 0, "updated_at": _AT},
        ],
    )  # fmt: skip
    return {"backorder": backorder, "preorder": preorder}
