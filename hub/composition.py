"""The composition root: which implementation stands behind each port, from the
settings, and the routes those implementations bring (the payment webhooks).
:func:`build_hub` is the one place that turns settings into a :class:`hub.container.Hub`.

Payment providers: ``cash`` and ``terminal`` (offline tenders, for admin/point-of-sale
keys) and ``gift_card`` (balances in the hub's own database, :mod:`hub.domain.giftcards`)
always; ``stripe`` when ``HUB_STRIPE_API_KEY`` is set (``HUB_STRIPE_API_BASE``
points it at a stand-in, ``HUB_STRIPE_WEBHOOK_SECRET`` verifies its webhooks);
``test`` (Stripe's test PaymentMethods, no network, no money) with
``HUB_TEST_PAYMENTS=true`` or ``hub serve --demo``, never with ``HUB_ENV=production``. Tax:
the built-in rules engine, or the HTTP tax service at ``HUB_TAX_SERVICE_URL`` with
the rules engine as its fallback, or an ``http_tax`` connector instance (which wins
while enabled: :func:`connected_tax`). Connector types: :func:`connector_types`. Event
bus: in-process, PostgreSQL LISTEN/NOTIFY or Redis (:func:`create_bus`). Outgoing
webhooks: httpx behind the SSRF guard (:func:`webhook_target`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from connectors.base import (
    Connector,
    EventBus,
    PaymentError,
    PaymentProvider,
    TaxEngine,
    WebhookParser,
)
from connectors.email import WebhookMailer
from connectors.erp.file_feed import FileFeedConnector
from connectors.marketplace import MarketplaceConnector
from connectors.marketplace.standin import MarketplaceStandIn
from connectors.payments import CashProvider, ExternalTerminalProvider, TestPaymentProvider
from connectors.rest import RestConnector
from connectors.tax import HttpTaxEngine, RulesTaxEngine, default_rules
from connectors.tax.http_connector import HttpTaxConfig, HttpTaxConnector, engine_of
from connectors.webhooks import AddressPolicy, HttpWebhookTarget
from hub.container import Hub
from hub.db.database import Database
from hub.demo.connectors import DEMO_BUYERS, DEMO_MARKETPLACE_PATH, DEMO_MARKETPLACE_TOKEN
from hub.domain.giftcards import GiftCardProvider, StoreCreditProvider
from hub.domain.integrations import store as connector_store
from hub.domain.integrations.tax import ConnectedTax, ObservedEngine
from hub.domain.orders import apply_payment_event
from hub.emails import Mailer, MemoryMailer
from hub.events.bus import MemoryBus
from hub.events.outbox import OutboxDispatcher, PublishedMarker
from hub.events.pg_bus import PostgresBus
from hub.events.redis_bus import RedisBus
from hub.events.tail import OutboxTail
from hub.settings import Settings

log = logging.getLogger("hub.composition")


def payment_providers(settings: Settings) -> dict[str, PaymentProvider]:
    """The connectors' payment providers the settings ask for (without ``gift_card``,
    which needs the database: :func:`build_hub` adds it)."""
    providers: dict[str, PaymentProvider] = {
        "cash": CashProvider(),
        "terminal": ExternalTerminalProvider(),
    }
    if settings.test_payments and settings.env != "production":
        providers["test"] = TestPaymentProvider()
    if settings.stripe_api_key:
        # Imported only when configured: the Stripe SDK is slow to import.
        from connectors.payments.stripe_provider import StripeProvider

        providers["stripe"] = StripeProvider(
            settings.stripe_api_key,
            settings.stripe_webhook_secret,
            api_base=settings.stripe_api_base,
            webhook_tolerance=settings.stripe_webhook_tolerance_seconds,
        )
    return providers


def tax_engine(settings: Settings) -> TaxEngine:
    """The tax engine from the settings: the HTTP service at ``HUB_TAX_SERVICE_URL``
    (with the rules as fallback) or the built-in rules."""
    rules = RulesTaxEngine(default_rules())
    if settings.tax_service_url:
        return HttpTaxEngine(settings.tax_service_url, settings.tax_service_api_key, fallback=rules)
    return rules


def connector_types() -> dict[str, type[Connector]]:
    """The registry of connector types: ``type_name`` -> class (instances are created
    with ``connectorCreate`` or ``HUB_CONNECTORS_FILE``). Plugins may add more."""
    types: list[type[Connector]] = [HttpTaxConnector]
    types.append(MarketplaceConnector)
    types.append(RestConnector)
    types.append(FileFeedConnector)
    return {t.type_name: t for t in types}


def _http_tax_engine(config: Mapping[str, Any]) -> tuple[ObservedEngine, float]:
    """An ``http_tax`` instance's engine (the built-in rules as its fallback)."""
    parsed = HttpTaxConfig.model_validate(dict(config))
    engine = engine_of(parsed, fallback=RulesTaxEngine(default_rules()))
    return engine, parsed.report_seconds


def connected_tax(settings: Settings, db: Database) -> ConnectedTax:
    """``hub.tax``: the enabled ``http_tax`` connector instance's engine, else the
    settings' engine (:func:`tax_engine`); its calls recorded as the instance's runs."""

    async def record(pk: int, trigger: str, started: datetime, out: Any) -> int:
        return await connector_store.record_run(db, pk, trigger, started, out)

    return ConnectedTax(db, tax_engine(settings), _http_tax_engine, record)


def create_bus(settings: Settings, db: Database | None = None) -> EventBus:
    """Redis pub/sub when ``HUB_REDIS_URL`` is set; else PostgreSQL LISTEN/NOTIFY when
    the database is PostgreSQL (``db`` given); else an in-process ``MemoryBus``."""
    if settings.redis_url:
        return RedisBus(settings.redis_url, prefix=f"{settings.redis_prefix}:events:")
    if db is not None and db.dialect == "postgresql":
        return PostgresBus.for_database(db)
    return MemoryBus()


def mailer(settings: Settings) -> Mailer:
    """The e-mail webhook when ``HUB_EMAIL_WEBHOOK_URL`` is set, else kept in memory."""
    if settings.email_webhook_url:
        return WebhookMailer(settings.email_webhook_url, settings.email_webhook_secret)
    return MemoryMailer()


def webhook_target(settings: Settings) -> HttpWebhookTarget:
    """Outgoing webhooks over httpx, where the address policy allows (SSRF guard:
    ``HUB_WEBHOOK_ALLOW_PRIVATE``, ``HUB_WEBHOOK_ALLOWED_HOSTS``, ``HUB_WEBHOOK_HOSTS``)."""
    policy = AddressPolicy(
        allow_private=settings.webhook_allow_private,
        exempt_hosts=settings.webhook_allowed_hosts,
        only_hosts=settings.webhook_hosts,
    )
    return HttpWebhookTarget(policy, max_connections=settings.webhook_concurrency)


def build_hub(settings: Settings, db: Database, bus: EventBus | None = None) -> Hub:
    """The hub of one process, wired from ``settings`` (not started)."""
    bus = bus or create_bus(settings, db)
    providers = payment_providers(settings)
    providers["gift_card"] = GiftCardProvider(db)  # on the hub's own database
    providers["store_credit"] = StoreCreditProvider(db)  # a customer's card, by its id
    return Hub(
        settings=settings,
        db=db,
        bus=bus,
        tail=OutboxTail(db, bus, interval=settings.events_poll_seconds),
        dispatcher=OutboxDispatcher(db, bus),
        marker=PublishedMarker(db),
        tax=connected_tax(settings, db),
        payments=providers,
        mailer=mailer(settings),
        webhook_target=webhook_target(settings),
        connector_types=connector_types(),
    )


async def stripe_webhook(request: Request) -> Response:
    """``POST /webhooks/stripe``: verify the signature on the raw body (400 if it
    fails), then apply the event once (a redelivery answers 200 and changes nothing)."""
    hub: Hub = request.app.state.hub
    provider = hub.payments.get("stripe")
    if not isinstance(provider, WebhookParser):
        return JSONResponse({"error": "Stripe is not configured"}, 404)
    payload = await request.body()
    try:
        event = provider.parse_webhook(payload, request.headers.get("stripe-signature", ""))
    except PaymentError as exc:  # a bad signature, or a signed body that is no event
        return JSONResponse({"error": exc.message, "code": exc.code}, 400)
    outcome, events = await apply_payment_event(hub.db, "stripe", event)
    if events:
        await hub.publish(events)
    return JSONResponse({"received": True, "outcome": outcome})


def webhook_routes() -> list[Route]:
    """The payment providers' webhook endpoints."""
    return [Route("/webhooks/stripe", stripe_webhook, methods=["POST"])]


def demo_routes(settings: Settings) -> list[BaseRoute]:
    """With ``HUB_DEMO_MARKETPLACE`` (``hub serve --demo``): the stand-in marketplace
    the demo's marketplace connector publishes to, at ``/_demo/marketplace``."""
    if not settings.demo_marketplace:
        return []
    standin = MarketplaceStandIn(token=DEMO_MARKETPLACE_TOKEN, buyers=DEMO_BUYERS)
    return [Mount(DEMO_MARKETPLACE_PATH, app=standin.app)]
