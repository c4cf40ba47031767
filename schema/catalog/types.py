"""Catalog on the storefront: channels, products, variants, collections.

Resolvers parse arguments, call one domain function (usually through a dataloader)
and return its records; leaf fields read record attributes directly.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode
from strawberry.types import Info

from hub.domain import catalog
from hub.domain.paging import InvalidCursor, decode_cursor, encode_cursor
from schema.errors import ApiError

if TYPE_CHECKING:
    from schema.inventory import GeoPointInput, InventoryLevelType, StoreAvailability
from schema.permissions import StaffOnly
from schema.relay import (
    Connection,
    ConnectionValue,
    Node,
    connection_from_list,
    decode_id,
    page_request,
    register_node,
)


@strawberry.type(
    name="Money",
    description="An amount in a currency; `amount` is a decimal "
    "string rounded to the currency's minor unit.",
)
class MoneyType:
    amount: Decimal
    currency_code: str


@strawberry.type(name="MoneyRange")
class PriceRangeType:
    min_variant_price: MoneyType
    max_variant_price: MoneyType


class _PriceRange:
    __slots__ = ("max_variant_price", "min_variant_price")

    def __init__(self, mn: Any, mx: Any) -> None:
        self.min_variant_price = mn
        self.max_variant_price = mx


@strawberry.enum
class ProductStatus(Enum):
    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"
    ARCHIVED = "ARCHIVED"


@strawberry.enum
class ProductSortKeys(Enum):
    ID = "ID"
    TITLE = "TITLE"
    PRICE = "PRICE"
    CREATED_AT = "CREATED_AT"
    BEST_SELLING = "BEST_SELLING"


@strawberry.enum
class AttributeType(Enum):
    STRING = "STRING"
    INTEGER = "INTEGER"
    DECIMAL = "DECIMAL"
    BOOLEAN = "BOOLEAN"
    DATE = "DATE"
    JSON = "JSON"


@strawberry.type(name="Channel", description="A sales channel: its currency sets prices.")
class ChannelType(Node):
    id: strawberry.ID
    handle: str
    name: str
    currency_code: str = strawberry.field(
        resolver=lambda root: root.currency, description="ISO 4217 code of its prices."
    )
    default_country: str
    tax_inclusive: bool = strawberry.field(description="Prices include tax (VAT/GST).")

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, catalog.ChannelRecord)


@strawberry.type
class SelectedOption:
    name: str
    value: str


@strawberry.type
class ProductOption:
    name: str
    values: list[str]


@strawberry.type
class Media:
    url: str
    alt: str | None


@strawberry.type
class Seo:
    title: str | None
    description: str | None


@strawberry.type(name="Attribute", description="A typed key/value of a product.")
class AttributeType_:
    key: str
    type: AttributeType = strawberry.field(resolver=lambda root: AttributeType(root.type))
    value: str


@strawberry.type
class BundleComponent:
    quantity: int

    @strawberry.field
    def variant(self, info: Info) -> Annotated[ProductVariant, strawberry.lazy("schema.catalog")]:
        return info.context.loaders.variant_by_id.get(self.component_pk)  # type: ignore[attr-defined]


@strawberry.type(name="ProductVariant")
class ProductVariantType(Node):
    id: strawberry.ID
    sku: str
    barcode: str | None
    title: str
    position: int
    selected_options: list[SelectedOption]
    weight_grams: int | None
    requires_shipping: bool
    is_bundle: bool
    price: MoneyType | None = strawberry.field(
        description="Price in the request's channel; null where the variant isn't sold there."
    )
    compare_at_price: MoneyType | None
    available_for_sale: bool
    cost: MoneyType | None = strawberry.field(
        permission_classes=[StaffOnly], description="Unit cost (staff only)."
    )
    tracked: bool = strawberry.field(description="False for goods with no stock to count.")
    quantity_available: int | None = strawberry.field(
        description="Units sellable online in the channel (null when not tracked)."
    )

    @strawberry.field(
        description="Stock per location selling to the channel, nearest first when `near` is given."
    )
    async def store_availability(
        self,
        info: Info,
        first: int | None = None,
        near: Annotated[GeoPointInput, strawberry.lazy("schema.inventory")] | None = None,
        pickup_enabled: bool | None = None,
    ) -> Connection[Annotated[StoreAvailability, strawberry.lazy("schema.inventory")]]:
        from schema.inventory import store_availability

        return await store_availability(self, info, first, near, pickup_enabled)  # type: ignore[return-value]

    @strawberry.field(description="Every state of stock per location (admin/connector).")
    async def inventory_levels(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Annotated[InventoryLevelType, strawberry.lazy("schema.inventory")]]:
        from schema.inventory import inventory_levels

        return await inventory_levels(self, info, first, after)  # type: ignore[return-value]

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, catalog.VariantRecord)

    @strawberry.field
    def product(self, info: Info) -> Annotated[Product, strawberry.lazy("schema.catalog")]:
        return info.context.loaders.product_by_id.get(self.product_pk)  # type: ignore[attr-defined]

    @strawberry.field(description="What the bundle is made of (empty unless `isBundle`).")
    def components(self, info: Info) -> list[BundleComponent]:
        if not self.is_bundle:  # type: ignore[attr-defined]
            return []
        return info.context.loaders.bundle_components_by_variant.get(self.pk)  # type: ignore[attr-defined]


ProductVariant = ProductVariantType


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


@strawberry.type(name="Product")
class Product(Node):
    id: strawberry.ID
    handle: str
    title: str
    description: str
    vendor: str
    product_type: str
    tax_class: str = strawberry.field(
        permission_classes=[StaffOnly],
        description="The class its lines are taxed at, e.g. `standard`, `reduced` (staff only).",
    )
    status: ProductStatus = strawberry.field(resolver=lambda root: ProductStatus(root.status))
    tags: list[str]
    options: list[ProductOption]
    media: list[Media]
    seo: Seo
    created_at: datetime
    updated_at: datetime

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, catalog.ProductRecord)

    @strawberry.field(
        description="Lowest and highest variant price in the channel; null "
        "when the product has no price there."
    )
    def price_range(self) -> PriceRangeType | None:
        mn = self.min_price  # type: ignore[attr-defined]
        return None if mn is None else _PriceRange(mn, self.max_price)  # type: ignore[attr-defined,return-value]

    @strawberry.field(description="True when at least one variant can be bought in the channel.")
    def available_for_sale(self, info: Info) -> bool:
        got = info.context.loaders.variants_by_product.get(self)
        if isinstance(got, list):
            return any(v.available_for_sale for v in got)

        async def later() -> bool:
            return any(v.available_for_sale for v in await got)

        return later()  # type: ignore[return-value]

    @strawberry.field
    def variants(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[ProductVariantType]:
        page = page_request(first, after, last, before, info.context.settings.max_page_size)
        got = info.context.loaders.variants_by_product.get(self)
        if isinstance(got, list):
            return connection_from_list(got, page, "V", _pk)  # type: ignore[return-value]

        async def later() -> ConnectionValue:
            return connection_from_list(await got, page, "V", _pk)

        return later()  # type: ignore[return-value]

    @strawberry.field
    async def attributes(self, info: Info) -> list[AttributeType_]:
        return await info.context.loaders.attributes_by_product.load(self.pk)  # type: ignore[attr-defined]

    @strawberry.field(description="Collections the product is in.")
    async def collections(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Annotated[Collection, strawberry.lazy("schema.catalog")]]:
        page = page_request(first, after, None, None, info.context.settings.max_page_size)
        items = await info.context.loaders.collections_by_product.load(self.pk)  # type: ignore[attr-defined]
        return connection_from_list(items, page, "PC", _pk)  # type: ignore[return-value]


def _pk(obj: Any) -> int:
    return obj.pk


@strawberry.type(name="Collection")
class Collection(Node):
    id: strawberry.ID
    handle: str
    title: str
    description: str

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, catalog.CollectionRecord)

    @strawberry.field(description="The collection's active products in their manual order.")
    async def products(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Product]:
        ctx = info.context
        page = page_request(first, after, None, None, ctx.settings.max_page_size)
        size = page.size(default=20)
        after_key = None
        if after is not None:
            try:
                pos, pk = decode_cursor(after, "CP", "int32")
            except InvalidCursor as exc:
                raise ApiError(str(exc), "INVALID_CURSOR") from None
            if not isinstance(pos, int):
                raise ApiError("invalid cursor", "INVALID_CURSOR")
            after_key = (pos, pk)
        loader = ctx.loaders.collection_products(size, after_key)
        recs, keys, has_next = await loader.load(self.pk)  # type: ignore[attr-defined]
        cursors = [encode_cursor("CP", pos, pk) for pos, pk in keys]
        return ConnectionValue(recs, cursors, has_next, after is not None)  # type: ignore[return-value]


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
        default=None, description="Only products that can (true) or can't (false) be bought."
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


def _visible(ctx: Any, rec: catalog.ProductRecord | None) -> catalog.ProductRecord | None:
    """Storefronts see a product only when it is active and priced in their channel."""
    if rec is None or ctx.staff:
        return rec
    return rec if rec.is_active and rec.min_price is not None else None


@strawberry.type
class CatalogQuery:
    @strawberry.field(description="Products in the request's channel, a page at a time.")
    async def products(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        query: Annotated[
            str | None,
            strawberry.argument(
                description="Words matched in title, SKU, vendor and tags; or `tag:x`, "
                "`vendor:x`, `product_type:x`, `sku:x`, `title:x`."
            ),
        ] = None,
        filter: ProductFilterInput | None = None,
        sort_key: ProductSortKeys = ProductSortKeys.ID,
        reverse: bool = False,
    ) -> Connection[Product]:
        ctx = info.context
        if first is None and last is None:
            raise ApiError("pass `first` or `last` to page through products", "INVALID_PAGE")
        page = page_request(first, after, last, before, ctx.settings.max_page_size)
        filters = await _filters(info, query, filter)
        channel = await ctx.channel(info)
        try:
            recs, cursors, has_next, has_prev = await catalog.list_products(
                ctx.reader,
                channel,
                page,
                filters=filters,
                sort_key=sort_key.value,
                reverse=reverse,
                staff=ctx.staff,
            )
        except InvalidCursor as exc:
            raise ApiError(str(exc), "INVALID_CURSOR") from None
        if recs and _selects(info, _NEEDS_VARIANTS):
            # One statement for every product's variants, before the executor asks.
            await ctx.loaders.variants_by_product.load_many(recs)
        return ConnectionValue(recs, cursors, has_next, has_prev)  # type: ignore[return-value]

    @strawberry.field(description="One product by `id` or `handle`.")
    async def product(
        self, info: Info, id: strawberry.ID | None = None, handle: str | None = None
    ) -> Product | None:
        ctx = info.context
        if (id is None) == (handle is None):
            raise ApiError("pass exactly one of `id` or `handle`", "INVALID_ARGUMENT")
        await ctx.channel(info)
        if id is not None:
            rec = await ctx.loaders.product_by_id.load(decode_id(id, "Product"))
        else:
            rec = await ctx.loaders.product_by_handle.load(handle)
        return _visible(ctx, rec)  # type: ignore[return-value]

    @strawberry.field
    async def collections(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Collection]:
        ctx = info.context
        page = page_request(first, after, last, before, ctx.settings.max_page_size)
        try:
            recs, cursors, has_next, has_prev = await catalog.list_collections(ctx.reader, page)
        except InvalidCursor as exc:
            raise ApiError(str(exc), "INVALID_CURSOR") from None
        return ConnectionValue(recs, cursors, has_next, has_prev)  # type: ignore[return-value]

    @strawberry.field
    async def collection(
        self, info: Info, id: strawberry.ID | None = None, handle: str | None = None
    ) -> Collection | None:
        ctx = info.context
        if (id is None) == (handle is None):
            raise ApiError("pass exactly one of `id` or `handle`", "INVALID_ARGUMENT")
        await ctx.channel(info)
        if id is not None:
            return await ctx.loaders.collection_by_id.load(decode_id(id, "Collection"))
        return await catalog.collection_by_handle(ctx.reader, handle)  # type: ignore[return-value]

    @strawberry.field(description="All sales channels.")
    async def channels(self, info: Info) -> list[ChannelType]:
        return await catalog.list_channels(info.context.reader)  # type: ignore[return-value]

    @strawberry.field(description="The channel this request runs in.")
    async def current_channel(self, info: Info) -> ChannelType:
        return await info.context.channel(info)


# --------------------------------------------------------------------------- node(id:)
# Storefront visibility as in product(id:): an inactive or unpriced product (and its
# variants) is null for storefronts.


async def _products(info: Info, pks: list[int]) -> dict[int, Any]:
    ctx = info.context
    await ctx.channel(info)
    recs = await ctx.loaders.product_by_id.load_many(pks)
    return {pk: rec for pk, rec in zip(pks, recs, strict=True) if _visible(ctx, rec) is not None}


async def _variants(info: Info, pks: list[int]) -> dict[int, Any]:
    ctx = info.context
    await ctx.channel(info)
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
        await ctx.channel(info)
        got = await getattr(ctx.loaders, name).load_many(pks)
        return {pk: rec for pk, rec in zip(pks, got, strict=True) if rec is not None}

    return fetch


register_node("Product", _products)
register_node("ProductVariant", _variants)
register_node("Collection", _by_loader("collection_by_id"))
register_node("Channel", _by_loader("channel_by_id"))
register_node("Location", _by_loader("location_by_id"))
