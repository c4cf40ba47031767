"""The catalog on the API: types (:mod:`.types`), storefront queries (:mod:`.queries`),
admin inputs and mutations (:mod:`.inputs`, :mod:`.mutations`) and staff price lists
(:mod:`.price_lists`). Other schema modules import the shared types from here."""

from schema.catalog.mutations import CatalogAdminMutation, DeletePayload
from schema.catalog.price_lists import PricingMutation, PricingQuery
from schema.catalog.queries import CatalogQuery, visible_product
from schema.catalog.types import (
    AttributeType,
    ChannelType,
    Collection,
    MoneyType,
    Product,
    ProductStatus,
    ProductVariant,
    ProductVariantType,
)

__all__ = [
    "AttributeType",
    "CatalogAdminMutation",
    "CatalogQuery",
    "ChannelType",
    "Collection",
    "DeletePayload",
    "MoneyType",
    "PricingMutation",
    "PricingQuery",
    "Product",
    "ProductStatus",
    "ProductVariant",
    "ProductVariantType",
    "visible_product",
]
