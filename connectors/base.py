"""The protocols the domain depends on, and the data types they exchange.

The domain (``hub.domain``) imports only from this module; the app wires the configured
implementation of each protocol in at start-up. A connector talks to its external
system (and to the domain layer), never to the database. Amounts are integers in the
minor units of an ISO 4217 currency (see ``hub.money``); rates are ``Decimal``.

Sections: tax, payments (with webhook parsing), events (the bus the outbox publishes
to). The ERP, CRM and marketplace ports join them here, one section each: a frozen
dataclass per message, a ``Protocol`` per system, no implementation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import TracebackType
from typing import Any, Final, Literal, Protocol, Self, runtime_checkable

# ------------------------------------------------------------------------ connections


class AsyncClosing:
    """A connector that holds connections: ``async with`` it, and it is closed on the way
    out (its ``aclose``)."""

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


# ------------------------------------------------------------------------------- tax

TaxSource = Literal["builtin", "service", "fallback"]
"""Who computed a ``TaxResult``: the rules table in the hub, an external tax service,
or the fallback engine after the service failed."""


@dataclass(frozen=True, slots=True)
class TaxLine:
    """One basket line to tax.

    ``amount`` is the line total after discounts (unit price x quantity - discounts),
    in minor units; it includes tax when the request says ``prices_include_tax``.
    """

    line_id: str
    amount: int
    quantity: int
    tax_class: str = "standard"
    product_type: str = ""


@dataclass(frozen=True, slots=True)
class TaxRequest:
    """A basket to tax, destination-based: the ship-to (or sale) address decides.

    ``country`` is ISO 3166-1 alpha-2 (``"US"``, ``"DE"``); ``region`` the subdivision
    (a US state ``"NY"`` or ``"US-NY"``), ``None`` where it does not matter.
    ``shipping`` is the shipping charge in minor units (tax-inclusive like the lines
    when ``prices_include_tax``). ``customer_vat_id`` is the buyer's VAT number as
    entered (``"FR 40 303 265 045"``); ``customer_exempt`` marks a customer with an
    exemption certificate on file.
    """

    currency: str
    country: str
    region: str | None
    postal_code: str | None
    prices_include_tax: bool
    lines: tuple[TaxLine, ...]
    shipping: int
    customer_vat_id: str | None
    customer_exempt: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.lines, tuple):
            object.__setattr__(self, "lines", tuple(self.lines))
        ids = [line.line_id for line in self.lines]
        if len(set(ids)) != len(ids):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"TaxRequest line ids must be unique; repeated: {dupes}")
        if self.shipping < 0:
            raise ValueError(f"TaxRequest.shipping must be >= 0 minor units, got {self.shipping}")


@dataclass(frozen=True, slots=True)
class TaxBreakdown:
    """Tax collected at one rate under one name (one row of an invoice's tax table)."""

    name: str
    rate: Decimal
    amount: int


@dataclass(frozen=True, slots=True)
class TaxResult:
    """The tax on a basket, in minor units of the request's currency.

    ``lines`` maps every request ``line_id`` to its tax. With tax-inclusive prices the
    amounts are the tax contained in the prices; otherwise the tax to add on top.
    ``total_tax`` is ``sum(lines.values()) + shipping_tax``. ``exempt_reason`` is set
    when the basket was not taxed because of who buys (``"customer_exempt"``,
    ``"reverse_charge"``); it stays ``None`` when tax is simply zero.
    """

    lines: dict[str, int]
    shipping_tax: int
    total_tax: int
    breakdown: tuple[TaxBreakdown, ...]
    source: TaxSource
    exempt_reason: str | None = None


class TaxUnavailable(Exception):
    """No engine could compute the tax (the service failed and no fallback is set).

    The basket cannot be priced right now; retry later, or configure a fallback
    engine (``HttpTaxEngine(..., fallback=RulesTaxEngine(default_rules()))``).
    """


@runtime_checkable
class TaxEngine(Protocol):
    """Computes the tax on a basket. Implementations: ``connectors.tax``."""

    async def calculate(self, req: TaxRequest) -> TaxResult: ...


# -------------------------------------------------------------------------- payments
#
# The payment provider protocol, its result type and its errors.
#
# The hub never sees card numbers: a card is tokenized by the provider's own client-side
# SDK and the hub only handles the token (for Stripe a PaymentMethod id, ``pm_...``).
# Amounts are integers in the hub's minor units of an ISO 4217 currency (see
# ``hub.money``); a provider converts to its own wire format at its edge.
#
# Every call that moves money takes an idempotency key: calling again with the same key
# returns the first outcome instead of moving money twice, so a caller that got
# ``PaymentUnavailable`` (outcome unknown) retries with the same key.
#
# A card decline is an outcome, not an error: ``authorize`` returns a result with status
# ``"failed"`` and the decline code. Exceptions are kept for requests that cannot be
# carried out: ``PaymentError`` (the request is wrong, retrying it won't help) and
# ``PaymentUnavailable`` (the provider could not be reached or failed; retry later with
# the same idempotency key).

PaymentStatus = Literal[
    "requires_action",  # the customer must act (3-D Secure, or pick a payment method)
    "processing",  # the provider is still working on it; wait for a webhook
    "authorized",  # funds held, not yet captured
    "captured",  # funds taken
    "partially_refunded",
    "refunded",
    "canceled",  # authorization released, nothing taken
    "failed",  # declined or otherwise unsuccessful; see failure_code
    "unknown",  # a provider status this module does not know; see raw_status
]

RefundReason = Literal["duplicate", "fraudulent", "requested_by_customer"]

REFUND_REASONS: Final[frozenset[str]] = frozenset(
    {"duplicate", "fraudulent", "requested_by_customer"}
)


@dataclass(frozen=True, slots=True)
class PaymentIntentResult:
    """A payment as the provider reports it after a call.

    ``amount``, ``amount_captured`` and ``amount_refunded`` are hub minor units of
    ``currency`` (upper-case ISO 4217). ``amount_refunded`` counts refunds of captured
    funds only: an authorization released by a partial capture or a cancel is not a
    refund. Offline providers keep no state, so their ``amount_refunded`` is the amount
    of the refund just made; the domain owns the running total.
    """

    provider: str
    id: str
    status: PaymentStatus
    amount: int
    currency: str
    amount_captured: int
    amount_refunded: int
    failure_code: str | None
    failure_message: str | None
    raw_status: str
    # Handed to the storefront when status is "requires_action", so the provider's
    # client-side SDK can finish the payment (3-D Secure, choosing a method).
    client_secret: str | None = field(default=None, repr=False)
    # A test payment (no money moves): the hub marks it, and the order it pays.
    test: bool = False


class PaymentError(Exception):
    """The provider refused the request as invalid; retrying it unchanged won't help.

    ``code`` is a stable machine-readable code (the provider's own where it has one,
    e.g. Stripe's ``payment_intent_unexpected_state``); ``message`` says what to fix.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class PaymentUnavailable(Exception):
    """The provider could not be reached or failed (network down after retries, 5xx,
    rate limited, misconfigured credentials). The outcome of the call is unknown:
    retry later with the same idempotency key."""


class WebhookSignatureError(PaymentError):
    """A webhook whose signature does not verify, or is too old: reject it (HTTP 400)."""

    def __init__(self, message: str) -> None:
        super().__init__("webhook_signature_invalid", message)


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """A verified provider webhook. ``data`` is the event's object (e.g. the
    PaymentIntent) as plain JSON data; ``intent_id`` is the payment it concerns, if any."""

    id: str
    type: str
    intent_id: str | None
    data: Mapping[str, Any]


@runtime_checkable
class PaymentProvider(Protocol):
    """Takes payments through one provider. Implementations never touch the database."""

    @property
    def name(self) -> str:
        """The provider's name (``stripe``, ``cash``...), as payments record it."""
        ...

    async def authorize(
        self,
        *,
        amount: int,
        currency: str,
        payment_method_id: str | None,
        reference: str,
        idempotency_key: str,
        metadata: Mapping[str, str] | None = None,
    ) -> PaymentIntentResult:
        """Create and confirm a payment for ``amount`` with manual capture.

        A decline returns status ``"failed"`` with ``failure_code`` (e.g.
        ``insufficient_funds``), not an exception. ``reference`` is the hub's reference
        for the payment (order or checkout id; for offline providers the cash drawer or
        terminal reference)."""
        ...

    async def capture(
        self, intent_id: str, amount: int | None = None, *, idempotency_key: str
    ) -> PaymentIntentResult:
        """Capture an authorized payment, all of it or ``amount`` of it (the rest of
        the authorization is released)."""
        ...

    async def cancel(self, intent_id: str, *, idempotency_key: str) -> PaymentIntentResult:
        """Release an authorization that has not been captured."""
        ...

    async def refund(
        self,
        intent_id: str,
        amount: int | None = None,
        *,
        idempotency_key: str,
        reason: RefundReason | None = None,
    ) -> PaymentIntentResult:
        """Refund a captured payment, all of what remains or ``amount`` of it."""
        ...


@runtime_checkable
class WebhookParser(Protocol):
    """A provider that sends signed webhooks (Stripe): the composition root routes its
    endpoint's raw body here."""

    def parse_webhook(self, payload: bytes, signature: str) -> WebhookEvent:
        """The verified event of a raw webhook body, or :class:`WebhookSignatureError`
        (bad or stale signature) / :class:`PaymentError` (a signed body that is no
        event)."""
        ...


# The argument checks every implementation makes, with the same codes and messages
# (the connectors' providers and the domain's gift card provider alike).


def check_idempotency_key(idempotency_key: str) -> None:
    """:class:`PaymentError` ``idempotency_key_required`` for a missing or blank key."""
    if not idempotency_key or not idempotency_key.strip():
        raise PaymentError("idempotency_key_required", "pass a non-empty idempotency key")


def check_amount(amount: object, what: str = "amount") -> None:
    """:class:`PaymentError` ``invalid_amount`` unless ``amount`` is an int above 0."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise PaymentError("invalid_amount", f"{what} must be a positive integer")


def check_refund_reason(reason: str | None) -> None:
    """:class:`PaymentError` ``invalid_refund_reason`` unless ``reason`` is None or one
    of :data:`REFUND_REASONS` (every provider checks the same way)."""
    if reason is not None and reason not in REFUND_REASONS:
        raise PaymentError(
            "invalid_refund_reason", f"reason must be one of {sorted(REFUND_REASONS)}"
        )


# What the implementations share: the protocol's arguments handed on as one value, and
# the amount a refund gives back.


@dataclass(frozen=True, slots=True)
class Authorization:
    """The arguments of ``PaymentProvider.authorize``, as one value."""

    amount: int
    currency: str
    payment_method_id: str | None
    reference: str
    idempotency_key: str
    metadata: Mapping[str, str] | None = None


class ProviderBase:
    """``authorize`` and ``refund`` with the protocol's arguments, handed to the
    provider's ``_authorize`` (as one :class:`Authorization`) and ``_refund``."""

    async def authorize(
        self,
        *,
        amount: int,
        currency: str,
        payment_method_id: str | None,
        reference: str,
        idempotency_key: str,
        metadata: Mapping[str, str] | None = None,
    ) -> PaymentIntentResult:
        """Create and confirm a payment for ``amount`` with manual capture (see
        ``connectors.base.PaymentProvider.authorize``)."""
        return await self._authorize(
            Authorization(amount, currency, payment_method_id, reference, idempotency_key, metadata)
        )

    async def refund(
        self,
        intent_id: str,
        amount: int | None = None,
        *,
        idempotency_key: str,
        reason: RefundReason | None = None,
    ) -> PaymentIntentResult:
        """Refund a captured payment, all of what remains or ``amount`` of it."""
        return await self._refund(intent_id, amount, idempotency_key, reason)

    async def _authorize(self, a: Authorization) -> PaymentIntentResult:
        raise NotImplementedError

    async def _refund(
        self, intent_id: str, amount: int | None, idempotency_key: str, reason: RefundReason | None
    ) -> PaymentIntentResult:
        raise NotImplementedError


def refund_amount(amount: int | None, reason: RefundReason | None, paid: int, paid_as: str) -> int:
    """What a refund gives back: ``amount``, or all of the ``paid`` amount when None,
    checked with the refund's ``reason`` (never more than was paid: ``amount_too_large``,
    whose message names the paid amount as ``paid_as``, e.g. ``captured``)."""
    check_refund_reason(reason)
    back = paid if amount is None else amount
    check_amount(back, "refund amount")
    if back > paid:
        raise PaymentError("amount_too_large", f"refund of {back} exceeds the {paid} {paid_as}")
    return back


# ---------------------------------------------------------------------------- events

Position = tuple[int, int]  # (txid, id): commit order in the outbox


@dataclass(frozen=True, slots=True)
class Event:
    """One committed state change. ``id`` is the outbox row id (the dedupe key) and
    ``txid`` the writing transaction's position in commit order (PostgreSQL: its
    transaction id; SQLite, where writes are serial: 0), ``None`` when unknown; it is
    not part of an event's identity (equality)."""

    id: int
    topic: str
    payload: dict[str, Any]
    txid: int | None = field(default=None, compare=False)


class BusUnavailable(ConnectionError):
    """The transport can't take events now; they stay in the outbox, and every process's
    tail delivers them."""


class Subscription(Protocol):
    """An async iterator of events; ``close()`` (idempotent) ends the iteration."""

    def __aiter__(self) -> AsyncIterator[Event]: ...

    async def close(self) -> None: ...


class EventBus(Protocol):
    """Carries committed events to the subscribers of every hub process. Implementations:
    ``hub.events`` (memory, PostgreSQL LISTEN/NOTIFY, Redis)."""

    kind: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, events: Sequence[Event]) -> None: ...

    def subscribe(self, topics: Iterable[str], *, maxsize: int = 1000) -> Subscription: ...

    def catch_up(
        self, events: Sequence[Event], cursor: Position, ahead: Sequence[Event] = ()
    ) -> int: ...

    def status(self) -> dict[str, Any]: ...

    @property
    def healthy(self) -> bool: ...

    @property
    def subscriber_count(self) -> int: ...

    on_connect: Callable[[], None] | None


class Publish(Protocol):
    """How a domain service hands committed events on (the container's ``publish``)."""

    async def __call__(self, events: Sequence[Event], /) -> None: ...


# ------------------------------------------------------------------ connectors (sync)
# The framework every ERP, CRM and marketplace connector runs in (issue 12). A
# connector *type* (a class implementing :class:`Connector`) is registered under its
# ``type_name``; an *instance* (a row the admin creates with ``connectorCreate`` or a
# config file) gives it a config. The runtime (``hub.domain.integrations``) runs an
# instance's ``sync`` on its schedule and its ``handle`` on the outbox events it asks
# for, each as one recorded *run*, with a :class:`RunContext`. A connector reaches the
# hub only through ``ctx.hub`` (a :class:`HubGateway`), never the database.

ConnectorKind = Literal["erp", "crm", "marketplace", "tax", "payment"]


@dataclass(frozen=True, slots=True)
class RowResult:
    """What happened to one item a connector handed the hub: ``key`` names the item
    (a SKU, an external id, a row number), ``status`` is ``created``, ``updated``,
    ``unchanged`` or ``rejected`` (then ``code`` and ``message`` say why)."""

    key: str
    status: Literal["created", "updated", "unchanged", "rejected"]
    code: str | None = None
    message: str | None = None
    id: int | None = None  # the hub's id of what was written, when there is one


@dataclass(frozen=True, slots=True)
class CatalogRow:
    """One variant of a product as an ERP or feed knows it (the hub matches products by
    ``product_handle`` and variants by ``sku``). ``prices`` maps a channel handle to the
    amount in minor units; ``stock`` maps a location code to the on-hand quantity.
    ``None`` fields are left as they are."""

    sku: str
    product_handle: str
    product_title: str | None = None
    description: str | None = None
    active: bool | None = None
    barcode: str | None = None
    option_values: Sequence[str] | None = None
    tax_class: str | None = None
    weight_grams: int | None = None
    prices: Mapping[str, int] | None = None
    stock: Mapping[str, int] | None = None
    attributes: Mapping[str, Any] | None = None
    # The product's option names (Size, Color), in the order of ``option_values``;
    # None: the names the product has ("Option 1", ... for a new one).
    option_names: Sequence[str] | None = None
    # How the source names the row in a run's errors ("items.csv row 7 (TS-M)"): the
    # RowResult's key when given (else the SKU). Not part of the row's content.
    item: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class StockRow:
    """An absolute on-hand level of a SKU at a location (by its code)."""

    sku: str
    location: str
    on_hand: int
    # How the source names it in a run's errors; the RowResult's key when given (else
    # ``<sku>@<location>``). Not part of the row's content.
    item: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class CustomerRow:
    """A customer profile as a CRM knows it; matched by email (then phone)."""

    email: str | None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    external_id: str | None = None
    accepts_marketing: bool | None = None
    attributes: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ListingRow:
    """One variant of an active product as a channel sells it (what a marketplace
    connector publishes): ``price`` and ``compare_at`` in the channel's minor units,
    ``quantity`` the units sellable from the chosen locations (``None``: untracked,
    always available). ``attributes`` is flat (the options by name, vendor, type,
    barcode and the product's typed attributes)."""

    variant_id: int
    sku: str
    product_handle: str
    title: str
    description: str
    attributes: Mapping[str, Any]
    price: int
    currency: str
    quantity: int | None
    compare_at: int | None = None


@dataclass(frozen=True, slots=True)
class OrderRef:
    """An order the hub imported from an outside system: its global id and name, where
    it came from (``source``, ``external_id``), its status, and the outside system's id
    of each of its lines (order line global id -> external line id)."""

    order_id: str
    name: str | None
    source: str
    external_id: str
    status: str
    lines: Mapping[str, str]


class HubGateway(Protocol):
    """What a connector may do to the hub, implemented by the runtime on the domain's
    services. Every write is idempotent for the same input and reports one
    :class:`RowResult` per item, in order; a rejected item never fails the others."""

    async def upsert_catalog(self, rows: Sequence[CatalogRow]) -> list[RowResult]: ...

    async def set_stock(self, rows: Sequence[StockRow]) -> list[RowResult]: ...

    async def upsert_customers(self, rows: Sequence[CustomerRow]) -> list[RowResult]: ...

    async def import_orders(self, orders: Sequence[Mapping[str, Any]]) -> list[RowResult]: ...

    # Marketplace reads (hub.domain.integrations.listings): a channel's listings by
    # channel handle and location handles (None: every location selling to the
    # channel), a page after a variant id; the listings of some variants (and of the
    # bundles made of them); the orders among some order ids a source sent.
    async def listings(
        self,
        channel: str,
        locations: Sequence[str] | None,
        *,
        after: int | None = None,
        limit: int = 500,
    ) -> list[ListingRow]: ...

    async def offers(
        self, channel: str, locations: Sequence[str] | None, variant_ids: Sequence[int]
    ) -> list[ListingRow]: ...

    async def order_refs(self, source: str, order_ids: Sequence[str]) -> list[OrderRef]: ...
    # Incremental imports (the file feed): what the hub holds of the instance's last
    # import, a content hash per row key, and the channels' currencies to read amounts in.

    async def channel_currencies(self) -> Mapping[str, str]: ...  # handle -> ISO 4217 code

    async def row_hashes(self, instance_id: int) -> Mapping[str, str]: ...

    async def save_row_hashes(self, instance_id: int, hashes: Mapping[str, str]) -> None: ...

    async def forget_row_hashes(self, instance_id: int) -> None: ...


class RunContext(Protocol):
    """One run of one connector instance."""

    @property
    def instance_id(self) -> int: ...

    @property
    def config(self) -> Mapping[str, Any]: ...  # the instance's config, secrets included

    @property
    def cursor(self) -> str | None: ...  # kept between runs; set_cursor commits with the run

    @property
    def hub(self) -> HubGateway: ...

    def set_cursor(self, cursor: str | None) -> None: ...

    def read(self, n: int = 1) -> None: ...  # items read from the outside system

    def written(self, n: int = 1) -> None: ...  # items written (to the hub or outside)

    def error(self, item: str, code: str, message: str) -> None: ...  # one item failed


class Connector(Protocol):
    """A connector type. ``config_schema`` validates an instance's config (a pydantic
    model class); ``secret_fields`` are write-only (never read back, redacted in the
    audit log); ``topics`` are the outbox topics (``*`` patterns allowed) whose events
    ``handle`` receives, stock events coalesced to the latest level per variant.

    Optional (looked up with ``getattr``): ``topics_for(config) -> tuple[str, ...]``,
    the topics of one instance when they depend on its config (else ``topics``), and
    ``kind_for(config) -> ConnectorKind``, an instance's kind (else ``kind``)."""

    type_name: str
    kind: ConnectorKind
    config_schema: type[Any]
    secret_fields: frozenset[str]
    topics: tuple[str, ...]

    async def sync(self, ctx: RunContext) -> None: ...

    async def handle(self, ctx: RunContext, events: Sequence[Event]) -> None: ...


# ------------------------------------------------------------------- webhooks out
# The transport of outgoing webhooks (hub.domain.webhooks): the address policy (which
# URLs may be called at all, checked at create and again at each send) and the POST.


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    url: str
    body: bytes
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class WebhookResponse:
    """What one attempt got: the status code (None when no answer came: refused by the
    address policy, connection failed, timed out), how long it took, and why it failed
    (None for a 2xx)."""

    status_code: int | None
    latency_ms: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookTarget(Protocol):
    """Sends webhooks where the address policy allows (implementation:
    ``connectors.webhooks``)."""

    async def refusal(self, url: str) -> tuple[str, str] | None:
        """None when ``url`` may be called; else (reason code, message): ``INVALID``
        (not an http(s) URL with a host), ``UNRESOLVABLE`` (the host has no address),
        ``REFUSED`` (not allowed by the policy: a private address, a host not listed)."""
        ...

    async def send(self, request: WebhookRequest, within: float) -> WebhookResponse:
        """POST ``request`` within ``within`` seconds in all; never raises for the
        receiver's failures (they are the response's ``error``)."""
        ...

    async def aclose(self) -> None: ...
