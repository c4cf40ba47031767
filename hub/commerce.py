"""Carts, checkout and payments wired to the configured connectors, and the payment
webhook endpoint. The app builds one :class:`Commerce` at start-up.

Payment providers: ``cash`` and ``terminal`` (offline tenders, for admin/point-of-sale
keys) and ``gift_card`` (balances in the hub's own database, :mod:`hub.domain.giftcards`)
always; ``stripe`` when ``HUB_STRIPE_API_KEY`` is set (``HUB_STRIPE_API_BASE``
points it at a stand-in, ``HUB_STRIPE_WEBHOOK_SECRET`` verifies its webhooks);
``test`` (Stripe's test PaymentMethods, no network, no money) with
``HUB_TEST_PAYMENTS=true`` or ``hub serve --demo``, never with ``HUB_ENV=production``. Tax:
the built-in rules engine, or the HTTP tax service at ``HUB_TAX_SERVICE_URL`` with
the rules engine as its fallback.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from connectors.base import TaxEngine
from connectors.payments import (
    CashProvider,
    ExternalTerminalProvider,
    PaymentError,
    PaymentProvider,
    TestPaymentProvider,
)
from connectors.tax import HttpTaxEngine, RulesTaxEngine, default_rules
from hub.db.database import Database
from hub.domain.carts import Carts
from hub.domain.checkout import Checkout, reconcile
from hub.domain.giftcards import GiftCardProvider
from hub.domain.orders import apply_payment_event
from hub.settings import Settings

log = logging.getLogger("hub.commerce")


def payment_providers(settings: Settings) -> dict[str, PaymentProvider]:
    providers: dict[str, PaymentProvider] = {
        "cash": CashProvider(),
        "terminal": ExternalTerminalProvider(),
    }
    if settings.test_payments and settings.env != "production":
        providers["test"] = TestPaymentProvider()
    if settings.stripe_api_key:
        from connectors.payments.stripe_provider import StripeProvider

        providers["stripe"] = StripeProvider(
            settings.stripe_api_key,
            settings.stripe_webhook_secret,
            api_base=settings.stripe_api_base,
            webhook_tolerance=settings.stripe_webhook_tolerance_seconds,
        )
    return providers


def tax_engine(settings: Settings) -> TaxEngine:
    rules = RulesTaxEngine(default_rules())
    if settings.tax_service_url:
        return HttpTaxEngine(settings.tax_service_url, settings.tax_service_api_key, fallback=rules)
    return rules


class Commerce:
    """The cart and checkout services of one process."""

    def __init__(self, settings: Settings, db: Database, publish: Any = None) -> None:
        self.settings = settings
        self.db = db
        self.tax = tax_engine(settings)
        self.providers = payment_providers(settings)
        self.providers["gift_card"] = GiftCardProvider(db)  # on the hub's own database
        self.carts = Carts(db, ttl=timedelta(seconds=settings.cart_ttl_seconds))
        self.publish = publish
        self.checkout = Checkout(
            db,
            tax_engine=self.tax,
            providers=self.providers,
            publish=publish,
            lease=timedelta(seconds=settings.checkout_lease_seconds),
            pause_file=settings.test_checkout_pause_file,
        )

    async def reconcile_payments(self) -> int:
        """Give back payments of checkouts that died before writing their order
        (:func:`hub.domain.checkout_payments.reconcile`); how many were settled."""
        return await reconcile(self.db, self.providers, publish=self.publish)

    async def aclose(self) -> None:
        for p in self.providers.values():
            close = getattr(p, "aclose", None)
            if close is not None:
                await close()
        close = getattr(self.tax, "aclose", None)
        if close is not None:
            await close()


async def stripe_webhook(request: Request) -> Response:
    """``POST /webhooks/stripe``: verify the signature on the raw body (400 if it
    fails), then apply the event once (a redelivery answers 200 and changes nothing)."""
    commerce: Commerce = request.app.state.commerce
    provider = commerce.providers.get("stripe")
    if provider is None:
        return JSONResponse({"error": "Stripe is not configured"}, 404)
    payload = await request.body()
    try:
        event = provider.parse_webhook(payload, request.headers.get("stripe-signature", ""))  # type: ignore[attr-defined]
    except PaymentError as exc:  # a bad signature, or a signed body that is no event
        return JSONResponse({"error": exc.message, "code": exc.code}, 400)
    outcome, events = await apply_payment_event(commerce.db, "stripe", event)
    if events:
        await request.app.state.services.publish(events)
    return JSONResponse({"received": True, "outcome": outcome})
