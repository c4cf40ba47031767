"""Payment providers: Stripe, offline tenders, and the test provider
(``test_provider``: Stripe's test PaymentMethods, no network). The protocol, its result
type and its errors are ``connectors.base``'s, re-exported here.

Gift cards are not here: their balances live in the hub's database, which a connector
never touches, so they belong to the domain layer.
"""

from connectors.base import (
    PaymentError,
    PaymentIntentResult,
    PaymentProvider,
    PaymentStatus,
    PaymentUnavailable,
    RefundReason,
    WebhookEvent,
    WebhookSignatureError,
)
from connectors.payments.offline import CashProvider, ExternalTerminalProvider
from connectors.payments.test_provider import TestPaymentProvider
from connectors.payments.webhooks import MemoryWebhookDeduper, WebhookDeduper

__all__ = [
    "CashProvider",
    "ExternalTerminalProvider",
    "MemoryWebhookDeduper",
    "PaymentError",
    "PaymentIntentResult",
    "PaymentProvider",
    "PaymentStatus",
    "PaymentUnavailable",
    "RefundReason",
    "TestPaymentProvider",
    "WebhookDeduper",
    "WebhookEvent",
    "WebhookSignatureError",
]
