"""Where a staff role reaches (issue 12): a role restricted to some locations or
channels sees and changes only the orders, fulfillment orders and returns there.

An order is in a location scope when its own location (a store sale, an import at a
location) or one of its fulfillment orders is at one of the role's locations; in a
channel scope when it was placed in one of the role's channels. Out of scope is the
ACCESS_DENIED request error (:mod:`schema.permissions`), raised before anything is
written; an id that names nothing is left to the write, which answers NOT_FOUND.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from strawberry.types import Info

from hub import ids
from hub.domain.orders import fulfillment_reads as reads
from schema.loaders import Loader
from schema.orders.loaders import order_loaders
from schema.permissions import denied, require_channel, require_location


class _ScopeLoaders:
    def __init__(self, ctx: Any) -> None:
        reader = ctx.reader

        async def fo_locations(keys: Sequence[int]) -> dict[Hashable, Any]:
            got = await reads.fulfillment_orders_of(reader, keys)
            return {k: frozenset(fo.location_pk for fo in v) for k, v in got.items()}

        async def fos(keys: Sequence[int]) -> dict[Hashable, Any]:
            return {k: v for k, v in (await reads.fulfillment_orders_by_pks(reader, keys)).items()}

        async def fulfillments(keys: Sequence[int]) -> dict[Hashable, Any]:
            return {k: v for k, v in (await reads.fulfillments_by_pks(reader, keys)).items()}

        self.fo_locations_by_order = Loader(fo_locations, default=frozenset)
        self.fo_by_id = Loader(fos)
        self.fulfillment_by_id = Loader(fulfillments)


def _loaders(info: Info) -> _ScopeLoaders:
    ctx = info.context
    got: _ScopeLoaders = ctx.keyed(_ScopeLoaders, lambda: _ScopeLoaders(ctx))
    return got


def restricted(info: Info, permission: str = "orders") -> bool:
    p = info.context.principal
    return p.locations(permission) is not None or p.channels(permission) is not None


async def order_reached(info: Info, order: Any, permission: str = "orders") -> bool:
    """Whether the principal's ``permission`` reaches ``order`` (an OrderRecord)."""
    p = info.context.principal
    if not p.can(permission) or not p.may_channel(order.channel_pk, permission):
        return False
    where = p.locations(permission)
    if where is None or order.location_pk in where:
        return True
    at: frozenset[int] = await _loaders(info).fo_locations_by_order.load(order.pk)
    return bool(at & where)


async def may_see(info: Info, order: Any) -> bool:
    """Whether the request may read ``order``: its customer, or staff whose orders
    permission reaches it."""
    if order is None:
        return False
    p = info.context.principal
    if p.customer_id is not None and p.customer_id == order.customer_pk:
        return True
    return await order_reached(info, order)


def _pk(gid: str | None, kind: str) -> int | None:
    if gid is None:
        return None
    try:
        return ids.decode_pk(gid, kind)
    except ids.InvalidId:
        return None


async def require_order(info: Info, order_gid: str | None, permission: str = "orders") -> None:
    """ACCESS_DENIED unless the order (if it exists) is in the principal's scope."""
    if not restricted(info, permission):
        return
    pk = _pk(order_gid, "Order")
    if pk is None:
        return
    loader = order_loaders(info).order_by_id
    order = await loader.load(pk)
    loader.clear(pk)  # the write changes it: its payload reads it again
    if order is not None and not await order_reached(info, order, permission):
        raise denied(f"the {permission} permission does not reach this order")


async def require_fulfillment_order(info: Info, fo_gid: str | None) -> None:
    """ACCESS_DENIED unless the fulfillment order's location is in scope."""
    if not restricted(info):
        return
    pk = _pk(fo_gid, "FulfillmentOrder")
    fo = None if pk is None else await _loaders(info).fo_by_id.load(pk)
    if fo is not None:
        require_location(info, fo.location_pk, "orders")
        await require_order(info, ids.encode("Order", fo.order_pk))


async def require_fulfillment(info: Info, f_gid: str | None) -> None:
    """ACCESS_DENIED unless the fulfillment's location is in scope."""
    if not restricted(info):
        return
    pk = _pk(f_gid, "Fulfillment")
    got = None if pk is None else await _loaders(info).fulfillment_by_id.load(pk)
    if got is not None:
        require_location(info, got.location_pk, "orders")


def require_at(info: Info, location_gid: str | None, permission: str = "orders") -> None:
    """ACCESS_DENIED unless the location is in scope (no location: only an unrestricted
    principal)."""
    if info.context.principal.locations(permission) is None:
        return
    pk = _pk(location_gid, "Location")
    if location_gid is None or pk is not None:
        require_location(info, pk, permission)


def require_channel_of(info: Info, channel_gid: str | None, permission: str) -> None:
    """ACCESS_DENIED unless the channel is in scope (no channel named: only an
    unrestricted principal)."""
    if info.context.principal.channels(permission) is None:
        return
    pk = _pk(channel_gid, "Channel")
    if channel_gid is None or pk is not None:
        require_channel(info, pk, permission)
