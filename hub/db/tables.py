"""The typed ``Table`` of every model, defined once: the domain writes Core SQL
against these (``levels_t.c.on_hand``) instead of each module taking
``Model.__table__`` itself (typed as a bare ``FromClause``)."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from hub.db.models import (
    accounts,
    audit,
    auth,
    backorders,
    carts,
    catalog,
    customers,
    feed,
    giftcards,
    integrations,
    inventory,
    loyalty,
    orders,
    persisted,
    pos_sync,
    pricing,
    promotions,
    shipping,
    staff,
    tills,
    webhooks,
)

accounts_t = cast(Table, accounts.CustomerAccount.__table__)
addresses_t = cast(Table, accounts.CustomerAddress.__table__)
consents_t = cast(Table, accounts.CustomerConsent.__table__)
customer_tokens_t = cast(Table, accounts.CustomerToken.__table__)
audit_events_t = cast(Table, audit.AuditEvent.__table__)
audit_objects_t = cast(Table, audit.AuditObject.__table__)
audit_retention_t = cast(Table, audit.AuditRetention.__table__)
attempts_t = cast(Table, carts.CheckoutAttempt.__table__)
attrs_t = cast(Table, catalog.ProductAttribute.__table__)
bundle_t = cast(Table, catalog.BundleComponent.__table__)
cards_t = cast(Table, giftcards.GiftCard.__table__)
carts_t = cast(Table, carts.Cart.__table__)
channels_t = cast(Table, catalog.Channel.__table__)
checkout_payments_t = cast(Table, carts.CheckoutPayment.__table__)
codes_t = cast(Table, promotions.DiscountCode.__table__)
coll_products_t = cast(Table, catalog.CollectionProduct.__table__)
collections_t = cast(Table, catalog.Collection.__table__)
connectors_t = cast(Table, integrations.ConnectorInstance.__table__)
connector_runs_t = cast(Table, integrations.ConnectorRun.__table__)
customers_t = cast(Table, customers.Customer.__table__)
customer_events_t = cast(Table, loyalty.CustomerEvent.__table__)
entries_t = cast(Table, pricing.PriceListEntry.__table__)
feed_hashes_t = cast(Table, feed.FeedRowHash.__table__)
fo_lines_t = cast(Table, orders.FulfillmentOrderLine.__table__)
fulfillment_lines_t = cast(Table, orders.FulfillmentLine.__table__)
fulfillment_orders_t = cast(Table, orders.FulfillmentOrder.__table__)
fulfillments_t = cast(Table, orders.Fulfillment.__table__)
groups_t = cast(Table, carts.CartDeliveryGroup.__table__)
idem_t = cast(Table, inventory.IdempotencyKey.__table__)
keys_t = cast(Table, auth.ApiKey.__table__)
backorders_t = cast(Table, backorders.Backorder.__table__)
variant_policies_t = cast(Table, backorders.VariantInventoryPolicy.__table__)
levels_t = cast(Table, inventory.InventoryLevel.__table__)
lines_t = cast(Table, carts.CartLine.__table__)
lists_t = cast(Table, pricing.PriceList.__table__)
pricing_gen_t = cast(Table, pricing.PricingGeneration.__table__)
pricing_changes_t = cast(Table, pricing.PricingChange.__table__)
loyalty_accounts_t = cast(Table, loyalty.LoyaltyAccount.__table__)
loyalty_tiers_t = cast(Table, loyalty.LoyaltyTier.__table__)
loyalty_txns_t = cast(Table, loyalty.LoyaltyTransaction.__table__)
loc_channels_t = cast(Table, inventory.LocationChannel.__table__)
locations_t = cast(Table, inventory.Location.__table__)
lots_t = cast(Table, inventory.InventoryLot.__table__)
moves_t = cast(Table, inventory.InventoryMovement.__table__)
order_events_t = cast(Table, orders.OrderEvent.__table__)
order_lines_t = cast(Table, orders.OrderLine.__table__)
order_txns_t = cast(Table, orders.OrderTransaction.__table__)
orders_t = cast(Table, orders.Order.__table__)
payments_t = cast(Table, orders.Payment.__table__)
persisted_queries_t = cast(Table, persisted.PersistedQuery.__table__)
prices_t = cast(Table, catalog.VariantPrice.__table__)
products_t = cast(Table, catalog.Product.__table__)
promotions_t = cast(Table, promotions.Promotion.__table__)
ranges_t = cast(Table, catalog.ProductPriceRange.__table__)
rates_t = cast(Table, shipping.ShippingRate.__table__)
redemptions_t = cast(Table, promotions.PromotionRedemption.__table__)
refund_lines_t = cast(Table, orders.RefundLine.__table__)
refunds_t = cast(Table, orders.Refund.__table__)
reservations_t = cast(Table, inventory.Reservation.__table__)
return_lines_t = cast(Table, orders.ReturnLine.__table__)
returns_t = cast(Table, orders.Return.__table__)
serials_t = cast(Table, inventory.InventorySerial.__table__)
substitutions_t = cast(Table, orders.Substitution.__table__)
tags_t = cast(Table, catalog.ProductTag.__table__)
transfers_t = cast(Table, inventory.Transfer.__table__)
txns_t = cast(Table, giftcards.GiftCardTransaction.__table__)
usage_t = cast(Table, promotions.PromotionCustomerUsage.__table__)
variants_t = cast(Table, catalog.Variant.__table__)
deletions_t = cast(Table, catalog.CatalogDeletion.__table__)
webhook_events_t = cast(Table, orders.PaymentWebhookEvent.__table__)
zones_t = cast(Table, shipping.ShippingZone.__table__)
webhook_subscriptions_t = cast(Table, webhooks.WebhookSubscription.__table__)
webhook_deliveries_t = cast(Table, webhooks.WebhookDelivery.__table__)
webhook_cursor_t = cast(Table, webhooks.WebhookCursor.__table__)
staff_users_t = cast(Table, staff.StaffUser.__table__)
staff_roles_t = cast(Table, staff.StaffRole.__table__)
staff_user_roles_t = cast(Table, staff.StaffUserRole.__table__)
staff_tokens_t = cast(Table, staff.StaffToken.__table__)
pos_sync_t = cast(Table, pos_sync.PosSyncTransaction.__table__)
pos_sync_stock_t = cast(Table, pos_sync.PosSyncStock.__table__)
tills_t = cast(Table, tills.Till.__table__)
staff_pins_t = cast(Table, tills.StaffPin.__table__)
till_sessions_t = cast(Table, tills.TillSession.__table__)
till_cash_t = cast(Table, tills.TillCashMovement.__table__)
till_orders_t = cast(Table, tills.TillOrder.__table__)
