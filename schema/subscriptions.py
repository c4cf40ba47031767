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
from typing import Any, Final

import orjson
import strawberry
from graphql.execution.executor import CollectedErrors
from graphql.pyutils import is_awaitable
from strawberry.types import Info

from hub import ids
from hub.db.database import Reader
from hub.domain import catalog
from hub.domain import inventory as inv
from hub.events.bus import Event
from schema import fanout
from schema.catalog import Product, ProductVariantType
from schema.catalog import visible_product as _visible
from schema.context import HubContext, in_context_arg
from schema.errors import ApiError
from schema.execution import HubExecutionContext
from schema.inventory import LocationType
from schema.loaders import Loaders

TOPIC: Final = "inventory.changed"
# Events a subscriber may fall behind by before the bus drops it (see hub.events.bus).
QUEUE_SIZE: Final = 1000
SNAPSHOT_CACHE_SIZE: Final = 1024


# --------------------------------------------------------------------------- types


@strawberry.type(description="Stock of a variant at a location right after a change.")
class InventoryChangeLevel:
    on_hand: int
    committed: int
    reserved: int
    incoming: int
    quarantined: int
    safety_stock: int
    reorder_point: int
    available: int = strawberry.field(
        description="onHand - committed - reserved - quarantined - safetyStock, never below 0."
    )


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


class _Shared:
    """An event's value, shared by every subscriber of one process in one channel. It
    also keeps the results of executing subscription documents on it, so subscribers
    asking the same thing share one execution (see :class:`SubscriptionExecutionContext`)."""

    __slots__ = ("results",)

    def __init__(self) -> None:
        self.results: dict[tuple[Any, ...], tuple[Any, Any]] = {}


class _InventoryChange(_Shared):
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


class _AvailabilityChange(_Shared):
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
        self.value: _Shared | None = None  # None: nothing to send (deleted since)

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
            product = products.get(ppk)
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


_SNAPSHOTS: weakref.WeakKeyDictionary[Any, _Snapshots] = weakref.WeakKeyDictionary()


def snapshots(services: Any) -> _Snapshots:
    """The snapshot cache of one app's services (one per process when served)."""
    cache = _SNAPSHOTS.get(services)
    if cache is None:
        cache = _SNAPSHOTS[services] = _Snapshots(services.db)
    return cache


# ------------------------------------------------------------- shared execution


class SubscriptionExecutionContext(HubExecutionContext):
    """:class:`HubExecutionContext` that executes a subscription event once per process
    for all the subscribers asking the same thing of it.

    An event's value is one object per (event, kind, channel) in a process (see
    :class:`_Snapshots`); the result of a document on it depends only on the document,
    its variables and the caller's scopes. The first subscriber executes it, with its
    own fresh dataloaders; the others with the same key get that result. Only results
    computed without waiting (no resolver touched the database) and without errors are
    shared; anything else runs per subscriber as it would anyway. Queries and mutations
    only pay an ``isinstance``.
    """

    def build_per_event_executor(self, payload: Any) -> Any:
        # graphql-core copies the subscription's executor for every event with
        # ``copy.copy`` (slow, generic); per subscriber per event that adds up. A shared
        # result skips the copy altogether; otherwise a plain ``__dict__`` copy.
        if isinstance(payload, _Shared):
            key = self._hub_key()
            if key is not None:
                hit = payload.results.get(key)
                if hit is not None and hit[0] is self.operation:
                    return _Executed(hit[1])
        executor = object.__new__(type(self))
        executor.__dict__.update(self.__dict__)
        executor.root_value = payload
        executor.collected_errors = CollectedErrors()
        return executor

    def execute_operation(self, *args: Any, **kwargs: Any) -> Any:
        value = self.root_value
        if not isinstance(value, _Shared):
            return super().execute_operation(*args, **kwargs)
        # A result already shared never gets here (see build_per_event_executor).
        key = self._hub_key()
        result = super().execute_operation(*args, **kwargs)
        if key is not None and not is_awaitable(result) and not result.errors:
            # The operation node is kept with the result: its id can't be reused meanwhile.
            value.results[key] = (self.operation, result)
        return result

    def _hub_key(self) -> tuple[Any, ...] | None:
        # Fixed for the life of a subscription (document, variables, the connection's
        # principal): computed once, and copied into every per-event executor.
        try:
            return self.__dict__["_hub_share_key"]
        except KeyError:
            key = self.__dict__["_hub_share_key"] = self._share_key()
            return key

    def _share_key(self) -> tuple[Any, ...] | None:
        principal = getattr(self.context_value, "principal", None)
        if principal is None:
            return None
        variables = getattr(self.variable_values, "coerced", self.variable_values)
        try:
            frozen = orjson.dumps(variables, option=orjson.OPT_SORT_KEYS, default=repr)
        except TypeError:
            return None
        return (id(self.operation), frozen, principal.scopes)


class _Executed:
    """A per-event executor whose result was already computed for another subscriber."""

    __slots__ = ("result",)

    def __init__(self, result: Any) -> None:
        self.result = result

    def execute_operation(self, *args: Any, **kwargs: Any) -> Any:
        return self.result


# ------------------------------------------------------------------- the event loop


def _connection_lock(ctx: HubContext) -> asyncio.Lock:
    """Serialises database use of one connection's subscriptions: they share a context
    (and its read connection), which is released between events."""
    lock = getattr(ctx, "_hub_subscription_lock", None)
    if lock is None:
        lock = asyncio.Lock()
        ctx._hub_subscription_lock = lock  # type: ignore[attr-defined]
    return lock


async def _subscribe_channel(ctx: HubContext, info: Info) -> asyncio.Future:
    """This subscription's channel: ``@inContext(channel:)``, else the connection's
    (``X-Hub-Channel``, or ``channel`` in the connection_init payload), else the default.
    Kept per subscription: two subscriptions of one connection may differ."""
    handle = in_context_arg(info, "channel") or ctx.channel_header
    async with _connection_lock(ctx):
        try:
            channel = await ctx._load_channel(handle)
        finally:
            await ctx.reader.close()
    fut: asyncio.Future = asyncio.get_running_loop().create_future()
    fut.set_result(channel)
    return fut


def _pks(gids: Iterable[str], type_name: str, arg: str, limit: int) -> frozenset[int]:
    gids = list(gids)
    if not gids:
        raise ApiError(f"{arg} must name at least one id", "INVALID_ARGUMENT")
    if len(gids) > limit:
        raise ApiError(f"{arg}: at most {limit} ids per subscription", "INVALID_ARGUMENT")
    try:
        return frozenset(ids.decode_pk(g, type_name) for g in gids)
    except ids.InvalidId as exc:
        raise ApiError(str(exc), "INVALID_ID") from None


def _bus(ctx: HubContext) -> Any:
    services = ctx.services
    if services is None or not getattr(services, "started", False):
        raise ApiError("subscriptions are not available on this server", "UNAVAILABLE")
    return services


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
    services = _bus(ctx)
    cache = snapshots(services)
    sub = services.bus.subscribe([TOPIC], maxsize=QUEUE_SIZE)
    group = fanout.leader_of(ctx)
    if group is not None:
        group.ready.set()  # its members are live from now on
    lock = _connection_lock(ctx)
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
                ctx._channel = channel
                ctx.loaders = _FreshLoaders(ctx, snap)  # type: ignore[assignment]
                try:
                    yield value
                finally:
                    await ctx.reader.close()
        if getattr(sub, "overflowed", False):
            raise ApiError(
                "this subscription fell too far behind the stock changes and was "
                "closed; subscribe again (and re-read current levels)",
                "SUBSCRIBER_OVERFLOW",
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
        "at the given ones, with the levels right after each change. Needs the admin "
        "or connector scope."
    )
    async def inventory_changed(
        self,
        info: Info,
        variant_ids: list[strawberry.ID],
        location_ids: list[strawberry.ID] | None = None,
    ) -> AsyncGenerator[InventoryChange, None]:
        ctx: HubContext = info.context
        if not ctx.principal.has("connector"):
            raise ApiError(
                "this needs an API key with the admin or connector scope", "ACCESS_DENIED"
            )
        limit = ctx.settings.max_page_size
        variants = _pks(variant_ids, "ProductVariant", "variantIds", limit)
        locations = (
            _pks(location_ids, "Location", "locationIds", limit)
            if location_ids is not None
            else None
        )
        _bus(ctx)
        channel = await _subscribe_channel(ctx, info)
        if (shared := _shared_stream(ctx, info)) is not None:
            return shared  # type: ignore[return-value]

        def wanted(p: dict[str, Any]) -> bool:
            return p["variantId"] in variants and (
                locations is None or p["locationId"] in locations
            )

        return _follow(ctx, channel, "stock", wanted)  # type: ignore[return-value]

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
            return shared  # type: ignore[return-value]

        def wanted(p: dict[str, Any]) -> bool:
            return p.get("productId") in products

        def accept(snap: _Snapshot) -> bool:
            # Storefronts hear only of products sold to them (active, priced here).
            return _visible(ctx, snap.product) is not None

        return _follow(ctx, channel, "availability", wanted, accept)  # type: ignore[return-value]
