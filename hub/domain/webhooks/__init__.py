"""Webhooks out: subscriptions (topic patterns, an http(s) URL, the payload keys to
send, a signing secret shown once), and their deliveries from the transactional
outbox, at least once, signed, retried with exponential backoff and DEAD after
``HUB_WEBHOOK_MAX_ATTEMPTS``.

- ``records``: the codes (:class:`WebhookCode`), records, topic patterns, the field
  filter, the body and its signature (``Hub-Signature: t=<unix>,v1=<hex>``), backoff;
- ``admin``: create, update, delete, rotate the secret, reads, retry and replay;
- ``delivery``: the fan-out (outbox to deliveries, kill -9 safe) and claiming and
  settling attempts;
- ``runner``: the loop that sends (bounded concurrency, per-send timeouts);
- ``service``: :class:`Webhooks`, the container's ``hub.webhooks``.

Where a webhook may go is the transport's address policy (the
:class:`connectors.base.WebhookTarget` port; ``connectors.webhooks`` guards against
SSRF), asked when a subscription is saved and at every send.
"""

from hub.domain.webhooks.admin import (
    deliveries_by_pks,
    deliveries_page,
    subscriptions_by_pks,
    subscriptions_page,
)
from hub.domain.webhooks.records import (
    SIGNATURE_HEADER,
    DeliveryRecord,
    SubscriptionRecord,
    WebhookCode,
    signature,
)
from hub.domain.webhooks.service import Webhooks

__all__ = [
    "SIGNATURE_HEADER",
    "DeliveryRecord",
    "SubscriptionRecord",
    "WebhookCode",
    "Webhooks",
    "deliveries_by_pks",
    "deliveries_page",
    "signature",
    "subscriptions_by_pks",
    "subscriptions_page",
]
