"""Returns, exchanges and substitutions on the API: the ``Return`` and
``Substitution`` types (on ``Order.returns`` / ``Order.substitutions``, loaded per
request in one statement per kind whatever the page) and their mutations.

Staff (admin keys): ``returnCreate`` (at any location), ``returnApprove`` /
``returnDecline`` (a customer's request), ``returnReceive`` (restock, quarantine or
dispose; resolves the money once every unit is in), ``returnResolve`` (again, after a
failed resolution), ``fulfillmentOrderLineSubstitute``. Customer keys, on their own
orders: ``returnRequest``, ``substitutionApprove`` / ``substitutionDecline``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from hub import ids
from hub.domain.orders import return_records as rr
from hub.domain.orders.records import OrderRecord
from schema.catalog import MoneyType
from schema.giftcards import GiftCardType
from schema.loaders import Loader
from schema.orders.loaders import order_loaders
from schema.orders.scope import may_see
from schema.relay import Node, is_record, register_node, staff_only

if TYPE_CHECKING:
    from schema.orders.types import OrderType, RefundType

ReturnReason = strawberry.enum(rr.ReturnReason, name="ReturnReason")
ReturnResolution = strawberry.enum(rr.Resolution, name="ReturnResolution")
ReturnDisposition = strawberry.enum(rr.Disposition, name="ReturnDisposition")


@strawberry.enum
class ReturnStatus(Enum):
    REQUESTED = "REQUESTED"
    OPEN = "OPEN"
    PARTIALLY_RECEIVED = "PARTIALLY_RECEIVED"
    RECEIVED = "RECEIVED"
    CLOSED = "CLOSED"
    DECLINED = "DECLINED"
    CANCELLED = "CANCELLED"


class _ReturnLoaders:
    def __init__(self, ctx: Any) -> None:
        reader = ctx.reader

        async def by_order(keys: Sequence[OrderRecord]) -> dict[Hashable, Any]:
            got = await rr.returns_by_orders(reader, keys)
            return dict(got.items())

        async def lines(keys: Sequence[int]) -> dict[Hashable, Any]:
            return dict((await rr.lines_by_returns(reader, keys)).items())

        async def subs(keys: Sequence[OrderRecord]) -> dict[Hashable, Any]:
            return dict((await rr.substitutions_by_orders(reader, keys)).items())

        async def by_id(keys: Sequence[int]) -> dict[Hashable, Any]:
            return dict((await rr.returns_by_pks(reader, keys)).items())

        async def cards(keys: Sequence[int]) -> dict[Hashable, Any]:
            from hub.domain.giftcards import gift_cards_by_pks

            return dict((await gift_cards_by_pks(reader, keys)).items())

        self.returns_by_order = Loader(by_order, default=list, key=lambda o: o.pk)
        self.lines_by_return = Loader(lines, default=list)
        self.substitutions_by_order = Loader(subs, default=list, key=lambda o: o.pk)
        self.return_by_id = Loader(by_id)
        self.gift_card_by_id = Loader(cards)


def return_loaders(info: Info) -> _ReturnLoaders:
    ctx = info.context
    got: _ReturnLoaders = ctx.keyed(_ReturnLoaders, lambda: _ReturnLoaders(ctx))
    return got


def _gid(type_name: str, pk: int | None) -> strawberry.ID | None:
    return strawberry.ID(ids.encode(type_name, pk)) if pk is not None else None


@strawberry.type
class ReturnFlag:
    code: str = strawberry.field(
        description="FREQUENT_RETURNS, HIGH_RETURN_AMOUNT, SERIAL_RETURNED_BEFORE or "
        "LOCATION_MISMATCH."
    )
    message: str
    data: JSON


@strawberry.type(name="ReturnLine")
class ReturnLineType:
    id: strawberry.ID
    quantity: int
    reason: ReturnReason  # type: ignore[valid-type]  # an enum built from the domain's
    note: str | None = strawberry.field(resolver=lambda root: root.reason_note)
    serial_number: str | None
    quantity_restocked: int
    quantity_quarantined: int
    quantity_disposed: int
    quantity_received: int

    @strawberry.field
    def order_line_item_id(self, root: strawberry.Parent[rr.ReturnLineRecord]) -> strawberry.ID:
        return strawberry.ID(ids.encode("OrderLineItem", root.order_line_pk))


@strawberry.type(name="Return")
class ReturnType(Node):
    id: strawberry.ID
    status: ReturnStatus = strawberry.field(resolver=lambda root: ReturnStatus(root.status))
    source: str = strawberry.field(description="STAFF (at a location) or CUSTOMER (by mail).")
    resolution: ReturnResolution | None = strawberry.field(  # type: ignore[valid-type]
        resolver=lambda root: rr.Resolution(root.resolution) if root.resolution else None
    )
    amount: MoneyType = strawberry.field(description="What the returned units were paid.")
    note: str | None
    created_at: datetime
    updated_at: datetime

    is_type_of = is_record(rr.ReturnRecord)

    @strawberry.field(description="Fraud flags raised (a flag never blocks a return).")
    def flags(self, root: strawberry.Parent[rr.ReturnRecord]) -> list[ReturnFlag]:
        return [
            ReturnFlag(code=f.get("code", ""), message=f.get("message", ""), data=f.get("data"))
            for f in root.flags
        ]

    @strawberry.field
    def order_id(self, root: strawberry.Parent[rr.ReturnRecord]) -> strawberry.ID:
        return strawberry.ID(ids.encode("Order", root.order_pk))

    @strawberry.field(description="Where it was opened.")
    def location_id(self, root: strawberry.Parent[rr.ReturnRecord]) -> strawberry.ID | None:
        return _gid("Location", root.location_pk)

    @strawberry.field(description="Where the goods were received.")
    def received_location_id(
        self, root: strawberry.Parent[rr.ReturnRecord]
    ) -> strawberry.ID | None:
        return _gid("Location", root.received_location_pk)

    @strawberry.field(description="The refund that resolved it (to the original payment).")
    def refund_id(self, root: strawberry.Parent[rr.ReturnRecord]) -> strawberry.ID | None:
        return _gid("Refund", root.refund_pk)

    @strawberry.field(description="The refund that resolved it (or an exchange's rest).")
    async def refund(
        self, root: strawberry.Parent[rr.ReturnRecord], info: Info
    ) -> Annotated[RefundType, strawberry.lazy("schema.orders.types")] | None:
        if root.refund_pk is None:
            return None
        loaders = order_loaders(info)
        order = await loaders.order_by_id.load(root.order_pk)
        if order is None:
            return None
        refunds = await loaders.refunds_by_order.load(order)
        return next((r for r in refunds if r.pk == root.refund_pk), None)

    @strawberry.field
    async def lines(
        self, root: strawberry.Parent[rr.ReturnRecord], info: Info
    ) -> list[ReturnLineType]:
        got: list[ReturnLineType] = await return_loaders(info).lines_by_return.load(root.pk)
        return got

    @strawberry.field(description="An exchange's new order.")
    async def exchange_order(
        self, root: strawberry.Parent[rr.ReturnRecord], info: Info
    ) -> Annotated[OrderType, strawberry.lazy("schema.orders.types")] | None:
        if root.exchange_order_pk is None:
            return None
        got = await order_loaders(info).order_by_id.load(root.exchange_order_pk)
        return got if await may_see(info, got) else None

    @strawberry.field(description="Store credit issued (or an exchange's credit).")
    async def gift_card(
        self, root: strawberry.Parent[rr.ReturnRecord], info: Info
    ) -> GiftCardType | None:
        if root.gift_card_pk is None or not info.context.principal.can("customers"):
            return None
        got: GiftCardType | None = await return_loaders(info).gift_card_by_id.load(
            root.gift_card_pk
        )
        return got

    @strawberry.field
    def exchange_lines(self, root: strawberry.Parent[rr.ReturnRecord]) -> JSON:
        got: Any = [
            {"variantId": ids.encode("ProductVariant", x["variantId"]), "quantity": x["quantity"]}
            for x in root.exchange_lines
        ]
        return got


@strawberry.type(name="Substitution")
class SubstitutionType(Node):
    id: strawberry.ID
    quantity: int
    unit_price: MoneyType
    status: str = strawberry.field(description="PROPOSED, APPROVED, DECLINED or CANCELLED.")
    note: str | None
    created_at: datetime
    decided_at: datetime | None

    is_type_of = is_record(rr.SubstitutionRecord)

    @strawberry.field
    def fulfillment_order_line_id(
        self, root: strawberry.Parent[rr.SubstitutionRecord]
    ) -> strawberry.ID:
        return strawberry.ID(ids.encode("FulfillmentOrderLine", root.fo_line_pk))

    @strawberry.field
    def variant_id(self, root: strawberry.Parent[rr.SubstitutionRecord]) -> strawberry.ID:
        return strawberry.ID(ids.encode("ProductVariant", root.variant_pk))

    @strawberry.field
    def original_variant_id(
        self, root: strawberry.Parent[rr.SubstitutionRecord]
    ) -> strawberry.ID | None:
        return _gid("ProductVariant", root.original_variant_pk)


async def order_returns(info: Info, order: OrderRecord) -> list[ReturnType]:
    """``Order.returns``: one statement for every order of the request."""
    got: list[ReturnType] = await return_loaders(info).returns_by_order.load(order)
    return got


async def order_substitutions(info: Info, order: OrderRecord) -> list[SubstitutionType]:
    got: list[SubstitutionType] = await return_loaders(info).substitutions_by_order.load(order)
    return got


async def _return_nodes(reader: Any, pks: list[int]) -> dict[int, rr.ReturnRecord]:
    return await rr.returns_by_pks(reader, pks)


register_node("Return", staff_only(_return_nodes, "orders"))
