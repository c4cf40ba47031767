"""Read records of the catalog: products, variants (priced in a channel), collections,
attributes and bundle components. The API serves their attributes as they are."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub import ids
from hub.domain.channels import ChannelRecord
from hub.money import Money

STATUSES = ("DRAFT", "ACTIVE", "ARCHIVED")
ATTRIBUTE_TYPES = ("STRING", "INTEGER", "DECIMAL", "BOOLEAN", "DATE", "JSON")
DEFAULT_TAX_CLASS = "standard"
MAX_OPTIONS = 3


class SelectedOption:
    __slots__ = ("name", "value")

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self.value = value


class ProductOption:
    __slots__ = ("name", "values")

    def __init__(self, name: str, values: list[str]) -> None:
        self.name = name
        self.values = values


class Media:
    __slots__ = ("alt", "url")

    def __init__(self, url: str, alt: str | None) -> None:
        self.url = url
        self.alt = alt


class Seo:
    __slots__ = ("description", "title")

    def __init__(self, title: str | None, description: str | None) -> None:
        self.title = title
        self.description = description


class ProductRecord:
    __slots__ = (
        "_options",
        "channel",
        "created_at",
        "description",
        "handle",
        "id",
        "max_price",
        "media_json",
        "min_price",
        "option_defs",
        "pk",
        "product_type",
        "seo_description",
        "seo_title",
        "status",
        "tags",
        "tax_class",
        "title",
        "units_sold",
        "updated_at",
        "vendor",
    )

    def __init__(self, row: Any, channel: ChannelRecord | None) -> None:
        self.pk = row.id
        self.id = ids.encode("Product", row.id)
        self.handle = row.handle
        self.title = row.title
        self.description = row.description
        self.vendor = row.vendor
        self.product_type = row.product_type
        self.tax_class = getattr(row, "tax_class", DEFAULT_TAX_CLASS)
        self.status = row.status
        self.tags = row.tags
        self.option_defs = row.options
        self.media_json = row.media
        self.seo_title = row.seo_title
        self.seo_description = row.seo_description
        self.units_sold = row.units_sold
        self.created_at = row.created_at
        self.updated_at = row.updated_at
        self.channel = channel
        self._options: list[ProductOption] | None = None
        mn = getattr(row, "min_amount", None)
        if channel is not None and mn is not None:
            self.min_price: Money | None = Money(mn, channel.currency)
            self.max_price: Money | None = Money(row.max_amount, channel.currency)
        else:
            self.min_price = self.max_price = None

    @property
    def options(self) -> list[ProductOption]:
        if self._options is None:
            self._options = [ProductOption(o["name"], list(o["values"])) for o in self.option_defs]
        return self._options

    @property
    def media(self) -> list[Media]:
        return [Media(m["url"], m.get("alt")) for m in self.media_json]

    @property
    def seo(self) -> Seo:
        return Seo(self.seo_title or self.title, self.seo_description)

    @property
    def is_active(self) -> bool:
        return self.status == "ACTIVE"


class VariantRecord:
    __slots__ = (
        "available_for_sale",
        "barcode",
        "compare_at_price",
        "cost",
        "id",
        "is_bundle",
        "pk",
        "position",
        "price",
        "product_id",
        "product_pk",
        "quantity_available",
        "requires_shipping",
        "selected_options",
        "sells_beyond_stock",
        "sku",
        "title",
        "tracked",
        "weight_grams",
    )

    def __init__(
        self,
        row: Any,
        option_defs: Sequence[dict[str, Any]],
        product_status: str,
        currency: str | None,
    ) -> None:
        # The row starts with the columns of catalog.reads' _variant_select, in order:
        # unpacked at once (attribute reads on a Row cost several times more).
        (
            pk,
            product_pk,
            self.sku,
            self.barcode,
            self.title,
            self.position,
            o1,
            o2,
            o3,
            self.weight_grams,
            self.requires_shipping,
            self.is_bundle,
            self.tracked,
            amount,
            cmp_,
            cost,
            beyond,
        ) = row[:17]
        self.pk = pk
        self.id = f"gid://hub/ProductVariant/{pk}"  # ids.encode, inlined
        self.product_pk = product_pk
        self.product_id = f"gid://hub/Product/{product_pk}"
        values = (o1, o2, o3)
        self.selected_options = [
            SelectedOption(o["name"], values[i])
            for i, o in enumerate(option_defs)
            if i < MAX_OPTIONS and values[i] is not None
        ]
        if amount is not None and currency is not None:
            self.price: Money | None = Money(amount, currency)
            self.compare_at_price: Money | None = (
                Money(cmp_, currency) if cmp_ is not None else None
            )
            self.cost: Money | None = Money(cost, currency) if cost is not None else None
        else:
            self.price = self.compare_at_price = self.cost = None
        # Units sellable online in the channel; None for untracked variants (always
        # available). Filled in by `attach_availability`.
        self.quantity_available: int | None = None
        # Its inventory policy sells beyond stock (backorder, pre-order) with room left
        # under the cap: available for sale with no stock.
        self.sells_beyond_stock = bool(beyond)
        # Sellable in this channel: active, priced here, and in stock (or untracked, or
        # selling beyond stock).
        self.available_for_sale = self.price is not None and product_status == "ACTIVE"


class CollectionRecord:
    __slots__ = ("created_at", "description", "handle", "id", "pk", "title")

    def __init__(self, row: Any) -> None:
        self.pk = row.id
        self.id = ids.encode("Collection", row.id)
        self.handle = row.handle
        self.title = row.title
        self.description = row.description
        self.created_at = row.created_at


class AttributeRecord:
    __slots__ = ("key", "type", "value")

    def __init__(self, key: str, type_: str, value: str) -> None:
        self.key = key
        self.type = type_
        self.value = value


class BundleComponentRecord:
    __slots__ = ("component_pk", "quantity")

    def __init__(self, component_pk: int, quantity: int) -> None:
        self.component_pk = component_pk
        self.quantity = quantity
