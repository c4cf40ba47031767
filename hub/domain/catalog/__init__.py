"""The catalog: what is sold, where and at what price.

It owns channels' admin (:mod:`.channels`; the record and reads every domain shares
are in :mod:`hub.domain.channels`), products (:mod:`.products`), variants and bundles
(:mod:`.variants`), channel prices and price ranges (:mod:`.prices`), customer-group
price lists and the unit price a cart line pays (:mod:`.price_lists`), collections
(:mod:`.collections`), search and listing (:mod:`.search`), batched reads for the
dataloaders (:mod:`.reads`), stock-aware availability (:mod:`.availability`, the only
module that asks inventory) and the read records (:mod:`.records`). Its error codes
are :class:`CatalogCode`.

Reads return records with plain attributes (the API serves them as they are); writes
validate, run in one transaction, and raise :class:`~hub.domain.errors.DomainError`
with stable codes; nothing is written on error.
"""

from hub.domain.catalog._checks import slugify
from hub.domain.catalog.availability import attach_availability, available_products_clause
from hub.domain.catalog.channels import ChannelInput, create_channel, delete_channel, update_channel
from hub.domain.catalog.collections import (
    CollectionInput,
    collection_add_products,
    collection_by_handle,
    collection_remove_products,
    collections_by_pks,
    collections_by_products,
    create_collection,
    delete_collection,
    list_collections,
    products_in_collections,
    update_collection,
)
from hub.domain.catalog.errors import CatalogCode
from hub.domain.catalog.price_lists import (
    EntryInput,
    PriceListEntryRecord,
    PriceListInput,
    PriceListRecord,
    PriceQuote,
    create_price_list,
    delete_price_list,
    entries_for_lists,
    list_price_lists,
    price_lists_by_pks,
    quote_prices,
    set_price_list_entries,
    update_price_list,
)
from hub.domain.catalog.prices import PriceInput, delete_prices, refresh_price_ranges, set_prices
from hub.domain.catalog.products import (
    AttributeInput,
    MediaInput,
    OptionInput,
    ProductInput,
    check_product_update,
    create_product,
    delete_product,
    update_product,
)
from hub.domain.catalog.reads import (
    attributes_by_products,
    bundle_components_by_variants,
    products_by_handles,
    products_by_pks,
    variant_pks_by_skus,
    variants_by_pks,
    variants_by_products,
)
from hub.domain.catalog.records import (
    ATTRIBUTE_TYPES,
    DEFAULT_TAX_CLASS,
    MAX_OPTIONS,
    STATUSES,
    AttributeRecord,
    BundleComponentRecord,
    CollectionRecord,
    Media,
    ProductOption,
    ProductRecord,
    SelectedOption,
    Seo,
    VariantRecord,
)
from hub.domain.catalog.search import ProductFilters, list_products, search_text
from hub.domain.catalog.variants import (
    VariantInput,
    create_variant,
    delete_variant,
    set_bundle_components,
    update_variant,
)
from hub.domain.channels import (
    HANDLE_RE,
    ChannelRecord,
    channel_by_handle,
    channel_handles,
    channels_by_pks,
    default_channel,
    handle_key,
    list_channels,
    unknown_channel,
)

__all__ = [
    "ATTRIBUTE_TYPES",
    "DEFAULT_TAX_CLASS",
    "HANDLE_RE",
    "MAX_OPTIONS",
    "STATUSES",
    "AttributeInput",
    "AttributeRecord",
    "BundleComponentRecord",
    "CatalogCode",
    "ChannelInput",
    "ChannelRecord",
    "CollectionInput",
    "CollectionRecord",
    "EntryInput",
    "Media",
    "MediaInput",
    "OptionInput",
    "PriceInput",
    "PriceListEntryRecord",
    "PriceListInput",
    "PriceListRecord",
    "PriceQuote",
    "ProductFilters",
    "ProductInput",
    "ProductOption",
    "ProductRecord",
    "SelectedOption",
    "Seo",
    "VariantInput",
    "VariantRecord",
    "attach_availability",
    "attributes_by_products",
    "available_products_clause",
    "bundle_components_by_variants",
    "channel_by_handle",
    "channel_handles",
    "channels_by_pks",
    "check_product_update",
    "collection_add_products",
    "collection_by_handle",
    "collection_remove_products",
    "collections_by_pks",
    "collections_by_products",
    "create_channel",
    "create_collection",
    "create_price_list",
    "create_product",
    "create_variant",
    "default_channel",
    "delete_channel",
    "delete_collection",
    "delete_price_list",
    "delete_prices",
    "delete_product",
    "delete_variant",
    "entries_for_lists",
    "handle_key",
    "list_channels",
    "list_collections",
    "list_price_lists",
    "list_products",
    "price_lists_by_pks",
    "products_by_handles",
    "products_by_pks",
    "products_in_collections",
    "quote_prices",
    "refresh_price_ranges",
    "search_text",
    "set_bundle_components",
    "set_price_list_entries",
    "set_prices",
    "slugify",
    "unknown_channel",
    "update_channel",
    "update_collection",
    "update_price_list",
    "update_product",
    "update_variant",
    "variant_pks_by_skus",
    "variants_by_pks",
    "variants_by_products",
]
