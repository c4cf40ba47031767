"""Products: validate, create, update and delete products with their options, tags,
attributes, media and (on create) variants."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.bounds import TEXT_MAX
from hub.db.database import Database
from hub.db.tables import attrs_t, bundle_t, products_t, tags_t, variants_t
from hub.domain.catalog._checks import (
    check_handle,
    check_text,
    insert_row,
    record_deletion,
    slugify,
    translate_integrity,
    utc_now,
)
from hub.domain.catalog.errors import CatalogCode
from hub.domain.catalog.records import ATTRIBUTE_TYPES, DEFAULT_TAX_CLASS, MAX_OPTIONS, STATUSES
from hub.domain.catalog.search import refresh_search_text
from hub.domain.catalog.variants import VariantInput, insert_variants, validate_variant
from hub.domain.errors import Errors, fail

TAX_CLASS_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass
class OptionInput:
    name: str
    values: list[str]


@dataclass
class AttributeInput:
    key: str
    type: str
    value: str


@dataclass
class MediaInput:
    url: str
    alt: str | None = None


@dataclass
class ProductInput:
    handle: str | None = None
    title: str | None = None
    description: str | None = None
    vendor: str | None = None
    product_type: str | None = None
    tax_class: str | None = None
    status: str | None = None
    tags: list[str] | None = None
    options: list[OptionInput] | None = None
    media: list[MediaInput] | None = None
    seo_title: str | None = None
    seo_description: str | None = None
    attributes: list[AttributeInput] | None = None
    variants: list[VariantInput] | None = None


def _check_tax_class(errs: Errors, value: str | None, known: frozenset[str] | None) -> None:
    """A tax class is a slug (letters, digits, ``_``, ``-``, ``.``; at most 64); with
    ``known`` (the classes the configured tax engine's rules name) it must be one of
    them, so a typo can't silently fall back to the standard rate. Without it (an
    external tax service decides its own codes) any slug is accepted."""
    if value is None:
        return
    if not TAX_CLASS_RE.match(value):
        errs.add(
            CatalogCode.INVALID,
            "taxClass is 1 to 64 letters, digits, '_', '-' or '.', such as 'reduced'",
            "tax_class",
        )
    elif known is not None and value not in known:
        errs.add(
            CatalogCode.INVALID,
            f"unknown tax class {value!r}; the tax rules know {', '.join(sorted(known))}",
            "tax_class",
        )


def _validate_product(
    errs: Errors, data: ProductInput, tax_classes: frozenset[str] | None = None
) -> None:
    check_handle(errs, data.handle, "handle")
    _check_tax_class(errs, data.tax_class, tax_classes)
    check_text(errs, data.title, "title", required=True)
    check_text(errs, data.vendor, "vendor")
    check_text(errs, data.product_type, "product_type", label="productType")
    check_text(errs, data.description, "description", max_len=TEXT_MAX)
    check_text(errs, data.seo_title, "seo_title", label="seoTitle")
    check_text(
        errs, data.seo_description, "seo_description", max_len=TEXT_MAX, label="seoDescription"
    )
    if data.status is not None and data.status not in STATUSES:
        errs.add(CatalogCode.INVALID, f"status must be one of {', '.join(STATUSES)}", "status")
    if data.tags is not None:
        for i, t in enumerate(data.tags):
            if not t.strip() or len(t) > 255:
                errs.add(CatalogCode.INVALID, "tags must be 1 to 255 characters", "tags", str(i))
    if data.options is not None:
        if len(data.options) > MAX_OPTIONS:
            errs.add(
                CatalogCode.LIMIT_EXCEEDED,
                f"a product has at most {MAX_OPTIONS} options",
                "options",
            )
        names = [o.name for o in data.options]
        if len(set(names)) != len(names):
            errs.add(CatalogCode.TAKEN, "option names must be unique", "options")
        for i, o in enumerate(data.options):
            if not o.name.strip():
                errs.add(CatalogCode.BLANK, "option name can't be blank", "options", str(i), "name")
            if len(o.name) > 255 or any(len(v) > 255 for v in o.values):
                errs.add(
                    CatalogCode.TOO_LONG,
                    "option names and values are at most 255 characters",
                    "options",
                    str(i),
                )
            if not o.values or len(set(o.values)) != len(o.values):
                errs.add(
                    CatalogCode.INVALID,
                    "an option needs distinct values",
                    "options",
                    str(i),
                    "values",
                )
    if data.attributes is not None:
        for i, a in enumerate(data.attributes):
            _check_attribute(errs, a, "attributes", str(i))
    if data.media is not None:
        for i, m in enumerate(data.media):
            if not re.match(r"^https?://\S+$", m.url):
                errs.add(
                    CatalogCode.INVALID, "media url must be an http(s) URL", "media", str(i), "url"
                )


def _check_attribute(errs: Errors, a: AttributeInput, *path: str) -> None:
    if not a.key or len(a.key) > 128:
        errs.add(CatalogCode.INVALID, "attribute key must be 1 to 128 characters", *path, "key")
    if a.type not in ATTRIBUTE_TYPES:
        errs.add(
            CatalogCode.INVALID,
            f"attribute type must be one of {', '.join(ATTRIBUTE_TYPES)}",
            *path,
            "type",
        )
        return
    ok = True
    try:
        if a.type == "INTEGER":
            int(a.value)
        elif a.type == "DECIMAL":
            ok = Decimal(a.value).is_finite()
        elif a.type == "BOOLEAN":
            ok = a.value in ("true", "false")
        elif a.type == "DATE":
            datetime.strptime(a.value, "%Y-%m-%d")
        elif a.type == "JSON":
            orjson.loads(a.value)
    except Exception:
        ok = False
    if not ok:
        errs.add(CatalogCode.INVALID, f"value is not a valid {a.type}", *path, "value")


async def _replace_tags(conn: AsyncConnection, product_pk: int, tags: Sequence[str]) -> None:
    await conn.execute(delete(tags_t).where(tags_t.c.product_id == product_pk))
    uniq = list(dict.fromkeys(t.lower() for t in tags))  # matched case-insensitively
    if uniq:
        await conn.execute(insert(tags_t), [{"product_id": product_pk, "tag": t} for t in uniq])


async def _replace_attributes(
    conn: AsyncConnection, product_pk: int, attrs: Sequence[AttributeInput]
) -> None:
    await conn.execute(delete(attrs_t).where(attrs_t.c.product_id == product_pk))
    if attrs:
        await conn.execute(
            insert(attrs_t),
            [
                {"product_id": product_pk, "key": a.key, "type": a.type, "value": a.value}
                for a in attrs
            ],
        )


async def insert_product(conn: AsyncConnection, data: ProductInput) -> int:
    """Insert a product of checked ``data`` (see :func:`create_product`) with its tags,
    attributes and variants, in the caller's transaction."""
    options = [{"name": o.name, "values": list(o.values)} for o in data.options or []]
    variants = data.variants or []
    handle = data.handle or slugify(data.title or "")
    tags = list(dict.fromkeys(data.tags or []))
    now = utc_now()
    pk = await insert_row(
        conn,
        products_t,
        {
            "handle": handle,
            "title": data.title,
            "description": data.description or "",
            "vendor": data.vendor or "",
            "product_type": data.product_type or "",
            "tax_class": data.tax_class or DEFAULT_TAX_CLASS,
            "status": data.status or "DRAFT",
            "options": options,
            "tags": tags,
            "media": [{"url": m.url, "alt": m.alt} for m in data.media or []],
            "seo_title": data.seo_title,
            "seo_description": data.seo_description,
            "search_text": "",
            "units_sold": 0,
            "created_at": now,
            "updated_at": now,
        },
    )
    await _replace_tags(conn, pk, tags)
    await _replace_attributes(conn, pk, data.attributes or [])
    await insert_variants(conn, pk, variants)
    await refresh_search_text(conn, pk)
    return pk


async def create_product(
    db: Database, data: ProductInput, *, tax_classes: frozenset[str] | None = None
) -> int:
    """``tax_classes``: the classes ``taxClass`` may take (None: any slug)."""
    errs = Errors()
    if not data.title:
        errs.add(CatalogCode.BLANK, "title is required", "title")
    _validate_product(errs, data, tax_classes)
    options = [{"name": o.name, "values": list(o.values)} for o in data.options or []]
    variants = data.variants or []
    skus = [v.sku for v in variants]
    if len(set(skus)) != len(skus):
        errs.add(CatalogCode.TAKEN, "variant SKUs must be unique", "variants")
    for i, v in enumerate(variants):
        validate_variant(errs, v, options, "variants", str(i), creating=True)
    combos = [tuple(v.options or ()) for v in variants]
    if len(set(combos)) != len(combos):
        errs.add(CatalogCode.TAKEN, "two variants have the same option values", "variants")
    errs.raise_if_any()
    async with db.transaction() as conn:
        return await insert_product(conn, data)


def check_product_update(data: ProductInput) -> None:
    """An update never touches variants: they change one by one (their own writes)."""
    if data.variants is not None:
        raise fail(
            CatalogCode.INVALID, "use productVariantCreate/Update to change variants", "variants"
        )


async def change_product(conn: AsyncConnection, pk: int, data: ProductInput) -> int:
    """Change the given fields of product ``pk`` (checked; see :func:`update_product`),
    in the caller's transaction."""
    row = (await conn.execute(select(products_t).where(products_t.c.id == pk))).first()
    if row is None:
        raise fail(CatalogCode.NOT_FOUND, "product not found", "id")
    values: dict[str, Any] = {}
    for name in (
        "handle",
        "title",
        "description",
        "vendor",
        "product_type",
        "tax_class",
        "status",
        "seo_title",
        "seo_description",
    ):
        v = getattr(data, name)
        if v is not None:
            values[name] = v
    if data.media is not None:
        values["media"] = [{"url": m.url, "alt": m.alt} for m in data.media]
    if data.tags is not None:
        values["tags"] = list(dict.fromkeys(data.tags))
    if data.options is not None:
        new_opts = [{"name": o.name, "values": list(o.values)} for o in data.options]
        await _check_options_keep_variants(conn, pk, new_opts)
        values["options"] = new_opts
    values["updated_at"] = utc_now()
    try:
        await conn.execute(update(products_t).where(products_t.c.id == pk).values(**values))
    except IntegrityError as exc:
        raise translate_integrity(exc, "handle", "handle") from None
    if data.tags is not None:
        await _replace_tags(conn, pk, values["tags"])
    if data.attributes is not None:
        await _replace_attributes(conn, pk, data.attributes)
    await refresh_search_text(conn, pk)
    return pk


async def update_product(
    db: Database, pk: int, data: ProductInput, *, tax_classes: frozenset[str] | None = None
) -> int:
    check_product_update(data)
    errs = Errors()
    _validate_product(errs, data, tax_classes)
    errs.raise_if_any()
    async with db.transaction() as conn:
        await change_product(conn, pk, data)
    return pk


async def _check_options_keep_variants(
    conn: AsyncConnection, pk: int, options: Sequence[dict[str, Any]]
) -> None:
    rows = (
        await conn.execute(
            select(
                variants_t.c.sku, variants_t.c.option1, variants_t.c.option2, variants_t.c.option3
            ).where(variants_t.c.product_id == pk)
        )
    ).all()
    for r in rows:
        vals = [v for v in (r.option1, r.option2, r.option3) if v is not None]
        if len(vals) != len(options) or any(
            v not in o["values"] for v, o in zip(vals, options, strict=False)
        ):
            raise fail(
                CatalogCode.IN_USE,
                f"variant {r.sku!r} uses option values the new options drop",
                "options",
            )


async def remove_product(conn: AsyncConnection, pk: int) -> None:
    """Delete product ``pk`` unless a bundle holds one of its variants, in the caller's
    transaction."""
    used = (
        await conn.execute(
            select(variants_t.c.sku)
            .join(bundle_t, bundle_t.c.component_variant_id == variants_t.c.id)
            .where(variants_t.c.product_id == pk)
            .limit(1)
        )
    ).first()
    if used is not None:
        raise fail(CatalogCode.IN_USE, f"variant {used.sku!r} is a component of a bundle", "id")
    res = await conn.execute(delete(products_t).where(products_t.c.id == pk))
    if res.rowcount == 0:
        raise fail(CatalogCode.NOT_FOUND, "product not found", "id")
    await record_deletion(conn, "PRODUCT", pk)


async def delete_product(db: Database, pk: int) -> None:
    async with db.transaction() as conn:
        await remove_product(conn, pk)
