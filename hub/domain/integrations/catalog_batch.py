"""One batch of a catalog import, set-based: four SELECTs read what the batch's rows
touch (their products by handle, their variants by SKU, those products' other
variants and the prices and attributes concerned), each product's rows are planned
in Python (:mod:`.catalog_plan`), and the writes go out as one executemany statement
per table (products, variants, attributes, prices, then the stock levels through
:func:`hub.domain.inventory.bulk.set_on_hand_many`). Price ranges are refreshed for
the products whose prices moved, search text is written with the product."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, delete, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import CatalogRow, RowResult
from hub.db.tables import attrs_t, prices_t, products_t, variants_t
from hub.domain.catalog import refresh_price_ranges
from hub.domain.integrations.catalog_plan import (
    Accepted,
    ProductPlan,
    Sibling,
    plan_product,
    utc_now,
)
from hub.domain.integrations.catalog_rows import SYNC_REASON, Reference, item_key
from hub.domain.inventory.bulk import LevelTarget, set_on_hand_many
from hub.events.outbox import Outbox

_PRODUCT_COLS = (
    products_t.c.id,
    products_t.c.handle,
    products_t.c.title,
    products_t.c.description,
    products_t.c.status,
    products_t.c.tax_class,
    products_t.c.options,
    products_t.c.vendor,
    products_t.c.product_type,
    products_t.c.tags,
    products_t.c.search_text,
)
_VARIANT_COLS = (
    variants_t.c.id,
    variants_t.c.product_id,
    variants_t.c.sku,
    variants_t.c.barcode,
    variants_t.c.title,
    variants_t.c.position,
    variants_t.c.option1,
    variants_t.c.option2,
    variants_t.c.option3,
    variants_t.c.weight_grams,
    variants_t.c.tracked,
    variants_t.c.is_bundle,
)

_UPDATE_PRODUCT = (
    update(products_t)
    .where(products_t.c.id == bindparam("b_id"))
    .values(
        title=bindparam("b_title"),
        description=bindparam("b_description"),
        status=bindparam("b_status"),
        tax_class=bindparam("b_tax_class"),
        options=bindparam("b_options", type_=products_t.c.options.type),
        search_text=bindparam("b_search_text"),
        updated_at=bindparam("b_now"),
    )
)
_UPDATE_VARIANT = (
    update(variants_t)
    .where(variants_t.c.id == bindparam("b_id"))
    .values(
        barcode=bindparam("b_barcode"),
        title=bindparam("b_title"),
        option1=bindparam("b_option1"),
        option2=bindparam("b_option2"),
        option3=bindparam("b_option3"),
        weight_grams=bindparam("b_weight_grams"),
    )
)
_UPDATE_PRICE = (
    update(prices_t).where(prices_t.c.id == bindparam("b_id")).values(amount=bindparam("b_amount"))
)


async def insert_ids(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """INSERT ``rows`` (in as few statements as the driver allows) and return their ids
    in order. SQLite can't return rows in parameter order (SQLAlchemy would then send
    one INSERT per row), but its ids grow in insertion order (one writer at a time),
    so sorting them gives the order back."""
    if conn.dialect.name == "sqlite":
        got = await conn.execute(insert(table).returning(table.c.id), rows)
        return sorted(got.scalars().all())
    stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list((await conn.execute(stmt, rows)).scalars().all())


def _sibling(r: Any) -> Sibling:
    return Sibling(
        r.id,
        r.product_id,
        r.sku,
        (r.option1, r.option2, r.option3),
        r.position,
        r.barcode,
        r.weight_grams,
        r.title,
        r.tracked,
        r.is_bundle,
    )


async def _reads(
    conn: AsyncConnection, rows: Sequence[CatalogRow]
) -> tuple[dict[str, Any], dict[str, tuple[Sibling, str]], dict[int, list[Sibling]]]:
    """The products the rows name (by handle), the variants they name (by SKU, with
    their product's handle) and every variant of those products (by product, in id
    order)."""
    handles = {r.product_handle for r in rows}
    products = {
        r.handle: r
        for r in await conn.execute(select(*_PRODUCT_COLS).where(products_t.c.handle.in_(handles)))
    }
    by_sku = {
        r.sku: (_sibling(r), r.handle)
        for r in await conn.execute(
            select(*_VARIANT_COLS, products_t.c.handle)
            .join(products_t, products_t.c.id == variants_t.c.product_id)
            .where(variants_t.c.sku.in_({r.sku for r in rows}))
        )
    }
    siblings: dict[int, list[Sibling]] = defaultdict(list)
    if products:
        for r in await conn.execute(
            select(*_VARIANT_COLS)
            .where(variants_t.c.product_id.in_([p.id for p in products.values()]))
            .order_by(variants_t.c.id)
        ):
            siblings[r.product_id].append(_sibling(r))
    return products, by_sku, siblings


async def _attributes(
    conn: AsyncConnection, product_pks: Iterable[int]
) -> dict[int, dict[str, tuple[str, str]]]:
    pks = list(product_pks)
    out: dict[int, dict[str, tuple[str, str]]] = defaultdict(dict)
    if pks:
        for r in await conn.execute(select(attrs_t).where(attrs_t.c.product_id.in_(pks))):
            out[r.product_id][r.key] = (r.type, r.value)
    return out


async def write_batch(
    conn: AsyncConnection,
    outbox: Outbox,
    items: list[tuple[int, CatalogRow]],
    ref: Reference,
    actor: str,
) -> dict[int, RowResult]:
    """Write checked rows (``(index, row)``; each SKU once) in the caller's
    transaction: the result of each index."""
    out: dict[int, RowResult] = {}
    products, by_sku, siblings = await _reads(conn, [row for _, row in items])
    wants_attrs = any(row.attributes for _, row in items)
    attrs = await _attributes(conn, [p.id for p in products.values()] if wants_attrs else [])
    grouped: dict[str, list[tuple[int, CatalogRow]]] = defaultdict(list)
    for i, row in items:
        grouped[row.product_handle].append((i, row))
    plans: list[ProductPlan] = []
    for handle, group in grouped.items():
        existing = products.get(handle)
        current = siblings.get(existing.id, []) if existing is not None else []
        plan = plan_product(
            handle,
            group,
            existing,
            current,
            by_sku,
            attrs.get(existing.id, {}) if existing else {},
            out,
        )
        if plan is not None:
            plans.append(plan)
    if not plans:
        return out
    await _write_products(conn, plans)
    await _write_variants(conn, plans)
    await _write_attributes(conn, plans)
    accepted = [a for p in plans for a in p.accepted]
    await _write_prices(conn, accepted, ref)
    await _write_stock(conn, outbox, accepted, ref, actor)
    for a in accepted:
        assert a.variant_pk is not None
        if a.existing is None:
            out[a.index] = RowResult(item_key(a.row), "created", id=a.variant_pk)
        else:
            out[a.index] = RowResult(
                item_key(a.row), "updated" if a.changed else "unchanged", id=a.variant_pk
            )
    return out


async def _write_products(conn: AsyncConnection, plans: list[ProductPlan]) -> None:
    now = utc_now()
    new = [p for p in plans if p.existing is None]
    if new:
        pks = await insert_ids(
            conn,
            products_t,
            [
                {
                    "handle": p.handle,
                    "title": p.title,
                    "description": p.description,
                    "vendor": "",
                    "product_type": "",
                    "tax_class": p.tax_class,
                    "status": p.status,
                    "options": p.options,
                    "tags": [],
                    "media": [],
                    "seo_title": None,
                    "seo_description": None,
                    "search_text": p.search_text,
                    "units_sold": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for p in new
            ],
        )
        for p, pk in zip(new, pks, strict=True):
            p.pk = pk
    changed = [p for p in plans if p.existing is not None and p.product_changed]
    if changed:
        await conn.execute(
            _UPDATE_PRODUCT,
            [
                {
                    "b_id": p.pk,
                    "b_title": p.title,
                    "b_description": p.description,
                    "b_status": p.status,
                    "b_tax_class": p.tax_class,
                    "b_options": p.options,
                    "b_search_text": p.search_text,
                    "b_now": now,
                }
                for p in changed
            ],
        )


async def _write_variants(conn: AsyncConnection, plans: list[ProductPlan]) -> None:
    new: list[Accepted] = []
    updates: list[dict[str, Any]] = []
    for p in plans:
        for a in p.accepted:
            a.product_pk = p.pk
            if a.existing is None:
                new.append(a)
                continue
            a.variant_pk = a.existing.id
            if a.variant_changed:
                v = a.values
                updates.append({f"b_{k}": v[k] for k in v} | {"b_id": a.existing.id})
    if new:
        now = utc_now()
        pks = await insert_ids(
            conn,
            variants_t,
            [
                a.values
                | {
                    "product_id": a.product_pk,
                    "sku": a.row.sku,
                    "position": a.position,
                    "requires_shipping": True,
                    "is_bundle": False,
                    "tracked": True,
                    "created_at": now,
                }
                for a in new
            ],
        )
        for a, pk in zip(new, pks, strict=True):
            a.variant_pk = pk
    if updates:
        await conn.execute(_UPDATE_VARIANT, updates)


async def _write_attributes(conn: AsyncConnection, plans: list[ProductPlan]) -> None:
    gone: list[tuple[int, str]] = []
    rows: list[dict[str, Any]] = []
    for p in plans:
        for key, (type_, value) in p.attributes_changed.items():
            assert p.pk is not None
            if p.existing is not None:
                gone.append((p.pk, key))
            rows.append({"product_id": p.pk, "key": key, "type": type_, "value": value})
    if gone:
        await conn.execute(
            delete(attrs_t).where(tuple_(attrs_t.c.product_id, attrs_t.c.key).in_(gone))
        )
    if rows:
        await conn.execute(insert(attrs_t), rows)


async def _write_prices(conn: AsyncConnection, accepted: list[Accepted], ref: Reference) -> None:
    priced = [a for a in accepted if a.row.prices]
    if not priced:
        return
    old_pks = [a.variant_pk for a in priced if a.existing is not None]
    current: dict[tuple[int, int], tuple[int, int]] = {}
    if old_pks:
        for r in await conn.execute(
            select(
                prices_t.c.id, prices_t.c.variant_id, prices_t.c.channel_id, prices_t.c.amount
            ).where(prices_t.c.variant_id.in_(old_pks))
        ):
            current[(r.variant_id, r.channel_id)] = (r.id, r.amount)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    moved: set[int] = set()
    for a in priced:
        assert a.variant_pk is not None and a.product_pk is not None and a.row.prices
        for handle, amount in a.row.prices.items():
            channel_pk, currency = ref.channels[handle]
            have = current.get((a.variant_pk, channel_pk))
            if have is None:
                inserts.append(
                    {
                        "channel_id": channel_pk,
                        "variant_id": a.variant_pk,
                        "product_id": a.product_pk,
                        "currency": currency,
                        "amount": amount,
                        "compare_at_amount": None,
                        "cost_amount": None,
                    }
                )
            elif have[1] != amount:
                updates.append({"b_id": have[0], "b_amount": amount})
            else:
                continue
            a.changed = True
            moved.add(a.product_pk)
    if inserts:
        await conn.execute(insert(prices_t), inserts)
    if updates:
        await conn.execute(_UPDATE_PRICE, updates)
    await refresh_price_ranges(conn, moved)


async def _write_stock(
    conn: AsyncConnection, outbox: Outbox, accepted: list[Accepted], ref: Reference, actor: str
) -> None:
    targets: list[tuple[Accepted, LevelTarget]] = []
    for a in accepted:
        assert a.variant_pk is not None
        for handle, qty in (a.row.stock or {}).items():
            target = LevelTarget(a.variant_pk, ref.locations[handle], qty, a.product_pk)
            targets.append((a, target))
    if not targets:
        return
    outcomes = await set_on_hand_many(
        conn, outbox, [t for _, t in targets], reason=SYNC_REASON, actor=actor
    )
    for (a, _), o in zip(targets, outcomes, strict=True):
        if o.changed:
            a.changed = True
