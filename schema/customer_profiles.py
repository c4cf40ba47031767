"""One profile across channels, and privacy, on the API.

- ``customers(query:, first:, after:)`` (staff): find a profile by name, email,
  phone or loyalty card number (clienteling at a till); each with its ``stats``,
  ``purchaseHistory`` and ``loyalty``, loaded for the whole page at once;
- ``customerMerge(keepId:, mergeId:)`` (staff): fold a duplicate into the profile kept
  (:mod:`hub.domain.customers.merge`); idempotent;
- ``customerDataExport(id:)`` (staff, or the customer itself): everything the hub holds
  about the customer as JSON; the export is recorded on the timeline;
- ``customerErase(id:)`` (staff): anonymize the personal data, keeping orders and
  ledgers whole (:mod:`hub.domain.customers.privacy`).
"""

from __future__ import annotations

from typing import Any, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from hub.domain import customers as cust
from hub.domain.customers import merge, privacy, profiles
from hub.domain.errors import fail
from hub.domain.paging import PageRequest
from schema.calls import keyset_page
from schema.customers import CustomerType
from schema.errors import UserError, field_pk, run_write
from schema.permissions import needs
from schema.relay import Connection, forward_paged


@strawberry.type
class CustomerMergePayload:
    customer: CustomerType | None = strawberry.field(description="The profile kept.")
    merged_customer_id: strawberry.ID | None
    user_errors: list[UserError]


@strawberry.type
class CustomerDataExportPayload:
    data: JSON | None = strawberry.field(
        description="Everything the hub holds about the customer: the profile, orders with "
        "lines and payments, loyalty account and ledger, carts, gift cards, API keys "
        "(names and prefixes), timeline."
    )
    user_errors: list[UserError]


@strawberry.type
class CustomerErasePayload:
    customer: CustomerType | None
    user_errors: list[UserError]


async def _customer(info: Info, pk: int | None) -> CustomerType | None:
    if pk is None:
        return None
    return cast(CustomerType | None, await cust.get_customer(info.context.reader, pk))


@strawberry.type
class CustomerProfileQuery:
    @strawberry.field(
        permission_classes=needs("customers"),
        description="Profiles whose name, email, phone or loyalty card number match "
        "`query` (all without one), oldest first; merged duplicates and erased profiles "
        "are left out (staff).",
    )
    @forward_paged
    async def customers(
        self, info: Info, page: PageRequest, query: str | None = None
    ) -> Connection[CustomerType]:
        got = await keyset_page(profiles.search(info.context.reader, query, page))
        return cast(Connection[CustomerType], got)


@strawberry.type
class CustomerProfileMutation:
    @strawberry.mutation(
        permission_classes=needs("customers"),
        description="Merge the duplicate `mergeId` into `keepId`: its orders, carts, gift "
        "cards, keys, loyalty points and history and marketing consent move; both "
        "timelines record it. Merging the same pair again changes nothing.",
    )
    async def customer_merge(
        self, info: Info, keep_id: strawberry.ID, merge_id: strawberry.ID
    ) -> CustomerMergePayload:
        async def go() -> Any:
            keep = field_pk(keep_id, "Customer", "keepId")
            dup = field_pk(merge_id, "Customer", "mergeId")
            merged, events = await merge.merge_customers(info.context.db, keep, dup)
            await info.context.hub.publish(events)
            return merged

        merged, errs = await run_write(info, go)
        return CustomerMergePayload(
            customer=await _customer(info, merged.keep_pk if merged else None),
            merged_customer_id=merge_id if merged else None,
            user_errors=errs,
        )

    @strawberry.mutation(
        description="Everything the hub holds about a customer, as JSON: staff for any "
        "customer, a customer key for its own (another's is ACCESS_DENIED)."
    )
    async def customer_data_export(
        self, info: Info, id: strawberry.ID
    ) -> CustomerDataExportPayload:
        async def go() -> Any:
            pk = field_pk(id, "Customer", "id")
            principal = info.context.principal
            if not cust.can_see(principal, pk):
                raise fail(cust.CustomerCode.ACCESS_DENIED, "not your customer", "id")
            return await privacy.export(info.context.db, pk, by=principal.name)

        data, errs = await run_write(info, go)
        return CustomerDataExportPayload(data=data, user_errors=errs)

    @strawberry.mutation(
        permission_classes=needs("customers"),
        description="Anonymize a customer's personal data (name, email, phone, addresses, "
        "consent) on the profile, its orders and carts, keeping orders, amounts and "
        "ledgers whole; its keys are revoked and its loyalty card renumbered. Erasing "
        "again changes nothing.",
    )
    async def customer_erase(self, info: Info, id: strawberry.ID) -> CustomerErasePayload:
        async def go() -> int:
            pk = field_pk(id, "Customer", "id")
            _, events = await privacy.erase(info.context.db, pk)
            await info.context.hub.publish(events)
            return pk

        pk, errs = await run_write(info, go)
        return CustomerErasePayload(customer=await _customer(info, pk), user_errors=errs)


__all__ = ["CustomerProfileMutation", "CustomerProfileQuery"]
