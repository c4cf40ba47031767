"""Product search and listing: Shopify-style text search, filters, sorts and keyset
pages of a channel's products."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, and_, bindparam, exists, false, func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from hub.db import fast
from hub.db.database import Reader
from hub.db.tables import coll_products_t, prices_t, products_t, ranges_t, tags_t, variants_t
from hub.domain.catalog.availability import available_products_clause
from hub.domain.catalog.barcodes import barcode_key
from hub.domain.catalog.records import ProductRecord
from hub.domain.channels import ChannelRecord
from hub.domain.paging import PageRequest, decode_cursor, encode_cursor
from hub.money import bound_minor


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


_NO_FILTERS = ProductFilters()

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
    ``tag:x`` and ``sku:x`` a whole tag or SKU, ``title:x`` part of the title,
    ``barcode:x`` a variant's barcode in any spelling (a free word that is a barcode
    finds it too); a
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
        elif name == "barcode":
            conds.append(_barcode_clause(value) if barcode_key(value) else false())
        elif name == "title":
            conds.append(func.lower(products_t.c.title).like(f"%{_like_escape(v)}%", escape="\\"))
        else:  # unknown field: search the words as text
            return f" {m.group(0)} ".replace(":", " ")
        return " "

    rest = _FIELD_TERM.sub(field_term, text)
    for word in rest.split():
        words = products_t.c.search_text.like(f"%{_like_escape(word.lower())}%", escape="\\")
        # A word that spells a barcode (any GTIN spelling) also finds its product.
        conds.append(or_(words, _barcode_clause(word)) if barcode_key(word) else words)
    return conds


def _barcode_clause(code: str) -> Any:
    return exists().where(
        variants_t.c.product_id == products_t.c.id, variants_t.c.barcode_key == barcode_key(code)
    )


def search_text(
    title: str, vendor: str, product_type: str, tags: Iterable[str], skus: Iterable[str]
) -> str:
    parts = [title, vendor, product_type, *tags, *skus]
    return " ".join(p.lower() for p in parts if p)


def _filter_conditions(filters: ProductFilters, channel: ChannelRecord) -> list[Any]:
    """The WHERE conditions of a listing's text query and filters."""
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
    return conds


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
    descending = (sort_key in DESCENDING_BY_DEFAULT) != reverse
    backward = page.backward
    size = page.size(default=20)
    kind = f"P:{sort_key}:{int(descending)}"
    if not staff and filters == _NO_FILTERS and sort_key == "ID":
        # A storefront's plain page by id: a statement built once per shape.
        params: dict[str, Any] = {"channel": channel.pk, "limit": size + 1}
        ops: list[str | None] = [None, None]
        for n, (cursor, is_after) in enumerate(((page.after, True), (page.before, False))):
            if cursor is not None:
                params["after" if is_after else "before"] = decode_cursor(cursor, kind, None)[1]
                ops[n] = ">" if is_after != descending else "<"
        stmt = _page_by_id(ops[0], ops[1], descending != backward)
        rows = await reader.all(stmt, params)
        return _page(rows, size, backward, page, channel, lambda r: encode_cursor(kind, r.id, r.id))
    sort_col: ColumnElement[Any] = SORT_COLUMNS[sort_key]
    join_on = and_(ranges_t.c.product_id == products_t.c.id, ranges_t.c.channel_id == channel.pk)
    base = select(products_t, ranges_t.c.min_amount, ranges_t.c.max_amount)
    if staff:
        stmt = base.select_from(products_t.outerjoin(ranges_t, join_on))
        if filters.status:
            stmt = stmt.where(products_t.c.status == filters.status)
        if sort_key == "PRICE":
            sort_col = func.coalesce(ranges_t.c.min_amount, -1)
    else:
        stmt = base.select_from(products_t.join(ranges_t, join_on)).where(
            products_t.c.status == "ACTIVE"
        )
    conds = _filter_conditions(filters, channel)
    if conds:
        stmt = stmt.where(*conds)

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
    if sort_col is products_t.c.id:
        return _page(rows, size, backward, page, channel, lambda r: encode_cursor(kind, r.id, r.id))
    return _page(
        rows,
        size,
        backward,
        page,
        channel,
        lambda r: encode_cursor(kind, _cursor_value(sort_key, r), r.id),
    )


def _page(
    rows: Sequence[Any],
    size: int,
    backward: bool,
    page: PageRequest,
    channel: ChannelRecord,
    cursor_of: Callable[[Any], str],
) -> tuple[list[ProductRecord], list[str], bool, bool]:
    """A page of products from its ``size + 1`` rows (see list_products)."""
    more = len(rows) > size
    rows = rows[:size]
    if backward:
        rows = list(reversed(rows))
    records = [ProductRecord(r, channel) for r in rows]
    cursors = [cursor_of(r) for r in rows]
    if backward:
        return records, cursors, page.before is not None, more
    return records, cursors, more, page.after is not None


# A storefront's unfiltered page by id, per shape (the after and before cursors'
# comparisons, descending or not), built once with bind parameters ``channel``,
# ``after``, ``before`` and ``limit``: the listing runs it on every page.
_BY_ID: dict[tuple[str | None, str | None, bool], Any] = {}


def _page_by_id(after: str | None, before: str | None, desc: bool) -> Any:
    stmt = _BY_ID.get((after, before, desc))
    if stmt is not None:
        return stmt
    on = and_(
        ranges_t.c.product_id == products_t.c.id, ranges_t.c.channel_id == bindparam("channel")
    )
    stmt = (
        select(products_t, ranges_t.c.min_amount, ranges_t.c.max_amount)
        .select_from(products_t.join(ranges_t, on))
        .where(products_t.c.status == "ACTIVE")
    )
    for op, name in ((after, "after"), (before, "before")):
        if op is not None:
            bound = bindparam(name, type_=products_t.c.id.type)
            stmt = stmt.where(products_t.c.id > bound if op == ">" else products_t.c.id < bound)
    order = products_t.c.id.desc() if desc else products_t.c.id.asc()
    built = _BY_ID[(after, before, desc)] = fast.Prebuilt(
        stmt.order_by(order).limit(bindparam("limit", type_=Integer))
    )
    return built


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


async def refresh_search_text(conn: AsyncConnection, product_pk: int) -> None:
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
