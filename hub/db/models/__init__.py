from .auth import ApiKey
from .base import Base
from .carts import Cart as Cart
from .carts import CartDeliveryGroup as CartDeliveryGroup
from .carts import CartLine as CartLine
from .carts import CheckoutAttempt as CheckoutAttempt
from .carts import CheckoutPayment as CheckoutPayment
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
from .giftcards import GiftCard as GiftCard  # + its ledger, GiftCardTransaction
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
from .loyalty import CustomerEvent as CustomerEvent
from .loyalty import LoyaltyAccount as LoyaltyAccount  # + its ledger, tiers
from .orders import Order as Order
from .orders import OrderLine as OrderLine
from .orders import Payment as Payment
from .orders import PaymentWebhookEvent as PaymentWebhookEvent
from .pricing import PriceList as PriceList
from .pricing import PriceListEntry as PriceListEntry
from .promotions import Promotion as Promotion  # + codes, usage, redemptions
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
