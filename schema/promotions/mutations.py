"""Promotion and discount-code mutations (admin scope).

A promotion's rules are one JSON `definition` in the engine's format (see
`hub.domain.promotions`): `{"conditions": [...], "action": {...}, "combination":
{...}}`, amounts in minor units of `currencyCode`, percentages as decimal strings.
It is validated as a whole; an error names its path (`definition.action.percent`).
Every mutation returns `userErrors` and writes nothing on error.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from hub.domain import promotions as admin
from schema.catalog import DeletePayload, delete_payload
from schema.errors import CURRENCY_CODE, UserError, field_pk, run_write
from schema.permissions import needs
from schema.promotions.types import (
    DiscountCodeType,
    PromotionMethod,
    PromotionStatus,
    PromotionType,
    promotion_by_pk,
)

# Writes run with renames=CURRENCY_CODE (the input's currencyCode is the domain's
# currency) and depth=1 (below the first segment are a definition's own JSON keys,
# shown as they are).


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


@strawberry.type
class PromotionMutation:
    @strawberry.mutation(permission_classes=needs("promotions"))
    async def promotion_create(self, info: Info, input: PromotionInput) -> PromotionPayload:
        pk, errs = await run_write(
            info,
            lambda: admin.create_promotion(info.context.db, _input(input)),
            renames=CURRENCY_CODE,
            depth=1,
        )
        # mypy is told to ignore the next line: a record stands in for the type it resolves to
        return PromotionPayload(promotion=await promotion_by_pk(info, pk), user_errors=errs)  # type: ignore[arg-type]

    @strawberry.mutation(permission_classes=needs("promotions"))
    async def promotion_update(
        self, info: Info, id: strawberry.ID, input: PromotionInput
    ) -> PromotionPayload:
        async def go() -> int:
            return await admin.update_promotion(
                info.context.db, field_pk(id, "Promotion", "id"), _input(input)
            )

        pk, errs = await run_write(info, go, renames=CURRENCY_CODE, depth=1)
        # mypy is told to ignore the next line: a record stands in for the type it resolves to
        return PromotionPayload(promotion=await promotion_by_pk(info, pk), user_errors=errs)  # type: ignore[arg-type]

    @strawberry.mutation(
        permission_classes=needs("promotions"),
        description="Delete a promotion never used on an order (else IN_USE: archive it).",
    )
    async def promotion_delete(self, info: Info, id: strawberry.ID) -> DeletePayload:
        return await delete_payload(
            info, id, "Promotion", admin.delete_promotion, renames=CURRENCY_CODE, depth=1
        )

    @strawberry.mutation(permission_classes=needs("promotions"))
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

        pk, errs = await run_write(info, go, renames=CURRENCY_CODE, depth=1)
        rec = None
        if pk is not None:
            rec = (await admin.codes_by_pks(info.context.reader, [pk])).get(pk)
        # mypy is told to ignore the next line: a record stands in for the type it resolves to
        return DiscountCodePayload(discount_code=rec, user_errors=errs)  # type: ignore[arg-type]

    @strawberry.mutation(
        permission_classes=needs("promotions"),
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

        codes, errs = await run_write(info, go, renames=CURRENCY_CODE, depth=1)
        promotion = await promotion_by_pk(info, pk_holder[0]) if codes else None
        return DiscountCodesGeneratePayload(
            # mypy is told to ignore the next line: a record stands in for the type it resolves to
            promotion=promotion,  # type: ignore[arg-type]
            codes=codes or [],
            user_errors=errs,
        )
