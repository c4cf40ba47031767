"""``orderByToken``: a guest's order, shown from the status token checkoutComplete
returned with it (no account needed). Each look-up is a token check: limited per
client address (:mod:`schema.accounts.guard`); over the limit it is a THROTTLED error."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from hub.domain import orders as ordersvc
from schema.orders import OrderType
from schema.throttle import take


@strawberry.type
class AccountQuery:
    @strawberry.field(
        description="A guest's order by the status token checkoutComplete returned "
        "(`statusToken`); null for any other token."
    )
    async def order_by_token(self, info: Info, token: str) -> OrderType | None:
        ctx = info.context
        await take(info, "order-token", ctx.settings.rate_limit_token_checks, what="order look-ups")
        found: OrderType | None = await ordersvc.order_by_status_token(ctx.reader, token.strip())  # type: ignore[assignment]  # a record stands for the type
        return found
