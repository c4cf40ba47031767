"""Inputs of the catalog's admin mutations and their mapping to the domain's inputs."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from hub.domain import catalog
from schema.catalog.types import AttributeType, ProductStatus
from schema.errors import field_pk


@strawberry.input
class ChannelInput:
    handle: str | None = None
    name: str | None = None
    currency_code: str | None = None
    default_country: str | None = None
    tax_inclusive: bool | None = None


@strawberry.input
class ProductOptionInput:
    name: str
    values: list[str]


@strawberry.input
class AttributeValueInput:
    key: str
    type: AttributeType
    value: str


@strawberry.input
class MediaInput:
    url: str
    alt: str | None = None


@strawberry.input
class ProductVariantInput:
    sku: str | None = None
    title: str | None = None
    barcode: str | None = None
    options: list[str] | None = strawberry.field(
        default=None, description="One value per product option, in the product's order."
    )
    weight_grams: int | None = None
    requires_shipping: bool | None = None
    position: int | None = None


@strawberry.input
class ProductInput:
    handle: str | None = None
    title: str | None = None
    description: str | None = None
    vendor: str | None = None
    product_type: str | None = None
    tax_class: str | None = strawberry.field(
        default=None,
        description="The class the tax engine taxes the product's lines at (default "
        "`standard`); with the built-in rules one they name, such as `reduced` or `zero`.",
    )
    status: ProductStatus | None = None
    tags: list[str] | None = None
    options: list[ProductOptionInput] | None = None
    media: list[MediaInput] | None = None
    seo_title: str | None = None
    seo_description: str | None = None
    attributes: list[AttributeValueInput] | None = None
    variants: list[ProductVariantInput] | None = strawberry.field(
        default=None, description="Variants to create with the product (productCreate only)."
    )


@strawberry.input
class VariantPriceInput:
    variant_id: strawberry.ID
    channel: str = strawberry.field(description="Channel handle.")
    amount: Decimal
    compare_at_amount: Decimal | None = None
    cost_amount: Decimal | None = None
    currency_code: str | None = strawberry.field(
        default=None, description="If given, must equal the channel's currency."
    )


@strawberry.input
class VariantPriceKeyInput:
    variant_id: strawberry.ID
    channel: str


@strawberry.input
class BundleComponentInput:
    variant_id: strawberry.ID
    quantity: int


@strawberry.input
class CollectionInput:
    handle: str | None = None
    title: str | None = None
    description: str | None = None
    product_ids: list[strawberry.ID] | None = None


def product_data(i: ProductInput) -> catalog.ProductInput:
    return catalog.ProductInput(
        handle=i.handle,
        title=i.title,
        description=i.description,
        vendor=i.vendor,
        product_type=i.product_type,
        tax_class=i.tax_class,
        status=i.status.value if i.status else None,
        tags=i.tags,
        options=None
        if i.options is None
        else [catalog.OptionInput(o.name, list(o.values)) for o in i.options],
        media=None if i.media is None else [catalog.MediaInput(m.url, m.alt) for m in i.media],
        seo_title=i.seo_title,
        seo_description=i.seo_description,
        attributes=None
        if i.attributes is None
        else [catalog.AttributeInput(a.key, a.type.value, a.value) for a in i.attributes],
        variants=None if i.variants is None else [variant_data(v) for v in i.variants],
    )


def variant_data(v: ProductVariantInput) -> catalog.VariantInput:
    return catalog.VariantInput(
        sku=v.sku,
        title=v.title,
        barcode=v.barcode,
        options=v.options,
        weight_grams=v.weight_grams,
        requires_shipping=v.requires_shipping,
        position=v.position,
    )


def channel_data(i: ChannelInput) -> catalog.ChannelInput:
    return catalog.ChannelInput(
        handle=i.handle,
        name=i.name,
        currency=i.currency_code,
        default_country=i.default_country,
        tax_inclusive=i.tax_inclusive,
    )


def collection_data(i: CollectionInput) -> catalog.CollectionInput:
    return catalog.CollectionInput(
        handle=i.handle,
        title=i.title,
        description=i.description,
        product_pks=None
        if i.product_ids is None
        else [field_pk(p, "Product", "productIds") for p in i.product_ids],
    )
