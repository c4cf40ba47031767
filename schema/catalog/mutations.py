"""Admin mutations for the catalog: channels, products, variants, prices, collections.

Each needs the admin scope, takes one `input` (or a few named arguments) and returns
a payload with the changed object and `userErrors`. A failure changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import strawberry
from strawberry.types import Info

from hub.domain import catalog
from schema.catalog.inputs import (
    BundleComponentInput,
    ChannelInput,
    CollectionInput,
    ProductInput,
    ProductVariantInput,
    VariantPriceInput,
    VariantPriceKeyInput,
    channel_data,
    collection_data,
    product_data,
    variant_data,
)
from schema.catalog.types import ChannelType, Collection, Product, ProductVariantType
from schema.errors import CURRENCY_CODE, UserError, field_pk, run_write
from schema.permissions import needs, require_channel

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


# ----------------------------------------------------------------------------- helpers


async def _channels_reached(info: Info, handles: list[str]) -> None:
    """ACCESS_DENIED (nothing written) unless a channel-restricted role's catalog:write
    reaches every named channel (an unknown handle is left to the write to report)."""
    if info.context.principal.channels("catalog:write") is None:
        return
    for handle in dict.fromkeys(handles):
        found = await catalog.channel_by_handle(info.context.reader, handle)
        if found is not None:
            require_channel(info, found.pk, "catalog:write")


def _tax_classes(info: Info) -> frozenset[str] | None:
    """The tax classes the configured engine knows (the built-in rules name theirs);
    None when it can't say (an external tax service), and then any slug goes."""
    known = getattr(info.context.hub.tax, "tax_classes", None)
    return known() if callable(known) else None


async def _channel_of(info: Info, pk: int | None) -> Any:
    return None if pk is None else await info.context.loaders.channel_by_id.load(pk)


async def _product_of(info: Info, pk: int | None) -> Any:
    if pk is None:
        return None
    await info.context.channel()
    return await info.context.loaders.product_by_id.load(pk)


async def _variant_of(info: Info, pk: int | None) -> Any:
    if pk is None:
        return None
    await info.context.channel()
    return await info.context.loaders.variant_by_id.load(pk)


async def _collection_of(info: Info, pk: int | None) -> Any:
    return None if pk is None else await info.context.loaders.collection_by_id.load(pk)


# Catalog writes run with renames=CURRENCY_CODE (PriceInput.currency is the input's
# currencyCode). Channel writes keep their paths as they are (depth=0): see
# :class:`hub.domain.catalog.ChannelInput`.


async def delete_payload(
    info: Info,
    id: strawberry.ID,
    type_name: str,
    delete: Callable[[Any, int], Awaitable[None]],
    *,
    renames: Mapping[str, str] | None = CURRENCY_CODE,
    depth: int | None = None,
) -> DeletePayload:
    """Delete the ``type_name`` object ``id`` names by ``delete`` (run with the calling
    module's ``renames`` and ``depth`` for its userErrors' paths); its id back, or the
    userErrors."""

    async def go() -> strawberry.ID:
        await delete(info.context.db, field_pk(id, type_name, "id"))
        return id

    done, errs = await run_write(info, go, renames=renames, depth=depth)
    return DeletePayload(deleted_id=done, user_errors=errs)


async def _variants_payload(
    info: Info, go: Callable[[], Awaitable[list[int]]]
) -> VariantPricesPayload:
    """Run a price write that returns the variants it touched; those variants, priced."""
    pks, errs = await run_write(info, go, renames=CURRENCY_CODE)
    variants = []
    if pks:
        await info.context.channel()
        variants = [v for v in await info.context.loaders.variant_by_id.load_many(pks) if v]
    return VariantPricesPayload(variants=variants, user_errors=errs)


async def _collection_products(
    info: Info,
    id: strawberry.ID,
    product_ids: list[strawberry.ID],
    change: Callable[[Any, int, list[int]], Awaitable[None]],
) -> CollectionPayload:
    """Add products to (or remove them from) the collection ``id`` names."""

    async def go() -> int:
        pk = field_pk(id, "Collection", "id")
        await change(
            info.context.db, pk, [field_pk(p, "Product", "productIds") for p in product_ids]
        )
        return pk

    pk, errs = await run_write(info, go, renames=CURRENCY_CODE)
    return CollectionPayload(collection=await _collection_of(info, pk), user_errors=errs)


@strawberry.type
class CatalogAdminMutation:
    # ----- channels
    @strawberry.mutation(permission_classes=needs("settings"))
    async def channel_create(self, info: Info, input: ChannelInput) -> ChannelPayload:
        pk, errs = await run_write(
            info, lambda: catalog.create_channel(info.context.db, channel_data(input)), depth=0
        )
        return ChannelPayload(channel=await _channel_of(info, pk), user_errors=errs)

    @strawberry.mutation(permission_classes=needs("settings"))
    async def channel_update(
        self, info: Info, id: strawberry.ID, input: ChannelInput
    ) -> ChannelPayload:
        async def go() -> int:
            return await catalog.update_channel(
                info.context.db, field_pk(id, "Channel", "id"), channel_data(input)
            )

        pk, errs = await run_write(info, go, depth=0)
        return ChannelPayload(channel=await _channel_of(info, pk), user_errors=errs)

    @strawberry.mutation(permission_classes=needs("settings"))
    async def channel_delete(self, info: Info, id: strawberry.ID) -> DeletePayload:
        return await delete_payload(info, id, "Channel", catalog.delete_channel)

    # ----- products
    @strawberry.mutation(permission_classes=needs("catalog:write"))
    async def product_create(self, info: Info, input: ProductInput) -> ProductPayload:
        pk, errs = await run_write(
            info,
            lambda: catalog.create_product(
                info.context.db, product_data(input), tax_classes=_tax_classes(info)
            ),
            renames=CURRENCY_CODE,
        )
        return ProductPayload(product=await _product_of(info, pk), user_errors=errs)

    @strawberry.mutation(permission_classes=needs("catalog:write"))
    async def product_update(
        self, info: Info, id: strawberry.ID, input: ProductInput
    ) -> ProductPayload:
        async def go() -> int:
            data = product_data(input)
            catalog.check_product_update(data)  # before the id, as the domain would
            return await catalog.update_product(
                info.context.db,
                field_pk(id, "Product", "id"),
                data,
                tax_classes=_tax_classes(info),
            )

        pk, errs = await run_write(info, go, renames=CURRENCY_CODE)
        return ProductPayload(product=await _product_of(info, pk), user_errors=errs)

    @strawberry.mutation(permission_classes=needs("catalog:write"))
    async def product_delete(self, info: Info, id: strawberry.ID) -> DeletePayload:
        return await delete_payload(info, id, "Product", catalog.delete_product)

    # ----- variants
    @strawberry.mutation(permission_classes=needs("catalog:write"))
    async def product_variant_create(
        self, info: Info, product_id: strawberry.ID, input: ProductVariantInput
    ) -> ProductVariantPayload:
        async def go() -> int:
            return await catalog.create_variant(
                info.context.db, field_pk(product_id, "Product", "productId"), variant_data(input)
            )

        pk, errs = await run_write(info, go, renames=CURRENCY_CODE)
        return ProductVariantPayload(variant=await _variant_of(info, pk), user_errors=errs)

    @strawberry.mutation(permission_classes=needs("catalog:write"))
    async def product_variant_update(
        self, info: Info, id: strawberry.ID, input: ProductVariantInput
    ) -> ProductVariantPayload:
        async def go() -> int:
            return await catalog.update_variant(
                info.context.db, field_pk(id, "ProductVariant", "id"), variant_data(input)
            )

        pk, errs = await run_write(info, go, renames=CURRENCY_CODE)
        return ProductVariantPayload(variant=await _variant_of(info, pk), user_errors=errs)

    @strawberry.mutation(permission_classes=needs("catalog:write"))
    async def product_variant_delete(self, info: Info, id: strawberry.ID) -> DeletePayload:
        return await delete_payload(info, id, "ProductVariant", catalog.delete_variant)

    @strawberry.mutation(
        permission_classes=needs("catalog:write"),
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

        pk, errs = await run_write(info, go, renames=CURRENCY_CODE)
        return ProductVariantPayload(variant=await _variant_of(info, pk), user_errors=errs)

    # ----- prices
    @strawberry.mutation(
        permission_classes=needs("catalog:write"),
        description="Set variant prices per channel (created or replaced).",
    )
    async def product_variant_prices_set(
        self, info: Info, prices: list[VariantPriceInput]
    ) -> VariantPricesPayload:
        await _channels_reached(info, [p.channel for p in prices])

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

        return await _variants_payload(info, go)

    @strawberry.mutation(permission_classes=needs("catalog:write"))
    async def product_variant_prices_delete(
        self, info: Info, prices: list[VariantPriceKeyInput]
    ) -> VariantPricesPayload:
        await _channels_reached(info, [p.channel for p in prices])

        async def go() -> list[int]:
            pairs = [
                (field_pk(p.variant_id, "ProductVariant", f"prices.{i}.variantId"), p.channel)
                for i, p in enumerate(prices)
            ]
            await catalog.delete_prices(info.context.db, pairs)
            return list(dict.fromkeys(p for p, _ in pairs))

        return await _variants_payload(info, go)

    # ----- collections
    @strawberry.mutation(permission_classes=needs("catalog:write"))
    async def collection_create(self, info: Info, input: CollectionInput) -> CollectionPayload:
        async def go() -> int:
            return await catalog.create_collection(info.context.db, collection_data(input))

        pk, errs = await run_write(info, go, renames=CURRENCY_CODE)
        return CollectionPayload(collection=await _collection_of(info, pk), user_errors=errs)

    @strawberry.mutation(permission_classes=needs("catalog:write"))
    async def collection_update(
        self, info: Info, id: strawberry.ID, input: CollectionInput
    ) -> CollectionPayload:
        async def go() -> int:
            return await catalog.update_collection(
                info.context.db, field_pk(id, "Collection", "id"), collection_data(input)
            )

        pk, errs = await run_write(info, go, renames=CURRENCY_CODE)
        return CollectionPayload(collection=await _collection_of(info, pk), user_errors=errs)

    @strawberry.mutation(permission_classes=needs("catalog:write"))
    async def collection_delete(self, info: Info, id: strawberry.ID) -> DeletePayload:
        return await delete_payload(info, id, "Collection", catalog.delete_collection)

    @strawberry.mutation(permission_classes=needs("catalog:write"))
    async def collection_add_products(
        self, info: Info, id: strawberry.ID, product_ids: list[strawberry.ID]
    ) -> CollectionPayload:
        return await _collection_products(info, id, product_ids, catalog.collection_add_products)

    @strawberry.mutation(permission_classes=needs("catalog:write"))
    async def collection_remove_products(
        self, info: Info, id: strawberry.ID, product_ids: list[strawberry.ID]
    ) -> CollectionPayload:
        return await _collection_products(info, id, product_ids, catalog.collection_remove_products)
