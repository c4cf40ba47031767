"""Webhooks out on the API (staff, the ``webhooks`` permission).

`webhookSubscriptionCreate` answers the subscription's signing secret once (and
`webhookSubscriptionRotateSecret` a new one); nothing else ever does. Deliveries are
listed per subscription with their status, attempts, last status code and latency;
`webhookDeliveryRetry` sends one again now, `webhookEventsReplay` queues the events of
a time range again (at most 1000 per call).
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any, cast

import strawberry
from strawberry.types import Info
from strawberry.types.unset import UNSET

from hub import ids
from hub.domain import webhooks as wh
from hub.domain.paging import InvalidCursor, PageRequest
from schema.errors import ApiCode, ApiError, UserError, field_pk, run_write
from schema.permissions import needs
from schema.relay import (
    Connection,
    ConnectionValue,
    Node,
    forward_paged,
    is_record,
    register_node,
    staff_only,
)

WEBHOOKS = needs("webhooks")


@strawberry.enum
class WebhookDeliveryStatus(Enum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED_RETRYING = "FAILED_RETRYING"
    DEAD = "DEAD"


@strawberry.type(name="WebhookSubscription")
class WebhookSubscriptionType(Node):
    id: strawberry.ID = strawberry.field(
        resolver=lambda root: strawberry.ID(ids.encode("WebhookSubscription", root.id))
    )
    topics: list[str] = strawberry.field(
        description="Topics or patterns (`*` matches any run of characters: `order.*`)."
    )
    url: str
    fields: list[str] | None = strawberry.field(
        description="The payload keys sent (null: the whole payload)."
    )
    active: bool
    description: str | None
    created_at: datetime
    updated_at: datetime

    is_type_of = is_record(wh.SubscriptionRecord)


@strawberry.type(name="WebhookDelivery")
class WebhookDeliveryType(Node):
    id: strawberry.ID = strawberry.field(
        resolver=lambda root: strawberry.ID(ids.encode("WebhookDelivery", root.id))
    )
    subscription_id: strawberry.ID = strawberry.field(
        resolver=lambda root: strawberry.ID(ids.encode("WebhookSubscription", root.subscription_id))
    )
    event_id: str = strawberry.field(
        resolver=lambda root: str(root.event_id),
        description="The event's id: the `Hub-Event-Id` and `Idempotency-Key` headers.",
    )
    topic: str
    status: WebhookDeliveryStatus = strawberry.field(
        resolver=lambda root: WebhookDeliveryStatus(root.status)
    )
    attempts: int
    next_attempt_at: datetime | None = strawberry.field(
        description="When the next attempt is due (null once SUCCEEDED or DEAD)."
    )
    last_status_code: int | None = strawberry.field(
        description="The last attempt's HTTP status (null: no answer)."
    )
    last_latency_ms: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None

    is_type_of = is_record(wh.DeliveryRecord)


@strawberry.input
class WebhookSubscriptionInput:
    topics: list[str] | None = strawberry.field(
        default=UNSET, description="Required on create: topics or `*` patterns."
    )
    url: str | None = strawberry.field(
        default=UNSET, description="Required on create: an http(s) URL the address policy allows."
    )
    fields: list[str] | None = strawberry.field(
        default=UNSET,
        description="Send only these top-level payload keys; null sends the whole payload.",
    )
    active: bool | None = strawberry.field(default=UNSET)
    description: str | None = strawberry.field(default=UNSET)


@strawberry.type
class WebhookSubscriptionPayload:
    webhook_subscription: WebhookSubscriptionType | None
    user_errors: list[UserError]


@strawberry.type
class WebhookSubscriptionSecretPayload:
    webhook_subscription: WebhookSubscriptionType | None
    secret: str | None = strawberry.field(
        description="The signing secret: shown this once (create, rotate), never again."
    )
    user_errors: list[UserError]


@strawberry.type
class WebhookSubscriptionDeletePayload:
    deleted_id: strawberry.ID | None
    user_errors: list[UserError]


@strawberry.type
class WebhookDeliveryPayload:
    webhook_delivery: WebhookDeliveryType | None
    user_errors: list[UserError]


@strawberry.type
class WebhookEventsReplayPayload:
    queued: int | None = strawberry.field(
        description="Deliveries queued again (null when the request was refused)."
    )
    user_errors: list[UserError]


def _given(input: WebhookSubscriptionInput) -> dict[str, Any]:
    names = ("topics", "url", "fields", "active", "description")
    return {n: getattr(input, n) for n in names if getattr(input, n) is not UNSET}


def _page(got: tuple[list[Any], list[str], bool, bool]) -> Any:
    rows, cursors, more, prev = got
    return ConnectionValue(rows, cursors, more, prev)


async def _paged(call: Any) -> Any:
    try:
        return _page(await call)
    except InvalidCursor as exc:
        raise ApiError(str(exc), ApiCode.INVALID_CURSOR) from None


def _arg_pk(gid: str, kind: str) -> int:
    try:
        return ids.decode_pk(gid, kind)
    except ids.InvalidId as exc:
        raise ApiError(str(exc), ApiCode.INVALID_ID) from None


@strawberry.type
class WebhookQuery:
    @strawberry.field(
        permission_classes=WEBHOOKS, description="Webhook subscriptions, oldest first."
    )
    @forward_paged
    async def webhook_subscriptions(
        self, info: Info, page: PageRequest
    ) -> Connection[WebhookSubscriptionType]:
        return cast(
            Connection[WebhookSubscriptionType],
            await _paged(wh.subscriptions_page(info.context.reader, page)),
        )

    @strawberry.field(permission_classes=WEBHOOKS)
    async def webhook_subscription(
        self, info: Info, id: strawberry.ID
    ) -> WebhookSubscriptionType | None:
        pk = _arg_pk(id, "WebhookSubscription")
        got = await wh.subscriptions_by_pks(info.context.reader, [pk])
        return cast(WebhookSubscriptionType | None, got.get(pk))

    @strawberry.field(
        permission_classes=WEBHOOKS,
        description="Deliveries, oldest first: of one subscription, in one status.",
    )
    @forward_paged
    async def webhook_deliveries(
        self,
        info: Info,
        page: PageRequest,
        subscription_id: strawberry.ID | None = None,
        status: WebhookDeliveryStatus | None = None,
    ) -> Connection[WebhookDeliveryType]:
        sub = None if subscription_id is None else _arg_pk(subscription_id, "WebhookSubscription")
        state = None if status is None else status.value
        return cast(
            Connection[WebhookDeliveryType],
            await _paged(wh.deliveries_page(info.context.reader, sub, state, page)),
        )


@strawberry.type
class WebhookMutation:
    @strawberry.mutation(
        permission_classes=WEBHOOKS,
        description="Subscribe a URL to topics; the payload's `secret` is shown this once.",
    )
    async def webhook_subscription_create(
        self, info: Info, input: WebhookSubscriptionInput
    ) -> WebhookSubscriptionSecretPayload:
        got, errs = await run_write(info, lambda: info.context.hub.webhooks.create(_given(input)))
        sub, secret = got if got is not None else (None, None)
        return WebhookSubscriptionSecretPayload(
            webhook_subscription=cast(WebhookSubscriptionType | None, sub),
            secret=secret,
            user_errors=errs,
        )

    @strawberry.mutation(
        permission_classes=WEBHOOKS,
        description="Change a subscription: only the fields given (null `fields`: all).",
    )
    async def webhook_subscription_update(
        self, info: Info, id: strawberry.ID, input: WebhookSubscriptionInput
    ) -> WebhookSubscriptionPayload:
        async def go() -> Any:
            pk = field_pk(id, "WebhookSubscription", "id")
            return await info.context.hub.webhooks.update(pk, _given(input))

        sub, errs = await run_write(info, go)
        return WebhookSubscriptionPayload(
            webhook_subscription=cast(WebhookSubscriptionType | None, sub), user_errors=errs
        )

    @strawberry.mutation(
        permission_classes=WEBHOOKS,
        description="Delete a subscription and its deliveries (pending ones are not sent).",
    )
    async def webhook_subscription_delete(
        self, info: Info, id: strawberry.ID
    ) -> WebhookSubscriptionDeletePayload:
        async def go() -> int:
            return await info.context.hub.webhooks.delete(field_pk(id, "WebhookSubscription", "id"))

        pk, errs = await run_write(info, go)
        deleted = None if pk is None else strawberry.ID(ids.encode("WebhookSubscription", pk))
        return WebhookSubscriptionDeletePayload(deleted_id=deleted, user_errors=errs)

    @strawberry.mutation(
        permission_classes=WEBHOOKS,
        description="A new signing secret, shown this once; later sends are signed with it.",
    )
    async def webhook_subscription_rotate_secret(
        self, info: Info, id: strawberry.ID
    ) -> WebhookSubscriptionSecretPayload:
        async def go() -> Any:
            pk = field_pk(id, "WebhookSubscription", "id")
            return await info.context.hub.webhooks.rotate_secret(pk)

        got, errs = await run_write(info, go)
        sub, secret = got if got is not None else (None, None)
        return WebhookSubscriptionSecretPayload(
            webhook_subscription=cast(WebhookSubscriptionType | None, sub),
            secret=secret,
            user_errors=errs,
        )

    @strawberry.mutation(
        permission_classes=WEBHOOKS,
        description="Send a delivery again now, with a fresh count of attempts (DEAD too).",
    )
    async def webhook_delivery_retry(self, info: Info, id: strawberry.ID) -> WebhookDeliveryPayload:
        async def go() -> Any:
            return await info.context.hub.webhooks.retry(field_pk(id, "WebhookDelivery", "id"))

        got, errs = await run_write(info, go)
        return WebhookDeliveryPayload(
            webhook_delivery=cast(WebhookDeliveryType | None, got), user_errors=errs
        )

    @strawberry.mutation(
        permission_classes=WEBHOOKS,
        description="Queue again the events committed in [from, to) for the active "
        "subscriptions whose topics match (or only `subscriptionId`); at most 1000 events.",
    )
    async def webhook_events_replay(
        self,
        info: Info,
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
        subscription_id: strawberry.ID | None = None,
    ) -> WebhookEventsReplayPayload:
        async def go() -> int:
            sub = None
            if subscription_id is not None:
                sub = field_pk(subscription_id, "WebhookSubscription", "subscriptionId")
            return await info.context.hub.webhooks.replay(from_, to, sub)

        got, errs = await run_write(info, go)
        return WebhookEventsReplayPayload(queued=got or 0, user_errors=errs)


register_node("WebhookSubscription", staff_only(wh.subscriptions_by_pks, "webhooks"))
register_node("WebhookDelivery", staff_only(wh.deliveries_by_pks, "webhooks"))
