"""The catalog on the API: types (:mod:`.types`), storefront queries (:mod:`.queries`),
admin inputs and mutations (:mod:`.inputs`, :mod:`.mutations`). Other schema modules
import the shared types from here. Staff price lists are :mod:`schema.price_lists`
(imported where ``schema.pricing`` was: the order modules register their node types
in is the order ``node``'s description lists them)."""

from schema.catalog.mutations import CatalogAdminMutation, DeletePayload, delete_payload
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
    "Product",
    "ProductStatus",
    "ProductVariant",
    "ProductVariantType",
    "delete_payload",
    "visible_product",
]
