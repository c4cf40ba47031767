"""A cart as priced: every amount in minor units of the cart's currency, as
:func:`hub.domain.carts.pricing.price_cart` computed it. The API, checkout and the
order read these; nothing recomputes them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hub import ids
from hub.domain.carts.fees import Fee
from hub.domain.carts.model import CartState, CartWarning, cart_gid
from hub.domain.catalog import ChannelRecord
from hub.domain.customers import CustomerRecord
from hub.domain.promotions import Promotion, Result
from hub.domain.shipping import ShippingOption


@dataclass(slots=True)
class PricedLine:
    pk: int
    variant_pk: int
    product_pk: int
    sku: str
    title: str
    quantity: int
    attributes: list[dict[str, str]]
    group_key: int | None
    sellable: bool
    requires_shipping: bool
    tracked: bool
    unit_price: int = 0
    compare_at: int | None = None
    price_source: str = "channel"
    subtotal: int = 0
    discount: int = 0
    total: int = 0
    tax: int = 0
    fee: int = 0  # plugins' fees on this line (hub.domain.carts.fees), in ``total``
    # [(promotion id, title, code, amount)]
    allocations: list[tuple[int, str, str | None, int]] = field(default_factory=list)
    currency: str = ""
    channel: ChannelRecord | None = None  # the cart's channel: merchandise shows in it
    is_bundle: bool = False
    published: bool = True  # the product is ACTIVE: its SKU and title are public

    @property
    def id(self) -> str:
        return ids.encode("CartLine", self.pk)

    @property
    def label(self) -> str:
        """How messages name the line's merchandise: its SKU while the product is
        published, else the merchandise id (an unpublished product's SKU is internal)."""
        if self.published and self.sku:
            return self.sku
        return f"merchandise {ids.encode('ProductVariant', self.variant_pk)}"


# A way to deliver a group: a shipping rate, or the pickup option (free, same day).
DeliveryOption = ShippingOption


@dataclass(slots=True)
class PricedGroup:
    key: int | None  # the group's pk; None for the default shipping group
    kind: str
    address: dict[str, Any] | None
    location_pk: int | None
    lines: list[PricedLine]
    options: list[DeliveryOption] = field(default_factory=list)
    selected: DeliveryOption | None = None
    shipping: int = 0
    shipping_discount: int = 0
    tax: int = 0
    country: str | None = None
    region: str | None = None
    postal_code: str | None = None
    location_name: str | None = None  # the pickup location's
    transfer_in: bool = False  # endless aisle: missing lines come by transfer

    @property
    def id(self) -> str:
        return ids.encode("CartDeliveryGroup", self.key or 0)


@dataclass(slots=True)
class CodeInfo:
    code: str
    applicable: bool
    reason: str | None


@dataclass(slots=True)
class AllocationInfo:
    promotion_id: int
    title: str
    code: str | None
    klass: str
    amount: int
    shipping_amount: int
    lines: list[tuple[str, int]]  # (line gid, amount)


@dataclass(slots=True)
class PricedCart:
    """Everything a cart costs, in minor units of ``currency``."""

    state: CartState
    channel: ChannelRecord
    customer: CustomerRecord | None
    currency: str
    taxes_included: bool
    lines: list[PricedLine]
    groups: list[PricedGroup]
    subtotal: int = 0
    discount_total: int = 0  # merchandise + shipping discounts
    shipping: int = 0  # before shipping discounts
    tax: int = 0
    total: int = 0
    codes: list[CodeInfo] = field(default_factory=list)
    allocations: list[AllocationInfo] = field(default_factory=list)
    warnings: list[CartWarning] = field(default_factory=list)
    promotions: list[Promotion] = field(default_factory=list)
    result: Result | None = None
    stock: dict[int, dict[int, int]] = field(default_factory=dict)
    # Loyalty points redeemed (at most what the cart asked for) and their discount,
    # included in ``discount_total`` and in the lines' discounts.
    loyalty_points: int = 0
    loyalty_discount: int = 0
    # Plugins' fees (hub.domain.carts.fees): a line's are in its total; all in ``total``.
    fees: list[Fee] = field(default_factory=list)
    fee_total: int = 0

    @property
    def cart(self) -> Any:
        return self.state.cart

    @property
    def id(self) -> str:
        return cart_gid(self.state.cart.token)

    @property
    def total_quantity(self) -> int:
        return sum(ln.quantity for ln in self.lines)
