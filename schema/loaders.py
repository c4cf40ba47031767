"""Per-request dataloaders (XByYLoader): every relation is one batched statement.

The loaders know nothing of the request context: they are given the request's reader,
how to get the operation's channel (loaded once, on first need), and whether the
caller is staff (:class:`LoaderScope`, which :class:`schema.context.HubContext` is)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from functools import cached_property
from typing import Any, Protocol, TypeVar

from aiodataloader import DataLoader

from hub.db.database import Reader
from hub.domain import catalog, inventory

K = TypeVar("K")
V = TypeVar("V")


class Loader(DataLoader):
    """A DataLoader whose cache we hold, so a value already loaded is returned
    synchronously (:meth:`get`) and the executor skips an await for it."""

    def __init__(
        self,
        fetch: Callable[[Sequence[Any]], Awaitable[Mapping[Any, Any]]],
        default: Callable[[], Any] | None = None,
        key: Callable[[Any], Hashable] | None = None,
    ) -> None:
        self.cache_map: Mapping[Any, Any] = {}
        self._fetch = fetch
        self._default = default
        self._key = key or (lambda k: k)
        super().__init__(cache_map=self.cache_map, get_cache_key=self._key)

    async def batch_load_fn(self, keys: Sequence[Any]) -> list[Any]:
        found = await self._fetch(keys)
        default = self._default
        key = self._key
        return [found.get(key(k), default() if default else None) for k in keys]

    def get(self, key: Any) -> Any:
        """The value if it is already loaded, else an awaitable of it."""
        fut = self.cache_map.get(self._key(key))
        if fut is not None and fut.done() and fut.exception() is None:
            return fut.result()
        return self.load(key)


def _pk(record: Any) -> Any:
    return record.pk


class LoaderScope(Protocol):
    """What the loaders need of a request."""

    @property
    def reader(self) -> Reader: ...

    @property
    def staff(self) -> bool: ...

    def channel(self) -> Awaitable[catalog.ChannelRecord]:
        """The operation's channel (loaded on the first call, then the same)."""
        ...

    def loaded_channel(self) -> catalog.ChannelRecord | None:
        """The channel if already loaded, without a statement."""
        ...


class Loaders:
    """The request's dataloaders, each made on first use (most requests use a few of
    them, and making a DataLoader costs more than reading an attribute)."""

    def __init__(self, scope: LoaderScope) -> None:
        self._scope = scope
        self._collection_products: dict[tuple[int, Any], Loader] = {}
        self._channel_locations: dict[int, asyncio.Future[list[Any]]] = {}
        self._variants_in: dict[int, Loader] = {}

    async def _channel(self) -> catalog.ChannelRecord:
        return await self._scope.channel()

    @cached_property
    def product_by_id(self) -> Loader:
        reader, channel = self._scope.reader, self._channel

        async def fetch(keys: Sequence[int]) -> Mapping[Any, Any]:
            return await catalog.products_by_pks(reader, keys, await channel())

        return Loader(fetch)

    @cached_property
    def product_by_handle(self) -> Loader:
        reader, channel = self._scope.reader, self._channel

        async def fetch(keys: Sequence[str]) -> Mapping[Any, Any]:
            return await catalog.products_by_handles(reader, keys, await channel())

        return Loader(fetch)

    @cached_property
    def variants_by_product(self) -> Loader:
        reader, channel = self._scope.reader, self._channel

        async def fetch(keys: Sequence[catalog.ProductRecord]) -> dict:
            return await catalog.variants_by_products(reader, keys, await channel())

        return Loader(fetch, default=list, key=_pk)

    @cached_property
    def variant_by_id(self) -> Loader:
        reader, channel = self._scope.reader, self._channel

        async def fetch(keys: Sequence[int]) -> Mapping[Any, Any]:
            return await catalog.variants_by_pks(reader, keys, await channel())

        return Loader(fetch)

    @cached_property
    def attributes_by_product(self) -> Loader:
        reader = self._scope.reader
        return Loader(lambda keys: catalog.attributes_by_products(reader, keys), default=list)

    @cached_property
    def bundle_components_by_variant(self) -> Loader:
        reader = self._scope.reader
        return Loader(
            lambda keys: catalog.bundle_components_by_variants(reader, keys), default=list
        )

    @cached_property
    def collection_by_id(self) -> Loader:
        reader = self._scope.reader
        return Loader(lambda keys: catalog.collections_by_pks(reader, keys))

    @cached_property
    def collections_by_product(self) -> Loader:
        reader = self._scope.reader
        return Loader(lambda keys: catalog.collections_by_products(reader, keys), default=list)

    @cached_property
    def channel_by_id(self) -> Loader:
        reader = self._scope.reader
        return Loader(lambda keys: catalog.channels_by_pks(reader, keys))

    @cached_property
    def location_by_id(self) -> Loader:
        reader = self._scope.reader
        return Loader(lambda keys: inventory.locations_by_pks(reader, keys))

    @cached_property
    def stock_by_variant(self) -> Loader:
        reader, channel = self._scope.reader, self._channel

        async def fetch(keys: Sequence[int]) -> Mapping[Any, Any]:
            return await inventory.stock_by_location(reader, keys, (await channel()).pk)

        return Loader(fetch, default=dict)

    @cached_property
    def levels_by_variant(self) -> Loader:
        reader = self._scope.reader
        return Loader(lambda keys: inventory.levels_for_variants(reader, keys), default=list)

    def variant_in_channel(self, channel: catalog.ChannelRecord) -> Loader:
        """Variants priced (and their availability counted) in ``channel`` rather than
        the request's: a cart's lines show the cart's channel. The request's own
        channel shares ``variant_by_id``."""
        mine = self._scope.loaded_channel()
        if mine is not None and mine.pk == channel.pk:
            return self.variant_by_id
        loader = self._variants_in.get(channel.pk)
        if loader is None:
            reader = self._scope.reader
            loader = self._variants_in[channel.pk] = Loader(
                lambda keys: catalog.variants_by_pks(reader, keys, channel)
            )
        return loader

    def collection_products(self, size: int, after: tuple[int, int] | None) -> Loader:
        """Products of collections, one loader (one statement) per page shape."""
        key = (size, after)
        loader = self._collection_products.get(key)
        if loader is None:
            scope = self._scope

            async def fetch(keys: Sequence[int]) -> Mapping[Any, Any]:
                return await catalog.products_in_collections(
                    scope.reader, keys, await scope.channel(), size, after, staff=scope.staff
                )

            loader = self._collection_products[key] = Loader(fetch)
        return loader

    async def channel_locations(self, channel_pk: int) -> list[Any]:
        """Active locations selling to a channel, loaded once per request."""
        fut = self._channel_locations.get(channel_pk)
        if fut is None:
            fut = self._channel_locations[channel_pk] = asyncio.ensure_future(
                inventory.list_locations(self._scope.reader, channel_pk=channel_pk)
            )
        locs = await fut
        for loc in locs:
            self.location_by_id.prime(loc.pk, loc)
        return locs
