"""Catalog types on the API: money, channels, products, variants, collections and
the enums they use. Leaf fields read record attributes directly; nested objects come
through dataloaders."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from hub.domain import catalog
from hub.domain.paging import PageRequest, encode_cursor
from schema.calls import after_cursor

if TYPE_CHECKING:
    from schema.backorders import VariantInventoryPolicyType
    from schema.inventory import GeoPointInput, InventoryLevelType, StoreAvailability
from schema.backorders import variant_policy
from schema.inventory.queries import inventory_levels as variant_inventory_levels
from schema.inventory.queries import store_availability as variant_store_availability
from schema.permissions import needs
from schema.relay import (
    Connection,
    ConnectionValue,
    Node,
    connection_from_list,
    forward_paged,
    is_record,
    paged,
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

    is_type_of = is_record(catalog.ChannelRecord)


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
    def variant(
        self, info: Info
    ) -> Annotated[ProductVariant, strawberry.lazy("schema.catalog.types")]:
        # mypy is told to ignore the next line: at run time self is the record, not the type
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
    available_for_sale: bool = strawberry.field(
        description="True when the variant can be bought in the channel: priced there, "
        "its product active, and untracked, or in stock (`quantityAvailable` > 0), or "
        "selling beyond stock (`inventoryPolicy` BACKORDER or PREORDER) while its "
        "backorder cap, if any, has room: such a variant is available with no stock."
    )
    cost: MoneyType | None = strawberry.field(
        permission_classes=needs("catalog:read"), description="Unit cost (staff only)."
    )
    tracked: bool = strawberry.field(description="False for goods with no stock to count.")
    quantity_available: int | None = strawberry.field(
        description="Physical units sellable online in the channel (null when not "
        "tracked). Units that may be sold beyond stock (backorders, pre-orders) are not "
        "counted: a pre-order variant with no stock reads 0 and `availableForSale` true."
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
        # mypy is told to ignore the next line: a record stands in for the type it resolves to
        return await variant_store_availability(self, info, first, near, pickup_enabled)  # type: ignore[return-value]

    @strawberry.field(
        description="Whether the variant sells beyond stock (backorder or pre-order), "
        "with the date stock is expected."
    )
    async def inventory_policy(
        self, info: Info
    ) -> Annotated[VariantInventoryPolicyType, strawberry.lazy("schema.backorders")]:
        # mypy is told to ignore the next line: at run time self is the record, not the type
        return await variant_policy(info, self.pk)  # type: ignore[attr-defined]

    @strawberry.field(description="Every state of stock per location (admin/connector).")
    async def inventory_levels(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Annotated[InventoryLevelType, strawberry.lazy("schema.inventory")]]:
        # mypy is told to ignore the next line: a record stands in for the type it resolves to
        return await variant_inventory_levels(self, info, first, after)  # type: ignore[return-value]

    is_type_of = is_record(catalog.VariantRecord)

    @strawberry.field
    def product(self, info: Info) -> Annotated[Product, strawberry.lazy("schema.catalog.types")]:
        # mypy is told to ignore the next line: at run time self is the record, not the type
        return info.context.loaders.product_by_id.get(self.product_pk)  # type: ignore[attr-defined]

    @strawberry.field(description="What the bundle is made of (empty unless `isBundle`).")
    def components(self, info: Info) -> list[BundleComponent]:
        if not self.is_bundle:
            return []
        # mypy is told to ignore the next line: at run time self is the record, not the type
        return info.context.loaders.bundle_components_by_variant.get(self.pk)  # type: ignore[attr-defined]


ProductVariant = ProductVariantType


@strawberry.type(name="Product")
class Product(Node):
    id: strawberry.ID
    handle: str
    title: str
    description: str
    vendor: str
    product_type: str
    tax_class: str = strawberry.field(
        permission_classes=needs("catalog:read"),
        description="The class its lines are taxed at, e.g. `standard`, `reduced` (staff only).",
    )
    status: ProductStatus = strawberry.field(resolver=lambda root: ProductStatus(root.status))
    tags: list[str]
    options: list[ProductOption]
    media: list[Media]
    seo: Seo
    created_at: datetime
    updated_at: datetime

    is_type_of = is_record(catalog.ProductRecord)

    @strawberry.field(
        description="Lowest and highest variant price in the channel; null "
        "when the product has no price there."
    )
    def price_range(self) -> PriceRangeType | None:
        # mypy is told to ignore the next line: at run time self is the record, not the type
        mn = self.min_price  # type: ignore[attr-defined]
        # mypy is told to ignore the next line: self is the record; records stand in for types
        return None if mn is None else _PriceRange(mn, self.max_price)  # type: ignore[attr-defined,return-value]

    @strawberry.field(
        description="True when at least one variant can be bought in the channel (see "
        "`ProductVariant.availableForSale`: backorder and pre-order variants with room "
        "under their cap count, with no stock)."
    )
    def available_for_sale(self, info: Info) -> bool:
        got = info.context.loaders.variants_by_product.get(self)
        if isinstance(got, list):
            return any(v.available_for_sale for v in got)

        async def later() -> bool:
            return any(v.available_for_sale for v in await got)

        # mypy is told to ignore the next line: a record stands in for the type it resolves to
        return later()  # type: ignore[return-value]

    @strawberry.field
    @paged
    def variants(
        self,
        info: Info,
        page: PageRequest,
    ) -> Connection[ProductVariantType]:
        got = info.context.loaders.variants_by_product.get(self)
        if isinstance(got, list):
            # mypy is told to ignore the next line: a record stands in for the type it resolves to
            return connection_from_list(got, page, "V", _pk)  # type: ignore[return-value]

        async def later() -> ConnectionValue:
            return connection_from_list(await got, page, "V", _pk)

        # mypy is told to ignore the next line: a record stands in for the type it resolves to
        return later()  # type: ignore[return-value]

    @strawberry.field
    async def attributes(self, info: Info) -> list[AttributeType_]:
        # mypy is told to ignore the next line: at run time self is the record, not the type
        return await info.context.loaders.attributes_by_product.load(self.pk)  # type: ignore[attr-defined]

    @strawberry.field(description="Collections the product is in.")
    @forward_paged
    async def collections(
        self, info: Info, page: PageRequest
    ) -> Connection[Annotated[Collection, strawberry.lazy("schema.catalog.types")]]:
        # mypy is told to ignore the next line: at run time self is the record, not the type
        items = await info.context.loaders.collections_by_product.load(self.pk)  # type: ignore[attr-defined]
        # mypy is told to ignore the next line: a record stands in for the type it resolves to
        return connection_from_list(items, page, "PC", _pk)  # type: ignore[return-value]


def _pk(obj: Any) -> int:
    return obj.pk


@strawberry.type(name="Collection")
class Collection(Node):
    id: strawberry.ID
    handle: str
    title: str
    description: str

    is_type_of = is_record(catalog.CollectionRecord)

    @strawberry.field(description="The collection's active products in their manual order.")
    @forward_paged
    async def products(self, info: Info, page: PageRequest) -> Connection[Product]:
        ctx = info.context
        size = page.size(default=20)
        after_key = after_cursor(page.after, "CP", "int32")
        loader = ctx.loaders.collection_products(size, after_key)
        # mypy is told to ignore the next line: at run time self is the record, not the type
        recs, keys, has_next = await loader.load(self.pk)  # type: ignore[attr-defined]
        cursors = [encode_cursor("CP", pos, pk) for pos, pk in keys]
        # mypy is told to ignore the next line: a record stands in for the type it resolves to
        return ConnectionValue(recs, cursors, has_next, page.after is not None)  # type: ignore[return-value]
