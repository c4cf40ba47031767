"""Admin mutations for the catalog: channels, products, variants, prices, collections.

Each needs the admin scope, takes one `input` (or a few named arguments) and returns
a payload with the changed object and `userErrors`. A failure changes nothing.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import strawberry
from strawberry.types import Info

from hub.domain import catalog
from hub.domain.errors import DomainError
from schema.catalog import (
    AttributeType,
    ChannelType,
    Collection,
    Product,
    ProductStatus,
    ProductVariantType,
)
from schema.errors import UserError, field_pk, run_write
from schema.permissions import StaffOnly

ADMIN = [StaffOnly]


# ----------------------------------------------------------------------------- inputs


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


# ----------------------------------------------------------------------------- payloads


@strawberry.type
class ChannelPayload:
    channel: ChannelType | None
    user_errors: list[UserError]


@strawberry.type
class ProductPayload:
    product: Product | None
    user_errors: list[UserError]


@strawberry.type
class ProductVariantPayload:
    variant: ProductVariantType | None
    user_errors: list[UserError]


@strawberry.type
class VariantPricesPayload:
    variants: list[ProductVariantType]
    user_errors: list[UserError]


@strawberry.type
class CollectionPayload:
    collection: Collection | None
    user_errors: list[UserError]


@strawberry.type
class DeletePayload:
    deleted_id: strawberry.ID | None
    user_errors: list[UserError]


# ----------------------------------------------------------------------------- mapping


def _tax_classes(info: Info) -> frozenset[str] | None:
    """The tax classes the configured engine knows (the built-in rules name theirs);
    None when it can't say (an external tax service), and then any slug goes."""
    known = getattr(info.context.hub.tax, "tax_classes", None)
    return known() if callable(known) else None


def _product_data(i: ProductInput) -> catalog.ProductInput:
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
        variants=None if i.variants is None else [_variant_data(v) for v in i.variants],
    )


def _variant_data(v: ProductVariantInput) -> catalog.VariantInput:
    return catalog.VariantInput(
        sku=v.sku,
        title=v.title,
        barcode=v.barcode,
        options=v.options,
        weight_grams=v.weight_grams,
        requires_shipping=v.requires_shipping,
        position=v.position,
    )


def _channel_data(i: ChannelInput) -> catalog.ChannelInput:
    return catalog.ChannelInput(
        handle=i.handle,
        name=i.name,
        currency=i.currency_code,
        default_country=i.default_country,
        tax_inclusive=i.tax_inclusive,
    )


async def _channel_of(info: Info, pk: int | None) -> Any:
    return None if pk is None else await info.context.loaders.channel_by_id.load(pk)


async def _product_of(info: Info, pk: int | None) -> Any:
    if pk is None:
        return None
    await info.context.channel(info)
    return await info.context.loaders.product_by_id.load(pk)


async def _variant_of(info: Info, pk: int | None) -> Any:
    if pk is None:
        return None
    await info.context.channel(info)
    return await info.context.loaders.variant_by_id.load(pk)


@strawberry.type
class CatalogAdminMutation:
    # ----- channels
    @strawberry.mutation(permission_classes=ADMIN)
    async def channel_create(self, info: Info, input: ChannelInput) -> ChannelPayload:
        pk, errs = await run_write(
            info, lambda: catalog.create_channel(info.context.db, _channel_data(input))
        )
        return ChannelPayload(channel=await _channel_of(info, pk), user_errors=errs)

    @strawberry.mutation(permission_classes=ADMIN)
    async def channel_update(
        self, info: Info, id: strawberry.ID, input: ChannelInput
    ) -> ChannelPayload:
        async def go() -> int:
            return await catalog.update_channel(
                info.context.db, field_pk(id, "Channel", "id"), _channel_data(input)
            )

        pk, errs = await run_write(info, go)
        return ChannelPayload(channel=await _channel_of(info, pk), user_errors=errs)

    @strawberry.mutation(permission_classes=ADMIN)
    async def channel_delete(self, info: Info, id: strawberry.ID) -> DeletePayload:
        async def go() -> str:
            await catalog.delete_channel(info.context.db, field_pk(id, "Channel", "id"))
            return id

        done, errs = await run_write(info, go)
        return DeletePayload(deleted_id=done, user_errors=errs)

    # ----- products
    @strawberry.mutation(permission_classes=ADMIN)
    async def product_create(self, info: Info, input: ProductInput) -> ProductPayload:
        pk, errs = await run_write(
            info,
            lambda: catalog.create_product(
                info.context.db, _product_data(input), tax_classes=_tax_classes(info)
            ),
        )
        return ProductPayload(product=await _product_of(info, pk), user_errors=errs)

    @strawberry.mutation(permission_classes=ADMIN)
    async def product_update(
        self, info: Info, id: strawberry.ID, input: ProductInput
    ) -> ProductPayload:
        async def go() -> int:
            if input.variants is not None:
                raise DomainError(
                    invalid_field_domain(
                        "variants", "use productVariantCreate/Update to change variants"
                    )
                )
            return await catalog.update_product(
                info.context.db,
                field_pk(id, "Product", "id"),
                _product_data(input),
                tax_classes=_tax_classes(info),
            )

        pk, errs = await run_write(info, go)
        return ProductPayload(product=await _product_of(info, pk), user_errors=errs)

    @strawberry.mutation(permission_classes=ADMIN)
    async def product_delete(self, info: Info, id: strawberry.ID) -> DeletePayload:
        async def go() -> str:
            await catalog.delete_product(info.context.db, field_pk(id, "Product", "id"))
            return id

        done, errs = await run_write(info, go)
        return DeletePayload(deleted_id=done, user_errors=errs)

    # ----- variants
    @strawberry.mutation(permission_classes=ADMIN)
    async def product_variant_create(
        self, info: Info, product_id: strawberry.ID, input: ProductVariantInput
    ) -> ProductVariantPayload:
        async def go() -> int:
            return await catalog.create_variant(
                info.context.db, field_pk(product_id, "Product", "productId"), _variant_data(input)
            )

        pk, errs = await run_write(info, go)
        return ProductVariantPayload(variant=await _variant_of(info, pk), user_errors=errs)

    @strawberry.mutation(permission_classes=ADMIN)
    async def product_variant_update(
        self, info: Info, id: strawberry.ID, input: ProductVariantInput
    ) -> ProductVariantPayload:
        async def go() -> int:
            return await catalog.update_variant(
                info.context.db, field_pk(id, "ProductVariant", "id"), _variant_data(input)
            )

        pk, errs = await run_write(info, go)
        return ProductVariantPayload(variant=await _variant_of(info, pk), user_errors=errs)

    @strawberry.mutation(permission_classes=ADMIN)
    async def product_variant_delete(self, info: Info, id: strawberry.ID) -> DeletePayload:
        async def go() -> str:
            await catalog.delete_variant(info.context.db, field_pk(id, "ProductVariant", "id"))
            return id

        done, errs = await run_write(info, go)
        return DeletePayload(deleted_id=done, user_errors=errs)

    @strawberry.mutation(
        permission_classes=ADMIN,
        description="Make a variant a bundle/kit of other variants; an "
        "empty list makes it a plain variant again.",
    )
    async def product_variant_bundle_components_set(
        self, info: Info, variant_id: strawberry.ID, components: list[BundleComponentInput]
    ) -> ProductVariantPayload:
        async def go() -> int:
            pk = field_pk(variant_id, "ProductVariant", "variantId")
            comps = [
                (field_pk(c.variant_id, "ProductVariant", f"components.{i}.variantId"), c.quantity)
                for i, c in enumerate(components)
            ]
            await catalog.set_bundle_components(info.context.db, pk, comps)
            return pk

        pk, errs = await run_write(info, go)
        return ProductVariantPayload(variant=await _variant_of(info, pk), user_errors=errs)

    # ----- prices
    @strawberry.mutation(
        permission_classes=ADMIN,
        description="Set variant prices per channel (created or replaced).",
    )
    async def product_variant_prices_set(
        self, info: Info, prices: list[VariantPriceInput]
    ) -> VariantPricesPayload:
        async def go() -> list[int]:
            data = [
                catalog.PriceInput(
                    variant_pk=field_pk(p.variant_id, "ProductVariant", f"prices.{i}.variantId"),
                    channel_handle=p.channel,
                    amount=p.amount,
                    compare_at_amount=p.compare_at_amount,
                    cost_amount=p.cost_amount,
                    currency=p.currency_code,
                )
                for i, p in enumerate(prices)
            ]
            await catalog.set_prices(info.context.db, data)
            return list(dict.fromkeys(d.variant_pk for d in data))

        pks, errs = await run_write(info, go)
        variants = []
        if pks:
            await info.context.channel(info)
            variants = [v for v in await info.context.loaders.variant_by_id.load_many(pks) if v]
        return VariantPricesPayload(variants=variants, user_errors=errs)

    @strawberry.mutation(permission_classes=ADMIN)
    async def product_variant_prices_delete(
        self, info: Info, prices: list[VariantPriceKeyInput]
    ) -> VariantPricesPayload:
        async def go() -> list[int]:
            pairs = [
                (field_pk(p.variant_id, "ProductVariant", f"prices.{i}.variantId"), p.channel)
                for i, p in enumerate(prices)
            ]
            await catalog.delete_prices(info.context.db, pairs)
            return list(dict.fromkeys(p for p, _ in pairs))

        pks, errs = await run_write(info, go)
        variants = []
        if pks:
            await info.context.channel(info)
            variants = [v for v in await info.context.loaders.variant_by_id.load_many(pks) if v]
        return VariantPricesPayload(variants=variants, user_errors=errs)

    # ----- collections
    @strawberry.mutation(permission_classes=ADMIN)
    async def collection_create(self, info: Info, input: CollectionInput) -> CollectionPayload:
        async def go() -> int:
            return await catalog.create_collection(info.context.db, _collection_data(input))

        pk, errs = await run_write(info, go)
        return CollectionPayload(collection=await _collection_of(info, pk), user_errors=errs)

    @strawberry.mutation(permission_classes=ADMIN)
    async def collection_update(
        self, info: Info, id: strawberry.ID, input: CollectionInput
    ) -> CollectionPayload:
        async def go() -> int:
            return await catalog.update_collection(
                info.context.db, field_pk(id, "Collection", "id"), _collection_data(input)
            )

        pk, errs = await run_write(info, go)
        return CollectionPayload(collection=await _collection_of(info, pk), user_errors=errs)

    @strawberry.mutation(permission_classes=ADMIN)
    async def collection_delete(self, info: Info, id: strawberry.ID) -> DeletePayload:
        async def go() -> str:
            await catalog.delete_collection(info.context.db, field_pk(id, "Collection", "id"))
            return id

        done, errs = await run_write(info, go)
        return DeletePayload(deleted_id=done, user_errors=errs)

    @strawberry.mutation(permission_classes=ADMIN)
    async def collection_add_products(
        self, info: Info, id: strawberry.ID, product_ids: list[strawberry.ID]
    ) -> CollectionPayload:
        async def go() -> int:
            pk = field_pk(id, "Collection", "id")
            await catalog.collection_add_products(
                info.context.db, pk, [field_pk(p, "Product", "productIds") for p in product_ids]
            )
            return pk

        pk, errs = await run_write(info, go)
        return CollectionPayload(collection=await _collection_of(info, pk), user_errors=errs)

    @strawberry.mutation(permission_classes=ADMIN)
    async def collection_remove_products(
        self, info: Info, id: strawberry.ID, product_ids: list[strawberry.ID]
    ) -> CollectionPayload:
        async def go() -> int:
            pk = field_pk(id, "Collection", "id")
            await catalog.collection_remove_products(
                info.context.db, pk, [field_pk(p, "Product", "productIds") for p in product_ids]
            )
            return pk

        pk, errs = await run_write(info, go)
        return CollectionPayload(collection=await _collection_of(info, pk), user_errors=errs)


def invalid_field_domain(field: str, message: str) -> list:
    from hub.domain.errors import UserError as DUserError

    return [DUserError([field], message, "INVALID")]


def _collection_data(i: CollectionInput) -> catalog.CollectionInput:
    return catalog.CollectionInput(
        handle=i.handle,
        title=i.title,
        description=i.description,
        product_pks=None
        if i.product_ids is None
        else [field_pk(p, "Product", "productIds") for p in i.product_ids],
    )


async def _collection_of(info: Info, pk: int | None) -> Any:
    return None if pk is None else await info.context.loaders.collection_by_id.load(pk)
