"""Price lists on the API (staff only): customer-group prices per channel with volume
breaks. Storefront prices stay the channel prices; carts and checkout apply lists
through :func:`hub.domain.catalog.quote_prices`."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import strawberry
from strawberry.types import Info
from strawberry.types.unset import UNSET

from hub import ids
from hub.domain.catalog import price_lists as pricing
from hub.domain.paging import encode_cursor
from schema.calls import after_cursor
from schema.catalog.mutations import DeletePayload, delete_payload
from schema.catalog.types import ChannelType, MoneyType, ProductVariantType
from schema.errors import CURRENCY_CODE, ApiError, UserError, field_pk, run_write
from schema.loaders import Loader
from schema.permissions import needs
from schema.relay import (
    Connection,
    ConnectionValue,
    Node,
    is_record,
    page_request,
    register_node,
    staff_only,
)

# Writes run with renames=CURRENCY_CODE: the input's currencyCode is the domain's currency.


def _entries_loader(info: Info, size: int, after: tuple[int, int] | None) -> Loader:
    """Entries of price lists, one loader (one statement) per page shape and request."""
    ctx = info.context

    async def fetch(keys: Sequence[int]) -> dict[Hashable, Any]:
        got = await pricing.entries_for_lists(ctx.reader, keys, limit=size + 1, after=after)
        return dict(got.items())

    loader: Loader = ctx.keyed(
        ("price_list_entries", size, after), lambda: Loader(fetch, default=list)
    )
    return loader


@strawberry.type(name="PriceListEntry")
class PriceListEntryType:
    variant_id: strawberry.ID
    min_quantity: int = strawberry.field(description="The break: this price from this many up.")
    price: MoneyType = strawberry.field(description="The unit price.")

    @strawberry.field
    async def variant(self, info: Info) -> ProductVariantType | None:
        await info.context.channel()
        # mypy is told to ignore the next line: at run time self is the record, not the type
        return await info.context.loaders.variant_by_id.load(self.variant_pk)  # type: ignore[attr-defined]


@strawberry.type(name="PriceList")
class PriceListType(Node):
    id: strawberry.ID
    handle: str
    name: str
    customer_group: str = strawberry.field(description="Buyers in this group get the list.")
    currency_code: str = strawberry.field(resolver=lambda root: root.currency)
    priority: int = strawberry.field(
        description="Lower first when several of a group's lists price a variant."
    )
    active: bool
    starts_at: datetime | None
    ends_at: datetime | None
    created_at: datetime
    updated_at: datetime

    is_type_of = is_record(pricing.PriceListRecord)

    @strawberry.field
    async def channel(self, info: Info) -> ChannelType:
        # mypy is told to ignore the next line: at run time self is the record, not the type
        return await info.context.loaders.channel_by_id.load(self.channel_pk)  # type: ignore[attr-defined]

    @strawberry.field(description="Entries by variant, then minimum quantity.")
    async def entries(
        self, info: Info, first: int = 50, after: str | None = None
    ) -> Connection[PriceListEntryType]:
        page_request(first, after, None, None, info.context.settings.max_page_size)
        got = after_cursor(after, "PLE", "int32")
        key = None if got is None else (got[1], got[0])
        # mypy is told to ignore the next line: at run time self is the record, not the type
        rows = await _entries_loader(info, first, key).load(self.pk)  # type: ignore[attr-defined]
        window = rows[:first]
        cursors = [encode_cursor("PLE", e.min_quantity, e.variant_pk) for e in window]
        # mypy is told to ignore the next line: a record stands in for the type it resolves to
        return ConnectionValue(window, cursors, len(rows) > first, after is not None)  # type: ignore[return-value]


@strawberry.input
class PriceListInput:
    handle: str | None = None
    name: str | None = None
    channel: str | None = strawberry.field(default=None, description="Channel handle.")
    customer_group: str | None = None
    currency_code: str | None = strawberry.field(
        default=None, description="If given, must equal the channel's currency."
    )
    priority: int | None = None
    active: bool | None = None
    starts_at: datetime | None = strawberry.field(default=UNSET, description="null clears it.")
    ends_at: datetime | None = strawberry.field(default=UNSET, description="null clears it.")


@strawberry.input
class PriceListEntryInput:
    variant_id: strawberry.ID
    min_quantity: int = 1
    amount: Decimal = strawberry.field(description="Unit price, in the list's currency.")


@strawberry.type
class PriceListPayload:
    price_list: PriceListType | None
    user_errors: list[UserError]


def _list_data(i: PriceListInput) -> tuple[pricing.PriceListInput, set[str]]:
    clear = {n for n in ("starts_at", "ends_at") if getattr(i, n) is None}
    return (
        pricing.PriceListInput(
            handle=i.handle,
            name=i.name,
            channel=i.channel,
            customer_group=i.customer_group,
            currency=i.currency_code,
            priority=i.priority,
            active=i.active,
            starts_at=i.starts_at or None,
            ends_at=i.ends_at or None,
        ),
        clear,
    )


async def _load(info: Info, pk: int | None) -> pricing.PriceListRecord | None:
    if pk is None:
        return None
    return (await pricing.price_lists_by_pks(info.context.reader, [pk])).get(pk)


@strawberry.type
class PricingQuery:
    @strawberry.field(permission_classes=needs("catalog:read"))
    async def price_list(self, info: Info, id: strawberry.ID) -> PriceListType | None:
        try:
            pk = ids.decode_pk(id, "PriceList")
        except ids.InvalidId as exc:
            raise ApiError(str(exc), "INVALID_ID") from None
        # mypy is told to ignore the next line: a record stands in for the type it resolves to
        return await _load(info, pk)  # type: ignore[return-value]

    @strawberry.field(
        permission_classes=needs("catalog:read"), description="Price lists, oldest first."
    )
    async def price_lists(
        self, info: Info, first: int = 50, after: str | None = None
    ) -> Connection[PriceListType]:
        page_request(first, after, None, None, info.context.settings.max_page_size)
        got = after_cursor(after, "PL")
        after_pk = None if got is None else got[1]
        rows = await pricing.list_price_lists(
            info.context.reader, limit=first + 1, after_pk=after_pk
        )
        window = rows[:first]
        cursors = [encode_cursor("PL", None, r.pk) for r in window]
        # mypy is told to ignore the next line: a record stands in for the type it resolves to
        return ConnectionValue(window, cursors, len(rows) > first, after is not None)  # type: ignore[return-value]


@strawberry.type
class PricingMutation:
    @strawberry.mutation(permission_classes=needs("catalog:write"))
    async def price_list_create(self, info: Info, input: PriceListInput) -> PriceListPayload:
        data, _ = _list_data(input)
        pk, errs = await run_write(
            info, lambda: pricing.create_price_list(info.context.db, data), renames=CURRENCY_CODE
        )
        # mypy is told to ignore the next line: a record stands in for the type it resolves to
        return PriceListPayload(price_list=await _load(info, pk), user_errors=errs)  # type: ignore[arg-type]

    @strawberry.mutation(permission_classes=needs("catalog:write"))
    async def price_list_update(
        self, info: Info, id: strawberry.ID, input: PriceListInput
    ) -> PriceListPayload:
        async def go() -> int:
            data, clear = _list_data(input)
            return await pricing.update_price_list(
                info.context.db, field_pk(id, "PriceList", "id"), data, clear=clear
            )

        pk, errs = await run_write(info, go, renames=CURRENCY_CODE)
        # mypy is told to ignore the next line: a record stands in for the type it resolves to
        return PriceListPayload(price_list=await _load(info, pk), user_errors=errs)  # type: ignore[arg-type]

    @strawberry.mutation(
        permission_classes=needs("catalog:write"), description="Delete a list and its entries."
    )
    async def price_list_delete(self, info: Info, id: strawberry.ID) -> DeletePayload:
        return await delete_payload(
            info, id, "PriceList", pricing.delete_price_list, renames=CURRENCY_CODE
        )

    @strawberry.mutation(
        permission_classes=needs("catalog:write"),
        description="Create or replace entries (variant, minQuantity) of a price list; "
        "with `replace: true` the list's other entries are removed. At most 1000 at once.",
    )
    async def price_list_entries_set(
        self,
        info: Info,
        price_list_id: strawberry.ID,
        entries: list[PriceListEntryInput],
        replace: bool = False,
    ) -> PriceListPayload:
        async def go() -> int:
            pk = field_pk(price_list_id, "PriceList", "priceListId")
            data = [
                pricing.EntryInput(
                    field_pk(e.variant_id, "ProductVariant", f"entries.{i}.variantId"),
                    e.min_quantity,
                    e.amount,
                )
                for i, e in enumerate(entries)
            ]
            await pricing.set_price_list_entries(info.context.db, pk, data, replace=replace)
            return pk

        pk, errs = await run_write(info, go, renames=CURRENCY_CODE)
        # mypy is told to ignore the next line: a record stands in for the type it resolves to
        return PriceListPayload(price_list=await _load(info, pk), user_errors=errs)  # type: ignore[arg-type]


# node(id:): staff only, as priceList(id:).
register_node("PriceList", staff_only(pricing.price_lists_by_pks, "catalog:read"))
