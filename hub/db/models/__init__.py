from .auth import ApiKey
from .base import Base
from .catalog import (
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

metadata = Base.metadata

__all__ = [
    "ApiKey",
    "Base",
    "BundleComponent",
    "Channel",
    "Collection",
    "CollectionProduct",
    "Product",
    "ProductAttribute",
    "ProductPriceRange",
    "ProductTag",
    "Variant",
    "VariantPrice",
    "metadata",
]
