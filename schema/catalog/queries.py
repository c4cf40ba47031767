"""Catalog queries on the storefront: products (search, filters, sorts, pages),
collections and channels, and the ``node(id:)`` fetchers of catalog objects.

Resolvers parse arguments, call one domain function (usually through a dataloader)
and return its records.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import strawberry
from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode
from strawberry.types import Info

from hub.domain import catalog
from hub.domain.paging import PageRequest
from schema.calls import keyset_page
from schema.catalog.types import (
    ChannelType,
    Collection,
    Product,
    ProductSortKeys,
    ProductStatus,
    ProductVariantType,
)
from schema.errors import ApiError
from schema.relay import (
    Connection,
    decode_id,
    paged,
    register_node,
)

_SELECTS_CACHE: dict[tuple[int, frozenset[str]], tuple[FieldNode, bool]] = {}


def _selects(info: Info, names: frozenset[str]) -> bool:
    """Whether the current field's selection (fragments included) asks for any of
    ``names`` on the objects it returns, looking through edges/node/nodes. Cached per
    parsed document node (the parser cache hands back the same nodes)."""
    raw = info._raw_info  # strawberry's Info wraps graphql-core's
    node = raw.field_nodes[0]
    key = (id(node), names)
    hit = _SELECTS_CACHE.get(key)
    if hit is not None and hit[0] is node:
        return hit[1]
    frags = raw.fragments

    def fields(sel_set: Any, depth: int) -> bool:
        if sel_set is None or depth > 3:
            return False
        for sel in sel_set.selections:
            if isinstance(sel, FieldNode):
                if sel.name.value in names:
                    return True
                if sel.name.value in ("edges", "node", "nodes") and fields(
                    sel.selection_set, depth + 1
                ):
                    return True
            elif isinstance(sel, InlineFragmentNode):
                if fields(sel.selection_set, depth):
                    return True
            elif isinstance(sel, FragmentSpreadNode):
                frag = frags.get(sel.name.value)
                if frag is not None and fields(frag.selection_set, depth):
                    return True
        return False

    result = fields(node.selection_set, 0)
    if len(_SELECTS_CACHE) > 4096:
        _SELECTS_CACHE.clear()
    _SELECTS_CACHE[key] = (node, result)
    return result


_NEEDS_VARIANTS = frozenset({"variants", "availableForSale"})


@strawberry.input(description="Inclusive bounds on any variant's price in the channel.")
class PriceFilterInput:
    min: Decimal | None = None
    max: Decimal | None = None


@strawberry.input
class ProductFilterInput:
    collection_id: strawberry.ID | None = None
    collection: str | None = strawberry.field(default=None, description="A collection handle.")
    tag: str | None = None
    vendor: str | None = None
    product_type: str | None = None
    price: PriceFilterInput | None = None
    available: bool | None = strawberry.field(
        default=None,
        description="Only products that can (true) or can't (false) be bought: the rule "
        "of `Product.availableForSale` (backorder and pre-order variants with room "
        "under their cap count as available with no stock).",
    )
    status: ProductStatus | None = strawberry.field(
        default=None, description="Staff only: products in this status (default: all)."
    )


async def _filters(
    info: Info, query: str | None, f: ProductFilterInput | None
) -> catalog.ProductFilters:
    ctx = info.context
    if f is None:
        return catalog.ProductFilters(query=query)
    coll_pk = decode_id(f.collection_id, "Collection") if f.collection_id else None
    if f.collection is not None:
        coll = await catalog.collection_by_handle(ctx.reader, f.collection)
        coll_pk = coll.pk if coll else -1
    if f.status is not None and not ctx.staff:
        raise ApiError("filtering by status needs the admin scope", "ACCESS_DENIED")
    if (
        f.price
        and f.price.min is not None
        and f.price.max is not None
        and f.price.min > f.price.max
    ):
        raise ApiError("price.min is greater than price.max", "INVALID_FILTER")
    return catalog.ProductFilters(
        query=query,
        collection_pk=coll_pk,
        tag=f.tag,
        vendor=f.vendor,
        product_type=f.product_type,
        price_min=f.price.min if f.price else None,
        price_max=f.price.max if f.price else None,
        available=f.available,
        status=f.status.value if f.status else None,
    )


def visible_product(ctx: Any, rec: catalog.ProductRecord | None) -> catalog.ProductRecord | None:
    """Storefronts see a product only when it is active and priced in their channel."""
    if rec is None or ctx.staff:
        return rec
    return rec if rec.is_active and rec.min_price is not None else None


async def _one_of_id_or_handle(info: Info, id: str | None, handle: str | None) -> None:
    """A look-up takes exactly one of ``id`` and ``handle``; then the channel is known."""
    if (id is None) == (handle is None):
        raise ApiError("pass exactly one of `id` or `handle`", "INVALID_ARGUMENT")
    await info.context.channel()


@strawberry.type
class CatalogQuery:
    @strawberry.field(description="Products in the request's channel, a page at a time.")
    @paged
    async def products(
        self,
        info: Info,
        page: PageRequest,
        query: Annotated[
            str | None,
            strawberry.argument(
                description="Words matched in title, SKU, vendor and tags; or `tag:x`, "
                "`vendor:x`, `product_type:x`, `sku:x`, `title:x`, `barcode:x` (a word "
                "that is a barcode, in any spelling, finds its product too)."
            ),
        ] = None,
        filter: ProductFilterInput | None = None,
        sort_key: ProductSortKeys = ProductSortKeys.ID,
        reverse: bool = False,
    ) -> Connection[Product]:
        ctx = info.context
        if page.first is None and page.last is None:
            raise ApiError("pass `first` or `last` to page through products", "INVALID_PAGE")
        filters = await _filters(info, query, filter)
        channel = await ctx.channel()
        found = await keyset_page(
            catalog.list_products(
                ctx.reader,
                channel,
                page,
                filters=filters,
                sort_key=sort_key.value,
                reverse=reverse,
                staff=ctx.staff,
            )
        )
        if found.nodes and _selects(info, _NEEDS_VARIANTS):
            # One statement for every product's variants, before the executor asks.
            await ctx.loaders.variants_by_product.load_many(found.nodes)
        return found  # type: ignore[return-value]  # a record stands in for the type it resolves to

    @strawberry.field(description="One product by `id` or `handle`.")
    async def product(
        self, info: Info, id: strawberry.ID | None = None, handle: str | None = None
    ) -> Product | None:
        ctx = info.context
        await _one_of_id_or_handle(info, id, handle)
        if id is not None:
            rec = await ctx.loaders.product_by_id.load(decode_id(id, "Product"))
        else:
            rec = await ctx.loaders.product_by_handle.load(handle)
        # mypy is told to ignore the next line: a record stands in for the type it resolves to
        return visible_product(ctx, rec)  # type: ignore[return-value]

    @strawberry.field(
        description="The variant with this barcode, in any spelling: UPC-A, EAN-13 or "
        "GTIN-14 (spaces and dashes ignored), or an internal barcode as printed. "
        "Storefronts see only what their channel sells; staff see any variant."
    )
    async def product_variant_by_barcode(self, info: Info, code: str) -> ProductVariantType | None:
        await info.context.channel()
        pk = await catalog.variant_pk_by_barcode(info.context.reader, code)
        if pk is None:
            return None
        return (await _variants(info, [pk])).get(pk)

    @strawberry.field
    @paged
    async def collections(
        self,
        info: Info,
        page: PageRequest,
    ) -> Connection[Collection]:
        ctx = info.context
        # mypy is told to ignore the next line: a record stands in for the type it resolves to
        return await keyset_page(catalog.list_collections(ctx.reader, page))  # type: ignore[return-value]

    @strawberry.field
    async def collection(
        self, info: Info, id: strawberry.ID | None = None, handle: str | None = None
    ) -> Collection | None:
        ctx = info.context
        await _one_of_id_or_handle(info, id, handle)
        if id is not None:
            return await ctx.loaders.collection_by_id.load(decode_id(id, "Collection"))
        assert handle is not None  # exactly one of id and handle, checked above
        # mypy is told to ignore the next line: a record stands in for the type it resolves to
        return await catalog.collection_by_handle(ctx.reader, handle)  # type: ignore[return-value]

    @strawberry.field(description="All sales channels.")
    async def channels(self, info: Info) -> list[ChannelType]:
        # mypy is told to ignore the next line: a record stands in for the type it resolves to
        return await catalog.list_channels(info.context.reader)  # type: ignore[return-value]

    @strawberry.field(description="The channel this request runs in.")
    async def current_channel(self, info: Info) -> ChannelType:
        return await info.context.channel()


# --------------------------------------------------------------------------- node(id:)
# Storefront visibility as in product(id:): an inactive or unpriced product (and its
# variants) is null for storefronts.


async def _products(info: Info, pks: list[int]) -> dict[int, Any]:
    ctx = info.context
    await ctx.channel()
    recs = await ctx.loaders.product_by_id.load_many(pks)
    return {
        pk: rec for pk, rec in zip(pks, recs, strict=True) if visible_product(ctx, rec) is not None
    }


async def _variants(info: Info, pks: list[int]) -> dict[int, Any]:
    ctx = info.context
    await ctx.channel()
    found = {
        pk: v
        for pk, v in zip(pks, await ctx.loaders.variant_by_id.load_many(pks), strict=True)
        if v
    }
    if ctx.staff or not found:
        return found
    products = await _products(info, list({v.product_pk for v in found.values()}))
    return {pk: v for pk, v in found.items() if v.product_pk in products}


def _by_loader(name: str) -> Any:
    async def fetch(info: Info, pks: list[int]) -> dict[int, Any]:
        ctx = info.context
        await ctx.channel()
        got = await getattr(ctx.loaders, name).load_many(pks)
        return {pk: rec for pk, rec in zip(pks, got, strict=True) if rec is not None}

    return fetch


register_node("Product", _products)
register_node("ProductVariant", _variants)
register_node("Collection", _by_loader("collection_by_id"))
register_node("Channel", _by_loader("channel_by_id"))
register_node("Location", _by_loader("location_by_id"))
