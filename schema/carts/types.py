"""The Cart type and what it is made of. Each reads the cart as
:func:`hub.domain.carts.price_cart` priced it (a ``PricedCart``, its lines and
groups), so a client never computes a total. A cart's lines resolve their merchandise
through the variant dataloader: the cart's statement count does not grow with lines.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from hub import ids
from hub.domain import carts as cartsvc
from hub.domain.paging import PageRequest
from hub.money import Money
from schema.catalog import MoneyType, ProductVariantType
from schema.inventory import LocationType
from schema.relay import Connection, Node, connection_from_list, is_record, paged


def _money(minor: int, currency: str) -> MoneyType:
    """An amount as the API shows it (MoneyType resolves from a ``Money``)."""
    return cast(MoneyType, Money(minor, currency))


def _gid(type_name: str, pk: int) -> strawberry.ID:
    return strawberry.ID(ids.encode(type_name, pk))


@strawberry.type(name="CartAttribute", description="A key/value note on a cart or line.")
class CartAttributeType:
    key: str
    value: str


def _attributes(items: Any) -> list[CartAttributeType]:
    return [CartAttributeType(key=a["key"], value=a["value"]) for a in items or ()]


@strawberry.type
class CartWarning:
    code: str = strawberry.field(
        description="MERCHANDISE_NOT_ENOUGH_STOCK, MERCHANDISE_OUT_OF_STOCK, "
        "MERCHANDISE_NOT_AVAILABLE, MERCHANDISE_NOT_AVAILABLE_AT_PICKUP_LOCATION, "
        "DELIVERY_OPTION_UNAVAILABLE or LOYALTY_POINTS_REDUCED."
    )
    message: str
    target: strawberry.ID | None = strawberry.field(
        description="The line (or variant, or delivery group) concerned."
    )

    @strawberry.field(
        description="Where the line could be had instead, nearest first: for "
        "MERCHANDISE_NOT_AVAILABLE_AT_PICKUP_LOCATION, the nearest pickup locations "
        "(from the chosen one's coordinates) that have all of it. Empty otherwise."
    )
    async def locations(
        self, info: Info, root: strawberry.Parent[cartsvc.CartWarning]
    ) -> list[LocationType]:
        pks = root.locations
        if not pks:
            return []
        got = await info.context.loaders.location_by_id.load_many(pks)
        return [loc for loc in got if loc is not None]


@strawberry.type
class CartLineDiscountAllocation:
    title: str
    code: str | None
    discounted_amount: MoneyType


@strawberry.type
class CartLineCost:
    amount_per_quantity: MoneyType
    compare_at_amount_per_quantity: MoneyType | None
    subtotal_amount: MoneyType = strawberry.field(description="Quantity x unit price.")
    total_amount: MoneyType = strawberry.field(description="After the line's discounts.")
    total_tax_amount: MoneyType


@strawberry.type(name="CartLine")
class CartLineType:
    quantity: int

    @strawberry.field(
        description="The variant's SKU; empty once its product is no longer published."
    )
    def sku(self, root: strawberry.Parent[cartsvc.PricedLine]) -> str:
        return root.sku if root.published else ""

    @strawberry.field
    def id(self, root: strawberry.Parent[cartsvc.PricedLine]) -> strawberry.ID:
        return strawberry.ID(root.id)

    @strawberry.field(
        description="What is bought: a product variant, priced in the cart's channel "
        "(whatever the request's), so its price is the one the cart charges."
    )
    async def merchandise(
        self, info: Info, root: strawberry.Parent[cartsvc.PricedLine]
    ) -> ProductVariantType | None:
        await info.context.channel()
        loader = info.context.loaders.variant_in_channel(root.channel)
        return cast(ProductVariantType | None, await loader.load(root.variant_pk))

    @strawberry.field
    def attributes(self, root: strawberry.Parent[cartsvc.PricedLine]) -> list[CartAttributeType]:
        return _attributes(root.attributes)

    @strawberry.field
    def cost(self, info: Info, root: strawberry.Parent[cartsvc.PricedLine]) -> CartLineCost:
        cur = root.currency
        return CartLineCost(
            amount_per_quantity=_money(root.unit_price, cur),
            compare_at_amount_per_quantity=(
                _money(root.compare_at, cur) if root.compare_at is not None else None
            ),
            subtotal_amount=_money(root.subtotal, cur),
            total_amount=_money(root.total, cur),
            total_tax_amount=_money(root.tax, cur),
        )

    @strawberry.field
    def discount_allocations(
        self, root: strawberry.Parent[cartsvc.PricedLine]
    ) -> list[CartLineDiscountAllocation]:
        cur = root.currency
        return [
            CartLineDiscountAllocation(title=t, code=c, discounted_amount=_money(a, cur))
            for _p, t, c, a in root.allocations
        ]

    @strawberry.field(description="False when the variant is no longer sold in the channel.")
    def sellable(self, root: strawberry.Parent[cartsvc.PricedLine]) -> bool:
        return root.sellable


@strawberry.type
class CartCost:
    subtotal_amount: MoneyType = strawberry.field(description="Lines before discounts.")
    total_discount_amount: MoneyType = strawberry.field(
        description="Every discount: on lines, on the order and on shipping."
    )
    total_shipping_amount: MoneyType = strawberry.field(
        description="Shipping of the selected options, before shipping discounts."
    )
    total_tax_amount: MoneyType = strawberry.field(
        description="Tax: included in the prices in a tax-inclusive channel, else added."
    )
    total_fee_amount: MoneyType = strawberry.field(
        description="Fees the installed plugins charge (gift wrapping...): see `fees`."
    )
    total_amount: MoneyType = strawberry.field(
        description="subtotal - discounts + fees + shipping (+ tax when not included)."
    )
    taxes_included: bool


@strawberry.type(description="A charge a plugin adds to the cart (gift wrapping...).")
class CartFee:
    code: str = strawberry.field(description="Stable, e.g. gift_wrap.")
    label: str
    amount: MoneyType
    line_id: strawberry.ID | None = strawberry.field(
        description="The line it is charged on (in that line's total); null: the cart."
    )


@strawberry.type
class CartDiscountCode:
    code: str
    applicable: bool
    reason: str | None = strawberry.field(
        description="Why not applicable: UNKNOWN_CODE, EXPIRED, MIN_SUBTOTAL_NOT_MET, ..."
    )


@strawberry.type
class CartDiscountAllocationLine:
    line_id: strawberry.ID
    amount: MoneyType


@strawberry.type
class CartDiscountAllocation:
    promotion_id: strawberry.ID
    title: str
    code: str | None
    discount_class: str = strawberry.field(description="PRODUCT, ORDER or SHIPPING.")
    discounted_amount: MoneyType
    shipping_amount: MoneyType
    lines: list[CartDiscountAllocationLine]


@strawberry.type
class CartLoyaltyRedemption:
    points: int = strawberry.field(description="The points applied (at most those asked for).")
    points_requested: int
    discount_amount: MoneyType


@strawberry.type
class CartBuyerIdentity:
    email: str | None
    phone: str | None
    country_code: str | None
    customer_id: strawberry.ID | None


@strawberry.type
class CartDeliveryOption:
    handle: str
    title: str
    estimated_cost: MoneyType
    min_days: int | None
    max_days: int | None


def _option(o: cartsvc.DeliveryOption) -> CartDeliveryOption:
    return CartDeliveryOption(
        handle=o.handle,
        title=o.title,
        estimated_cost=_money(o.amount, o.currency),
        min_days=o.min_days,
        max_days=o.max_days,
    )


@strawberry.enum
class CartStatus(Enum):
    ACTIVE = "ACTIVE"
    COMPLETING = "COMPLETING"
    COMPLETED = "COMPLETED"


@strawberry.enum
class CartDeliveryType(Enum):
    SHIPPING = "SHIPPING"
    PICKUP = "PICKUP"


@strawberry.type
class CartDeliveryGroup:
    id: strawberry.ID
    delivery_type: CartDeliveryType
    address: JSON | None = strawberry.field(description="The ship-to address, when given.")
    line_ids: list[strawberry.ID]
    delivery_options: list[CartDeliveryOption]
    selected_delivery_option: CartDeliveryOption | None
    shipping_amount: MoneyType
    shipping_discount_amount: MoneyType
    total_tax_amount: MoneyType
    location_pk: strawberry.Private[int | None] = None
    pickup_by_transfer: bool = strawberry.field(
        default=False, description="Lines the pickup store lacks come by transfer."
    )

    @strawberry.field
    async def pickup_location(self, info: Info) -> LocationType | None:
        if self.location_pk is None:
            return None
        return cast(
            LocationType | None, await info.context.loaders.location_by_id.load(self.location_pk)
        )


def _group(g: cartsvc.PricedGroup, currency: str) -> CartDeliveryGroup:
    return CartDeliveryGroup(
        id=strawberry.ID(g.id),
        delivery_type=CartDeliveryType(g.kind),
        address=None if g.address is None else JSON(g.address),
        line_ids=[strawberry.ID(ln.id) for ln in g.lines],
        delivery_options=[_option(o) for o in g.options],
        selected_delivery_option=_option(g.selected) if g.selected else None,
        shipping_amount=_money(g.shipping, currency),
        shipping_discount_amount=_money(g.shipping_discount, currency),
        total_tax_amount=_money(g.tax, currency),
        location_pk=g.location_pk,
        pickup_by_transfer=g.transfer_in,
    )


Cart = strawberry.Parent[cartsvc.PricedCart]


@strawberry.type(name="Cart", description="A server-side cart; its id is unguessable.")
class CartType(Node):
    # id: Node's, read from the priced cart.

    is_type_of = is_record(cartsvc.PricedCart)

    @strawberry.field(description="ACTIVE, COMPLETING (in checkout) or COMPLETED.")
    def status(self, root: Cart) -> CartStatus:
        return CartStatus(root.cart.status)

    @strawberry.field
    def created_at(self, root: Cart) -> datetime:
        return cast(datetime, root.cart.created_at)

    @strawberry.field
    def updated_at(self, root: Cart) -> datetime:
        return cast(datetime, root.cart.updated_at)

    @strawberry.field(description="When the cart expires unless it changes again.")
    def expires_at(self, root: Cart) -> datetime:
        return cast(datetime, root.cart.expires_at)

    @strawberry.field
    def total_quantity(self, root: Cart) -> int:
        return root.total_quantity

    @strawberry.field
    def currency_code(self, root: Cart) -> str:
        return root.currency

    @strawberry.field
    @paged
    def lines(
        self,
        info: Info,
        root: Cart,
        page: PageRequest,
    ) -> Connection[CartLineType]:
        got = connection_from_list(root.lines, page, "CartLine", key=lambda ln: ln.pk)
        return cast(Connection[CartLineType], got)

    @strawberry.field
    def cost(self, root: Cart) -> CartCost:
        c = root.currency
        return CartCost(
            subtotal_amount=_money(root.subtotal, c),
            total_discount_amount=_money(root.discount_total, c),
            total_shipping_amount=_money(root.shipping, c),
            total_tax_amount=_money(root.tax, c),
            total_fee_amount=_money(root.fee_total, c),
            total_amount=_money(root.total, c),
            taxes_included=root.taxes_included,
        )

    @strawberry.field(description="The plugins' fees, each in the total (empty without).")
    def fees(self, root: Cart) -> list[CartFee]:
        return [
            CartFee(
                code=f.code,
                label=f.label,
                amount=_money(f.amount, root.currency),
                line_id=_gid("CartLine", f.line_pk) if f.line_pk is not None else None,
            )
            for f in root.fees
        ]

    @strawberry.field
    def discount_codes(self, root: Cart) -> list[CartDiscountCode]:
        return [
            CartDiscountCode(code=c.code, applicable=c.applicable, reason=c.reason)
            for c in root.codes
        ]

    @strawberry.field(description="Each applied promotion, the lines it touched and how much.")
    def discount_allocations(self, root: Cart) -> list[CartDiscountAllocation]:
        cur = root.currency
        return [
            CartDiscountAllocation(
                promotion_id=_gid("Promotion", a.promotion_id),
                title=a.title,
                code=a.code,
                discount_class=a.klass,
                discounted_amount=_money(a.amount, cur),
                shipping_amount=_money(a.shipping_amount, cur),
                lines=[
                    CartDiscountAllocationLine(line_id=strawberry.ID(lid), amount=_money(amt, cur))
                    for lid, amt in a.lines
                ],
            )
            for a in root.allocations
        ]

    @strawberry.field(description="Loyalty points redeemed on the cart (cartLoyaltyRedeem).")
    def loyalty_redemption(self, root: Cart) -> CartLoyaltyRedemption | None:
        asked = int(root.cart.loyalty_points or 0)
        if asked <= 0:
            return None
        return CartLoyaltyRedemption(
            points=root.loyalty_points,
            points_requested=asked,
            discount_amount=_money(root.loyalty_discount, root.currency),
        )

    @strawberry.field
    def buyer_identity(self, root: Cart) -> CartBuyerIdentity:
        c = root.cart
        return CartBuyerIdentity(
            email=c.email,
            phone=c.phone,
            country_code=c.country_code,
            customer_id=_gid("Customer", c.customer_id) if c.customer_id else None,
        )

    @strawberry.field
    def attributes(self, root: Cart) -> list[CartAttributeType]:
        return _attributes(root.cart.attributes)

    @strawberry.field
    def note(self, root: Cart) -> str | None:
        return cast(str | None, root.cart.note)

    @strawberry.field(description="How the lines reach the buyer: shipped or picked up, per group.")
    def delivery_groups(self, root: Cart) -> list[CartDeliveryGroup]:
        return [_group(g, root.currency) for g in root.groups]

    @strawberry.field(description="What changed or can't be honoured (e.g. stock ran short).")
    def warnings(self, root: Cart) -> list[CartWarning]:
        return cast(list[CartWarning], root.warnings)

    @strawberry.field(description="The order made from this cart, once checked out.")
    def order_id(self, root: Cart) -> strawberry.ID | None:
        pk = root.cart.order_id
        return _gid("Order", pk) if pk else None


def shown(priced: cartsvc.PricedCart | None) -> CartType | None:
    """A priced cart as the API returns it (CartType resolves from a ``PricedCart``)."""
    return cast(CartType | None, priced)
