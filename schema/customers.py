"""Customers on the API: the `Customer` type, `customer(id:)`, and the staff mutations
(`staffCustomerCreate`, `staffCustomerUpdate`; the storefront's sign-up and the
signed-in customer's own changes are `customerCreate` and `customerUpdate`, see
:mod:`schema.accounts`).

Staff (admin scope) see and change every customer. A key with the customer scope
acts for one customer and sees only that one: `customer` without an id is that
customer, and asking for another id returns null.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

import strawberry
from strawberry.types import Info
from strawberry.types.unset import UNSET

from hub import ids
from hub.domain import customers as cust
from schema.accounts.profile import CustomerAccountFields
from schema.customer_stats import (
    CustomerStatsType,
    CustomerTimelineEventType,
    recent_orders_of,
    stats_of,
    timeline_of,
)
from schema.errors import ApiError, UserError, field_pk, run_write
from schema.loyalty_types import CustomerLoyalty, loyalty_of
from schema.orders import OrderType
from schema.patches import apply_given
from schema.permissions import needs
from schema.relay import Node, is_record, register_node

MAX_PURCHASE_HISTORY = 50


@strawberry.type(name="Customer")
class CustomerType(Node, CustomerAccountFields):
    id: strawberry.ID
    email: str = strawberry.field(description="Lowercased; unique whatever its case.")
    phone: str | None
    first_name: str
    last_name: str
    display_name: str
    customer_group: str | None = strawberry.field(
        description='The group price lists target, e.g. "wholesale".'
    )
    segments: list[str] = strawberry.field(description='Marketing segments, e.g. ["vip"].')
    orders_count: int
    tax_exempt_vat_id: str | None = strawberry.field(
        description="A business buyer's VAT id; the tax engine decides on exemption."
    )
    accepts_marketing: bool = strawberry.field(
        description="Marketing consent: marketing events are emitted only while given."
    )
    erased_at: datetime | None = strawberry.field(
        description="When the personal data was erased (customerErase)."
    )
    created_at: datetime
    updated_at: datetime

    is_type_of = is_record(cust.CustomerRecord)

    @strawberry.field(description="Points, tier, card number and the points history.")
    async def loyalty(
        self, info: Info, root: strawberry.Parent[cust.CustomerRecord]
    ) -> CustomerLoyalty:
        return await loyalty_of(info, root.pk, root.loyalty_tier)

    @strawberry.field(description="The profile this duplicate was merged into (customerMerge).")
    def merged_into_id(self, root: strawberry.Parent[cust.CustomerRecord]) -> strawberry.ID | None:
        pk = root.merged_into_pk
        return strawberry.ID(ids.encode("Customer", pk)) if pk else None

    @strawberry.field(
        description="Lifetime value, average order value, last order and return count, "
        "over every channel (web, store, marketplace)."
    )
    async def stats(
        self, info: Info, root: strawberry.Parent[cust.CustomerRecord]
    ) -> CustomerStatsType:
        return await stats_of(info, root.pk)

    @strawberry.field(
        description=f"The newest orders from every channel (at most {MAX_PURCHASE_HISTORY})."
    )
    async def purchase_history(
        self, info: Info, root: strawberry.Parent[cust.CustomerRecord], first: int = 5
    ) -> list[OrderType]:
        if not 0 <= first <= MAX_PURCHASE_HISTORY:
            raise ApiError(f"first is 0 to {MAX_PURCHASE_HISTORY}", "INVALID_PAGE")
        return await recent_orders_of(info, root.pk, first)

    @strawberry.field(description="What happened to the profile (merges, erasure), newest first.")
    async def timeline(
        self, info: Info, root: strawberry.Parent[cust.CustomerRecord]
    ) -> list[CustomerTimelineEventType]:
        return await timeline_of(info, root.pk)


@strawberry.input
class CustomerInput:
    email: str | None = UNSET
    phone: str | None = strawberry.field(default=UNSET, description="null clears it (update).")
    first_name: str | None = UNSET
    last_name: str | None = UNSET
    customer_group: str | None = strawberry.field(
        default=UNSET, description="A group handle such as `wholesale`; null clears it (update)."
    )
    segments: list[str] | None = UNSET
    loyalty_tier: str | None = strawberry.field(
        default=UNSET,
        description="A tier set by hand: wins over the loyalty rules while set; null clears "
        "it (the rules decide again).",
    )
    tax_exempt_vat_id: str | None = strawberry.field(
        default=UNSET, description="null clears it (update)."
    )
    accepts_marketing: bool | None = strawberry.field(
        default=UNSET, description="Marketing consent (given or withdrawn by the customer)."
    )


@strawberry.type
class CustomerPayload:
    customer: CustomerType | None
    user_errors: list[UserError]


_FIELDS = (
    "email",
    "phone",
    "first_name",
    "last_name",
    "customer_group",
    "segments",
    "loyalty_tier",
    "tax_exempt_vat_id",
    "accepts_marketing",
)


def _customer_data(i: CustomerInput) -> tuple[cust.CustomerInput, set[str]]:
    """Domain input, and the fields sent as an explicit null (to clear)."""
    data = cust.CustomerInput()
    return data, apply_given(i, data, _FIELDS)


def _shown(customer: cust.CustomerRecord | None) -> CustomerType | None:
    """A customer as the API returns it (CustomerType resolves from a ``CustomerRecord``)."""
    return cast(CustomerType | None, customer)


async def _load(info: Info, pk: int | None) -> CustomerType | None:
    if pk is None:
        return None
    return _shown(await cust.get_customer(info.context.reader, pk))


@strawberry.type
class CustomerQuery:
    @strawberry.field(
        description="A customer. Without `id`: the customer the request's key acts for "
        "(null for keys without one). Staff may ask for any id; a customer key sees only "
        "its own customer (another id is null)."
    )
    async def customer(self, info: Info, id: strawberry.ID | None = None) -> CustomerType | None:
        principal = info.context.principal
        if id is None:
            return _shown(await cust.customer_for_principal(info.context.reader, principal))
        try:
            pk = ids.decode_pk(id, "Customer")
        except ids.InvalidId as exc:
            raise ApiError(str(exc), "INVALID_ID") from None
        if not cust.may_look_up(principal):
            raise ApiError(
                "this needs an API key with the admin or customer scope", "ACCESS_DENIED"
            )
        if not cust.can_see(principal, pk):
            return None
        return await _load(info, pk)


@strawberry.type
class CustomerMutation:
    # Staff-made customers (no password: customerInvite sends them an activation link);
    # customerCreate is the storefront's sign-up (schema.accounts).
    @strawberry.mutation(permission_classes=needs("customers"))
    async def staff_customer_create(self, info: Info, input: CustomerInput) -> CustomerPayload:
        data, _ = _customer_data(input)  # on create, null is the same as leaving it out
        hub = info.context.hub
        pk, errs = await run_write(
            info, lambda: cust.create_customer(info.context.db, data, publish=hub.publish)
        )
        return CustomerPayload(customer=await _load(info, pk), user_errors=errs)

    @strawberry.mutation(permission_classes=needs("customers"))
    async def staff_customer_update(
        self, info: Info, id: strawberry.ID, input: CustomerInput
    ) -> CustomerPayload:
        async def go() -> int:
            data, clear = _customer_data(input)
            pk = field_pk(id, "Customer", "id")
            return await cust.update_customer(
                info.context.db, pk, data, clear=clear, publish=info.context.hub.publish
            )

        pk, errs = await run_write(info, go)
        return CustomerPayload(customer=await _load(info, pk), user_errors=errs)


async def _customer_nodes(info: Info, pks: list[int]) -> dict[int, cust.CustomerRecord]:
    """node(id:): staff see any customer, a customer key its own, others none."""
    principal = info.context.principal
    mine = [pk for pk in pks if cust.can_see(principal, pk)]
    return await cust.customers_by_pks(info.context.reader, mine) if mine else {}


register_node("Customer", _customer_nodes)
