"""The ``marketplace`` connector: the hub's channel on a marketplace that speaks the
generic marketplace API (``docs/marketplace-api.md``).

``sync`` (on its schedule, or run now):
  1. publishes the channel's active products: a listing (title, description,
     attributes) and an offer (the channel's price, the units sellable from the chosen
     locations) per variant SKU. Only what changed since the last run is sent: the
     cursor keeps a short hash of each SKU's listing and offer; a SKU no longer listed
     in the channel (product not active, price removed) has its listing ended;
  2. imports the orders updated since the last run (``updated_since`` = the greatest
     ``updated_at`` seen, inclusive, so the boundary orders come again) through the
     hub's order import, once per (source, external id); a new order is acknowledged
     with the hub's order id; an order the hub rejects (an unknown SKU, no stock) is
     reported as the run's error and tried again on the next runs (kept in the cursor).

``handle`` (on the outbox events, stock events coalesced to one per variant):
  - ``inventory.*``: the latest sellable quantity of each changed variant (and of the
    bundles made of it) replaces its offer's quantity, when it differs from what was
    last sent;
  - ``fulfillment.created``: a shipment with the carrier and tracking for the
    marketplace's lines (the hub's fulfillment id as ``shipment_id``: idempotent);
  - ``fulfillment.tracking_updated``: the shipment's tracking is updated;
  - ``order.cancelled``: the marketplace's order is cancelled.
  Only orders whose source is this instance's ``source`` are pushed.

An outage of the marketplace (no answer, 429, 5xx) fails the run (the runtime retries
it later with backoff); everything pushed is absolute or idempotent, so a retried run
does nothing twice. A refused item (400, 404, 409) is the run's error for that item.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.base import ConnectorKind, Event, ListingRow, OrderRef, RowResult, RunContext
from connectors.marketplace.client import MarketplaceClient, MarketplaceError

PAGE = 500
MAX_RETRY = 200  # orders kept for another try at most


class MarketplaceConfig(BaseModel):
    """An instance's config."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(description="The marketplace API's base URL (http or https).")
    token: str = Field(min_length=1, max_length=4096, description="The bearer token (secret).")
    channel: str = Field(min_length=1, max_length=64, description="The hub channel's handle.")
    locations: list[str] | None = Field(
        default=None,
        max_length=100,
        description="Handles of the locations whose stock is offered; none: every "
        "active location that sells to the channel.",
    )
    source: str = Field(
        default="marketplace",
        pattern=r"^[a-z0-9][a-z0-9_.-]{0,31}$",
        description="The source name imported orders carry.",
    )
    untracked_quantity: int = Field(
        default=100, ge=0, le=1_000_000, description="The quantity offered of untracked items."
    )
    timeout_seconds: float = Field(default=10.0, gt=0, le=60)

    @field_validator("base_url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")) or len(v) > 2000:
            raise ValueError("an http or https URL")
        return v.rstrip("/")


class _State:
    """The cursor: listing and offer hashes per SKU, the order high-water mark and the
    orders to try again."""

    def __init__(self, raw: str | None) -> None:
        data: dict[str, Any] = {}
        if raw:
            try:
                data = json.loads(raw)
            except ValueError:
                data = {}
        self.listings: dict[str, str] = dict(data.get("l") or {})
        self.offers: dict[str, str] = dict(data.get("o") or {})
        self.since: str | None = data.get("since")
        self.retry: list[str] = list(data.get("retry") or [])
        self.url: str | None = data.get("url")
        self.scope: str | None = data.get("scope")

    def follow(self, cfg: MarketplaceConfig) -> None:
        """Forget what was sent when the config points elsewhere: another marketplace
        (everything, orders included), or another channel, locations or quantity rule
        (the hashes: everything is published again)."""
        scope = _hash([cfg.channel, cfg.locations, cfg.untracked_quantity])
        if self.url != cfg.base_url:
            self.since, self.retry = None, []
        if self.url != cfg.base_url or self.scope != scope:
            self.listings, self.offers = {}, {}
        self.url, self.scope = cfg.base_url, scope

    def dump(self) -> str:
        return json.dumps(
            {"v": 1, "url": self.url, "scope": self.scope, "since": self.since,
             "retry": self.retry[-MAX_RETRY:], "l": self.listings, "o": self.offers},
            separators=(",", ":"),
        )  # fmt: skip


def _hash(value: Any) -> str:
    raw = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(raw.encode(), digest_size=6).hexdigest()


def _listing(row: ListingRow) -> dict[str, Any]:
    attrs = {
        str(k)[:64]: v
        for k, v in row.attributes.items()
        if isinstance(v, str | int | float | bool) and not isinstance(v, bytes)
    }
    return {
        "sku": row.sku,
        "product_ref": row.product_handle,
        "title": row.title[:255],
        "description": row.description[:10_000],
        "attributes": dict(list(attrs.items())[:50]),
    }


def _offer(row: ListingRow, untracked: int) -> dict[str, Any]:
    qty = untracked if row.quantity is None else min(max(row.quantity, 0), 1_000_000)
    return {
        "sku": row.sku,
        "price": {"amount": row.price, "currency": row.currency},
        "quantity": qty,
    }


def _shipment_id(fulfillment_id: str) -> str:
    """The hub's fulfillment as the marketplace's ``shipment_id`` (path-safe)."""
    return "hub-" + str(fulfillment_id).rsplit("/", 1)[-1]


class MarketplaceConnector:
    """The connector type ``marketplace`` (see the module docstring)."""

    type_name: str = "marketplace"
    kind: ConnectorKind = "marketplace"
    config_schema: type[Any] = MarketplaceConfig
    secret_fields: frozenset[str] = frozenset({"token"})
    topics: tuple[str, ...] = (
        "inventory.*",
        "fulfillment.created",
        "fulfillment.tracking_updated",
        "order.cancelled",
    )

    def _client(self, cfg: MarketplaceConfig) -> MarketplaceClient:
        return MarketplaceClient(cfg.base_url, cfg.token, timeout=cfg.timeout_seconds)

    # -- sync ---------------------------------------------------------------------------

    async def sync(self, ctx: RunContext) -> None:
        cfg = MarketplaceConfig.model_validate(ctx.config)
        state = _State(ctx.cursor)
        state.follow(cfg)
        async with self._client(cfg) as api:
            if state.listings and not (await api.listings_page(limit=1))[0]:
                # The marketplace holds none of what was published (its data was
                # reset): publish everything again.
                state.listings, state.offers = {}, {}
            await self._publish(ctx, cfg, api, state)
            ctx.set_cursor(state.dump())
            await self._import(ctx, cfg, api, state)
            ctx.set_cursor(state.dump())

    async def _publish(
        self, ctx: RunContext, cfg: MarketplaceConfig, api: MarketplaceClient, state: _State
    ) -> None:
        seen: set[str] = set()
        after: int | None = None
        while True:
            rows = await ctx.hub.listings(cfg.channel, cfg.locations, after=after, limit=PAGE)
            if not rows:
                break
            after = rows[-1].variant_id
            seen.update(r.sku for r in rows)
            await self._push(ctx, cfg, api, state, rows)
            if len(rows) < PAGE:
                break
        for sku in sorted(set(state.listings) - seen):
            try:
                await api.end_listing(sku)
            except MarketplaceError as exc:
                if exc.retryable:
                    raise
                if exc.status != 404:
                    ctx.error(sku, exc.code, exc.message)
                    continue
            ctx.written()
            state.listings.pop(sku, None)
            state.offers.pop(sku, None)

    async def _push(
        self,
        ctx: RunContext,
        cfg: MarketplaceConfig,
        api: MarketplaceClient,
        state: _State,
        rows: Sequence[ListingRow],
    ) -> None:
        """Send the listings and offers of ``rows`` that changed; remember their hashes."""
        listings = {r.sku: _listing(r) for r in rows}
        offers = {r.sku: _offer(r, cfg.untracked_quantity) for r in rows}
        new_l = {s: _hash(v) for s, v in listings.items() if state.listings.get(s) != _hash(v)}
        new_o = {s: _hash(v) for s, v in offers.items() if state.offers.get(s) != _hash(v)}
        failed: set[str] = set()
        if new_l:
            results = await api.put_listings([listings[s] for s in new_l])
            failed = self._results(ctx, results)
            state.listings.update({s: h for s, h in new_l.items() if s not in failed})
        todo = [s for s in new_o if s not in failed]
        if todo:
            bad = self._results(ctx, await api.put_offers([offers[s] for s in todo]))
            state.offers.update({s: new_o[s] for s in todo if s not in bad})

    @staticmethod
    def _results(ctx: RunContext, results: Sequence[Mapping[str, Any]]) -> set[str]:
        failed = set()
        for r in results:
            sku = str(r.get("sku"))
            if r.get("status") == "error":
                err = r.get("error") or {}
                ctx.error(sku, str(err.get("code") or "error"), str(err.get("message") or ""))
                failed.add(sku)
            elif r.get("status") != "unchanged":
                ctx.written()
        return failed

    # -- orders in ----------------------------------------------------------------------

    async def _import(
        self, ctx: RunContext, cfg: MarketplaceConfig, api: MarketplaceClient, state: _State
    ) -> None:
        seen: set[str] = set()
        async for page in api.orders_since(state.since):
            ctx.read(len(page))
            seen.update(str(o.get("id")) for o in page)
            await self._import_page(ctx, cfg, api, state, page)
            for o in page:
                at = str(o.get("updated_at") or "")
                if at and (state.since is None or at > state.since):
                    state.since = at
        again = [oid for oid in state.retry if oid not in seen]
        for oid in again:
            try:
                order = await api.order(oid)
            except MarketplaceError as exc:
                if exc.retryable:
                    raise
                state.retry.remove(oid)
                continue
            ctx.read()
            await self._import_page(ctx, cfg, api, state, [order])

    async def _import_page(
        self,
        ctx: RunContext,
        cfg: MarketplaceConfig,
        api: MarketplaceClient,
        state: _State,
        page: Sequence[Mapping[str, Any]],
    ) -> None:
        wanted = [o for o in page if o.get("status") != "cancelled"]
        for o in page:
            if o.get("status") == "cancelled" and o.get("id") in state.retry:
                state.retry.remove(str(o.get("id")))
        if not wanted:
            return
        results: list[RowResult] = await ctx.hub.import_orders(
            [self._mapping(cfg, o) for o in wanted]
        )
        # The gateway counts what the import reports on the run: created orders as
        # written, rejected ones as the run's item errors.
        for order, got in zip(wanted, results, strict=True):
            oid = str(order.get("id"))
            if got.status == "rejected":
                if oid not in state.retry:
                    state.retry.append(oid)
                continue
            if oid in state.retry:
                state.retry.remove(oid)
            if order.get("acknowledged") is None and got.id is not None:
                try:
                    await api.acknowledge(oid, f"hub-{got.id}")
                except MarketplaceError as exc:
                    if exc.retryable:
                        raise
                    ctx.error(oid, exc.code, exc.message)

    @staticmethod
    def _mapping(cfg: MarketplaceConfig, o: Mapping[str, Any]) -> dict[str, Any]:
        """A marketplace order as the hub's order import takes it."""
        buyer = o.get("buyer") or {}
        addr = o.get("shipping_address") or {}
        first, _, last = str(addr.get("name") or buyer.get("name") or "").partition(" ")

        def amount(m: Any) -> Any:
            return m.get("amount") if isinstance(m, Mapping) else m

        return {
            "source": cfg.source,
            "external_id": str(o.get("id")),
            "channel": cfg.channel,
            "currency": o.get("currency"),
            "email": buyer.get("email"),
            "phone": buyer.get("phone"),
            "processed_at": o.get("created_at"),
            "shipping": amount(o.get("shipping")) or 0,
            "shipping_tax": amount(o.get("shipping_tax")) or 0,
            "taxes_included": bool(o.get("taxes_included")),
            "financial_status": "PAID",
            "location": cfg.locations[0] if cfg.locations and len(cfg.locations) == 1 else None,
            "shipping_address": {
                "firstName": first or None,
                "lastName": last or None,
                "address1": addr.get("line1"),
                "address2": addr.get("line2"),
                "city": addr.get("city"),
                "province": addr.get("region"),
                "postalCode": addr.get("postal_code"),
                "countryCode": addr.get("country"),
                "phone": buyer.get("phone"),
            },
            "lines": [
                {
                    "sku": ln.get("sku"),
                    "quantity": ln.get("quantity"),
                    "unit_price": amount(ln.get("unit_price")),
                    "tax": amount(ln.get("tax")) or 0,
                    "discount": amount(ln.get("discount")) or 0,
                    "title": ln.get("title"),
                    "external_id": ln.get("id"),
                }
                for ln in (o.get("lines") or [])
                if isinstance(ln, Mapping)
            ],
        }

    # -- events -------------------------------------------------------------------------

    async def handle(self, ctx: RunContext, events: Sequence[Event]) -> None:
        cfg = MarketplaceConfig.model_validate(ctx.config)
        state = _State(ctx.cursor)
        state.follow(cfg)
        stock = [e for e in events if e.topic.startswith("inventory.")]
        orders = [e for e in events if not e.topic.startswith("inventory.")]
        async with self._client(cfg) as api:
            if stock:
                await self._push_stock(ctx, cfg, api, state, stock)
                ctx.set_cursor(state.dump())
            if orders:
                await self._push_orders(ctx, cfg, api, orders)

    async def _push_stock(
        self,
        ctx: RunContext,
        cfg: MarketplaceConfig,
        api: MarketplaceClient,
        state: _State,
        events: Sequence[Event],
    ) -> None:
        variants = sorted({int(e.payload["variantId"]) for e in events if "variantId" in e.payload})
        rows = await ctx.hub.offers(cfg.channel, cfg.locations, variants)
        # Only SKUs already listed there (the next sync lists new ones), and only those
        # whose offer differs from what was last sent (a change at a location that is
        # not offered changes nothing).
        listed = [
            r
            for r in rows
            if r.sku in state.listings
            and state.offers.get(r.sku) != _hash(_offer(r, cfg.untracked_quantity))
        ]
        offers = [{"sku": r.sku, "quantity": _offer(r, cfg.untracked_quantity)["quantity"]}
                  for r in listed]  # fmt: skip
        if not offers:
            return
        bad = self._results(ctx, await api.put_offers(offers))
        for r in listed:
            if r.sku not in bad:
                state.offers[r.sku] = _hash(_offer(r, cfg.untracked_quantity))

    async def _push_orders(
        self,
        ctx: RunContext,
        cfg: MarketplaceConfig,
        api: MarketplaceClient,
        events: Sequence[Event],
    ) -> None:
        ids = sorted({str(e.payload.get("orderId")) for e in events})
        refs = {r.order_id: r for r in await ctx.hub.order_refs(cfg.source, ids)}
        for e in events:
            ref = refs.get(str(e.payload.get("orderId")))
            if ref is None:
                continue  # not an order from this marketplace
            try:
                await self._push_one(api, ref, e)
            except MarketplaceError as exc:
                if exc.retryable:
                    raise
                ctx.error(f"{ref.external_id}:{e.topic}", exc.code, exc.message)
                continue
            ctx.written()

    @staticmethod
    async def _push_one(api: MarketplaceClient, ref: OrderRef, e: Event) -> None:
        p = e.payload
        if e.topic == "order.cancelled":
            await api.cancel(ref.external_id, str(p.get("reason") or "cancelled by the seller"))
        elif e.topic == "fulfillment.created":
            if p.get("kind", "SHIPMENT") != "SHIPMENT":
                return
            track = p.get("tracking") or {}
            lines = [
                {"line_id": ref.lines[ln["orderLineId"]], "quantity": ln["quantity"]}
                for ln in p.get("lines") or []
                if ln.get("orderLineId") in ref.lines
            ]
            await api.ship(
                ref.external_id,
                {
                    "shipment_id": _shipment_id(p.get("fulfillmentId", "")),
                    "carrier": track.get("carrier"),
                    "tracking_number": track.get("number"),
                    "tracking_url": track.get("url"),
                    "lines": lines,
                },
            )
        elif e.topic == "fulfillment.tracking_updated":
            await api.update_tracking(
                ref.external_id,
                _shipment_id(p.get("fulfillmentId", "")),
                {"carrier": p.get("carrier"), "tracking_number": p.get("number"),
                 "tracking_url": p.get("url")},
            )  # fmt: skip
