"""What staff see of a profile at a till (clienteling): purchase history across every
channel, lifetime value, average order value, last order, return count, and the
profile's timeline. Each loads for a whole page of customers in one statement (a
per-request loader), so ``customers(query:)`` costs the same statements whatever
its size."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from hub.domain.customers import profiles, timeline
from hub.money import Money
from schema.catalog import MoneyType
from schema.loaders import Loader


@strawberry.type(name="CustomerStats")
class CustomerStatsType:
    orders_count: int = strawberry.field(
        description="Orders bought (not cancelled, paid or authorized) on every channel."
    )
    return_count: int = strawberry.field(
        description="Orders refunded in full or in part (returns are counted from refunds "
        "until returns are recorded as such)."
    )
    last_order_at: datetime | None
    lifetime_value: list[MoneyType] = strawberry.field(
        description="Paid less refunded, per currency."
    )
    average_order_value: list[MoneyType] = strawberry.field(description="Per currency.")


def stats_value(s: profiles.Stats | None) -> CustomerStatsType:
    s = s or profiles.Stats()
    return CustomerStatsType(
        orders_count=s.orders_count,
        return_count=s.return_count,
        last_order_at=s.last_order_at,
        lifetime_value=[cast(MoneyType, Money(c.spent, c.currency)) for c in s.by_currency],
        average_order_value=[cast(MoneyType, Money(c.average, c.currency)) for c in s.by_currency],
    )


@strawberry.type(name="CustomerTimelineEvent")
class CustomerTimelineEventType:
    id: strawberry.ID
    kind: str = strawberry.field(description="MERGED, MERGED_INTO, EXPORTED or ERASED.")
    data: JSON
    created_at: datetime


class _Loaders:
    def __init__(self, ctx: Any) -> None:
        reader = ctx.reader

        async def stats(keys: Sequence[int]) -> Mapping[Any, Any]:
            return await profiles.stats_of(reader, keys)

        async def events(keys: Sequence[int]) -> Mapping[Any, Any]:
            return await timeline.events_of(reader, keys)

        self.stats = Loader(stats)
        self.timeline = Loader(events, default=list)
        self._recent: dict[int, Loader] = {}

    def recent(self, ctx: Any, size: int) -> Loader:
        loader = self._recent.get(size)
        if loader is None:
            reader = ctx.reader

            async def fetch(keys: Sequence[int]) -> Mapping[Any, Any]:
                return await profiles.recent_orders_of(reader, keys, size)

            loader = self._recent[size] = Loader(fetch, default=list)
        return loader


def profile_loaders(info: Info) -> _Loaders:
    ctx = info.context
    got: _Loaders = ctx.keyed(_Loaders, lambda: _Loaders(ctx))
    return got


async def stats_of(info: Info, pk: int) -> CustomerStatsType:
    return stats_value(await profile_loaders(info).stats.load(pk))


async def recent_orders_of(info: Info, pk: int, size: int) -> list[Any]:
    got: list[Any] = await profile_loaders(info).recent(info.context, size).load(pk)
    return got


async def timeline_of(info: Info, pk: int) -> list[CustomerTimelineEventType]:
    got = await profile_loaders(info).timeline.load(pk)
    return cast(list[CustomerTimelineEventType], got)
