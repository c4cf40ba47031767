"""Variants: create, update and delete a product's variants (one value per product
option, unique SKUs and option combinations) and make a variant a bundle of others."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.database import Database
from hub.db.tables import bundle_t, products_t, variants_t
from hub.domain.catalog._checks import touch_products, utc_now
from hub.domain.catalog.barcodes import BarcodeCode, parse_barcode
from hub.domain.catalog.errors import CatalogCode
from hub.domain.catalog.prices import refresh_price_ranges
from hub.domain.catalog.search import refresh_search_text
from hub.domain.errors import DomainError, Errors, fail


@dataclass
class VariantInput:
    sku: str | None = None
    title: str | None = None
    barcode: str | None = None
    options: list[str] | None = None  # values in the product's option order
    weight_grams: int | None = None
    requires_shipping: bool | None = None
    position: int | None = None


def _variant_title(values: Sequence[str] | None) -> str:
    return " / ".join(values) if values else "Default"


def validate_variant(
    errs: Errors, v: VariantInput, options: Sequence[dict[str, Any]], *path: str, creating: bool
) -> None:
    if creating and not v.sku:
        errs.add(CatalogCode.BLANK, "sku is required", *path, "sku")
    if v.sku is not None and (not v.sku.strip() or len(v.sku) > 128):
        errs.add(CatalogCode.INVALID, "sku must be 1 to 128 characters", *path, "sku")
    if v.barcode:
        try:
            parse_barcode(v.barcode)
        except ValueError as e:
            errs.add(BarcodeCode.BARCODE_INVALID, str(e), *path, "barcode")
    if v.title is not None and len(v.title) > 255:
        errs.add(CatalogCode.TOO_LONG, "title is longer than 255 characters", *path, "title")
    if v.weight_grams is not None and v.weight_grams < 0:
        errs.add(CatalogCode.INVALID, "weight can't be negative", *path, "weight_grams")
    if v.options is not None or creating:
        vals = v.options or []
        if len(vals) != len(options):
            errs.add(
                CatalogCode.INVALID,
                f"give one value per product option ({len(options)})",
                *path,
                "options",
            )
        else:
            for i, (val, opt) in enumerate(zip(vals, options, strict=True)):
                if val not in opt["values"]:
                    errs.add(
                        CatalogCode.INVALID,
                        f"{val!r} is not a value of option {opt['name']!r}",
                        *path,
                        "options",
                        str(i),
                    )


def _barcode_values(barcode: str | None) -> dict[str, Any]:
    """The columns a variant's barcode input sets: "" clears the barcode."""
    if not barcode:
        return {"barcode": None, "barcode_key": None}
    b = parse_barcode(barcode)
    return {"barcode": b.text, "barcode_key": b.key}


async def _check_barcode_free(
    conn: AsyncConnection, key: str | None, except_pk: int | None, *path: str
) -> None:
    if key is None:
        return
    stmt = select(variants_t.c.sku).where(variants_t.c.barcode_key == key)
    if except_pk is not None:
        stmt = stmt.where(variants_t.c.id != except_pk)
    if (other := (await conn.execute(stmt.limit(1))).first()) is not None:
        raise fail(
            BarcodeCode.BARCODE_TAKEN, f"variant {other.sku!r} has this barcode", *path, "barcode"
        )


def _taken(exc: IntegrityError, sku: str | None, *path: str) -> DomainError:
    if "barcode" in str(exc.orig).lower():
        return fail(BarcodeCode.BARCODE_TAKEN, "another variant has this barcode", *path, "barcode")
    return fail(CatalogCode.TAKEN, f"sku {sku!r} is already taken", *path, "sku")


async def insert_variants(
    conn: AsyncConnection, product_pk: int, variants: Sequence[VariantInput], start: int = 0
) -> list[int]:
    out = []
    for i, v in enumerate(variants):
        vals = list(v.options or [])
        codes = _barcode_values(v.barcode)
        await _check_barcode_free(conn, codes["barcode_key"], None, "variants", str(i))
        try:
            res = await conn.execute(
                insert(variants_t)
                .values(
                    product_id=product_pk,
                    sku=v.sku,
                    **codes,
                    title=v.title or _variant_title(vals),
                    position=v.position if v.position is not None else start + i,
                    option1=vals[0] if len(vals) > 0 else None,
                    option2=vals[1] if len(vals) > 1 else None,
                    option3=vals[2] if len(vals) > 2 else None,
                    weight_grams=v.weight_grams,
                    requires_shipping=True if v.requires_shipping is None else v.requires_shipping,
                    is_bundle=False,
                    created_at=utc_now(),
                )
                .returning(variants_t.c.id)
            )
        except IntegrityError as e:
            raise _taken(e, v.sku, "variants", str(i)) from None
        out.append(res.scalar_one())
    return out


async def insert_variant(conn: AsyncConnection, product_pk: int, data: VariantInput) -> int:
    """Add a variant to product ``product_pk``, in the caller's transaction."""
    p = (await conn.execute(select(products_t).where(products_t.c.id == product_pk))).first()
    if p is None:
        raise fail(CatalogCode.NOT_FOUND, "product not found", "product_id")
    errs = Errors()
    validate_variant(errs, data, p.options, creating=True)
    errs.raise_if_any()
    await _check_combo_free(conn, product_pk, data.options or [], None)
    last = await conn.scalar(
        select(func.max(variants_t.c.position)).where(variants_t.c.product_id == product_pk)
    )
    try:
        [vpk] = await insert_variants(
            conn, product_pk, [data], start=0 if last is None else last + 1
        )
    except DomainError as e:
        # One variant: its errors are about the input itself, not variants.0.
        raise DomainError(
            [type(u)(list(u.field[2:]) if u.field else None, u.message, u.code) for u in e.errors]
        ) from None
    await refresh_search_text(conn, product_pk)
    return vpk


async def create_variant(db: Database, product_pk: int, data: VariantInput) -> int:
    async with db.transaction() as conn:
        return await insert_variant(conn, product_pk, data)


async def _check_combo_free(
    conn: AsyncConnection, product_pk: int, vals: Sequence[str], except_pk: int | None
) -> None:
    padded = [*list(vals), None, None, None][:3]
    conds = [variants_t.c.product_id == product_pk]
    for col, v in zip(
        (variants_t.c.option1, variants_t.c.option2, variants_t.c.option3), padded, strict=True
    ):
        conds.append(col.is_(None) if v is None else col == v)
    if except_pk is not None:
        conds.append(variants_t.c.id != except_pk)
    if (await conn.execute(select(variants_t.c.id).where(*conds).limit(1))).first():
        raise fail(CatalogCode.TAKEN, "another variant has the same option values", "options")


async def change_variant(conn: AsyncConnection, pk: int, data: VariantInput) -> int:
    """Change the given fields of variant ``pk``, in the caller's transaction."""
    row = (
        await conn.execute(
            select(variants_t, products_t.c.options)
            .join(products_t, products_t.c.id == variants_t.c.product_id)
            .where(variants_t.c.id == pk)
        )
    ).first()
    if row is None:
        raise fail(CatalogCode.NOT_FOUND, "variant not found", "id")
    errs = Errors()
    validate_variant(errs, data, row.options, creating=False)
    errs.raise_if_any()
    values: dict[str, Any] = {}
    for name in ("sku", "title", "weight_grams", "requires_shipping", "position"):
        v = getattr(data, name)
        if v is not None:
            values[name] = v
    if data.barcode is not None:
        values.update(_barcode_values(data.barcode))
        await _check_barcode_free(conn, values["barcode_key"], pk)
    if data.options is not None:
        await _check_combo_free(conn, row.product_id, data.options, pk)
        padded = [*data.options, None, None, None]
        values.update(option1=padded[0], option2=padded[1], option3=padded[2])
        if data.title is None:
            values["title"] = _variant_title(data.options)
    if values:
        try:
            await conn.execute(update(variants_t).where(variants_t.c.id == pk).values(**values))
        except IntegrityError as e:
            raise _taken(e, data.sku) from None
    await refresh_search_text(conn, row.product_id)
    return pk


async def update_variant(db: Database, pk: int, data: VariantInput) -> int:
    async with db.transaction() as conn:
        return await change_variant(conn, pk, data)


async def remove_variant(conn: AsyncConnection, pk: int) -> None:
    """Delete variant ``pk`` unless a bundle holds it, in the caller's transaction."""
    row = (await conn.execute(select(variants_t.c.product_id).where(variants_t.c.id == pk))).first()
    if row is None:
        raise fail(CatalogCode.NOT_FOUND, "variant not found", "id")
    in_bundle = (
        await conn.execute(
            select(bundle_t.c.bundle_variant_id)
            .where(bundle_t.c.component_variant_id == pk)
            .limit(1)
        )
    ).first()
    if in_bundle is not None:
        raise fail(CatalogCode.IN_USE, "the variant is a component of a bundle", "id")
    await conn.execute(delete(variants_t).where(variants_t.c.id == pk))
    await touch_products(conn, [row.product_id])
    await refresh_price_ranges(conn, [row.product_id])
    await refresh_search_text(conn, row.product_id)


async def delete_variant(db: Database, pk: int) -> None:
    async with db.transaction() as conn:
        await remove_variant(conn, pk)


async def replace_bundle_components(
    conn: AsyncConnection, bundle_pk: int, components: Sequence[tuple[int, int]]
) -> None:
    """Make variant ``bundle_pk`` a bundle of the checked (component variant, quantity)
    pairs (see :func:`set_bundle_components`; empty unbundles), in the caller's
    transaction."""
    seen = {cpk for cpk, _ in components}
    found = set(
        (
            await conn.execute(
                select(variants_t.c.id, variants_t.c.is_bundle).where(
                    variants_t.c.id.in_([bundle_pk, *seen])
                )
            )
        ).all()
    )
    found_pks = {r[0] for r in found}
    if bundle_pk not in found_pks:
        raise fail(CatalogCode.NOT_FOUND, "variant not found", "variant_id")
    for i, (cpk, _) in enumerate(components):
        if cpk not in found_pks:
            raise fail(CatalogCode.NOT_FOUND, "component variant not found", "components", str(i))
    if any(r[1] for r in found if r[0] != bundle_pk):
        raise fail(CatalogCode.INVALID, "a bundle can't contain another bundle", "components")
    if (
        components
        and (
            await conn.execute(
                select(bundle_t.c.bundle_variant_id)
                .where(bundle_t.c.component_variant_id == bundle_pk)
                .limit(1)
            )
        ).first()
    ):
        raise fail(
            CatalogCode.IN_USE, "the variant is itself a component of a bundle", "variant_id"
        )
    await conn.execute(delete(bundle_t).where(bundle_t.c.bundle_variant_id == bundle_pk))
    if components:
        await conn.execute(
            insert(bundle_t),
            [
                {"bundle_variant_id": bundle_pk, "component_variant_id": c, "quantity": q}
                for c, q in components
            ],
        )
    await conn.execute(
        update(variants_t).where(variants_t.c.id == bundle_pk).values(is_bundle=bool(components))
    )


async def set_bundle_components(
    db: Database, bundle_pk: int, components: Sequence[tuple[int, int]]
) -> None:
    """Make a variant a bundle of (component variant, quantity); empty list unbundles."""
    errs = Errors()
    seen = set()
    for i, (cpk, qty) in enumerate(components):
        if qty <= 0:
            errs.add(
                CatalogCode.INVALID, "quantity must be positive", "components", str(i), "quantity"
            )
        if cpk == bundle_pk:
            errs.add(CatalogCode.INVALID, "a bundle can't contain itself", "components", str(i))
        if cpk in seen:
            errs.add(CatalogCode.TAKEN, "component listed twice", "components", str(i))
        seen.add(cpk)
    errs.raise_if_any()
    async with db.transaction() as conn:
        await replace_bundle_components(conn, bundle_pk, components)
