"""Per-request loaders of orders and what hangs off them (lines, payments), keyed on
the request context: a page of orders costs the same few statements whatever its size."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from strawberry.types import Info

from hub.domain import orders as ordersvc
from schema.loaders import Loader


class _OrderLoaders:
    def __init__(self, ctx: Any) -> None:
        reader = ctx.reader

        async def lines(keys: Sequence[ordersvc.OrderRecord]) -> dict[Hashable, Any]:
            got = await ordersvc.lines_by_orders(reader, keys)
            return {pk: found for pk, found in got.items()}

        async def payments(keys: Sequence[ordersvc.OrderRecord]) -> dict[Hashable, Any]:
            got = await ordersvc.payments_by_orders(reader, keys)
            return {pk: found for pk, found in got.items()}

        async def events(keys: Sequence[ordersvc.OrderRecord]) -> dict[Hashable, Any]:
            got = await ordersvc.events_by_orders(reader, keys)
            return dict(got.items())

        async def txns(keys: Sequence[ordersvc.OrderRecord]) -> dict[Hashable, Any]:
            got = await ordersvc.transactions_by_orders(reader, keys)
            return dict(got.items())

        async def refunds(keys: Sequence[ordersvc.OrderRecord]) -> dict[Hashable, Any]:
            got = await ordersvc.refunds_by_orders(reader, keys)
            return dict(got.items())

        self.events_by_order = Loader(events, default=list, key=lambda o: o.pk)
        self.transactions_by_order = Loader(txns, default=list, key=lambda o: o.pk)
        self.refunds_by_order = Loader(refunds, default=list, key=lambda o: o.pk)
        self.lines_by_order = Loader(lines, default=list, key=lambda o: o.pk)
        self.payments_by_order = Loader(payments, default=list, key=lambda o: o.pk)

        async def orders(keys: Sequence[int]) -> dict[Hashable, Any]:
            got = await ordersvc.orders_by_pks(reader, keys)
            return {pk: order for pk, order in got.items()}

        self.order_by_id = Loader(orders)


def order_loaders(info: Info) -> _OrderLoaders:
    ctx = info.context
    got: _OrderLoaders = ctx.keyed(_OrderLoaders, lambda: _OrderLoaders(ctx))
    return got
