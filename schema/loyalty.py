"""Loyalty administration on the API (staff): adjusting points, expiring inactive
points, the tiers, and a channel's earning rule. A customer's own points, tier and
history are ``Customer.loyalty`` (:mod:`schema.loyalty_types`); redeeming points is
``cartLoyaltyRedeem``."""

from __future__ import annotations

from enum import Enum
from typing import Any, cast

import strawberry
from strawberry.types import Info

from hub.domain import customers as cust
from hub.domain import loyalty
from hub.domain.loyalty import admin
from schema.customers import CustomerType
from schema.errors import UserError, field_pk, run_write
from schema.permissions import needs


@strawberry.enum
class LoyaltyTierBasis(Enum):
    POINTS = "POINTS"
    SPEND = "SPEND"


@strawberry.enum
class LoyaltyRounding(Enum):
    DOWN = "DOWN"
    NEAREST = "NEAREST"
    UP = "UP"


@strawberry.type(name="LoyaltyTier")
class LoyaltyTierType:
    id: strawberry.ID
    handle: str
    name: str
    rank: int = strawberry.field(description="The highest-ranked tier reached wins.")
    basis: LoyaltyTierBasis = strawberry.field(resolver=lambda root: LoyaltyTierBasis(root.basis))
    threshold: int = strawberry.field(
        description="Points earned (POINTS) or minor units spent (SPEND) within the window."
    )
    currency_code: str | None = strawberry.field(resolver=lambda root: root.currency)
    window_days: int


@strawberry.input
class LoyaltyTierInput:
    handle: str
    name: str
    rank: int
    basis: LoyaltyTierBasis
    threshold: int = strawberry.field(
        description="Points earned, or minor units of currencyCode spent (paid less refunded)."
    )
    currency_code: str | None = None
    window_days: int = 365


@strawberry.type
class LoyaltyAdjustPayload:
    customer: CustomerType | None
    user_errors: list[UserError]


@strawberry.type
class LoyaltyTiersSetPayload:
    tiers: list[LoyaltyTierType] | None
    user_errors: list[UserError]


@strawberry.type
class LoyaltyEarningRulePayload:
    channel_id: strawberry.ID | None
    user_errors: list[UserError]


@strawberry.type
class LoyaltyExpirePayload:
    expired_accounts: int | None
    user_errors: list[UserError]


@strawberry.type
class LoyaltyQuery:
    @strawberry.field(description="The loyalty tiers, lowest rank first.")
    async def loyalty_tiers(self, info: Info) -> list[LoyaltyTierType]:
        return cast(list[LoyaltyTierType], await loyalty.list_tiers(info.context.reader))


@strawberry.type
class LoyaltyMutation:
    @strawberry.mutation(
        permission_classes=needs("customers"),
        description="Add (positive) or remove (negative) a customer's points, with a note; "
        "never below zero (INSUFFICIENT_POINTS). An idempotencyKey makes it happen once.",
    )
    async def loyalty_adjust(
        self,
        info: Info,
        customer_id: strawberry.ID,
        points: int,
        note: str | None = None,
        idempotency_key: str | None = None,
    ) -> LoyaltyAdjustPayload:
        async def go() -> int:
            pk = field_pk(customer_id, "Customer", "customerId")
            got, events = await admin.adjust_points(
                info.context.db, pk, points, note, idempotency_key
            )
            await info.context.hub.publish(events)
            return got

        pk, errs = await run_write(info, go)
        customer = await cust.get_customer(info.context.reader, pk) if pk else None
        return LoyaltyAdjustPayload(customer=cast(CustomerType | None, customer), user_errors=errs)

    @strawberry.mutation(
        permission_classes=needs("customers"),
        description="Replace the tiers; every customer's tier is recomputed.",
    )
    async def loyalty_tiers_set(
        self, info: Info, tiers: list[LoyaltyTierInput]
    ) -> LoyaltyTiersSetPayload:
        rows = [
            admin.TierInput(
                handle=t.handle,
                name=t.name,
                rank=t.rank,
                basis=t.basis.value,
                threshold=t.threshold,
                currency=t.currency_code,
                window_days=t.window_days,
            )
            for t in tiers
        ]
        got, errs = await run_write(
            info,
            lambda: admin.set_tiers(info.context.db, rows),
            renames={"currency": "currencyCode"},
        )
        return LoyaltyTiersSetPayload(tiers=cast(Any, got), user_errors=errs)

    @strawberry.mutation(
        permission_classes=needs("customers"),
        description="A channel's earning rule: earnPoints points per earnPer minor units "
        "paid, the fraction rounded DOWN, NEAREST or UP; a point redeems for pointValue "
        "minor units. earnPoints 0: no points on the channel.",
    )
    async def loyalty_earning_rule_update(
        self,
        info: Info,
        channel_id: strawberry.ID,
        earn_points: int | None = None,
        earn_per: int | None = None,
        rounding: LoyaltyRounding | None = None,
        point_value: int | None = None,
    ) -> LoyaltyEarningRulePayload:
        rule = admin.EarningRule(
            earn_points, earn_per, rounding.value if rounding else None, point_value
        )

        async def go() -> int:
            pk = field_pk(channel_id, "Channel", "channelId")
            return await admin.set_earning_rule(info.context.db, pk, rule)

        pk, errs = await run_write(info, go)
        return LoyaltyEarningRulePayload(
            channel_id=channel_id if pk is not None else None, user_errors=errs
        )

    @strawberry.mutation(
        permission_classes=needs("customers"),
        description="Expire the points of accounts with no earn or redeem for inactiveDays "
        "(an EXPIRE row each).",
    )
    async def loyalty_expire(self, info: Info, inactive_days: int) -> LoyaltyExpirePayload:
        got, errs = await run_write(
            info, lambda: admin.expire_points(info.context.db, inactive_days)
        )
        return LoyaltyExpirePayload(
            expired_accounts=got[0] if got is not None else None, user_errors=errs
        )
