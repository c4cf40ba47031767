"""The typed ``Table`` of every model, defined once: the domain writes Core SQL
against these (``levels_t.c.on_hand``) instead of each module taking
``Model.__table__`` itself (typed as a bare ``FromClause``)."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from hub.db.models.auth import ApiKey
from hub.db.models.carts import Cart, CartDeliveryGroup, CartLine, CheckoutAttempt, CheckoutPayment
from hub.db.models.catalog import (
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
from hub.db.models.customers import Customer
from hub.db.models.giftcards import GiftCard, GiftCardTransaction
from hub.db.models.inventory import (
    IdempotencyKey,
    InventoryLevel,
    InventoryLot,
    InventoryMovement,
    InventorySerial,
    Location,
    LocationChannel,
    Reservation,
    Transfer,
)
from hub.db.models.orders import Order, OrderLine, Payment, PaymentWebhookEvent
from hub.db.models.pricing import PriceList, PriceListEntry
from hub.db.models.promotions import (
    DiscountCode,
    Promotion,
    PromotionCustomerUsage,
    PromotionRedemption,
)
from hub.db.models.shipping import ShippingRate, ShippingZone

attempts_t = cast(Table, CheckoutAttempt.__table__)
attrs_t = cast(Table, ProductAttribute.__table__)
bundle_t = cast(Table, BundleComponent.__table__)
cards_t = cast(Table, GiftCard.__table__)
carts_t = cast(Table, Cart.__table__)
channels_t = cast(Table, Channel.__table__)
checkout_payments_t = cast(Table, CheckoutPayment.__table__)
codes_t = cast(Table, DiscountCode.__table__)
coll_products_t = cast(Table, CollectionProduct.__table__)
collections_t = cast(Table, Collection.__table__)
customers_t = cast(Table, Customer.__table__)
entries_t = cast(Table, PriceListEntry.__table__)
groups_t = cast(Table, CartDeliveryGroup.__table__)
idem_t = cast(Table, IdempotencyKey.__table__)
keys_t = cast(Table, ApiKey.__table__)
levels_t = cast(Table, InventoryLevel.__table__)
lines_t = cast(Table, CartLine.__table__)
lists_t = cast(Table, PriceList.__table__)
loc_channels_t = cast(Table, LocationChannel.__table__)
locations_t = cast(Table, Location.__table__)
lots_t = cast(Table, InventoryLot.__table__)
moves_t = cast(Table, InventoryMovement.__table__)
order_lines_t = cast(Table, OrderLine.__table__)
orders_t = cast(Table, Order.__table__)
payments_t = cast(Table, Payment.__table__)
prices_t = cast(Table, VariantPrice.__table__)
products_t = cast(Table, Product.__table__)
promotions_t = cast(Table, Promotion.__table__)
ranges_t = cast(Table, ProductPriceRange.__table__)
rates_t = cast(Table, ShippingRate.__table__)
redemptions_t = cast(Table, PromotionRedemption.__table__)
reservations_t = cast(Table, Reservation.__table__)
serials_t = cast(Table, InventorySerial.__table__)
tags_t = cast(Table, ProductTag.__table__)
transfers_t = cast(Table, Transfer.__table__)
txns_t = cast(Table, GiftCardTransaction.__table__)
usage_t = cast(Table, PromotionCustomerUsage.__table__)
variants_t = cast(Table, Variant.__table__)
webhook_events_t = cast(Table, PaymentWebhookEvent.__table__)
zones_t = cast(Table, ShippingZone.__table__)
