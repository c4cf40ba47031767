"""Catalog: channels, products, options, variants, prices, collections, bundles."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, utcnow


class Channel(Base):
    __tablename__ = "channels"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    handle: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    currency: Mapped[str] = mapped_column(String(3))
    default_country: Mapped[str] = mapped_column(String(2))
    tax_inclusive: Mapped[bool] = mapped_column(Boolean, default=False)
    # After-sale settings: capture the payment at checkout ("AT_CHECKOUT") or when the
    # first fulfillment ships ("ON_FULFILLMENT"); how order lines are routed to
    # locations (hub.domain.orders routing strategies); the return window in days.
    capture_mode: Mapped[str] = mapped_column(
        String(16), default="AT_CHECKOUT", server_default="AT_CHECKOUT"
    )
    routing_strategy: Mapped[str] = mapped_column(
        String(24), default="DEFAULT", server_default="DEFAULT"
    )
    return_window_days: Mapped[int] = mapped_column(Integer, default=30, server_default="30")
    # Loyalty: ``loyalty_earn_points`` points per ``loyalty_earn_per`` minor units paid,
    # the fraction rounded DOWN, NEAREST or UP; a point redeems for
    # ``loyalty_point_value`` minor units. 0 earn points: no points on this channel.
    loyalty_earn_points: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    loyalty_earn_per: Mapped[int] = mapped_column(Integer, default=100, server_default="100")
    loyalty_rounding: Mapped[str] = mapped_column(String(8), default="DOWN", server_default="DOWN")
    loyalty_point_value: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("status IN ('DRAFT','ACTIVE','ARCHIVED')", name="status"),
        Index("ix_products_status_title", "status", "title", "id"),
        Index("ix_products_status_created", "status", "created_at", "id"),
        Index("ix_products_status_sold", "status", "units_sold", "id"),
        Index("ix_products_vendor", "vendor"),
        Index("ix_products_type", "product_type"),
        Index("ix_products_updated", "updated_at", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    handle: Mapped[str] = mapped_column(String(255), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    vendor: Mapped[str] = mapped_column(String(255), default="")
    product_type: Mapped[str] = mapped_column(String(255), default="")
    # The tax class carts pass to the tax engine for this product's lines.
    tax_class: Mapped[str] = mapped_column(
        String(64), default="standard", server_default="standard"
    )
    status: Mapped[str] = mapped_column(String(16), default="DRAFT")
    # Ordered option definitions: [{"name": "Size", "values": ["S", "M"]}] (max 3).
    options: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    media: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    seo_title: Mapped[str | None] = mapped_column(String(255))
    seo_description: Mapped[str | None] = mapped_column(Text)
    # Lowercased title, vendor, tags and SKUs for `query:` text search.
    search_text: Mapped[str] = mapped_column(Text, default="")
    units_sold: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ProductTag(Base):
    """One row per (product, tag): the index behind tag filters."""

    __tablename__ = "product_tags"
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(255), primary_key=True)
    __table_args__ = (Index("ix_product_tags_tag", "tag", "product_id"),)


class ProductAttribute(Base):
    """Typed key/value attributes (material, care, release date ...)."""

    __tablename__ = "product_attributes"
    __table_args__ = (
        CheckConstraint(
            "type IN ('STRING','INTEGER','DECIMAL','BOOLEAN','DATE','JSON')", name="type"
        ),
    )
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(Text)


class Variant(Base):
    __tablename__ = "variants"
    __table_args__ = (
        CheckConstraint("weight_grams IS NULL OR weight_grams >= 0", name="weight"),
        Index("ix_variants_product_position", "product_id", "position", "id"),
        Index("uq_variants_barcode_key", "barcode_key", unique=True),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    sku: Mapped[str] = mapped_column(String(128), unique=True)
    barcode: Mapped[str | None] = mapped_column(String(64))
    # The barcode's normal form (hub.domain.catalog.barcodes): a GTIN as its GTIN-14,
    # an internal code as "I:" + code; unique per installation.
    barcode_key: Mapped[str | None] = mapped_column(String(66))
    title: Mapped[str] = mapped_column(String(255), default="Default")
    position: Mapped[int] = mapped_column(Integer, default=0)
    option1: Mapped[str | None] = mapped_column(String(255))
    option2: Mapped[str | None] = mapped_column(String(255))
    option3: Mapped[str | None] = mapped_column(String(255))
    weight_grams: Mapped[int | None] = mapped_column(Integer)
    requires_shipping: Mapped[bool] = mapped_column(Boolean, default=True)
    is_bundle: Mapped[bool] = mapped_column(Boolean, default=False)
    # Untracked variants (digital goods, services) are always available.
    tracked: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CatalogDeletion(Base):
    """A deleted product or promotion (``kind`` PRODUCT or PROMOTION), kept so clients
    that sync changes since a cursor (tills: ``posSnapshot``) learn of it."""

    __tablename__ = "catalog_deletions"
    __table_args__ = (Index("ix_catalog_deletions_time", "deleted_at", "id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[int] = mapped_column(BigInteger)
    deleted_at: Mapped[datetime] = mapped_column(default=utcnow)


class BundleComponent(Base):
    """A bundle/kit variant is made of component variants with quantities."""

    __tablename__ = "bundle_components"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("bundle_variant_id <> component_variant_id", name="not_self"),
    )
    bundle_variant_id: Mapped[int] = mapped_column(
        ForeignKey("variants.id", ondelete="CASCADE"), primary_key=True
    )
    component_variant_id: Mapped[int] = mapped_column(
        ForeignKey("variants.id", ondelete="RESTRICT"), primary_key=True, index=True
    )
    quantity: Mapped[int] = mapped_column(Integer)


class VariantPrice(Base):
    """A variant's price in one channel, in the channel's currency minor units."""

    __tablename__ = "variant_prices"
    __table_args__ = (
        UniqueConstraint("channel_id", "variant_id", name="uq_variant_prices_channel_variant"),
        CheckConstraint("amount >= 0", name="amount"),
        CheckConstraint("compare_at_amount IS NULL OR compare_at_amount >= 0", name="compare_at"),
        CheckConstraint("cost_amount IS NULL OR cost_amount >= 0", name="cost"),
        Index("ix_variant_prices_variant", "variant_id"),
        Index("ix_variant_prices_channel_product", "channel_id", "product_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id", ondelete="CASCADE"))
    # Denormalised from the variant so a product's prices are one index range.
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(Integer)
    compare_at_amount: Mapped[int | None] = mapped_column(Integer)
    cost_amount: Mapped[int | None] = mapped_column(Integer)


class ProductPriceRange(Base):
    """Min/max variant price of a product per channel, kept in step by the catalog
    service whenever a price changes; it makes sort-by-price and price filters
    index scans instead of aggregates."""

    __tablename__ = "product_price_ranges"
    __table_args__ = (
        Index("ix_product_price_ranges_channel_min", "channel_id", "min_amount", "product_id"),
    )
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True
    )
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    min_amount: Mapped[int] = mapped_column(Integer)
    max_amount: Mapped[int] = mapped_column(Integer)


class Collection(Base):
    __tablename__ = "collections"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    handle: Mapped[str] = mapped_column(String(255), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CollectionProduct(Base):
    __tablename__ = "collection_products"
    collection_id: Mapped[int] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True
    )
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (Index("ix_collection_products_product", "product_id"),)
