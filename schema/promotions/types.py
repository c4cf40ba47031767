"""Promotion and discount-code types on the API (staff only), their enums and the
loader of a promotion's codes."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any
from weakref import WeakKeyDictionary

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from hub.domain import promotions as admin
from hub.domain.paging import PageRequest, encode_cursor
from hub.money import Money
from schema.calls import after_cursor
from schema.catalog import MoneyType
from schema.loaders import Loader
from schema.relay import (
    Connection,
    ConnectionValue,
    Node,
    forward_paged,
    is_record,
)


@strawberry.enum
class PromotionStatus(Enum):
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    ARCHIVED = "ARCHIVED"


@strawberry.enum(description="AUTOMATIC applies by itself; CODE needs one of its codes.")
class PromotionMethod(Enum):
    AUTOMATIC = "AUTOMATIC"
    CODE = "CODE"


# ------------------------------------------------------------------- loaders

_LOADERS: WeakKeyDictionary[Any, dict[Any, Loader]] = WeakKeyDictionary()


def _codes_loader(info: Info, first: int, after: int | None) -> Loader:
    """One batched statement for the codes of every promotion on a page."""
    ctx = info.context
    loaders = _LOADERS.setdefault(ctx, {})
    key = ("codes", first, after)
    loader = loaders.get(key)
    if loader is None:

        async def fetch(pks: Any) -> dict[Any, Any]:
            return await admin.codes_by_promotions(ctx.reader, list(pks), first, after)

        loader = loaders[key] = Loader(fetch, default=lambda: ([], False))
    return loader


# ------------------------------------------------------------------- types


@strawberry.type(name="DiscountCode")
class DiscountCodeType(Node):
    id: strawberry.ID
    code: str = strawberry.field(description="As created; matched case-insensitively.")
    usage_limit: int | None
    times_used: int
    created_at: datetime

    is_type_of = is_record(admin.DiscountCodeRecord)


@strawberry.type(name="Promotion")
class PromotionType(Node):
    id: strawberry.ID
    title: str
    status: PromotionStatus = strawberry.field(resolver=lambda root: PromotionStatus(root.status))
    method: PromotionMethod = strawberry.field(resolver=lambda root: PromotionMethod(root.method))
    priority: int = strawberry.field(description="Higher is considered first.")
    definition: JSON = strawberry.field(
        description="Conditions, action and combination in the engine's JSON format."
    )
    currency_code: str | None = strawberry.field(resolver=lambda root: root.currency)
    starts_at: datetime | None
    ends_at: datetime | None
    usage_limit: int | None = strawberry.field(description="Total uses allowed; null: no limit.")
    per_customer_limit: int | None
    times_used: int
    codes_count: int
    created_at: datetime
    updated_at: datetime

    is_type_of = is_record(admin.PromotionRecord)

    @strawberry.field(description="Most it may give away; null: no budget.")
    def budget(self) -> MoneyType | None:
        rec: Any = self
        # mypy is told to ignore the next line: a record stands in for the type it resolves to
        return None if rec.budget is None else Money(rec.budget, rec.currency)  # type: ignore[return-value]

    @strawberry.field(description="Given away so far (null for a promotion without currency).")
    def budget_spent(self) -> MoneyType | None:
        rec: Any = self
        # mypy is told to ignore the next line: a record stands in for the type it resolves to
        return None if rec.currency is None else Money(rec.spent, rec.currency)  # type: ignore[return-value]

    @strawberry.field(description="Its discount codes, oldest first.")
    @forward_paged
    async def codes(self, info: Info, page: PageRequest) -> Connection[DiscountCodeType]:
        got = after_cursor(page.after, "DC")
        after_pk = None if got is None else got[1]
        size = page.size(default=20)
        # mypy is told to ignore the next line: at run time self is the record, not the type
        recs, more = await _codes_loader(info, size, after_pk).load(self.pk)  # type: ignore[attr-defined]
        cursors = [encode_cursor("DC", None, r.pk) for r in recs]
        # mypy is told to ignore the next line: a record stands in for the type it resolves to
        return ConnectionValue(recs, cursors, more, page.after is not None)  # type: ignore[return-value]


async def promotion_by_pk(info: Info, pk: int | None) -> admin.PromotionRecord | None:
    if pk is None:
        return None
    return (await admin.promotions_by_pks(info.context.reader, [pk])).get(pk)
