"""Backorders and pre-orders over GraphQL: a variant's inventory policy (set by
staff, shown to storefronts on ``ProductVariant.inventoryPolicy``) and the backorder
queue (staff)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import date, datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from hub import ids
from hub.domain import backorders as bo
from schema.errors import ApiCode, ApiError, UserError, decode_id, run_write
from schema.loaders import Loader
from schema.permissions import needs


@strawberry.enum(name="InventoryPolicy")
class InventoryPolicyEnum(Enum):
    DENY = "DENY"
    BACKORDER = "BACKORDER"
    PREORDER = "PREORDER"


@strawberry.type(name="VariantInventoryPolicy")
class VariantInventoryPolicyType:
    policy: InventoryPolicyEnum = strawberry.field(
        description="DENY: never sold beyond stock; BACKORDER or PREORDER: sold beyond "
        "stock, against incoming stock."
    )
    expected_on: date | None = strawberry.field(
        description="When the stock sold beyond what is on hand is expected."
    )
    backorderable: bool = strawberry.field(
        description="Whether units beyond stock can be bought now (the policy allows it "
        "and its cap is not reached)."
    )
    preorder: bool = strawberry.field(description="Sold as a pre-order.")
    remaining: int | None = strawberry.field(
        description="Units that may still be sold beyond stock (null: no cap)."
    )
    backorder_limit: int | None = strawberry.field(
        permission_classes=needs("inventory"), description="The cap (staff)."
    )
    backordered: int = strawberry.field(
        permission_classes=needs("inventory"),
        description="Units sold beyond stock, not allocated yet (staff).",
    )


def policy_type(rec: bo.PolicyRecord) -> VariantInventoryPolicyType:
    room = rec.room
    return VariantInventoryPolicyType(
        policy=InventoryPolicyEnum(rec.policy.value),
        expected_on=rec.expected_on,
        backorderable=rec.sells_beyond_stock and (room is None or room > 0),
        preorder=rec.policy is bo.InventoryPolicy.PREORDER,
        remaining=room if rec.sells_beyond_stock else 0,
        backorder_limit=rec.backorder_limit,
        backordered=rec.backordered,
    )


async def variant_policy(info: Info, variant_pk: int) -> VariantInventoryPolicyType:
    """The variant's policy, batched over a request's variants (one statement)."""
    ctx = info.context

    async def fetch(keys: Sequence[int]) -> dict[Hashable, Any]:
        got = await bo.policies_for(ctx.reader, list(keys))
        return dict(got.items())

    loader: Loader = ctx.keyed("variant_inventory_policy", lambda: Loader(fetch))
    return policy_type(await loader.load(variant_pk))


@strawberry.type(name="Backorder")
class BackorderType:
    id: strawberry.ID
    variant_id: strawberry.ID
    location_id: strawberry.ID
    order_id: strawberry.ID
    fulfillment_order_id: strawberry.ID | None
    policy: InventoryPolicyEnum
    quantity: int
    quantity_allocated: int
    status: str = strawberry.field(description="OPEN, ALLOCATED or CANCELLED.")
    created_at: datetime
    allocated_at: datetime | None


def backorder_type(r: bo.BackorderRecord) -> BackorderType:
    fo = r.fulfillment_order_pk
    return BackorderType(
        id=strawberry.ID(ids.encode("Backorder", r.pk)),
        variant_id=strawberry.ID(ids.encode("ProductVariant", r.variant_pk)),
        location_id=strawberry.ID(ids.encode("Location", r.location_pk)),
        order_id=strawberry.ID(ids.encode("Order", r.order_pk)),
        fulfillment_order_id=strawberry.ID(ids.encode("FulfillmentOrder", fo)) if fo else None,
        policy=InventoryPolicyEnum(r.policy),
        quantity=r.quantity,
        quantity_allocated=r.quantity_allocated,
        status=r.status,
        created_at=r.created_at,
        allocated_at=r.allocated_at,
    )


@strawberry.input
class VariantInventoryPolicyInput:
    variant_id: strawberry.ID
    policy: InventoryPolicyEnum
    expected_on: date | None = None
    backorder_limit: int | None = strawberry.field(
        default=None, description="Units that may be sold beyond stock at once (null: no cap)."
    )


@strawberry.type
class VariantInventoryPolicyPayload:
    inventory_policy: VariantInventoryPolicyType | None
    user_errors: list[UserError]


def _pk(gid: str | None, kind: str) -> int | None:
    """A filter's id, or a request error (INVALID_ID) for a malformed one."""
    if gid is None:
        return None
    try:
        return ids.decode_pk(gid, kind)
    except ids.InvalidId:
        raise ApiError(f"not a {kind} id", ApiCode.INVALID_ID) from None


@strawberry.type
class BackorderQuery:
    @strawberry.field(
        permission_classes=needs("inventory"),
        description="Backorders oldest first (the order stock is allocated to them), by "
        "variant or order; `first` at most 100, `after` the last id of the page before.",
    )
    async def backorders(
        self,
        info: Info,
        variant_id: strawberry.ID | None = None,
        order_id: strawberry.ID | None = None,
        first: int = 50,
        after: strawberry.ID | None = None,
    ) -> list[BackorderType]:
        if not 0 < first <= bo.MAX_PAGE:
            raise ApiError(f"first must be 1 to {bo.MAX_PAGE}", ApiCode.INVALID_PAGE)
        got = await bo.queue(
            info.context.reader,
            variant_pk=_pk(variant_id, "ProductVariant"),
            order_pk=_pk(order_id, "Order"),
            limit=first,
            after=_pk(after, "Backorder"),
        )
        return [backorder_type(r) for r in got]


@strawberry.type
class BackorderMutation:
    @strawberry.mutation(
        permission_classes=needs("inventory"),
        description="Let a variant be sold beyond stock (BACKORDER, PREORDER with the "
        "date stock is expected) or not (DENY), with an optional cap.",
    )
    async def variant_inventory_policy_set(
        self, info: Info, input: VariantInventoryPolicyInput
    ) -> VariantInventoryPolicyPayload:
        service: bo.Backorders = info.context.hub.backorders

        async def write() -> bo.PolicyRecord:
            pk = decode_id(input.variant_id, "ProductVariant", "variantId")
            return await service.set_policy(
                pk, bo.InventoryPolicy(input.policy.value), input.expected_on, input.backorder_limit
            )

        rec, errs = await run_write(info, write)
        return VariantInventoryPolicyPayload(
            inventory_policy=policy_type(rec) if rec is not None else None, user_errors=errs
        )
