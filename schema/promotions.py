"""Promotions and discount codes for staff: queries and mutations (admin scope).

A promotion's rules are one JSON `definition` in the engine's format (see
`hub.domain.promotions`): `{"conditions": [...], "action": {...}, "combination":
{...}}`, amounts in minor units of `currencyCode`, percentages as decimal strings.
It is validated as a whole; an error names its path (`definition.action.percent`).
Every mutation returns `userErrors` and writes nothing on error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from weakref import WeakKeyDictionary

import strawberry
from strawberry.permission import BasePermission
from strawberry.scalars import JSON
from strawberry.types import Info

from hub.domain import promotions as admin
from hub.domain.paging import InvalidCursor, decode_cursor, encode_cursor
from hub.money import Money
from schema.catalog import DeletePayload, MoneyType
from schema.errors import ApiError, UserError, field_pk
from schema.fieldpaths import run_mapped
from schema.loaders import Loader
from schema.permissions import StaffOnly
from schema.relay import (
    Connection,
    ConnectionValue,
    Node,
    decode_id,
    page_request,
    register_node,
)

ADMIN: list[type[BasePermission]] = [StaffOnly]


# Domain error fields -> API paths: the input's currencyCode is the domain's currency;
# below the first segment are a definition's own JSON keys, shown as they are.
_RENAMES = {"currency": "currency_code"}


async def _write(info: Info, fn: Callable[[], Awaitable[Any]]) -> tuple[Any, list[UserError]]:
    return await run_mapped(info, fn, renames=_RENAMES, depth=1)


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

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, admin.DiscountCodeRecord)


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

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, admin.PromotionRecord)

    @strawberry.field(description="Most it may give away; null: no budget.")
    def budget(self) -> MoneyType | None:
        rec: Any = self
        return None if rec.budget is None else Money(rec.budget, rec.currency)  # type: ignore[return-value]

    @strawberry.field(description="Given away so far (null for a promotion without currency).")
    def budget_spent(self) -> MoneyType | None:
        rec: Any = self
        return None if rec.currency is None else Money(rec.spent, rec.currency)  # type: ignore[return-value]

    @strawberry.field(description="Its discount codes, oldest first.")
    async def codes(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[DiscountCodeType]:
        page = page_request(first, after, None, None, info.context.settings.max_page_size)
        after_pk = None
        if after is not None:
            try:
                _, after_pk = decode_cursor(after, "DC")
            except InvalidCursor as exc:
                raise ApiError(str(exc), "INVALID_CURSOR") from None
        size = page.size(default=20)
        recs, more = await _codes_loader(info, size, after_pk).load(self.pk)  # type: ignore[attr-defined]
        cursors = [encode_cursor("DC", None, r.pk) for r in recs]
        return ConnectionValue(recs, cursors, more, after is not None)  # type: ignore[return-value]


# ------------------------------------------------------------------- inputs


@strawberry.input(
    description="Fields left out are unchanged on update; null clears a limit, budget, "
    "date or currency."
)
class PromotionInput:
    title: str | None = strawberry.UNSET
    status: PromotionStatus | None = strawberry.UNSET
    method: PromotionMethod | None = strawberry.field(
        default=strawberry.UNSET, description="Set on create (default AUTOMATIC); fixed after."
    )
    priority: int | None = strawberry.UNSET
    definition: JSON | None = strawberry.field(
        default=strawberry.UNSET,
        description='{"conditions": [...], "action": {...}, "combination": {...}}',
    )
    currency_code: str | None = strawberry.UNSET
    starts_at: datetime | None = strawberry.UNSET
    ends_at: datetime | None = strawberry.UNSET
    usage_limit: int | None = strawberry.UNSET
    per_customer_limit: int | None = strawberry.UNSET
    budget: Decimal | None = strawberry.field(
        default=strawberry.UNSET, description='In currencyCode, e.g. "5000.00".'
    )


def _given(value: Any) -> Any:
    return admin.KEEP if value is strawberry.UNSET else value


def _input(i: PromotionInput) -> admin.PromotionInput:
    def enum_value(v: Any) -> Any:
        v = _given(v)
        return v.value if isinstance(v, Enum) else v

    return admin.PromotionInput(
        title=_given(i.title),
        status=enum_value(i.status),
        method=enum_value(i.method),
        priority=_given(i.priority),
        definition=_given(i.definition),
        currency=_given(i.currency_code),
        starts_at=_given(i.starts_at),
        ends_at=_given(i.ends_at),
        usage_limit=_given(i.usage_limit),
        per_customer_limit=_given(i.per_customer_limit),
        budget=_given(i.budget),
    )


# ------------------------------------------------------------------- payloads


@strawberry.type
class PromotionPayload:
    promotion: PromotionType | None
    user_errors: list[UserError]


@strawberry.type
class DiscountCodePayload:
    discount_code: DiscountCodeType | None
    user_errors: list[UserError]


@strawberry.type
class DiscountCodesGeneratePayload:
    promotion: PromotionType | None
    codes: list[str] = strawberry.field(description="The codes made, to hand out.")
    user_errors: list[UserError]


async def _promotion(info: Info, pk: int | None) -> admin.PromotionRecord | None:
    if pk is None:
        return None
    return (await admin.promotions_by_pks(info.context.reader, [pk])).get(pk)


# ------------------------------------------------------------------- operations


@strawberry.type
class PromotionQuery:
    @strawberry.field(
        permission_classes=ADMIN,
        description="Promotions by id; `query` matches title words or a code exactly.",
    )
    async def promotions(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        query: str | None = None,
        status: PromotionStatus | None = None,
    ) -> Connection[PromotionType]:
        ctx = info.context
        page = page_request(first, after, last, before, ctx.settings.max_page_size)
        try:
            recs, cursors, has_next, has_prev = await admin.list_promotions(
                ctx.reader, page, query=query, status=status.value if status else None
            )
        except InvalidCursor as exc:
            raise ApiError(str(exc), "INVALID_CURSOR") from None
        return ConnectionValue(recs, cursors, has_next, has_prev)  # type: ignore[return-value]

    @strawberry.field(permission_classes=ADMIN)
    async def promotion(self, info: Info, id: strawberry.ID) -> PromotionType | None:
        return await _promotion(info, decode_id(id, "Promotion"))  # type: ignore[return-value]


@strawberry.type
class PromotionMutation:
    @strawberry.mutation(permission_classes=ADMIN)
    async def promotion_create(self, info: Info, input: PromotionInput) -> PromotionPayload:
        pk, errs = await _write(
            info, lambda: admin.create_promotion(info.context.db, _input(input))
        )
        return PromotionPayload(promotion=await _promotion(info, pk), user_errors=errs)  # type: ignore[arg-type]

    @strawberry.mutation(permission_classes=ADMIN)
    async def promotion_update(
        self, info: Info, id: strawberry.ID, input: PromotionInput
    ) -> PromotionPayload:
        async def go() -> int:
            return await admin.update_promotion(
                info.context.db, field_pk(id, "Promotion", "id"), _input(input)
            )

        pk, errs = await _write(info, go)
        return PromotionPayload(promotion=await _promotion(info, pk), user_errors=errs)  # type: ignore[arg-type]

    @strawberry.mutation(
        permission_classes=ADMIN,
        description="Delete a promotion never used on an order (else IN_USE: archive it).",
    )
    async def promotion_delete(self, info: Info, id: strawberry.ID) -> DeletePayload:
        async def go() -> str:
            await admin.delete_promotion(info.context.db, field_pk(id, "Promotion", "id"))
            return id

        done, errs = await _write(info, go)
        return DeletePayload(deleted_id=done, user_errors=errs)

    @strawberry.mutation(permission_classes=ADMIN)
    async def discount_code_create(
        self,
        info: Info,
        promotion_id: strawberry.ID,
        code: str,
        usage_limit: int | None = None,
    ) -> DiscountCodePayload:
        async def go() -> int:
            return await admin.create_code(
                info.context.db,
                field_pk(promotion_id, "Promotion", "promotionId"),
                code,
                usage_limit,
            )

        pk, errs = await _write(info, go)
        rec = None
        if pk is not None:
            rec = (await admin.codes_by_pks(info.context.reader, [pk])).get(pk)
        return DiscountCodePayload(discount_code=rec, user_errors=errs)  # type: ignore[arg-type]

    @strawberry.mutation(
        permission_classes=ADMIN,
        description="Make `count` (at most 10,000) unguessable codes: `prefix` plus "
        "`length` random symbols (default 12, at least 8) from 32 unambiguous ones.",
    )
    async def discount_codes_generate(
        self,
        info: Info,
        promotion_id: strawberry.ID,
        count: int,
        prefix: str = "",
        length: int = admin.DEFAULT_CODE_LENGTH,
        usage_limit: int | None = None,
    ) -> DiscountCodesGeneratePayload:
        pk_holder: list[int] = []

        async def go() -> list[str]:
            pk = field_pk(promotion_id, "Promotion", "promotionId")
            pk_holder.append(pk)
            return await admin.generate_codes(
                info.context.db, pk, count, prefix=prefix, length=length, usage_limit=usage_limit
            )

        codes, errs = await _write(info, go)
        promotion = await _promotion(info, pk_holder[0]) if codes else None
        return DiscountCodesGeneratePayload(
            promotion=promotion,  # type: ignore[arg-type]
            codes=codes or [],
            user_errors=errs,
        )


async def _promotion_nodes(info: Info, pks: list[int]) -> dict[int, admin.PromotionRecord]:
    """node(id:): staff only, as promotion(id:)."""
    if not info.context.staff:
        return {}
    return await admin.promotions_by_pks(info.context.reader, pks)


async def _code_nodes(info: Info, pks: list[int]) -> dict[int, admin.DiscountCodeRecord]:
    """node(id:): staff only (codes are the promotion's secrets)."""
    if not info.context.staff:
        return {}
    return await admin.codes_by_pks(info.context.reader, pks)


register_node("Promotion", _promotion_nodes)
register_node("DiscountCode", _code_nodes)
