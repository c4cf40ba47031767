"""Staff mutations on fulfillment orders and fulfilments, and a channel's order
settings (routing strategy, capture mode). Each calls one service method of
``hub.fulfillments`` (:class:`hub.domain.orders.fulfillments.Fulfillments`) through
``run_write``: a refusal is a userError with a stable code and writes nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from hub import ids
from hub.db.tables import channels_t
from hub.domain.orders.fulfil import Tracking
from schema.errors import UserError, decode_id, run_write
from schema.orders.fulfillment import (
    CaptureMode,
    FulfillmentOrderType,
    FulfillmentType,
    RoutingStrategy,
    loaders,
)
from schema.orders.scope import require_at, require_fulfillment, require_fulfillment_order
from schema.permissions import needs


@strawberry.input
class FulfillmentLineInput:
    fulfillment_order_line_id: strawberry.ID
    quantity: int
    serial_numbers: list[str] | None = strawberry.field(
        default=None,
        description="A serial-numbered item: the serial of each unit that leaves "
        "(exactly `quantity`, each in stock at the location).",
    )


@strawberry.input(description="The serial numbers of a pickup line's units handed over.")
class FulfillmentLineSerialsInput:
    fulfillment_order_line_id: strawberry.ID
    serial_numbers: list[str]


@strawberry.input
class TrackingInput:
    carrier: str | None = None
    number: str | None = None
    url: str | None = None


@strawberry.type
class FulfillmentOrderPayload:
    fulfillment_order: FulfillmentOrderType | None
    user_errors: list[UserError]


@strawberry.type
class FulfillmentOrderTransferPayload:
    fulfillment_order: FulfillmentOrderType | None
    transfer_id: strawberry.ID | None = strawberry.field(
        description="The transfer carrying the units to the pickup store; receive it "
        "there with inventoryTransferReceive."
    )
    user_errors: list[UserError]


@strawberry.type
class FulfillmentPayload:
    fulfillment: FulfillmentType | None
    user_errors: list[UserError]


@strawberry.type
class ChannelOrderSettings:
    channel_id: strawberry.ID
    routing_strategy: RoutingStrategy  # type: ignore[valid-type]  # strawberry.enum of a StrEnum
    capture_mode: CaptureMode
    return_window_days: int


@strawberry.type
class ChannelOrderSettingsPayload:
    settings: ChannelOrderSettings | None
    user_errors: list[UserError]


def _actor(info: Info) -> str:
    p = info.context.principal
    return f"key:{p.key_pk}" if p.key_pk is not None else "staff"


def _tracking(t: TrackingInput | None) -> Tracking | None:
    return None if t is None else Tracking(carrier=t.carrier, number=t.number, url=t.url)


async def _fo_write(
    info: Info, write: Callable[[], Awaitable[int]], renames: dict[str, str] | None = None
) -> FulfillmentOrderPayload:
    pk, errs = await run_write(info, write, renames=renames)
    if pk is None:
        return FulfillmentOrderPayload(fulfillment_order=None, user_errors=errs)
    fo = await loaders(info).fo_by_id.load(pk)
    return FulfillmentOrderPayload(fulfillment_order=fo, user_errors=[])


async def _f_payload(info: Info, pk: int | None, errs: list[UserError]) -> FulfillmentPayload:
    if pk is None:
        return FulfillmentPayload(fulfillment=None, user_errors=errs)
    return FulfillmentPayload(
        fulfillment=await loaders(info).fulfillment_by_id.load(pk), user_errors=[]
    )


async def _settings(info: Info, pk: int) -> ChannelOrderSettings | None:
    q = select(
        channels_t.c.routing_strategy, channels_t.c.capture_mode, channels_t.c.return_window_days
    ).where(channels_t.c.id == pk)
    rows = await info.context.reader.all(q)
    if not rows:
        return None
    r = rows[0]
    return ChannelOrderSettings(
        channel_id=strawberry.ID(f"gid://hub/Channel/{pk}"),
        routing_strategy=RoutingStrategy(r.routing_strategy),
        capture_mode=CaptureMode(r.capture_mode),
        return_window_days=r.return_window_days,
    )


def _fo(info: Info, id: strawberry.ID) -> int:
    return decode_id(id, "FulfillmentOrder", "id")


@strawberry.type
class FulfillmentQuery:
    @strawberry.field(
        permission_classes=needs("settings"),
        description="A channel's routing strategy and capture mode.",
    )
    async def channel_order_settings(
        self, info: Info, channel_id: strawberry.ID
    ) -> ChannelOrderSettings | None:
        return await _settings(info, decode_id(channel_id, "Channel"))


@strawberry.type
class FulfillmentMutation:
    @strawberry.mutation(
        permission_classes=needs("settings"),
        description="Set a channel's routing strategy and payment capture mode.",
    )
    async def channel_order_settings_update(
        self,
        info: Info,
        channel_id: strawberry.ID,
        routing_strategy: RoutingStrategy | None = None,  # type: ignore[valid-type]
        capture_mode: CaptureMode | None = None,
    ) -> ChannelOrderSettingsPayload:
        async def go() -> int:
            return await info.context.hub.fulfillments.set_channel_settings(
                decode_id(channel_id, "Channel", "channel_id"),
                routing_strategy=str(routing_strategy) if routing_strategy else None,
                capture_mode=capture_mode.value if capture_mode else None,
            )

        pk, errs = await run_write(info, go)
        settings = await _settings(info, pk) if pk is not None else None
        return ChannelOrderSettingsPayload(settings=settings, user_errors=errs)

    @strawberry.mutation(
        permission_classes=needs("orders"), description="The location acknowledges it."
    )
    async def fulfillment_order_accept(
        self, info: Info, id: strawberry.ID
    ) -> FulfillmentOrderPayload:
        await require_fulfillment_order(info, id)
        svc = info.context.hub.fulfillments
        return await _fo_write(info, lambda: svc.accept(_fo(info, id), _actor(info)))

    @strawberry.mutation(
        permission_classes=needs("orders"), description="Picking begins: IN_PROGRESS."
    )
    async def fulfillment_order_start(
        self, info: Info, id: strawberry.ID
    ) -> FulfillmentOrderPayload:
        await require_fulfillment_order(info, id)
        svc = info.context.hub.fulfillments
        return await _fo_write(info, lambda: svc.start(_fo(info, id), _actor(info)))

    @strawberry.mutation(permission_classes=needs("orders"), description="ON_HOLD, with a reason.")
    async def fulfillment_order_hold(
        self, info: Info, id: strawberry.ID, reason: str | None = None
    ) -> FulfillmentOrderPayload:
        await require_fulfillment_order(info, id)
        svc = info.context.hub.fulfillments
        return await _fo_write(info, lambda: svc.hold(_fo(info, id), reason, _actor(info)))

    @strawberry.mutation(
        permission_classes=needs("orders"), description="Back to where the hold found it."
    )
    async def fulfillment_order_release(
        self, info: Info, id: strawberry.ID
    ) -> FulfillmentOrderPayload:
        await require_fulfillment_order(info, id)
        svc = info.context.hub.fulfillments
        return await _fo_write(info, lambda: svc.release(_fo(info, id), _actor(info)))

    @strawberry.mutation(
        permission_classes=needs("orders"),
        description="Endless aisle: send a pickup's units from this location to the "
        "store the customer picks up at (a transfer; the pickup is READY_FOR_PICKUP when "
        "the store receives it).",
    )
    async def fulfillment_order_transfer(
        self, info: Info, id: strawberry.ID
    ) -> FulfillmentOrderTransferPayload:
        await require_fulfillment_order(info, id)
        svc = info.context.hub.fulfillments
        tid, errs = await run_write(
            info, lambda: svc.transfer_to_store(_fo(info, id), _actor(info))
        )
        if tid is None:
            return FulfillmentOrderTransferPayload(
                fulfillment_order=None, transfer_id=None, user_errors=errs
            )
        return FulfillmentOrderTransferPayload(
            fulfillment_order=await loaders(info).fo_by_id.load(_fo(info, id)),
            transfer_id=strawberry.ID(ids.encode("Transfer", tid)),
            user_errors=[],
        )

    @strawberry.mutation(
        permission_classes=needs("orders"),
        description="A pickup is waiting at its store: READY_FOR_PICKUP until the location's "
        "pickup window ends (emits fulfillment_order.ready_for_pickup for the customer).",
    )
    async def fulfillment_order_ready_for_pickup(
        self, info: Info, id: strawberry.ID
    ) -> FulfillmentOrderPayload:
        await require_fulfillment_order(info, id)
        svc = info.context.hub.fulfillments
        return await _fo_write(info, lambda: svc.ready_for_pickup(_fo(info, id), _actor(info)))

    @strawberry.mutation(
        permission_classes=needs("orders"),
        description="Curbside: the customer is here (parking spot).",
    )
    async def fulfillment_order_customer_arrived(
        self, info: Info, id: strawberry.ID, note: str | None = None
    ) -> FulfillmentOrderPayload:
        await require_fulfillment_order(info, id)
        svc = info.context.hub.fulfillments
        return await _fo_write(
            info, lambda: svc.customer_arrived(_fo(info, id), note, _actor(info))
        )

    @strawberry.mutation(
        permission_classes=needs("orders"),
        description="BOPIS: the customer collected a ready pickup; its units leave the store.",
    )
    async def fulfillment_order_picked_up(
        self,
        info: Info,
        id: strawberry.ID,
        serials: list[FulfillmentLineSerialsInput] | None = None,
    ) -> FulfillmentPayload:
        await require_fulfillment_order(info, id)
        svc = info.context.hub.fulfillments

        async def go() -> int:
            fo_pk = _fo(info, id)
            by_line: dict[int, list[str]] = {}
            for i, ln in enumerate(serials or []):
                line_pk = decode_id(
                    ln.fulfillment_order_line_id,
                    "FulfillmentOrderLine",
                    "serials",
                    str(i),
                    "fulfillment_order_line_id",
                )
                by_line.setdefault(line_pk, []).extend(ln.serial_numbers)
            return await svc.picked_up(fo_pk, _actor(info), by_line)

        pk, errs = await run_write(info, go)
        return await _f_payload(info, pk, errs)

    @strawberry.mutation(
        permission_classes=needs("orders"),
        description="Move an unstarted fulfillment order (and its stock commitments) to "
        "another location.",
    )
    async def fulfillment_order_reroute(
        self, info: Info, id: strawberry.ID, location_id: strawberry.ID
    ) -> FulfillmentOrderPayload:
        await require_fulfillment_order(info, id)
        require_at(info, location_id)
        svc = info.context.hub.fulfillments

        async def go() -> int:
            fo_pk = _fo(info, id)
            loc = decode_id(location_id, "Location", "location_id")
            return await svc.reroute(fo_pk, loc, _actor(info))

        return await _fo_write(info, go)

    @strawberry.mutation(
        permission_classes=needs("orders"),
        description="Units leave a location (all or part of a fulfillment order's lines; "
        "every remaining unit when lines is omitted), with carrier and tracking.",
    )
    async def fulfillment_create(
        self,
        info: Info,
        fulfillment_order_id: strawberry.ID,
        lines: list[FulfillmentLineInput] | None = None,
        tracking: TrackingInput | None = None,
    ) -> FulfillmentPayload:
        await require_fulfillment_order(info, fulfillment_order_id)
        svc = info.context.hub.fulfillments

        async def go() -> int:
            fo_pk = decode_id(fulfillment_order_id, "FulfillmentOrder", "fulfillment_order_id")
            wanted = None
            by_line: dict[int, list[str]] = {}
            if lines is not None:
                wanted = [
                    (
                        decode_id(
                            ln.fulfillment_order_line_id,
                            "FulfillmentOrderLine",
                            "lines",
                            str(i),
                            "fulfillment_order_line_id",
                        ),
                        ln.quantity,
                    )
                    for i, ln in enumerate(lines)
                ]
                for (line_pk, _), ln in zip(wanted, lines, strict=True):
                    by_line.setdefault(line_pk, []).extend(ln.serial_numbers or [])
            return await svc.create(fo_pk, wanted, _tracking(tracking), _actor(info), by_line)

        pk, errs = await run_write(info, go, renames={"id": "fulfillmentOrderId"})
        return await _f_payload(info, pk, errs)

    @strawberry.mutation(
        permission_classes=needs("orders"), description="A shipment's carrier, number, URL."
    )
    async def fulfillment_tracking_update(
        self, info: Info, fulfillment_id: strawberry.ID, tracking: TrackingInput
    ) -> FulfillmentPayload:
        await require_fulfillment(info, fulfillment_id)
        svc = info.context.hub.fulfillments

        async def go() -> int:
            pk = decode_id(fulfillment_id, "Fulfillment", "fulfillment_id")
            t = _tracking(tracking)
            assert t is not None
            return await svc.update_tracking(pk, t, _actor(info))

        pk, errs = await run_write(info, go)
        return await _f_payload(info, pk, errs)
