"""Catalog service: channels, products, variants, prices, collections and bundles.

Reads return records with plain attributes (the API serves them as they are); writes
validate, run in one transaction, and raise :class:`DomainError` with stable codes.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, delete, exists, false, func, insert, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import ids
from hub.bounds import TEXT_MAX
from hub.db.database import Database, Reader
from hub.db.models import (
    BundleComponent,
    Channel,
    Collection,
    CollectionProduct,
    Product,
    ProductAttribute,
    ProductPriceRange,
    ProductTag,
    Variant,
    VariantPrice,
)
from hub.domain.errors import Code, DomainError, Errors, fail
from hub.domain.paging import PageRequest, decode_cursor, encode_cursor
from hub.money import Money, MoneyError, bound_minor, is_currency, parse_amount

channels_t = Channel.__table__
products_t = Product.__table__
variants_t = Variant.__table__
prices_t = VariantPrice.__table__
ranges_t = ProductPriceRange.__table__
tags_t = ProductTag.__table__
attrs_t = ProductAttribute.__table__
collections_t = Collection.__table__
coll_products_t = CollectionProduct.__table__
bundle_t = BundleComponent.__table__

STATUSES = ("DRAFT", "ACTIVE", "ARCHIVED")
ATTRIBUTE_TYPES = ("STRING", "INTEGER", "DECIMAL", "BOOLEAN", "DATE", "JSON")
HANDLE_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
TAX_CLASS_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DEFAULT_TAX_CLASS = "standard"
MAX_OPTIONS = 3


# --------------------------------------------------------------------------- records


class ChannelRecord:
    __slots__ = (
        "created_at",
        "currency",
        "default_country",
        "handle",
        "id",
        "name",
        "pk",
        "tax_inclusive",
    )

    def __init__(self, row: Any) -> None:
        self.pk = row.id
        self.id = ids.encode("Channel", row.id)
        self.handle = row.handle
        self.name = row.name
        self.currency = row.currency
        self.default_country = row.default_country
        self.tax_inclusive = row.tax_inclusive
        self.created_at = row.created_at


class SelectedOption:
    __slots__ = ("name", "value")

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self.value = value


class ProductOption:
    __slots__ = ("name", "values")

    def __init__(self, name: str, values: list[str]) -> None:
        self.name = name
        self.values = values


class Media:
    __slots__ = ("alt", "url")

    def __init__(self, url: str, alt: str | None) -> None:
        self.url = url
        self.alt = alt


class Seo:
    __slots__ = ("description", "title")

    def __init__(self, title: str | None, description: str | None) -> None:
        self.title = title
        self.description = description


class ProductRecord:
    __slots__ = (
        "_options",
        "channel",
        "created_at",
        "description",
        "handle",
        "id",
        "max_price",
        "media_json",
        "min_price",
        "option_defs",
        "pk",
        "product_type",
        "seo_description",
        "seo_title",
        "status",
        "tags",
        "tax_class",
        "title",
        "units_sold",
        "updated_at",
        "vendor",
    )

    def __init__(self, row: Any, channel: ChannelRecord | None) -> None:
        self.pk = row.id
        self.id = ids.encode("Product", row.id)
        self.handle = row.handle
        self.title = row.title
        self.description = row.description
        self.vendor = row.vendor
        self.product_type = row.product_type
        self.tax_class = getattr(row, "tax_class", DEFAULT_TAX_CLASS)
        self.status = row.status
        self.tags = row.tags
        self.option_defs = row.options
        self.media_json = row.media
        self.seo_title = row.seo_title
        self.seo_description = row.seo_description
        self.units_sold = row.units_sold
        self.created_at = row.created_at
        self.updated_at = row.updated_at
        self.channel = channel
        self._options: list[ProductOption] | None = None
        mn = getattr(row, "min_amount", None)
        if channel is not None and mn is not None:
            self.min_price: Money | None = Money(mn, channel.currency)
            self.max_price: Money | None = Money(row.max_amount, channel.currency)
        else:
            self.min_price = self.max_price = None

    @property
    def options(self) -> list[ProductOption]:
        if self._options is None:
            self._options = [ProductOption(o["name"], list(o["values"])) for o in self.option_defs]
        return self._options

    @property
    def media(self) -> list[Media]:
        return [Media(m["url"], m.get("alt")) for m in self.media_json]

    @property
    def seo(self) -> Seo:
        return Seo(self.seo_title or self.title, self.seo_description)

    @property
    def is_active(self) -> bool:
        return self.status == "ACTIVE"


class VariantRecord:
    __slots__ = (
        "available_for_sale",
        "barcode",
        "compare_at_price",
        "cost",
        "id",
        "is_bundle",
        "pk",
        "position",
        "price",
        "product_id",
        "product_pk",
        "quantity_available",
        "requires_shipping",
        "selected_options",
        "sku",
        "title",
        "tracked",
        "weight_grams",
    )

    def __init__(
        self,
        row: Any,
        option_defs: Sequence[dict[str, Any]],
        product_status: str,
        currency: str | None,
    ) -> None:
        self.pk = row.id
        self.id = ids.encode("ProductVariant", row.id)
        self.product_pk = row.product_id
        self.product_id = ids.encode("Product", row.product_id)
        self.sku = row.sku
        self.barcode = row.barcode
        self.title = row.title
        self.position = row.position
        self.weight_grams = row.weight_grams
        self.requires_shipping = row.requires_shipping
        self.is_bundle = row.is_bundle
        values = (row.option1, row.option2, row.option3)
        self.selected_options = [
            SelectedOption(o["name"], values[i])
            for i, o in enumerate(option_defs)
            if i < MAX_OPTIONS and values[i] is not None
        ]
        amount = row.amount
        if amount is not None and currency is not None:
            self.price: Money | None = Money(amount, currency)
            cmp_ = row.compare_at_amount
            self.compare_at_price: Money | None = (
                Money(cmp_, currency) if cmp_ is not None else None
            )
            cost = row.cost_amount
            self.cost: Money | None = Money(cost, currency) if cost is not None else None
        else:
            self.price = self.compare_at_price = self.cost = None
        self.tracked = row.tracked
        # Units sellable online in the channel; None for untracked variants (always
        # available). Filled in by `attach_availability`.
        self.quantity_available: int | None = None
        # Sellable in this channel: active, priced here, and in stock (or untracked).
        self.available_for_sale = self.price is not None and product_status == "ACTIVE"


class CollectionRecord:
    __slots__ = ("created_at", "description", "handle", "id", "pk", "title")

    def __init__(self, row: Any) -> None:
        self.pk = row.id
        self.id = ids.encode("Collection", row.id)
        self.handle = row.handle
        self.title = row.title
        self.description = row.description
        self.created_at = row.created_at


class AttributeRecord:
    __slots__ = ("key", "type", "value")

    def __init__(self, key: str, type_: str, value: str) -> None:
        self.key = key
        self.type = type_
        self.value = value


class BundleComponentRecord:
    __slots__ = ("component_pk", "quantity")

    def __init__(self, component_pk: int, quantity: int) -> None:
        self.component_pk = component_pk
        self.quantity = quantity


# --------------------------------------------------------------------------- reads


def handle_key(handle: str) -> str:
    """Channel handles are lowercase (``HANDLE_RE``): a client's ``EU`` or `` eu`` is ``eu``."""
    return handle.strip().lower()


_CHANNEL_HANDLES = select(channels_t.c.handle).order_by(channels_t.c.id)  # built once


async def channel_handles(conn: AsyncConnection | Reader) -> list[str]:
    """Every channel's handle, oldest first (for errors that list the valid ones)."""
    if isinstance(conn, Reader):
        return [r.handle for r in await conn.all(_CHANNEL_HANDLES)]
    return list((await conn.execute(_CHANNEL_HANDLES)).scalars())


def unknown_channel(handle: str, known: Sequence[str]) -> str:
    valid = ", ".join(known) if known else "none yet"
    return f"unknown channel {handle!r}; the channels are: {valid}"


async def channel_by_handle(reader: Reader, handle: str) -> ChannelRecord | None:
    row = await reader.first(select(channels_t).where(channels_t.c.handle == handle_key(handle)))
    return ChannelRecord(row) if row else None


_FIRST_CHANNEL = select(channels_t).order_by(channels_t.c.id).limit(1)  # built once


async def default_channel(reader: Reader) -> ChannelRecord | None:
    row = await reader.first(_FIRST_CHANNEL)
    return ChannelRecord(row) if row else None


async def channels_by_pks(reader: Reader, pks: Sequence[int]) -> dict[int, ChannelRecord]:
    rows = await reader.all(select(channels_t).where(channels_t.c.id.in_(pks)))
    return {r.id: ChannelRecord(r) for r in rows}


async def list_channels(reader: Reader) -> list[ChannelRecord]:
    rows = await reader.all(select(channels_t).order_by(channels_t.c.id))
    return [ChannelRecord(r) for r in rows]


@dataclass(frozen=True, slots=True)
class ProductFilters:
    query: str | None = None
    collection_pk: int | None = None
    tag: str | None = None
    vendor: str | None = None
    product_type: str | None = None
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    available: bool | None = None
    status: str | None = None  # staff only; storefronts always see ACTIVE


SORT_COLUMNS = {
    "TITLE": products_t.c.title,
    "CREATED_AT": products_t.c.created_at,
    "BEST_SELLING": products_t.c.units_sold,
    "PRICE": ranges_t.c.min_amount,
    "ID": products_t.c.id,
}
# Best-selling lists the highest seller first unless reversed.
DESCENDING_BY_DEFAULT = {"BEST_SELLING"}

# field:value, field:"several words" or field:'several words'.
_FIELD_TERM = re.compile(r"""(\w+):("([^"]*)"|'([^']*)'|\S+)""")


def _like_escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _words_clause(column: Any, value: str) -> Any:
    """``column`` (case-insensitively) holds ``value`` as whole words: the whole value
    (``Northwind Outfitters``), a word or run of words in it (``northwind``), or, with a
    trailing ``*``, words starting so (``north*``)."""
    col = func.lower(column)
    if value.endswith("*"):
        v = _like_escape(value.rstrip("*"))
        return or_(col.like(f"{v}%", escape="\\"), col.like(f"% {v}%", escape="\\"))
    v = _like_escape(value)
    return or_(
        col == value,
        col.like(f"{v} %", escape="\\"),
        col.like(f"% {v}", escape="\\"),
        col.like(f"% {v} %", escape="\\"),
    )


def _exact_clause(column: Any, value: str) -> Any:
    """``column`` equals ``value`` whatever the case, or starts with it given ``x*``."""
    col = func.lower(column)
    if value.endswith("*"):
        return col.like(f"{_like_escape(value.rstrip('*'))}%", escape="\\")
    return col == value


def _text_conditions(text: str) -> list[Any]:
    """Shopify-style search, case-insensitive throughout: free words match title, SKU,
    vendor, product type and tags; ``vendor:x`` and ``product_type:x`` match whole words
    of that field (``vendor:northwind``, ``vendor:"Northwind Outfitters"``),
    ``tag:x`` and ``sku:x`` a whole tag or SKU, ``title:x`` part of the title; a
    trailing ``*`` matches a prefix (``tag:sum*``). Quote values with spaces."""
    conds: list[Any] = []

    def field_term(m: re.Match[str]) -> str:
        name = m.group(1).lower()
        value = next(g for g in (m.group(3), m.group(4), m.group(2)) if g is not None)
        v = " ".join(value.lower().split())
        if not v.strip("*"):
            return " "
        if name == "tag":
            conds.append(
                exists().where(
                    tags_t.c.product_id == products_t.c.id, _exact_clause(tags_t.c.tag, v)
                )
            )
        elif name == "vendor":
            conds.append(_words_clause(products_t.c.vendor, v))
        elif name in ("product_type", "type"):
            conds.append(_words_clause(products_t.c.product_type, v))
        elif name == "sku":
            conds.append(
                exists().where(
                    variants_t.c.product_id == products_t.c.id, _exact_clause(variants_t.c.sku, v)
                )
            )
        elif name == "title":
            conds.append(func.lower(products_t.c.title).like(f"%{_like_escape(v)}%", escape="\\"))
        else:  # unknown field: search the words as text
            return f" {m.group(0)} ".replace(":", " ")
        return " "

    rest = _FIELD_TERM.sub(field_term, text)
    for word in rest.lower().split():
        conds.append(products_t.c.search_text.like(f"%{_like_escape(word)}%", escape="\\"))
    return conds


def search_text(
    title: str, vendor: str, product_type: str, tags: Iterable[str], skus: Iterable[str]
) -> str:
    parts = [title, vendor, product_type, *tags, *skus]
    return " ".join(p.lower() for p in parts if p)


async def list_products(
    reader: Reader,
    channel: ChannelRecord,
    page: PageRequest,
    *,
    filters: ProductFilters = ProductFilters(),
    sort_key: str = "ID",
    reverse: bool = False,
    staff: bool = False,
) -> tuple[list[ProductRecord], list[str], bool, bool]:
    """One page of products in a channel: (records, cursors, has_next, has_previous).

    Storefronts see active products that are priced in the channel (published to it);
    staff see every product and may filter by status.
    """
    sort_col = SORT_COLUMNS[sort_key]
    join_on = and_(ranges_t.c.product_id == products_t.c.id, ranges_t.c.channel_id == channel.pk)
    cols = [products_t, ranges_t.c.min_amount, ranges_t.c.max_amount]
    if staff:
        stmt = select(*cols).select_from(products_t.outerjoin(ranges_t, join_on))
        if filters.status:
            stmt = stmt.where(products_t.c.status == filters.status)
        if sort_key == "PRICE":
            sort_col = func.coalesce(ranges_t.c.min_amount, -1)
    else:
        stmt = (
            select(*cols)
            .select_from(products_t.join(ranges_t, join_on))
            .where(products_t.c.status == "ACTIVE")
        )
    conds: list[Any] = []
    if filters.query:
        conds.extend(_text_conditions(filters.query))
    if filters.collection_pk is not None:
        conds.append(
            exists().where(
                coll_products_t.c.product_id == products_t.c.id,
                coll_products_t.c.collection_id == filters.collection_pk,
            )
        )
    # The filter's fields are exact, whatever the case.
    if filters.tag is not None:
        conds.append(
            exists().where(
                tags_t.c.product_id == products_t.c.id,
                tags_t.c.tag == filters.tag.strip().lower(),
            )
        )
    if filters.vendor is not None:
        conds.append(func.lower(products_t.c.vendor) == filters.vendor.strip().lower())
    if filters.product_type is not None:
        conds.append(func.lower(products_t.c.product_type) == filters.product_type.strip().lower())
    if filters.price_min is not None or filters.price_max is not None:
        pconds = [prices_t.c.product_id == products_t.c.id, prices_t.c.channel_id == channel.pk]
        if filters.price_min is not None:
            low = bound_minor(filters.price_min, channel.currency, lower=True)
            pconds.append(false() if low is None else prices_t.c.amount >= low)
        if filters.price_max is not None:
            high = bound_minor(filters.price_max, channel.currency, lower=False)
            pconds.append(false() if high is None else prices_t.c.amount <= high)
        conds.append(exists().where(*pconds))
    if filters.available is not None:
        sellable = available_products_clause(channel)
        conds.append(sellable if filters.available else ~sellable)
    if conds:
        stmt = stmt.where(*conds)

    descending = (sort_key in DESCENDING_BY_DEFAULT) != reverse
    backward = page.backward
    size = page.size(default=20)
    kind = f"P:{sort_key}:{int(descending)}"
    for cursor, is_after in ((page.after, True), (page.before, False)):
        if cursor is None:
            continue
        value, pk = decode_cursor(cursor, kind, _CURSOR_VALUES.get(sort_key))
        key = (value, pk) if sort_col is not products_t.c.id else None
        go_up = is_after != descending
        if key is None:
            stmt = stmt.where(products_t.c.id > pk if go_up else products_t.c.id < pk)
        else:
            tup = tuple_(sort_col, products_t.c.id)
            stmt = stmt.where(tup > key if go_up else tup < key)
    order_desc = descending != backward
    if sort_col is products_t.c.id:
        order = [products_t.c.id.desc() if order_desc else products_t.c.id.asc()]
    else:
        order = (
            [sort_col.desc(), products_t.c.id.desc()]
            if order_desc
            else [sort_col.asc(), products_t.c.id.asc()]
        )
    rows = await reader.all(stmt.order_by(*order).limit(size + 1))
    more = len(rows) > size
    rows = rows[:size]
    if backward:
        rows = list(reversed(rows))
    records = [ProductRecord(r, channel) for r in rows]
    if sort_col is products_t.c.id:
        cursors = [encode_cursor(kind, r.id, r.id) for r in rows]
    else:
        cursors = [encode_cursor(kind, _cursor_value(sort_key, r), r.id) for r in rows]
    if backward:
        return records, cursors, page.before is not None, more
    return records, cursors, more, page.after is not None


# What each sort's cursors hold (ID cursors compare the key alone).
_CURSOR_VALUES: dict[str, Any] = {
    "TITLE": "text",
    "CREATED_AT": "datetime",
    "BEST_SELLING": "int32",
    "PRICE": "int32",
}


def _cursor_value(sort_key: str, row: Any) -> Any:
    if sort_key == "TITLE":
        return row.title
    if sort_key == "CREATED_AT":
        return row.created_at.isoformat()
    if sort_key == "BEST_SELLING":
        return row.units_sold
    if sort_key == "PRICE":
        return row.min_amount if row.min_amount is not None else -1
    return row.id


def available_products_clause(channel: ChannelRecord) -> Any:
    """Products with at least one variant sellable in the channel: priced there, and
    untracked, or in stock at a location that sells to the channel, or (a bundle)
    with every component in stock there."""
    from hub.domain.inventory import available_sql, levels_t, loc_channels_t, locations_t

    def in_stock(variant_col: Any) -> Any:
        return exists().where(
            levels_t.c.variant_id == variant_col,
            available_sql() > 0,
            loc_channels_t.c.location_id == levels_t.c.location_id,
            loc_channels_t.c.channel_id == channel.pk,
            locations_t.c.id == levels_t.c.location_id,
            locations_t.c.active.is_(True),
        )

    comp = bundle_t.alias("comp")
    bundle_ok = and_(
        variants_t.c.is_bundle,
        ~exists().where(
            comp.c.bundle_variant_id == variants_t.c.id, ~in_stock(comp.c.component_variant_id)
        ),
    )
    return exists().where(
        variants_t.c.product_id == products_t.c.id,
        prices_t.c.variant_id == variants_t.c.id,
        prices_t.c.channel_id == channel.pk,
        ~variants_t.c.tracked | bundle_ok | in_stock(variants_t.c.id),
    )


def _product_select(channel: ChannelRecord | None):
    if channel is None:
        return select(products_t)
    join_on = and_(ranges_t.c.product_id == products_t.c.id, ranges_t.c.channel_id == channel.pk)
    return select(products_t, ranges_t.c.min_amount, ranges_t.c.max_amount).select_from(
        products_t.outerjoin(ranges_t, join_on)
    )


async def products_by_pks(
    reader: Reader, pks: Sequence[int], channel: ChannelRecord | None
) -> dict[int, ProductRecord]:
    rows = await reader.all(_product_select(channel).where(products_t.c.id.in_(pks)))
    return {r.id: ProductRecord(r, channel) for r in rows}


async def products_by_handles(
    reader: Reader, handles: Sequence[str], channel: ChannelRecord | None
) -> dict[str, ProductRecord]:
    rows = await reader.all(_product_select(channel).where(products_t.c.handle.in_(handles)))
    return {r.handle: ProductRecord(r, channel) for r in rows}


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
    variants_t.c.requires_shipping,
    variants_t.c.is_bundle,
    variants_t.c.tracked,
)
_PRICE_COLS = (prices_t.c.amount, prices_t.c.compare_at_amount, prices_t.c.cost_amount)


def _variant_select(
    channel: ChannelRecord | None, *extra: Any, product_pks: Sequence[int] | None = None
):
    channel_pk = channel.pk if channel is not None else -1
    on = and_(prices_t.c.variant_id == variants_t.c.id, prices_t.c.channel_id == channel_pk)
    if product_pks is not None:  # lets the planner use the (channel, product) index
        on = and_(on, prices_t.c.product_id.in_(product_pks))
    return select(*_VARIANT_COLS, *_PRICE_COLS, *extra).select_from(
        variants_t.outerjoin(prices_t, on)
    )


async def variants_by_products(
    reader: Reader, products: Sequence[ProductRecord], channel: ChannelRecord | None
) -> dict[int, list[VariantRecord]]:
    """All variants of the given products, in position order, priced in the channel."""
    by_pk = {p.pk: p for p in products}
    pks = list(by_pk)
    stmt = (
        _variant_select(channel, product_pks=pks)
        .where(variants_t.c.product_id.in_(pks))
        .order_by(variants_t.c.product_id, variants_t.c.position, variants_t.c.id)
    )
    out: dict[int, list[VariantRecord]] = defaultdict(list)
    currency = channel.currency if channel else None
    records = []
    for r in await reader.all(stmt):
        p = by_pk[r.product_id]
        rec = VariantRecord(r, p.option_defs, p.status, currency)
        out[r.product_id].append(rec)
        records.append(rec)
    if channel is not None:
        await attach_availability(reader, records, channel)
    return out


async def attach_availability(
    reader: Reader, records: Sequence[VariantRecord], channel: ChannelRecord
) -> None:
    """Stock-aware `quantity_available`/`available_for_sale` for the channel, in one
    batch for all the records (bundles count complete kits)."""
    from hub.domain.inventory import channel_availability

    tracked = [v.pk for v in records if v.tracked]
    bundles = [v.pk for v in records if v.tracked and v.is_bundle]
    qty = (
        await channel_availability(reader, tracked, channel.pk, bundles=bundles) if tracked else {}
    )
    for v in records:
        if v.tracked:
            v.quantity_available = qty.get(v.pk, 0)
            v.available_for_sale = v.available_for_sale and v.quantity_available > 0


async def variants_by_pks(
    reader: Reader, pks: Sequence[int], channel: ChannelRecord | None
) -> dict[int, VariantRecord]:
    stmt = (
        _variant_select(channel, products_t.c.options, products_t.c.status)
        .join(products_t, products_t.c.id == variants_t.c.product_id)
        .where(variants_t.c.id.in_(pks))
    )
    currency = channel.currency if channel else None
    out = {r.id: VariantRecord(r, r.options, r.status, currency) for r in await reader.all(stmt)}
    if channel is not None and out:
        await attach_availability(reader, list(out.values()), channel)
    return out


async def variant_pks_by_skus(reader: Reader, skus: Sequence[str]) -> dict[str, int]:
    rows = await reader.all(
        select(variants_t.c.sku, variants_t.c.id).where(variants_t.c.sku.in_(skus))
    )
    return {r.sku: r.id for r in rows}


async def attributes_by_products(
    reader: Reader, pks: Sequence[int]
) -> dict[int, list[AttributeRecord]]:
    rows = await reader.all(
        select(attrs_t).where(attrs_t.c.product_id.in_(pks)).order_by(attrs_t.c.key)
    )
    out: dict[int, list[AttributeRecord]] = defaultdict(list)
    for r in rows:
        out[r.product_id].append(AttributeRecord(r.key, r.type, r.value))
    return out


async def bundle_components_by_variants(
    reader: Reader, pks: Sequence[int]
) -> dict[int, list[BundleComponentRecord]]:
    rows = await reader.all(
        select(bundle_t)
        .where(bundle_t.c.bundle_variant_id.in_(pks))
        .order_by(bundle_t.c.bundle_variant_id, bundle_t.c.component_variant_id)
    )
    out: dict[int, list[BundleComponentRecord]] = defaultdict(list)
    for r in rows:
        out[r.bundle_variant_id].append(BundleComponentRecord(r.component_variant_id, r.quantity))
    return out


async def collections_by_pks(reader: Reader, pks: Sequence[int]) -> dict[int, CollectionRecord]:
    rows = await reader.all(select(collections_t).where(collections_t.c.id.in_(pks)))
    return {r.id: CollectionRecord(r) for r in rows}


async def collection_by_handle(reader: Reader, handle: str) -> CollectionRecord | None:
    row = await reader.first(select(collections_t).where(collections_t.c.handle == handle))
    return CollectionRecord(row) if row else None


async def list_collections(
    reader: Reader, page: PageRequest
) -> tuple[list[CollectionRecord], list[str], bool, bool]:
    stmt = select(collections_t)
    size = page.size(default=20)
    backward = page.backward
    for cursor, is_after in ((page.after, True), (page.before, False)):
        if cursor is not None:
            _, pk = decode_cursor(cursor, "C")
            stmt = stmt.where(collections_t.c.id > pk if is_after else collections_t.c.id < pk)
    col = collections_t.c.id
    rows = list(await reader.all(stmt.order_by(col.desc() if backward else col).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    if backward:
        rows.reverse()
    recs = [CollectionRecord(r) for r in rows]
    cursors = [encode_cursor("C", None, r.id) for r in rows]
    if backward:
        return recs, cursors, page.before is not None, more
    return recs, cursors, more, page.after is not None


async def collections_by_products(
    reader: Reader, pks: Sequence[int]
) -> dict[int, list[CollectionRecord]]:
    rows = await reader.all(
        select(coll_products_t.c.product_id, collections_t)
        .join(collections_t, collections_t.c.id == coll_products_t.c.collection_id)
        .where(coll_products_t.c.product_id.in_(pks))
        .order_by(coll_products_t.c.product_id, collections_t.c.id)
    )
    out: dict[int, list[CollectionRecord]] = defaultdict(list)
    for r in rows:
        out[r.product_id].append(CollectionRecord(r))
    return out


# --------------------------------------------------------------------------- writes


def _now() -> datetime:
    return datetime.now(UTC)


def _check_handle(errs: Errors, handle: str | None, *path: str, max_len: int = 255) -> None:
    if handle is None:
        return
    if not handle:
        errs.add(Code.BLANK, "handle can't be blank", *path)
    elif len(handle) > max_len:
        errs.add(Code.TOO_LONG, f"handle is longer than {max_len} characters", *path)
    elif not HANDLE_RE.match(handle):
        errs.add(Code.INVALID, "handle must be lowercase letters, digits and dashes", *path)


def _check_text(
    errs: Errors, value: str | None, name: str, *, required: bool = False, max_len: int = 255
) -> None:
    if value is None:
        return
    if required and not value.strip():
        errs.add(Code.BLANK, f"{name} can't be blank", name)
    elif len(value) > max_len:
        errs.add(Code.TOO_LONG, f"{name} is longer than {max_len} characters", name)


def slugify(text: str) -> str:
    """A valid handle from a title: accents folded ("Café" -> "cafe"), at most 200."""
    ascii_ = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-")
    return slug[:200].rstrip("-") or "item"


def _translate_integrity(exc: IntegrityError, field: str, what: str) -> DomainError:
    msg = str(exc.orig).lower()
    if "unique" in msg or "duplicate" in msg:
        return fail(Code.TAKEN, f"{what} is already taken", field)
    if "foreign key" in msg:
        return fail(Code.NOT_FOUND, "a referenced record does not exist", field)
    return fail(Code.INVALID, f"{what} is invalid", field)


# ----- channels


@dataclass
class ChannelInput:
    handle: str | None = None
    name: str | None = None
    currency: str | None = None
    default_country: str | None = None
    tax_inclusive: bool | None = None


def _validate_channel(errs: Errors, data: ChannelInput) -> None:
    _check_handle(errs, data.handle, "handle", max_len=channels_t.c.handle.type.length)
    _check_text(errs, data.name, "name", required=True)
    if data.currency is not None and not is_currency(data.currency):
        errs.add(Code.INVALID, f"{data.currency!r} is not an ISO 4217 currency code", "currency")
    if data.default_country is not None and not re.fullmatch(r"[A-Z]{2}", data.default_country):
        errs.add(
            Code.INVALID, "defaultCountry must be an ISO 3166-1 alpha-2 code", "defaultCountry"
        )


async def create_channel(db: Database, data: ChannelInput) -> int:
    errs = Errors()
    for name in ("handle", "name", "currency", "default_country"):
        if getattr(data, name) is None:
            errs.add(Code.BLANK, f"{name} is required", name)
    _validate_channel(errs, data)
    errs.raise_if_any()
    async with db.transaction() as conn:
        try:
            res = await conn.execute(
                insert(channels_t)
                .values(
                    handle=data.handle,
                    name=data.name,
                    currency=data.currency,
                    default_country=data.default_country,
                    tax_inclusive=bool(data.tax_inclusive),
                    created_at=_now(),
                )
                .returning(channels_t.c.id)
            )
        except IntegrityError as exc:
            raise _translate_integrity(exc, "handle", "handle") from None
        return res.scalar_one()


async def update_channel(db: Database, pk: int, data: ChannelInput) -> int:
    errs = Errors()
    _validate_channel(errs, data)
    errs.raise_if_any()
    values = {k: v for k, v in vars(data).items() if v is not None}
    async with db.transaction() as conn:
        row = (await conn.execute(select(channels_t).where(channels_t.c.id == pk))).first()
        if row is None:
            raise fail(Code.NOT_FOUND, "channel not found", "id")
        if "currency" in values and values["currency"] != row.currency:
            priced = await conn.scalar(
                select(func.count()).select_from(prices_t).where(prices_t.c.channel_id == pk)
            )
            if priced:
                raise fail(
                    Code.CURRENCY_MISMATCH,
                    f"the channel has {priced} prices in {row.currency}; remove them before "
                    "changing its currency",
                    "currency",
                )
        if values:
            try:
                await conn.execute(update(channels_t).where(channels_t.c.id == pk).values(**values))
            except IntegrityError as exc:
                raise _translate_integrity(exc, "handle", "handle") from None
    return pk


async def delete_channel(db: Database, pk: int) -> None:
    async with db.transaction() as conn:
        res = await conn.execute(delete(channels_t).where(channels_t.c.id == pk))
        if res.rowcount == 0:
            raise fail(Code.NOT_FOUND, "channel not found", "id")


# ----- products


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
class VariantInput:
    sku: str | None = None
    title: str | None = None
    barcode: str | None = None
    options: list[str] | None = None  # values in the product's option order
    weight_grams: int | None = None
    requires_shipping: bool | None = None
    position: int | None = None


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
            Code.INVALID,
            "taxClass is 1 to 64 letters, digits, '_', '-' or '.', such as 'reduced'",
            "taxClass",
        )
    elif known is not None and value not in known:
        errs.add(
            Code.INVALID,
            f"unknown tax class {value!r}; the tax rules know {', '.join(sorted(known))}",
            "taxClass",
        )


def _validate_product(
    errs: Errors, data: ProductInput, tax_classes: frozenset[str] | None = None
) -> None:
    _check_handle(errs, data.handle, "handle")
    _check_tax_class(errs, data.tax_class, tax_classes)
    _check_text(errs, data.title, "title", required=True)
    _check_text(errs, data.vendor, "vendor")
    _check_text(errs, data.product_type, "productType")
    _check_text(errs, data.description, "description", max_len=TEXT_MAX)
    _check_text(errs, data.seo_title, "seoTitle")
    _check_text(errs, data.seo_description, "seoDescription", max_len=TEXT_MAX)
    if data.status is not None and data.status not in STATUSES:
        errs.add(Code.INVALID, f"status must be one of {', '.join(STATUSES)}", "status")
    if data.tags is not None:
        for i, t in enumerate(data.tags):
            if not t.strip() or len(t) > 255:
                errs.add(Code.INVALID, "tags must be 1 to 255 characters", "tags", str(i))
    if data.options is not None:
        if len(data.options) > MAX_OPTIONS:
            errs.add(Code.LIMIT_EXCEEDED, f"a product has at most {MAX_OPTIONS} options", "options")
        names = [o.name for o in data.options]
        if len(set(names)) != len(names):
            errs.add(Code.TAKEN, "option names must be unique", "options")
        for i, o in enumerate(data.options):
            if not o.name.strip():
                errs.add(Code.BLANK, "option name can't be blank", "options", str(i), "name")
            if len(o.name) > 255 or any(len(v) > 255 for v in o.values):
                errs.add(
                    Code.TOO_LONG,
                    "option names and values are at most 255 characters",
                    "options",
                    str(i),
                )
            if not o.values or len(set(o.values)) != len(o.values):
                errs.add(
                    Code.INVALID, "an option needs distinct values", "options", str(i), "values"
                )
    if data.attributes is not None:
        for i, a in enumerate(data.attributes):
            _check_attribute(errs, a, "attributes", str(i))
    if data.media is not None:
        for i, m in enumerate(data.media):
            if not re.match(r"^https?://\S+$", m.url):
                errs.add(Code.INVALID, "media url must be an http(s) URL", "media", str(i), "url")


def _check_attribute(errs: Errors, a: AttributeInput, *path: str) -> None:
    if not a.key or len(a.key) > 128:
        errs.add(Code.INVALID, "attribute key must be 1 to 128 characters", *path, "key")
    if a.type not in ATTRIBUTE_TYPES:
        errs.add(
            Code.INVALID,
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
            import orjson

            orjson.loads(a.value)
    except Exception:
        ok = False
    if not ok:
        errs.add(Code.INVALID, f"value is not a valid {a.type}", *path, "value")


def _variant_title(values: Sequence[str] | None) -> str:
    return " / ".join(values) if values else "Default"


def _validate_variant(
    errs: Errors, v: VariantInput, options: Sequence[dict[str, Any]], *path: str, creating: bool
) -> None:
    if creating and not v.sku:
        errs.add(Code.BLANK, "sku is required", *path, "sku")
    if v.sku is not None and (not v.sku.strip() or len(v.sku) > 128):
        errs.add(Code.INVALID, "sku must be 1 to 128 characters", *path, "sku")
    if v.barcode is not None and len(v.barcode) > variants_t.c.barcode.type.length:
        errs.add(Code.TOO_LONG, "barcode is longer than 64 characters", *path, "barcode")
    if v.title is not None and len(v.title) > 255:
        errs.add(Code.TOO_LONG, "title is longer than 255 characters", *path, "title")
    if v.weight_grams is not None and v.weight_grams < 0:
        errs.add(Code.INVALID, "weight can't be negative", *path, "weightGrams")
    if v.options is not None or creating:
        vals = v.options or []
        if len(vals) != len(options):
            errs.add(
                Code.INVALID,
                f"give one value per product option ({len(options)})",
                *path,
                "options",
            )
        else:
            for i, (val, opt) in enumerate(zip(vals, options, strict=True)):
                if val not in opt["values"]:
                    errs.add(
                        Code.INVALID,
                        f"{val!r} is not a value of option {opt['name']!r}",
                        *path,
                        "options",
                        str(i),
                    )


async def _refresh_search_text(conn: AsyncConnection, product_pk: int) -> None:
    p = (await conn.execute(select(products_t).where(products_t.c.id == product_pk))).one()
    skus = (
        (await conn.execute(select(variants_t.c.sku).where(variants_t.c.product_id == product_pk)))
        .scalars()
        .all()
    )
    await conn.execute(
        update(products_t)
        .where(products_t.c.id == product_pk)
        .values(search_text=search_text(p.title, p.vendor, p.product_type, p.tags, skus))
    )


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


async def _insert_variants(
    conn: AsyncConnection, product_pk: int, variants: Sequence[VariantInput], start: int = 0
) -> list[int]:
    out = []
    for i, v in enumerate(variants):
        vals = list(v.options or [])
        try:
            res = await conn.execute(
                insert(variants_t)
                .values(
                    product_id=product_pk,
                    sku=v.sku,
                    barcode=v.barcode,
                    title=v.title or _variant_title(vals),
                    position=v.position if v.position is not None else start + i,
                    option1=vals[0] if len(vals) > 0 else None,
                    option2=vals[1] if len(vals) > 1 else None,
                    option3=vals[2] if len(vals) > 2 else None,
                    weight_grams=v.weight_grams,
                    requires_shipping=True if v.requires_shipping is None else v.requires_shipping,
                    is_bundle=False,
                    created_at=_now(),
                )
                .returning(variants_t.c.id)
            )
        except IntegrityError:
            raise fail(
                Code.TAKEN, f"sku {v.sku!r} is already taken", "variants", str(i), "sku"
            ) from None
        out.append(res.scalar_one())
    return out


async def create_product(
    db: Database, data: ProductInput, *, tax_classes: frozenset[str] | None = None
) -> int:
    """``tax_classes``: the classes ``taxClass`` may take (None: any slug)."""
    errs = Errors()
    if not data.title:
        errs.add(Code.BLANK, "title is required", "title")
    _validate_product(errs, data, tax_classes)
    options = [{"name": o.name, "values": list(o.values)} for o in data.options or []]
    variants = data.variants or []
    skus = [v.sku for v in variants]
    if len(set(skus)) != len(skus):
        errs.add(Code.TAKEN, "variant SKUs must be unique", "variants")
    for i, v in enumerate(variants):
        _validate_variant(errs, v, options, "variants", str(i), creating=True)
    combos = [tuple(v.options or ()) for v in variants]
    if len(set(combos)) != len(combos):
        errs.add(Code.TAKEN, "two variants have the same option values", "variants")
    errs.raise_if_any()
    handle = data.handle or slugify(data.title or "")
    tags = list(dict.fromkeys(data.tags or []))
    now = _now()
    async with db.transaction() as conn:
        try:
            res = await conn.execute(
                insert(products_t)
                .values(
                    handle=handle,
                    title=data.title,
                    description=data.description or "",
                    vendor=data.vendor or "",
                    product_type=data.product_type or "",
                    tax_class=data.tax_class or DEFAULT_TAX_CLASS,
                    status=data.status or "DRAFT",
                    options=options,
                    tags=tags,
                    media=[{"url": m.url, "alt": m.alt} for m in data.media or []],
                    seo_title=data.seo_title,
                    seo_description=data.seo_description,
                    search_text="",
                    units_sold=0,
                    created_at=now,
                    updated_at=now,
                )
                .returning(products_t.c.id)
            )
        except IntegrityError as exc:
            raise _translate_integrity(exc, "handle", "handle") from None
        pk = res.scalar_one()
        await _replace_tags(conn, pk, tags)
        await _replace_attributes(conn, pk, data.attributes or [])
        await _insert_variants(conn, pk, variants)
        await _refresh_search_text(conn, pk)
    return pk


async def update_product(
    db: Database, pk: int, data: ProductInput, *, tax_classes: frozenset[str] | None = None
) -> int:
    errs = Errors()
    _validate_product(errs, data, tax_classes)
    errs.raise_if_any()
    async with db.transaction() as conn:
        row = (await conn.execute(select(products_t).where(products_t.c.id == pk))).first()
        if row is None:
            raise fail(Code.NOT_FOUND, "product not found", "id")
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
        values["updated_at"] = _now()
        try:
            await conn.execute(update(products_t).where(products_t.c.id == pk).values(**values))
        except IntegrityError as exc:
            raise _translate_integrity(exc, "handle", "handle") from None
        if data.tags is not None:
            await _replace_tags(conn, pk, values["tags"])
        if data.attributes is not None:
            await _replace_attributes(conn, pk, data.attributes)
        await _refresh_search_text(conn, pk)
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
                Code.IN_USE, f"variant {r.sku!r} uses option values the new options drop", "options"
            )


async def delete_product(db: Database, pk: int) -> None:
    async with db.transaction() as conn:
        used = (
            await conn.execute(
                select(variants_t.c.sku)
                .join(bundle_t, bundle_t.c.component_variant_id == variants_t.c.id)
                .where(variants_t.c.product_id == pk)
                .limit(1)
            )
        ).first()
        if used is not None:
            raise fail(Code.IN_USE, f"variant {used.sku!r} is a component of a bundle", "id")
        res = await conn.execute(delete(products_t).where(products_t.c.id == pk))
        if res.rowcount == 0:
            raise fail(Code.NOT_FOUND, "product not found", "id")


# ----- variants


async def create_variant(db: Database, product_pk: int, data: VariantInput) -> int:
    async with db.transaction() as conn:
        p = (await conn.execute(select(products_t).where(products_t.c.id == product_pk))).first()
        if p is None:
            raise fail(Code.NOT_FOUND, "product not found", "productId")
        errs = Errors()
        _validate_variant(errs, data, p.options, creating=True)
        errs.raise_if_any()
        await _check_combo_free(conn, product_pk, data.options or [], None)
        last = await conn.scalar(
            select(func.max(variants_t.c.position)).where(variants_t.c.product_id == product_pk)
        )
        try:
            [vpk] = await _insert_variants(
                conn, product_pk, [data], start=0 if last is None else last + 1
            )
        except DomainError:
            raise fail(Code.TAKEN, f"sku {data.sku!r} is already taken", "sku") from None
        await _refresh_search_text(conn, product_pk)
        return vpk


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
        raise fail(Code.TAKEN, "another variant has the same option values", "options")


async def update_variant(db: Database, pk: int, data: VariantInput) -> int:
    async with db.transaction() as conn:
        row = (
            await conn.execute(
                select(variants_t, products_t.c.options)
                .join(products_t, products_t.c.id == variants_t.c.product_id)
                .where(variants_t.c.id == pk)
            )
        ).first()
        if row is None:
            raise fail(Code.NOT_FOUND, "variant not found", "id")
        errs = Errors()
        _validate_variant(errs, data, row.options, creating=False)
        errs.raise_if_any()
        values: dict[str, Any] = {}
        for name in ("sku", "title", "barcode", "weight_grams", "requires_shipping", "position"):
            v = getattr(data, name)
            if v is not None:
                values[name] = v
        if data.options is not None:
            await _check_combo_free(conn, row.product_id, data.options, pk)
            padded = [*data.options, None, None, None]
            values.update(option1=padded[0], option2=padded[1], option3=padded[2])
            if data.title is None:
                values["title"] = _variant_title(data.options)
        if values:
            try:
                await conn.execute(update(variants_t).where(variants_t.c.id == pk).values(**values))
            except IntegrityError:
                raise fail(Code.TAKEN, f"sku {data.sku!r} is already taken", "sku") from None
        await _refresh_search_text(conn, row.product_id)
        return pk


async def delete_variant(db: Database, pk: int) -> None:
    async with db.transaction() as conn:
        row = (
            await conn.execute(select(variants_t.c.product_id).where(variants_t.c.id == pk))
        ).first()
        if row is None:
            raise fail(Code.NOT_FOUND, "variant not found", "id")
        in_bundle = (
            await conn.execute(
                select(bundle_t.c.bundle_variant_id)
                .where(bundle_t.c.component_variant_id == pk)
                .limit(1)
            )
        ).first()
        if in_bundle is not None:
            raise fail(Code.IN_USE, "the variant is a component of a bundle", "id")
        await conn.execute(delete(variants_t).where(variants_t.c.id == pk))
        await refresh_price_ranges(conn, [row.product_id])
        await _refresh_search_text(conn, row.product_id)


async def set_bundle_components(
    db: Database, bundle_pk: int, components: Sequence[tuple[int, int]]
) -> None:
    """Make a variant a bundle of (component variant, quantity); empty list unbundles."""
    errs = Errors()
    seen = set()
    for i, (cpk, qty) in enumerate(components):
        if qty <= 0:
            errs.add(Code.INVALID, "quantity must be positive", "components", str(i), "quantity")
        if cpk == bundle_pk:
            errs.add(Code.INVALID, "a bundle can't contain itself", "components", str(i))
        if cpk in seen:
            errs.add(Code.TAKEN, "component listed twice", "components", str(i))
        seen.add(cpk)
    errs.raise_if_any()
    async with db.transaction() as conn:
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
            raise fail(Code.NOT_FOUND, "variant not found", "variantId")
        for i, (cpk, _) in enumerate(components):
            if cpk not in found_pks:
                raise fail(Code.NOT_FOUND, "component variant not found", "components", str(i))
        if any(r[1] for r in found if r[0] != bundle_pk):
            raise fail(Code.INVALID, "a bundle can't contain another bundle", "components")
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
            raise fail(Code.IN_USE, "the variant is itself a component of a bundle", "variantId")
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
            update(variants_t)
            .where(variants_t.c.id == bundle_pk)
            .values(is_bundle=bool(components))
        )


# ----- prices


@dataclass
class PriceInput:
    variant_pk: int
    channel_handle: str
    amount: Decimal
    compare_at_amount: Decimal | None = None
    cost_amount: Decimal | None = None
    currency: str | None = None  # optional check: must equal the channel's currency


async def refresh_price_ranges(conn: AsyncConnection, product_pks: Iterable[int]) -> None:
    pks = list(set(product_pks))
    if not pks:
        return
    await conn.execute(delete(ranges_t).where(ranges_t.c.product_id.in_(pks)))
    agg = (
        select(
            prices_t.c.channel_id,
            prices_t.c.product_id,
            func.min(prices_t.c.amount),
            func.max(prices_t.c.amount),
        )
        .where(prices_t.c.product_id.in_(pks))
        .group_by(prices_t.c.channel_id, prices_t.c.product_id)
    )
    await conn.execute(
        insert(ranges_t).from_select(["channel_id", "product_id", "min_amount", "max_amount"], agg)
    )


async def set_prices(db: Database, prices: Sequence[PriceInput]) -> list[tuple[int, int]]:
    """Upsert channel prices; returns the (variant, channel) pairs written."""
    errs = Errors()
    if not prices:
        errs.add(Code.BLANK, "give at least one price", "prices")
    errs.raise_if_any()
    async with db.transaction() as conn:
        handles = {handle_key(p.channel_handle) for p in prices}
        chans = {
            r.handle: r
            for r in (
                await conn.execute(select(channels_t).where(channels_t.c.handle.in_(handles)))
            ).all()
        }
        vrows = {
            r.id: r.product_id
            for r in (
                await conn.execute(
                    select(variants_t.c.id, variants_t.c.product_id).where(
                        variants_t.c.id.in_({p.variant_pk for p in prices})
                    )
                )
            ).all()
        }
        rows = []
        known: list[str] | None = None
        for i, p in enumerate(prices):
            ch = chans.get(handle_key(p.channel_handle))
            if ch is None:
                known = known if known is not None else await channel_handles(conn)
                errs.add(
                    Code.NOT_FOUND,
                    unknown_channel(p.channel_handle, known),
                    "prices",
                    str(i),
                    "channel",
                )
                continue
            if p.variant_pk not in vrows:
                errs.add(Code.NOT_FOUND, "variant not found", "prices", str(i), "variantId")
                continue
            if p.currency is not None and p.currency != ch.currency:
                errs.add(
                    Code.CURRENCY_MISMATCH,
                    f"channel {ch.handle!r} sells in {ch.currency}, not {p.currency}",
                    "prices",
                    str(i),
                    "currencyCode",
                )
                continue
            amounts: list[int | None] = []
            for name, a in (
                ("amount", p.amount),
                ("compareAtAmount", p.compare_at_amount),
                ("costAmount", p.cost_amount),
            ):
                try:
                    amounts.append(None if a is None else parse_amount(a, ch.currency))
                except MoneyError as exc:
                    errs.add(Code.INVALID, str(exc), "prices", str(i), name)
            if len(amounts) < 3:
                continue
            rows.append((ch, p.variant_pk, vrows[p.variant_pk], amounts))
        errs.raise_if_any()
        seen: set[tuple[int, int]] = set()
        for ch, vpk, ppk, (amount, cmp_, cost) in rows:
            if (vpk, ch.id) in seen:
                raise fail(Code.TAKEN, "the same variant and channel appear twice", "prices")
            seen.add((vpk, ch.id))
            res = await conn.execute(
                update(prices_t)
                .where(prices_t.c.variant_id == vpk, prices_t.c.channel_id == ch.id)
                .values(amount=amount, compare_at_amount=cmp_, cost_amount=cost)
            )
            if res.rowcount == 0:
                await conn.execute(
                    insert(prices_t).values(
                        channel_id=ch.id,
                        variant_id=vpk,
                        product_id=ppk,
                        currency=ch.currency,
                        amount=amount,
                        compare_at_amount=cmp_,
                        cost_amount=cost,
                    )
                )
        await refresh_price_ranges(conn, [r[2] for r in rows])
    return list(seen)


async def delete_prices(db: Database, pairs: Sequence[tuple[int, str]]) -> int:
    async with db.transaction() as conn:
        chans = {
            r.handle: r.id
            for r in (
                await conn.execute(
                    select(channels_t.c.handle, channels_t.c.id).where(
                        channels_t.c.handle.in_({handle_key(h) for _, h in pairs})
                    )
                )
            ).all()
        }
        deleted = 0
        products: set[int] = set()
        for i, (vpk, handle) in enumerate(pairs):
            if handle_key(handle) not in chans:
                msg = unknown_channel(handle, await channel_handles(conn))
                raise fail(Code.NOT_FOUND, msg, "prices", str(i))
            res = await conn.execute(
                delete(prices_t)
                .where(
                    prices_t.c.variant_id == vpk,
                    prices_t.c.channel_id == chans[handle_key(handle)],
                )
                .returning(prices_t.c.product_id)
            )
            got = res.scalars().all()
            if not got:
                raise fail(Code.NOT_FOUND, "no such price", "prices", str(i))
            deleted += len(got)
            products.update(got)
        await refresh_price_ranges(conn, products)
        return deleted


# ----- collections


@dataclass
class CollectionInput:
    handle: str | None = None
    title: str | None = None
    description: str | None = None
    product_pks: list[int] | None = None


async def create_collection(db: Database, data: CollectionInput) -> int:
    errs = Errors()
    if not data.title:
        errs.add(Code.BLANK, "title is required", "title")
    _check_handle(errs, data.handle, "handle")
    _check_text(errs, data.title, "title", required=True)
    errs.raise_if_any()
    async with db.transaction() as conn:
        try:
            res = await conn.execute(
                insert(collections_t)
                .values(
                    handle=data.handle or slugify(data.title or ""),
                    title=data.title,
                    description=data.description or "",
                    created_at=_now(),
                )
                .returning(collections_t.c.id)
            )
        except IntegrityError as exc:
            raise _translate_integrity(exc, "handle", "handle") from None
        pk = res.scalar_one()
        if data.product_pks:
            await _add_to_collection(conn, pk, data.product_pks)
        return pk


async def _add_to_collection(conn: AsyncConnection, pk: int, product_pks: Sequence[int]) -> None:
    wanted = list(dict.fromkeys(product_pks))
    found = set(
        (await conn.execute(select(products_t.c.id).where(products_t.c.id.in_(wanted))))
        .scalars()
        .all()
    )
    missing = [p for p in wanted if p not in found]
    if missing:
        raise fail(Code.NOT_FOUND, f"{len(missing)} product(s) not found", "productIds")
    present = set(
        (
            await conn.execute(
                select(coll_products_t.c.product_id).where(
                    coll_products_t.c.collection_id == pk, coll_products_t.c.product_id.in_(wanted)
                )
            )
        )
        .scalars()
        .all()
    )
    start = await conn.scalar(
        select(func.coalesce(func.max(coll_products_t.c.position), -1)).where(
            coll_products_t.c.collection_id == pk
        )
    )
    new = [p for p in wanted if p not in present]
    if new:
        await conn.execute(
            insert(coll_products_t),
            [
                {"collection_id": pk, "product_id": p, "position": start + 1 + i}
                for i, p in enumerate(new)
            ],
        )


async def update_collection(db: Database, pk: int, data: CollectionInput) -> int:
    errs = Errors()
    _check_handle(errs, data.handle, "handle")
    _check_text(errs, data.title, "title", required=True)
    errs.raise_if_any()
    async with db.transaction() as conn:
        values = {
            k: v
            for k, v in (
                ("handle", data.handle),
                ("title", data.title),
                ("description", data.description),
            )
            if v is not None
        }
        exists_ = (
            await conn.execute(select(collections_t.c.id).where(collections_t.c.id == pk))
        ).first()
        if exists_ is None:
            raise fail(Code.NOT_FOUND, "collection not found", "id")
        if values:
            try:
                await conn.execute(
                    update(collections_t).where(collections_t.c.id == pk).values(**values)
                )
            except IntegrityError as exc:
                raise _translate_integrity(exc, "handle", "handle") from None
        if data.product_pks is not None:
            await conn.execute(delete(coll_products_t).where(coll_products_t.c.collection_id == pk))
            await _add_to_collection(conn, pk, data.product_pks)
        return pk


async def delete_collection(db: Database, pk: int) -> None:
    async with db.transaction() as conn:
        res = await conn.execute(delete(collections_t).where(collections_t.c.id == pk))
        if res.rowcount == 0:
            raise fail(Code.NOT_FOUND, "collection not found", "id")


async def collection_add_products(db: Database, pk: int, product_pks: Sequence[int]) -> None:
    async with db.transaction() as conn:
        if (
            await conn.execute(select(collections_t.c.id).where(collections_t.c.id == pk))
        ).first() is None:
            raise fail(Code.NOT_FOUND, "collection not found", "id")
        await _add_to_collection(conn, pk, product_pks)


async def collection_remove_products(db: Database, pk: int, product_pks: Sequence[int]) -> None:
    async with db.transaction() as conn:
        if (
            await conn.execute(select(collections_t.c.id).where(collections_t.c.id == pk))
        ).first() is None:
            raise fail(Code.NOT_FOUND, "collection not found", "id")
        await conn.execute(
            delete(coll_products_t).where(
                coll_products_t.c.collection_id == pk,
                coll_products_t.c.product_id.in_(list(product_pks)),
            )
        )


async def products_in_collections(
    reader: Reader,
    collection_pks: Sequence[int],
    channel: ChannelRecord,
    size: int,
    after: tuple[int, int] | None,
    *,
    staff: bool = False,
) -> dict[int, tuple[list[ProductRecord], list[tuple[int, int]], bool]]:
    """The first ``size`` products of each collection in manual (position) order, in one
    statement: {collection: (records, (position, id) keys, has_next)}."""
    join_on = and_(ranges_t.c.product_id == products_t.c.id, ranges_t.c.channel_id == channel.pk)
    rn = (
        func.row_number()
        .over(
            partition_by=coll_products_t.c.collection_id,
            order_by=(coll_products_t.c.position, products_t.c.id),
        )
        .label("rn")
    )
    src = coll_products_t.join(products_t, products_t.c.id == coll_products_t.c.product_id)
    src = src.outerjoin(ranges_t, join_on) if staff else src.join(ranges_t, join_on)
    inner = (
        select(
            products_t,
            ranges_t.c.min_amount,
            ranges_t.c.max_amount,
            coll_products_t.c.collection_id,
            coll_products_t.c.position,
            rn,
        )
        .select_from(src)
        .where(coll_products_t.c.collection_id.in_(collection_pks))
    )
    if not staff:
        inner = inner.where(products_t.c.status == "ACTIVE")
    if after is not None:
        inner = inner.where(tuple_(coll_products_t.c.position, products_t.c.id) > after)
    sub = inner.subquery()
    stmt = select(sub).where(sub.c.rn <= size + 1).order_by(sub.c.collection_id, sub.c.rn)
    out: dict[int, tuple[list[ProductRecord], list[tuple[int, int]], bool]] = {
        pk: ([], [], False) for pk in collection_pks
    }
    for r in await reader.all(stmt):
        recs, keys, _ = out[r.collection_id]
        if r.rn > size:
            out[r.collection_id] = (recs, keys, True)
            continue
        recs.append(ProductRecord(r, channel))
        keys.append((r.position, r.id))
    return out
