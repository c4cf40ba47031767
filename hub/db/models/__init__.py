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
from .customers import Customer as Customer
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
from .pricing import PriceList as PriceList
from .pricing import PriceListEntry as PriceListEntry
from .shipping import ShippingRate as ShippingRate
from .shipping import ShippingZone as ShippingZone

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
