"""Subscriptions over websockets: stock changes for connectors, availability for storefronts.

Both follow the ``inventory.changed`` events of the bus (every committed stock change,
from this process or, with Redis, from any hub process):

- ``inventoryChanged(variantIds:, locationIds:)`` (admin or connector scope): the
  levels right after each change, as the event carries them.
- ``availabilityChanged(productIds:)`` (anyone): the product's and the variant's
  availability in the subscriber's channel after a change to one of its variants.

What an event needs from the database (the variant, the location, the product and its
variants with their channel availability) is read once per process per (event, kind,
channel) and shared by every subscriber (:class:`_Snapshots`): a thousand storefronts
watching one product cost one set of queries per change, not a thousand.

Each event is resolved with fresh dataloaders, primed with that shared snapshot, so a
long-lived connection never shows stock cached from an earlier event. Between events a
subscription holds no database connection, and its bus subscription is always closed
when it ends (client gone, ``complete``/``stop``, or the server shutting down).
"""

from __future__ import annotations

import asyncio
import weakref
from collections import OrderedDict
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Final, cast

import strawberry
from strawberry.types import Info

from hub.container import Hub
from hub.db.database import Reader
from hub.domain import catalog
from hub.domain import inventory as inv
from hub.events.bus import Event
from schema import fanout
from schema.catalog import Product, ProductVariantType
from schema.catalog import visible_product as _visible
from schema.context import HubContext, in_context_arg
from schema.engine.subscriptions import SharedEvent
from schema.errors import ApiCode, ApiError, decode_id
from schema.inventory import LocationType
from schema.inventory.types import StockCounts
from schema.loaders import Loaders

TOPIC: Final = "inventory.changed"
# Events a subscriber may fall behind by before the bus drops it (see hub.events.bus).
QUEUE_SIZE: Final = 1000
SNAPSHOT_CACHE_SIZE: Final = 1024


# --------------------------------------------------------------------------- types


@strawberry.type(description="Stock of a variant at a location right after a change.")
class InventoryChangeLevel(StockCounts):
    pass


@strawberry.type(description="One committed stock change of a variant at a location.")
class InventoryChange:
    variant: ProductVariantType
    location: LocationType
    reason: str = strawberry.field(description="Why it changed: received, sold, damaged, ...")
    level: InventoryChangeLevel = strawberry.field(description="The levels right after it.")
    occurred_at: datetime
    reference: str | None = strawberry.field(
        description="The order, transfer or document that caused it, if any."
    )


@strawberry.type(description="Availability of a product and one of its variants after a change.")
class AvailabilityChange:
    product: Product
    variant: ProductVariantType
    occurred_at: datetime


class _Level:
    __slots__ = (
        "available",
        "committed",
        "incoming",
        "on_hand",
        "quarantined",
        "reorder_point",
        "reserved",
        "safety_stock",
    )

    def __init__(self, level: dict[str, Any]) -> None:
        self.on_hand = level["onHand"]
        self.committed = level["committed"]
        self.reserved = level["reserved"]
        self.incoming = level["incoming"]
        self.quarantined = level["quarantined"]
        self.safety_stock = level["safetyStock"]
        self.reorder_point = level.get("reorderPoint", 0)
        self.available = level["available"]


class _InventoryChange(SharedEvent):
    __slots__ = ("level", "location", "occurred_at", "reason", "reference", "variant")

    def __init__(
        self, payload: dict[str, Any], variant: catalog.VariantRecord, location: Any
    ) -> None:
        super().__init__()
        self.variant = variant
        self.location = location
        self.reason = payload["reason"]
        self.level = _Level(payload["level"])
        self.occurred_at = _occurred_at(payload)
        self.reference = payload.get("reference")


class _AvailabilityChange(SharedEvent):
    __slots__ = ("occurred_at", "product", "variant")

    def __init__(
        self,
        payload: dict[str, Any],
        product: catalog.ProductRecord,
        variant: catalog.VariantRecord,
    ) -> None:
        super().__init__()
        self.product = product
        self.variant = variant
        self.occurred_at = _occurred_at(payload)


def _occurred_at(payload: dict[str, Any]) -> datetime:
    at = datetime.fromisoformat(payload["occurredAt"])
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)  # stored in UTC


# ------------------------------------------------------------- shared event snapshots


class _Snapshot:
    """What one event looks like in one channel, read once and shared by subscribers."""

    __slots__ = ("location", "product", "value", "variant", "variants")

    def __init__(
        self,
        variant: catalog.VariantRecord | None = None,
        location: inv.LocationRecord | None = None,
        product: catalog.ProductRecord | None = None,
        variants: list[catalog.VariantRecord] | None = None,
    ) -> None:
        self.variant = variant
        self.location = location
        self.product = product
        self.variants = variants
        self.value: SharedEvent | None = None  # None: nothing to send (deleted since)

    def prime(self, loaders: Loaders) -> None:
        if self.variant is not None:
            loaders.variant_by_id.prime(self.variant.pk, self.variant)
        if self.location is not None:
            loaders.location_by_id.prime(self.location.pk, self.location)
        if self.product is not None:
            loaders.product_by_id.prime(self.product.pk, self.product)
            if self.variants is not None:
                loaders.variants_by_product.prime(self.product, self.variants)
                for v in self.variants:
                    loaders.variant_by_id.prime(v.pk, v)


class _Snapshots:
    """A small LRU of snapshot futures per process (per app), keyed by (event, kind,
    channel). The first subscriber to need one starts the read; the others await it."""

    def __init__(self, db: Any, size: int = SNAPSHOT_CACHE_SIZE) -> None:
        self.db = db
        self.size = size
        self.reads = 0  # how many snapshots were read from the database (for tests)
        self._entries: OrderedDict[tuple[int, str, int], asyncio.Future[_Snapshot]] = OrderedDict()

    async def get(self, event: Event, kind: str, channel: catalog.ChannelRecord) -> _Snapshot:
        key = (event.id, kind, channel.pk)
        fut = self._entries.get(key)
        if fut is None:
            fut = asyncio.ensure_future(self._load(event.payload, kind, channel))
            fut.add_done_callback(lambda f: self._done(key, f))
            self._entries[key] = fut
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                return fut.result()  # most subscribers: read already done, no await
        # Shielded: a subscriber that goes away must not cancel the read for the others.
        return await asyncio.shield(fut)

    def _done(self, key: tuple[int, str, int], fut: asyncio.Future[_Snapshot]) -> None:
        if fut.cancelled() or fut.exception() is not None:
            if self._entries.get(key) is fut:
                del self._entries[key]  # retry on the next subscriber, don't cache failure

    async def _load(self, payload: dict[str, Any], kind: str, channel: Any) -> _Snapshot:
        self.reads += 1
        vpk, lpk = payload["variantId"], payload["locationId"]
        if kind == "stock":
            # Two connections for a moment: the variant and the location side by side.
            variants, locations = await asyncio.gather(
                _read(self.db, catalog.variants_by_pks, [vpk], channel),
                _read(self.db, inv.locations_by_pks, [lpk]),
            )
            variant, location = variants.get(vpk), locations.get(lpk)
            snap = _Snapshot(variant, location)
            if variant is not None and location is not None:
                snap.value = _InventoryChange(payload, variant, location)
            return snap
        reader = Reader(self.db)
        try:
            ppk = payload.get("productId")
            products = await catalog.products_by_pks(reader, [ppk], channel) if ppk else {}
            product = products.get(ppk) if ppk else None
            if product is None:
                return _Snapshot()
            by_product = await catalog.variants_by_products(reader, [product], channel)
            siblings = by_product.get(product.pk, [])
            variant = next((v for v in siblings if v.pk == vpk), None)
            snap = _Snapshot(variant, product=product, variants=siblings)
            if variant is not None:
                snap.value = _AvailabilityChange(payload, product, variant)
            return snap
        finally:
            await reader.close()


async def _read(db: Any, fetch: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    reader = Reader(db)
    try:
        return await fetch(reader, *args)
    finally:
        await reader.close()


class _FreshLoaders:
    """One event's dataloaders: new for every event (nothing cached from an earlier one),
    primed with its snapshot, and built only if a resolver asks for one; the contract
    selections resolve from the snapshot alone."""

    __slots__ = ("_ctx", "_loaders", "_snap")

    def __init__(self, ctx: HubContext, snap: _Snapshot) -> None:
        self._ctx = ctx
        self._snap = snap
        self._loaders: Loaders | None = None

    def __getattr__(self, name: str) -> Any:
        loaders = self._loaders
        if loaders is None:
            loaders = self._loaders = Loaders(self._ctx)
            self._snap.prime(loaders)
        return getattr(loaders, name)


_SNAPSHOTS: weakref.WeakKeyDictionary[Hub, _Snapshots] = weakref.WeakKeyDictionary()


def snapshots(hub: Hub) -> _Snapshots:
    """The snapshot cache of one hub (one per process when served)."""
    cache = _SNAPSHOTS.get(hub)
    if cache is None:
        cache = _SNAPSHOTS[hub] = _Snapshots(hub.db)
    return cache


# ------------------------------------------------------------------- the event loop


async def _subscribe_channel(ctx: HubContext, info: Info) -> asyncio.Future:
    """This subscription's channel: ``@inContext(channel:)``, else the connection's
    (``X-Hub-Channel``, or ``channel`` in the connection_init payload), else the default.
    Kept per subscription: two subscriptions of one connection may differ."""
    handle = in_context_arg(info, "channel") or ctx.channel_header
    # One connection's subscriptions share a context (and its read connection), which
    # is released between events: their database use takes turns.
    async with ctx.subscription_lock:
        try:
            channel = await ctx.load_channel(handle)
        finally:
            await ctx.reader.close()
    fut: asyncio.Future = asyncio.get_running_loop().create_future()
    fut.set_result(channel)
    return fut


def _pks(gids: Iterable[str], type_name: str, arg: str, limit: int) -> frozenset[int]:
    gids = list(gids)
    if not gids:
        raise ApiError(f"{arg} must name at least one id", ApiCode.INVALID_ARGUMENT)
    if len(gids) > limit:
        raise ApiError(f"{arg}: at most {limit} ids per subscription", ApiCode.INVALID_ARGUMENT)
    return frozenset(decode_id(g, type_name) for g in gids)


def _bus(ctx: HubContext) -> Hub:
    if not ctx.hub.started:
        raise ApiError("subscriptions are not available on this server", ApiCode.UNAVAILABLE)
    return ctx.hub


async def _follow(
    ctx: HubContext,
    channel: asyncio.Future,
    kind: str,
    wanted: Callable[[dict[str, Any]], bool],
    accept: Callable[[_Snapshot], bool] | None = None,
) -> AsyncGenerator[Any, None]:
    """The values of the bus events whose payload ``wanted`` and (once read) whose
    snapshot ``accept`` takes.

    Each value is yielded with fresh dataloaders primed from the shared snapshot and the
    subscription's channel set on the context; after it has been resolved and sent the
    read connection goes back to the pool.
    """
    hub = _bus(ctx)
    cache = snapshots(hub)
    sub = hub.bus.subscribe([TOPIC], maxsize=QUEUE_SIZE)
    group = fanout.leader_of(ctx)
    if group is not None:
        group.ready.set()  # its members are live from now on
    lock = ctx.subscription_lock
    try:
        async for event in sub:
            try:
                if not wanted(event.payload):
                    continue
            except (KeyError, TypeError):
                continue  # not an event of the shape we know
            snap = await cache.get(event, kind, channel.result())
            value = snap.value
            if value is None or (accept is not None and not accept(snap)):
                continue
            async with lock:
                ctx.use_channel(channel)
                # A stand-in that makes the real Loaders on first use (most shared
                # results never touch one) and forwards every attribute to them.
                ctx.loaders = cast(Loaders, _FreshLoaders(ctx, snap))
                try:
                    yield value
                finally:
                    await ctx.reader.close()
        if getattr(sub, "overflowed", False):
            raise ApiError(
                "this subscription fell too far behind the stock changes and was "
                "closed; subscribe again (and re-read current levels)",
                ApiCode.SUBSCRIBER_OVERFLOW,
            )
    finally:
        await sub.close()


def _shared_stream(ctx: HubContext, info: Info) -> AsyncGenerator[Any, None] | None:
    """This websocket subscription served by its group (see :mod:`schema.fanout`), or
    None to follow the bus itself (a group's leader, or not on a websocket)."""
    if fanout.leader_of(ctx) is not None:
        return None
    return fanout.join(info, ctx, QUEUE_SIZE)


# ------------------------------------------------------------------------ the root


@strawberry.type
class Subscription:
    """The resolvers are coroutines that check their arguments and return the event
    stream: a refusal (ACCESS_DENIED, INVALID_ID, ...) is an ``error`` message before
    anything streams, and subscribes nothing on the bus."""

    @strawberry.subscription(
        description="Stock changes of the given variants (at most 250), at any location or "
        "at the given ones, with the levels right after each change. Needs the "
        "inventory permission (a location-restricted role: its locations only)."
    )
    async def inventory_changed(
        self,
        info: Info,
        variant_ids: list[strawberry.ID],
        location_ids: list[strawberry.ID] | None = None,
    ) -> AsyncGenerator[InventoryChange, None]:
        ctx: HubContext = info.context
        if not ctx.principal.can("inventory"):
            raise ApiError("this needs the inventory permission", ApiCode.ACCESS_DENIED)
        limit = ctx.settings.max_page_size
        variants = _pks(variant_ids, "ProductVariant", "variantIds", limit)
        locations = (
            _pks(location_ids, "Location", "locationIds", limit)
            if location_ids is not None
            else None
        )
        # A role restricted to some locations sees changes at those only.
        scope = ctx.principal.locations("inventory")
        if scope is not None:
            locations = (locations if locations is not None else scope) & scope
        _bus(ctx)
        channel = await _subscribe_channel(ctx, info)
        if scope is None and (shared := _shared_stream(ctx, info)) is not None:
            return shared

        def wanted(p: dict[str, Any]) -> bool:
            return p["variantId"] in variants and (
                locations is None or p["locationId"] in locations
            )

        return _follow(ctx, channel, "stock", wanted)

    @strawberry.subscription(
        description="Availability in the request's channel (`@inContext(channel:)`, "
        "`X-Hub-Channel`, or `channel` in the connection_init payload) whenever stock of "
        "a variant of the given products (at most 250) changes."
    )
    async def availability_changed(
        self, info: Info, product_ids: list[strawberry.ID]
    ) -> AsyncGenerator[AvailabilityChange, None]:
        ctx: HubContext = info.context
        products = _pks(product_ids, "Product", "productIds", ctx.settings.max_page_size)
        _bus(ctx)
        channel = await _subscribe_channel(ctx, info)
        if (shared := _shared_stream(ctx, info)) is not None:
            return shared

        def wanted(p: dict[str, Any]) -> bool:
            return p.get("productId") in products

        def accept(snap: _Snapshot) -> bool:
            # Storefronts hear only of products sold to them (active, priced here).
            return _visible(ctx, snap.product) is not None

        return _follow(ctx, channel, "availability", wanted, accept)
