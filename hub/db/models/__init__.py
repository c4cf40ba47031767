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
from .inventory import (
    IdempotencyKey,
    InventoryLevel,
    InventoryLot,
    InventoryMovement,
    InventorySerial,
    Location,
    LocationChannel,
    OutboxEvent,
    Reservation,
    Transfer,
)

metadata = Base.metadata

__all__ = [
    "ApiKey",
    "Base",
    "BundleComponent",
    "Channel",
    "Collection",
    "CollectionProduct",
    "IdempotencyKey",
    "InventoryLevel",
    "InventoryLot",
    "InventoryMovement",
    "InventorySerial",
    "Location",
    "LocationChannel",
    "OutboxEvent",
    "Product",
    "ProductAttribute",
    "ProductPriceRange",
    "ProductTag",
    "Reservation",
    "Transfer",
    "Variant",
    "VariantPrice",
    "metadata",
]
