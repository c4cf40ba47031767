"""Promotion queries (admin scope) and the ``node(id:)`` fetchers of promotions and
discount codes."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from hub.domain import promotions as admin
from hub.domain.paging import PageRequest
from schema.calls import keyset_page
from schema.permissions import needs
from schema.promotions.types import PromotionStatus, PromotionType, promotion_by_pk
from schema.relay import (
    Connection,
    decode_id,
    paged,
    register_node,
    staff_only,
)

# ------------------------------------------------------------------- operations


@strawberry.type
class PromotionQuery:
    @strawberry.field(
        permission_classes=needs("promotions"),
        description="Promotions by id; `query` matches title words or a code exactly.",
    )
    @paged
    async def promotions(
        self,
        info: Info,
        page: PageRequest,
        query: str | None = None,
        status: PromotionStatus | None = None,
    ) -> Connection[PromotionType]:
        ctx = info.context
        status_ = status.value if status else None
        found = admin.list_promotions(ctx.reader, page, query=query, status=status_)
        # mypy is told to ignore the next line: a record stands in for the type it resolves to
        return await keyset_page(found)  # type: ignore[return-value]

    @strawberry.field(permission_classes=needs("promotions"))
    async def promotion(self, info: Info, id: strawberry.ID) -> PromotionType | None:
        # mypy is told to ignore the next line: a record stands in for the type it resolves to
        return await promotion_by_pk(info, decode_id(id, "Promotion"))  # type: ignore[return-value]


# node(id:): staff only, as promotion(id:); codes too (they are the promotion's secrets).
register_node("Promotion", staff_only(admin.promotions_by_pks, "promotions"))
register_node("DiscountCode", staff_only(admin.codes_by_pks, "promotions"))
