"""The event bus: committed outbox events fanned out to local subscribers.

``MemoryBus`` serves one process. ``RedisBus`` joins processes through Redis pub/sub:
``publish`` sends each event to the channel ``hub:events:<topic>``, and one pub/sub
connection per process (``PSUBSCRIBE hub:events:*``) feeds a reader task that fans
messages out to the local subscribers of that process.

Delivery to a subscriber never blocks the publisher: each subscription has a bounded
queue, and a subscriber whose queue is full is closed (its iteration ends) rather than
slowing everyone down or growing without bound. Events are delivered at least once
(the outbox sweeper may publish an event again after a crash), so the bus drops an
event id it has delivered recently.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Protocol, Self

import orjson
import redis.asyncio as aioredis

from hub.settings import Settings

log = logging.getLogger(__name__)

CHANNEL_PREFIX: Final = "hub:events:"
DEFAULT_DEDUPE_WINDOW: Final = 4096


@dataclass(frozen=True, slots=True)
class Event:
    """One committed state change; ``id`` is the outbox row id (the dedupe key)."""

    id: int
    topic: str
    payload: dict[str, Any]


class Subscription(Protocol):
    """An async iterator of events; ``close()`` (idempotent) ends the iteration."""

    def __aiter__(self) -> AsyncIterator[Event]: ...

    async def close(self) -> None: ...


class EventBus(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, events: Sequence[Event]) -> None: ...

    def subscribe(self, topics: Iterable[str], *, maxsize: int = 1000) -> Subscription: ...

    @property
    def subscriber_count(self) -> int: ...


class _Closed:
    """Queue marker that ends an iteration."""


_CLOSED: Final = _Closed()


class QueueSubscription:
    """A local subscriber: a bounded queue the bus fills and the consumer drains."""

    __slots__ = ("_forget", "_queue", "closed", "overflowed", "topics")

    def __init__(self, topics: frozenset[str], maxsize: int, forget: _Forget) -> None:
        self.topics = topics
        self.closed = False
        self.overflowed = False  # closed by the bus because the consumer fell behind
        self._queue: asyncio.Queue[Event | _Closed] = asyncio.Queue(maxsize)
        self._forget = forget

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        item = await self._queue.get()
        if isinstance(item, _Closed):
            self._queue.put_nowait(item)  # wake any other waiter, and the next call
            raise StopAsyncIteration
        return item

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def pending(self) -> int:
        """Events queued and not yet consumed."""
        return self._queue.qsize() - (1 if self.closed else 0)

    def offer(self, event: Event) -> bool:
        """Queue ``event`` without waiting; False when the queue is full."""
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            return False
        return True

    def close_nowait(self, *, overflowed: bool = False) -> None:
        """Stop receiving, drop what is queued and end the iteration."""
        if self.closed:
            return
        self.closed = True
        self.overflowed = overflowed
        self._forget(self)
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(_CLOSED)

    async def close(self) -> None:
        self.close_nowait()


class _Forget(Protocol):
    def __call__(self, sub: QueueSubscription, /) -> None: ...


class _LocalFanout:
    """Subscriptions by topic, the recent-ids window and fan-out; shared by both buses."""

    def __init__(self, *, dedupe_window: int = DEFAULT_DEDUPE_WINDOW) -> None:
        if dedupe_window < 1:
            raise ValueError("dedupe_window must be at least 1")
        self._by_topic: dict[str, set[QueueSubscription]] = {}
        self._subs: set[QueueSubscription] = set()
        self._window = dedupe_window
        self._recent: set[int] = set()
        self._recent_order: deque[int] = deque()
        self._closed = False

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

    def subscribe(self, topics: Iterable[str], *, maxsize: int = 1000) -> QueueSubscription:
        """Subscribe to ``topics``; a consumer more than ``maxsize`` events behind is closed."""
        if self._closed:
            raise RuntimeError("the event bus is closed")
        wanted = frozenset(topics)
        if not wanted:
            raise ValueError("subscribe to at least one topic")
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        sub = QueueSubscription(wanted, maxsize, self._forget)
        self._subs.add(sub)
        for topic in wanted:
            self._by_topic.setdefault(topic, set()).add(sub)
        return sub

    def _forget(self, sub: QueueSubscription) -> None:
        self._subs.discard(sub)
        for topic in sub.topics:
            subs = self._by_topic.get(topic)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._by_topic[topic]

    def _wants(self, topic: str) -> bool:
        return topic in self._by_topic

    def _seen(self, event_id: int) -> bool:
        """True if ``event_id`` was delivered recently; remembers it otherwise."""
        if event_id in self._recent:
            return True
        if len(self._recent_order) >= self._window:
            self._recent.discard(self._recent_order.popleft())
        self._recent.add(event_id)
        self._recent_order.append(event_id)
        return False

    def _deliver(self, event: Event) -> None:
        if self._seen(event.id):
            return
        subs = self._by_topic.get(event.topic)
        if not subs:
            return
        behind = [sub for sub in subs if not sub.offer(event)]
        for sub in behind:
            log.warning(
                "closing a slow event subscriber (topics %s): %d events queued",
                ",".join(sorted(sub.topics)),
                sub.pending,
            )
            sub.close_nowait(overflowed=True)

    def _close_subscriptions(self) -> None:
        self._closed = True
        for sub in list(self._subs):
            sub.close_nowait()


class MemoryBus(_LocalFanout):
    """In-process bus: ``publish`` hands events straight to local subscribers."""

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._close_subscriptions()

    async def publish(self, events: Sequence[Event]) -> None:
        if self._closed:
            raise RuntimeError("the event bus is closed")
        for event in events:
            self._deliver(event)


class RedisBus(_LocalFanout):
    """Redis pub/sub between processes; one subscribing connection per bus (per process).

    The reader uses ``PSUBSCRIBE hub:events:*``, so a local ``subscribe()`` is live at
    once, with no round trip to Redis; messages of topics nobody here wants are skipped
    before decoding. If the connection drops, the reader reconnects with exponential
    backoff (events published meanwhile are not replayed: Redis pub/sub does not keep
    them). A silent connection is probed with PING and replaced if it does not answer.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = CHANNEL_PREFIX,
        client_name: str | None = "hub-events",
        dedupe_window: int = DEFAULT_DEDUPE_WINDOW,
        start_timeout: float = 10.0,
        ping_interval: float = 15.0,
        ping_timeout: float = 5.0,
        backoff: tuple[float, float] = (0.1, 5.0),
    ) -> None:
        super().__init__(dedupe_window=dedupe_window)
        self.url = url
        self.prefix = prefix
        self._prefix_bytes = prefix.encode()
        self._pattern = prefix + "*"
        self._client = aioredis.Redis.from_url(url, client_name=client_name)
        self._start_timeout = start_timeout
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._backoff = backoff
        self._ready = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        """True while the pub/sub connection is subscribed."""
        return self._ready.is_set()

    async def start(self) -> None:
        """Start the reader and wait until it is subscribed (ConnectionError if it can't)."""
        if self._closed:
            raise RuntimeError("the event bus is closed")
        if self._reader is None:
            self._reader = asyncio.create_task(self._read_forever(), name="hub-events-reader")
        try:
            await asyncio.wait_for(self._ready.wait(), self._start_timeout)
        except TimeoutError:
            await self._stop_reader()
            raise ConnectionError(
                f"event bus: could not subscribe on Redis within {self._start_timeout:g}s"
            ) from None

    async def close(self) -> None:
        """Stop the reader, close every subscription and the Redis connections."""
        self._close_subscriptions()
        await self._stop_reader()
        await self._client.aclose()

    async def publish(self, events: Sequence[Event]) -> None:
        """PUBLISH each event (one pipeline round trip for a batch)."""
        if self._closed:
            raise RuntimeError("the event bus is closed")
        if not events:
            return
        if len(events) == 1:
            event = events[0]
            await self._client.publish(self.prefix + event.topic, orjson.dumps(event))
            return
        async with self._client.pipeline(transaction=False) as pipe:
            for event in events:
                pipe.publish(self.prefix + event.topic, orjson.dumps(event))
            await pipe.execute()

    async def _stop_reader(self) -> None:
        task, self._reader = self._reader, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])  # unlike ``await task``, keeps our own cancellation
        self._ready.clear()

    async def _read_forever(self) -> None:
        low, high = self._backoff
        delay = low
        while True:
            pubsub = self._client.pubsub()
            try:
                await pubsub.psubscribe(self._pattern)
                await self._pump(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._ready.is_set():
                    delay = low
                    log.warning("event bus: lost Redis pub/sub (%s); reconnecting", exc)
                else:
                    log.warning(
                        "event bus: cannot subscribe on Redis (%s); retry in %.1fs", exc, delay
                    )
                self._ready.clear()
            finally:
                try:
                    await pubsub.aclose()
                except Exception:  # the connection is already gone
                    pass
            await asyncio.sleep(delay)
            delay = min(delay * 2, high)

    async def _pump(self, pubsub: aioredis.client.PubSub) -> None:
        """Read messages until the connection fails; PING it when it has been quiet."""
        loop = asyncio.get_running_loop()
        last_heard = loop.time()
        pinged_at: float | None = None
        poll = min(1.0, self._ping_interval, self._ping_timeout)
        while True:
            msg = await pubsub.get_message(timeout=poll)
            now = loop.time()
            if msg is None:
                if pinged_at is not None:
                    if now - pinged_at > self._ping_timeout:
                        raise ConnectionError("no answer to PING")
                elif now - last_heard > self._ping_interval:
                    await pubsub.ping()
                    pinged_at = now
                continue
            last_heard, pinged_at = now, None
            kind = msg["type"]
            if kind == "pmessage":
                self._on_message(msg["channel"], msg["data"])
            elif kind == "psubscribe":
                if not self._ready.is_set():
                    log.info("event bus: subscribed to %s on Redis", self._pattern)
                self._ready.set()

    def _on_message(self, channel: bytes, data: bytes) -> None:
        topic = channel[len(self._prefix_bytes) :].decode()
        if not self._wants(topic):
            return
        try:
            raw = orjson.loads(data)
            event = Event(int(raw["id"]), str(raw["topic"]), raw["payload"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            log.warning("event bus: dropping a malformed message on %r: %s", channel, exc)
            return
        self._deliver(event)


def create_bus(settings: Settings) -> EventBus:
    """A ``RedisBus`` when ``HUB_REDIS_URL`` is set, else an in-process ``MemoryBus``."""
    if settings.redis_url:
        return RedisBus(settings.redis_url, prefix=f"{settings.redis_prefix}:events:")
    return MemoryBus()
