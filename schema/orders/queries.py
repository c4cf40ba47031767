"""``order`` and ``orders`` and the Order node: staff see any order, a customer its own."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime
from enum import Enum

import strawberry
from strawberry.types import Info

from hub import ids
from hub.domain import orders as ordersvc
from schema.calls import after_cursor
from schema.errors import ApiError
from schema.orders.loaders import order_loaders
from schema.orders.scope import may_see
from schema.orders.types import OrderPaymentStatus, OrderStatus, OrderType
from schema.relay import Connection, ConnectionValue, page_request, register_node


@strawberry.enum
class OrderSortKeys(Enum):
    CREATED_AT = "CREATED_AT"
    TOTAL = "TOTAL"
    NAME = "NAME"


@strawberry.enum
class OrderFulfillmentStatus(Enum):
    UNFULFILLED = "UNFULFILLED"
    PARTIALLY_FULFILLED = "PARTIALLY_FULFILLED"
    FULFILLED = "FULFILLED"
    PARTIALLY_RETURNED = "PARTIALLY_RETURNED"
    RETURNED = "RETURNED"


@strawberry.input
class OrderFilterInput:
    status: OrderStatus | None = None
    payment_status: OrderPaymentStatus | None = None
    fulfillment_status: OrderFulfillmentStatus | None = None
    channel: strawberry.ID | None = strawberry.field(default=None, description="A channel id.")
    location: strawberry.ID | None = strawberry.field(
        default=None, description="Sold at (a till) or fulfilled from this location."
    )
    customer: strawberry.ID | None = strawberry.field(default=None, description="A customer id.")
    created_at_min: datetime | None = None
    created_at_max: datetime | None = None
    query: str | None = strawberry.field(
        default=None, description="The order's name (#1001) or part of its email."
    )


@strawberry.type
class OrderQuery:
    @strawberry.field(description="An order by id: staff see any, a customer its own.")
    async def order(self, info: Info, id: strawberry.ID) -> OrderType | None:
        try:
            pk = ids.decode_pk(id, "Order")
        except ids.InvalidId as exc:
            raise ApiError(str(exc), "INVALID_ID") from None
        got = await order_loaders(info).order_by_id.load(pk)
        return got if await may_see(info, got) else None

    @strawberry.field(
        description="Orders matching `filter`, sorted by `sortKey` then id (ascending; "
        "`reverse` for descending; by default the newest first): staff see every "
        "order, a customer key its own."
    )
    async def orders(
        self,
        info: Info,
        first: int = 10,
        after: str | None = None,
        filter: OrderFilterInput | None = None,
        sort_key: OrderSortKeys = OrderSortKeys.CREATED_AT,
        reverse: bool = True,
    ) -> Connection[OrderType]:
        p = info.context.principal
        if not p.can("orders") and p.customer_id is None:
            raise ApiError("orders need a customer key or the orders permission", "ACCESS_DENIED")
        page = page_request(first, after, None, None, info.context.settings.max_page_size)
        sort = sort_key.value
        got = after_cursor(after, f"Order:{sort}", ordersvc.reads.CURSOR_TYPES[sort])
        flt = _filter(filter)
        if not p.can("orders"):
            flt = replace(flt, customer_pk=p.customer_id)
        else:  # a role restricted to some stores or channels sees their orders only
            flt = replace(flt, location_pks=p.locations("orders"), channel_pks=p.channels("orders"))
        rows, cursors, has_next = await ordersvc.search_orders(
            info.context.reader, flt, sort=sort, reverse=reverse, limit=page.size(10), after=got
        )
        # The connection of records stands for the GraphQL connection (resolved by name).
        return ConnectionValue(rows, cursors, has_next, after is not None)  # type: ignore[return-value]


def _pk(gid: strawberry.ID | None, kind: str) -> int | None:
    if gid is None:
        return None
    try:
        return ids.decode_pk(gid, kind)
    except ids.InvalidId as exc:
        raise ApiError(str(exc), "INVALID_ID") from None


def _filter(f: OrderFilterInput | None) -> ordersvc.OrderFilter:
    if f is None:
        return ordersvc.OrderFilter()
    if f.query is not None and (len(f.query) > 255 or any(ord(c) < 32 for c in f.query)):
        raise ApiError("query is at most 255 characters, without control characters", "INVALID")
    return ordersvc.OrderFilter(
        status=f.status.value if f.status else None,
        payment_status=f.payment_status.value if f.payment_status else None,
        fulfillment_status=f.fulfillment_status.value if f.fulfillment_status else None,
        channel_pk=_pk(f.channel, "Channel"),
        location_pk=_pk(f.location, "Location"),
        customer_pk=_pk(f.customer, "Customer"),
        created_at_min=f.created_at_min,
        created_at_max=f.created_at_max,
        query=f.query or None,
    )


async def _order_nodes(info: Info, pks: list[int]) -> dict[int, ordersvc.OrderRecord]:
    """node(id:): as order(id:): staff see any order, a customer key its own."""
    got = await order_loaders(info).order_by_id.load_many(pks)
    seen = await asyncio.gather(*(may_see(info, o) for o in got))
    return {pk: o for pk, o, ok in zip(pks, got, seen, strict=True) if ok}


register_node("Order", _order_nodes)
