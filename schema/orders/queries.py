"""``order`` and ``orders`` and the Order node: staff see any order, a customer its own."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from hub import ids
from hub.domain import orders as ordersvc
from hub.domain.paging import encode_cursor
from schema.calls import after_cursor
from schema.errors import ApiError
from schema.orders.loaders import may_see, order_loaders
from schema.orders.types import OrderType
from schema.relay import Connection, ConnectionValue, page_request, register_node


@strawberry.type
class OrderQuery:
    @strawberry.field(description="An order by id: staff see any, a customer its own.")
    async def order(self, info: Info, id: strawberry.ID) -> OrderType | None:
        try:
            pk = ids.decode_pk(id, "Order")
        except ids.InvalidId as exc:
            raise ApiError(str(exc), "INVALID_ID") from None
        got = await order_loaders(info).order_by_id.load(pk)
        return got if may_see(info, got) else None

    @strawberry.field(description="Orders, newest first: all for staff, a customer's own.")
    async def orders(
        self, info: Info, first: int = 10, after: str | None = None
    ) -> Connection[OrderType]:
        p = info.context.principal
        if not p.is_staff and p.customer_id is None:
            raise ApiError("orders need a customer or admin key", "ACCESS_DENIED")
        page = page_request(first, after, None, None, info.context.settings.max_page_size)
        got = after_cursor(after, "Order")
        before_pk = None if got is None else got[1]
        size = page.size(10)
        rows = await ordersvc.orders_for_customer(
            info.context.reader,
            None if p.is_staff else p.customer_id,
            limit=size + 1,
            before_pk=before_pk,
        )
        has_next = len(rows) > size
        rows = rows[:size]
        # The connection of records stands for the GraphQL connection (resolved by name).
        return ConnectionValue(  # type: ignore[return-value]
            rows, [encode_cursor("Order", None, o.pk) for o in rows], has_next, after is not None
        )


async def _order_nodes(info: Info, pks: list[int]) -> dict[int, ordersvc.OrderRecord]:
    """node(id:): as order(id:): staff see any order, a customer key its own."""
    got = await order_loaders(info).order_by_id.load_many(pks)
    return {pk: o for pk, o in zip(pks, got, strict=True) if may_see(info, o)}


register_node("Order", _order_nodes)
