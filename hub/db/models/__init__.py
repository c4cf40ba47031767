from .accounts import CustomerAccount as CustomerAccount
from .accounts import CustomerAddress as CustomerAddress
from .accounts import CustomerConsent as CustomerConsent
from .accounts import CustomerToken as CustomerToken
from .audit import AuditEvent as AuditEvent  # + AuditObject, AuditRetention
from .auth import ApiKey
from .backorders import Backorder as Backorder  # + VariantInventoryPolicy
from .base import Base
from .carts import Cart as Cart
from .carts import CartDeliveryGroup as CartDeliveryGroup
from .carts import CartLine as CartLine
from .carts import CheckoutAttempt as CheckoutAttempt
from .carts import CheckoutPayment as CheckoutPayment
from .catalog import (
    BundleComponent,
    CatalogDeletion,
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
from .feed import FeedRowHash as FeedRowHash
from .giftcards import GiftCard as GiftCard  # + its ledger, GiftCardTransaction
from .integrations import ConnectorInstance as ConnectorInstance
from .integrations import ConnectorRun as ConnectorRun
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
from .orders import Fulfillment as Fulfillment
from .orders import FulfillmentLine as FulfillmentLine
from .orders import FulfillmentOrder as FulfillmentOrder
from .orders import FulfillmentOrderLine as FulfillmentOrderLine
from .orders import Order as Order
from .orders import OrderEvent as OrderEvent
from .orders import OrderLine as OrderLine
from .orders import OrderTransaction as OrderTransaction
from .orders import Payment as Payment
from .orders import PaymentWebhookEvent as PaymentWebhookEvent
from .orders import Refund as Refund
from .orders import RefundLine as RefundLine
from .orders import Return as Return
from .orders import ReturnLine as ReturnLine
from .orders import Substitution as Substitution
from .persisted import PersistedQuery as PersistedQuery
from .pos_sync import PosSyncStock as PosSyncStock
from .pos_sync import PosSyncTransaction as PosSyncTransaction
from .pricing import PriceList as PriceList
from .pricing import PriceListEntry as PriceListEntry
from .pricing import PricingChange as PricingChange
from .pricing import PricingGeneration as PricingGeneration
from .promotions import Promotion as Promotion  # + codes, usage, redemptions
from .shipping import ShippingRate as ShippingRate
from .shipping import ShippingZone as ShippingZone
from .staff import StaffRole as StaffRole
from .staff import StaffToken as StaffToken
from .staff import StaffUser as StaffUser
from .staff import StaffUserRole as StaffUserRole
from .tills import StaffPin as StaffPin
from .tills import Till as Till
from .tills import TillCashMovement as TillCashMovement
from .tills import TillOrder as TillOrder
from .tills import TillSession as TillSession
from .webhooks import WebhookCursor as WebhookCursor
from .webhooks import WebhookDelivery as WebhookDelivery
from .webhooks import WebhookSubscription as WebhookSubscription

metadata = Base.metadata

__all__ = [
    "ApiKey",
    "Base",
    "BundleComponent",
    "CatalogDeletion",
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
