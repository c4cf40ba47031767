"""Shipping zones and rate tables on the API (staff only). Carts and checkout price
delivery through :func:`hub.domain.shipping.shipping_options`."""

from __future__ import annotations

from decimal import Decimal
from enum import Enum

import strawberry
from strawberry.types import Info
from strawberry.types.unset import UNSET

from hub.db.database import Reader
from hub.domain import shipping
from schema.catalog import DeletePayload, MoneyType, delete_payload
from schema.errors import UserError, field_pk, run_write
from schema.patches import apply_given
from schema.permissions import needs
from schema.relay import Node, is_record, register_node, staff_only


@strawberry.enum
class ShippingRateKind(Enum):
    WEIGHT = "WEIGHT"
    SUBTOTAL = "SUBTOTAL"
    FLAT = "FLAT"


@strawberry.type(
    name="ShippingRate",
    description="A rate of a zone. WEIGHT rates apply within [minWeightGrams, "
    "maxWeightGrams), SUBTOTAL rates within [minSubtotal, maxSubtotal) (a missing bound "
    "is open), FLAT rates always; any rate is free once the subtotal reaches "
    "freeOverSubtotal.",
)
class ShippingRateType(Node):
    id: strawberry.ID
    handle: str = strawberry.field(description="Unique across zones.")
    title: str
    currency_code: str = strawberry.field(resolver=lambda root: root.currency)
    kind: ShippingRateKind = strawberry.field(resolver=lambda root: ShippingRateKind(root.kind))
    min_weight_grams: int | None
    max_weight_grams: int | None
    min_subtotal: MoneyType | None
    max_subtotal: MoneyType | None
    amount: MoneyType
    free_over_subtotal: MoneyType | None
    min_days: int | None
    max_days: int | None

    is_type_of = is_record(shipping.ShippingRateRecord)


@strawberry.type(name="ShippingZone")
class ShippingZoneType(Node):
    id: strawberry.ID
    handle: str
    name: str
    countries: list[str] = strawberry.field(description="ISO 3166-1 alpha-2 codes.")
    regions: list[str] = strawberry.field(
        description="ISO 3166-2 codes (US-HI); when any, the zone covers only these."
    )
    rates: list[ShippingRateType]

    is_type_of = is_record(shipping.ShippingZoneRecord)


@strawberry.input
class ShippingZoneInput:
    handle: str | None = None
    name: str | None = None
    countries: list[str] | None = None
    regions: list[str] | None = None


@strawberry.input
class ShippingRateInput:
    zone_id: strawberry.ID | None = strawberry.field(default=None, description="Create only.")
    handle: str | None = None
    title: str | None = None
    currency_code: str | None = None
    kind: ShippingRateKind | None = None
    min_weight_grams: int | None = strawberry.field(default=UNSET, description="null clears it.")
    max_weight_grams: int | None = strawberry.field(default=UNSET, description="null clears it.")
    min_subtotal: Decimal | None = strawberry.field(default=UNSET, description="null clears it.")
    max_subtotal: Decimal | None = strawberry.field(default=UNSET, description="null clears it.")
    amount: Decimal | None = None
    free_over_subtotal: Decimal | None = strawberry.field(
        default=UNSET, description="Free from this subtotal up; null clears it."
    )
    min_days: int | None = strawberry.field(default=UNSET, description="null clears it.")
    max_days: int | None = strawberry.field(default=UNSET, description="null clears it.")


@strawberry.type
class ShippingZonePayload:
    shipping_zone: ShippingZoneType | None
    user_errors: list[UserError]


@strawberry.type
class ShippingRatePayload:
    shipping_rate: ShippingRateType | None
    user_errors: list[UserError]


def _rate_data(i: ShippingRateInput) -> tuple[shipping.RateInput, set[str]]:
    data = shipping.RateInput(
        zone_pk=None if i.zone_id is None else field_pk(i.zone_id, "ShippingZone", "zoneId"),
        handle=i.handle,
        title=i.title,
        currency=i.currency_code,
        kind=i.kind.value if i.kind else None,
        amount=i.amount,
    )
    return data, apply_given(i, data, sorted(shipping.RATE_CLEARABLE))


def _zone_data(i: ShippingZoneInput) -> shipping.ZoneInput:
    return shipping.ZoneInput(
        handle=i.handle, name=i.name, countries=i.countries, regions=i.regions
    )


async def _zone(info: Info, pk: int | None) -> shipping.ShippingZoneRecord | None:
    if pk is None:
        return None
    got = await shipping.list_zones(info.context.reader, [pk])
    return got[0] if got else None


async def _rate(info: Info, pk: int | None) -> shipping.ShippingRateRecord | None:
    if pk is None:
        return None
    return (await shipping.rates_by_pks(info.context.reader, [pk])).get(pk)


# Where a rate's domain field is named otherwise in the API.
_FIELDS = {"zone_pk": "zoneId", "currency": "currencyCode"}


@strawberry.type
class ShippingQuery:
    @strawberry.field(
        permission_classes=needs("settings"),
        description="Every shipping zone with its rates (staff).",
    )
    async def shipping_zones(self, info: Info) -> list[ShippingZoneType]:
        # The domain's records stand for the GraphQL types (is_type_of, fields by name).
        return await shipping.list_zones(info.context.reader)  # type: ignore[return-value]


@strawberry.type
class ShippingMutation:
    @strawberry.mutation(permission_classes=needs("settings"))
    async def shipping_zone_create(
        self, info: Info, input: ShippingZoneInput
    ) -> ShippingZonePayload:
        pk, errs = await run_write(
            info, lambda: shipping.create_zone(info.context.db, _zone_data(input)), renames=_FIELDS
        )
        return ShippingZonePayload(shipping_zone=await _zone(info, pk), user_errors=errs)  # type: ignore[arg-type]  # a record as its type

    @strawberry.mutation(permission_classes=needs("settings"))
    async def shipping_zone_update(
        self, info: Info, id: strawberry.ID, input: ShippingZoneInput
    ) -> ShippingZonePayload:
        async def go() -> int:
            return await shipping.update_zone(
                info.context.db, field_pk(id, "ShippingZone", "id"), _zone_data(input)
            )

        pk, errs = await run_write(info, go, renames=_FIELDS)
        return ShippingZonePayload(shipping_zone=await _zone(info, pk), user_errors=errs)  # type: ignore[arg-type]  # a record as its type

    @strawberry.mutation(
        permission_classes=needs("settings"), description="Delete a zone and its rates."
    )
    async def shipping_zone_delete(self, info: Info, id: strawberry.ID) -> DeletePayload:
        return await delete_payload(info, id, "ShippingZone", shipping.delete_zone, renames=_FIELDS)

    @strawberry.mutation(permission_classes=needs("settings"))
    async def shipping_rate_create(
        self, info: Info, input: ShippingRateInput
    ) -> ShippingRatePayload:
        async def go() -> int:
            data, _ = _rate_data(input)
            return await shipping.create_rate(info.context.db, data)

        pk, errs = await run_write(info, go, renames=_FIELDS)
        return ShippingRatePayload(shipping_rate=await _rate(info, pk), user_errors=errs)  # type: ignore[arg-type]  # a record as its type

    @strawberry.mutation(permission_classes=needs("settings"))
    async def shipping_rate_update(
        self, info: Info, id: strawberry.ID, input: ShippingRateInput
    ) -> ShippingRatePayload:
        async def go() -> int:
            data, clear = _rate_data(input)
            return await shipping.update_rate(
                info.context.db, field_pk(id, "ShippingRate", "id"), data, clear=clear
            )

        pk, errs = await run_write(info, go, renames=_FIELDS)
        return ShippingRatePayload(shipping_rate=await _rate(info, pk), user_errors=errs)  # type: ignore[arg-type]  # a record as its type

    @strawberry.mutation(permission_classes=needs("settings"))
    async def shipping_rate_delete(self, info: Info, id: strawberry.ID) -> DeletePayload:
        return await delete_payload(info, id, "ShippingRate", shipping.delete_rate, renames=_FIELDS)


async def _zones_by_pks(reader: Reader, pks: list[int]) -> dict[int, shipping.ShippingZoneRecord]:
    return {z.pk: z for z in await shipping.list_zones(reader, pks)}


# node(id:): staff only, as shippingZones.
register_node("ShippingZone", staff_only(_zones_by_pks, "settings"))
register_node("ShippingRate", staff_only(shipping.rates_by_pks, "settings"))
