"""The hub's services for one process, in one typed object: :class:`Hub`.

One ``Hub`` per process: ``hub serve`` builds it at start-up (``app.state.hub``, and
``ctx.hub`` on every GraphQL request), ``hub worker`` for its jobs. Which
implementation sits behind each port (payment providers, tax engine, event bus) is
decided by :func:`hub.composition.build_hub` from the settings; this module only says
what a hub holds and how it starts and stops.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from connectors.base import Connector, Event, EventBus, PaymentProvider, TaxEngine, WebhookTarget
from hub.background import EmbeddedJobs, delete_expired_carts
from hub.db.database import Database
from hub.domain import audit
from hub.domain.accounts import Accounts
from hub.domain.carts import Carts, delete_expired
from hub.domain.checkout import Checkout, reconcile
from hub.domain.integrations import Integrations
from hub.domain.integrations.config_file import apply as apply_connectors_file
from hub.domain.integrations.tax import ConnectedTax
from hub.domain.inventory import Inventory
from hub.domain.orders.after_sale import AfterSale
from hub.domain.orders.fulfillments import Fulfillments
from hub.domain.orders.service import Orders
from hub.domain.staff import Staff
from hub.domain.till.service import Tills
from hub.domain.webhooks import Webhooks
from hub.emails import Mailer, MemoryMailer
from hub.events.outbox import OutboxDispatcher, PublishedMarker, publish_committed
from hub.events.tail import OutboxTail
from hub.sessions import OpenSockets
from hub.settings import Settings
from plugins.host import PluginHost

log = logging.getLogger("hub")


@dataclass(eq=False)  # one per process; identity is what caches key on
class Hub:
    """Settings, database, event bus and outbox, the domain services (inventory,
    carts, checkout), the ports' implementations (payments, tax) and the background
    jobs of one process."""

    settings: Settings
    db: Database
    bus: EventBus
    tail: OutboxTail
    dispatcher: OutboxDispatcher
    marker: PublishedMarker
    tax: TaxEngine
    payments: dict[str, PaymentProvider]
    # Where messages for customers go (activation and reset links): kept in memory
    # unless a deployment plugs its sender in.
    mailer: Mailer = field(default_factory=MemoryMailer)
    # Where outgoing webhooks go (None: webhooks can't be created or sent).
    webhook_target: WebhookTarget | None = None
    # The registered connector types (type_name -> class), hub.composition.connector_types.
    connector_types: Mapping[str, type[Connector]] = field(default_factory=dict)
    inventory: Inventory = field(init=False)
    accounts: Accounts = field(init=False)
    staff: Staff = field(init=False)
    tills: Tills = field(init=False)
    carts: Carts = field(init=False)
    checkout: Checkout = field(init=False)
    after_sale: AfterSale = field(init=False)
    fulfillments: Fulfillments = field(init=False)
    orders: Orders = field(init=False)
    jobs: EmbeddedJobs = field(init=False)
    webhooks: Webhooks = field(init=False)
    integrations: Integrations = field(init=False)
    sessions: OpenSockets = field(init=False)
    # The installed plugins (hub.app loads them): their states and event handlers.
    plugins: PluginHost = field(default_factory=PluginHost)
    started: bool = False

    def __post_init__(self) -> None:
        s = self.settings
        self.inventory = Inventory(self.db, publish=self.publish)
        self.accounts = Accounts(self.db, s, self.mailer, publish=self.publish)
        self.staff = Staff(
            self.db,
            self.accounts.passwords,
            timedelta(seconds=s.staff_token_seconds),
            publish=self.publish,
        )
        self.tills = Tills(
            self.db,
            self.accounts.passwords,
            self.mailer,
            timedelta(seconds=s.staff_token_seconds),
            publish=self.publish,
        )
        self.carts = Carts(self.db, ttl=timedelta(seconds=s.cart_ttl_seconds))
        self.checkout = Checkout(
            self.db,
            tax_engine=self.tax,
            providers=self.payments,
            publish=self.publish,
            lease=timedelta(seconds=s.checkout_lease_seconds),
            pause_file=s.test_checkout_pause_file,
        )
        self.orders = Orders(self.db, self.payments, publish=self.publish)
        self.fulfillments = Fulfillments(self.db, self.orders, publish=self.publish)
        self.after_sale = AfterSale(
            self.db,
            s,
            checkout=self.checkout,
            carts=self.carts,
            tax_engine=self.tax,
            money=self.orders,
            publish=self.publish,
        )
        self.jobs = EmbeddedJobs(
            s,
            release_expired=self.inventory.release_expired,
            delete_carts=self.delete_expired_carts,
            reconcile_payments=self.reconcile_payments,
            expire_pickups=self.expire_pickups,
            purge_audit=self.purge_audit,
        )
        # Writes under an audit scope are logged in their own transaction.
        audit.install(self.db.engine)
        self.sessions = OpenSockets(self.db, s.auth_cache_seconds)
        # Sent by this process while it runs the background jobs (always without Redis;
        # with Redis, hub worker sends and a serve process only while no worker is seen).
        self.webhooks = Webhooks(
            self.db, s, self.webhook_target, should_run=lambda: self.jobs.run_by == "this process"
        )
        self.integrations = Integrations(
            self.db,
            self.connector_types,
            self.publish,
            tick_seconds=s.connectors_tick_seconds,
            lease_seconds=s.connectors_lease_seconds,
            runs_here=lambda: self.jobs.run_by == "this process",
        )

    async def publish(self, events: Sequence[Event]) -> None:
        """Publish committed events now; once the hub runs, mark them published in the
        background, in one batch with the others of the moment."""
        await publish_committed(self.db, self.bus, events, self.marker)

    async def delete_expired_carts(self, budget: float = 60.0) -> int:
        """Abandoned carts deleted in batches for about ``budget`` seconds
        (:func:`hub.background.delete_expired_carts`)."""
        return await delete_expired_carts(self.db, self.settings, delete_expired, budget)

    async def purge_audit(self) -> int:
        """Audit events past ``HUB_AUDIT_RETENTION_DAYS`` deleted (one batch)."""
        return await audit.purge(self.db, self.settings.audit_retention_days)

    async def reconcile_payments(self) -> int:
        """Give back payments of checkouts that died before writing their order
        (:func:`hub.domain.checkout.reconcile`), and settle the order book's money
        movements left PENDING (:meth:`hub.domain.orders.service.Orders.reconcile`);
        how many were settled."""
        given = await reconcile(self.db, self.payments, publish=self.publish)
        return given + await self.orders.reconcile()

    async def expire_pickups(self) -> int:
        """The pickup-window job: ready pickups not collected in their location's window
        are cancelled, their stock released and their units refunded; a refund an
        earlier run could not make is tried again (:mod:`hub.domain.orders.reroute`)."""
        return await self.fulfillments.expire_pickups()

    async def start(self, *, jobs: bool = True) -> None:
        """Connect the bus, follow the event log, dispatch the outbox; with ``jobs``
        (``hub serve``), run the background jobs while no worker does."""
        if self.started:
            return
        await self.bus.start()
        await self.tail.start()
        await self.dispatcher.start()
        self.marker.start()
        if isinstance(self.tax, ConnectedTax):
            await self.tax.start(self.bus)
        if self.settings.connectors_file is not None:
            applied = await apply_connectors_file(self.integrations, self.settings.connectors_file)
            log.info("connectors file %s: %s", self.settings.connectors_file, applied)
        if jobs:
            self.jobs.start()
            self.webhooks.start()
            self.integrations.start()
        self.sessions.start(self.bus)
        self.plugins.start(self)
        self.started = True

    def status(self) -> dict[str, Any]:
        """The bus, the tail and the jobs, for /readyz."""
        return {
            "bus": self.bus.status(),
            "eventLog": self.tail.status(),
            "jobs": self.jobs.run_by,
        }

    async def stop(self) -> None:
        """Stop what :meth:`start` started; the hub can start again."""
        await self.integrations.stop()
        if isinstance(self.tax, ConnectedTax):
            await self.tax.stop()
        await self.accounts.drain()
        await self.sessions.stop()
        await self.plugins.stop()
        await self.jobs.stop()
        await self.webhooks.stop()
        await self.tail.stop()
        await self.marker.stop()
        await self.dispatcher.stop()
        await self.bus.close()
        self.started = False

    async def aclose(self) -> None:
        """Close the ports' clients (payment providers, tax service), then stop."""
        await self.webhooks.stop()  # before its transport closes
        for closer in (*self.payments.values(), self.tax, self.mailer, self.webhook_target):
            close = getattr(closer, "aclose", None)
            if close is not None:
                await close()
        await self.stop()
