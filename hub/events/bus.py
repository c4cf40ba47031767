"""The event bus: committed outbox events fanned out to the subscribers of a process.

Three transports carry events between processes, all behind the port
:class:`connectors.base.EventBus` (with :class:`~connectors.base.Event`, re-exported here):

- :class:`MemoryBus`: one process (the embedded default);
- :class:`hub.events.pg_bus.PostgresBus`: PostgreSQL LISTEN/NOTIFY, on PostgreSQL
  without Redis;
- :class:`hub.events.redis_bus.RedisBus`: Redis pub/sub, for scale.

A transport is the fast path, never the only one: every process also follows the
outbox table itself (:class:`hub.events.tail.OutboxTail`), the durable log, and hands
what the transport missed (an outage, a restart of Redis that forgot everything, a
dropped connection) to :meth:`_LocalFanout.catch_up`. ``publish`` always delivers to
the subscribers of its own process first, so they never wait on the transport.

Deduplication: an event reaches a process at most once whatever path it comes by. Its
id is remembered in a window of recent ids, and events at or before the tail's cursor
(a position in commit order, ``(txid, id)``) were handed over by the tail already.

Delivery to a subscriber never blocks the publisher: each subscription has a bounded
queue, and a subscriber whose queue is full is closed (its iteration ends) rather than
slowing everyone down or growing without bound.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Iterable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Protocol, Self

from connectors.base import BusUnavailable, Event, EventBus, Position, Subscription

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

# Ids remembered per process to drop an event that arrives twice (by the transport and
# by the tail, or published again by the sweeper). Beyond it, the tail's cursor does.
DEFAULT_DEDUPE_WINDOW: Final = 65_536


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
    """Subscriptions by topic, deduplication, fan-out and the transport's state; shared
    by every bus."""

    kind = "memory"

    def __init__(self, *, dedupe_window: int = DEFAULT_DEDUPE_WINDOW) -> None:
        if dedupe_window < 1:
            raise ValueError("dedupe_window must be at least 1")
        self._by_topic: dict[str, set[QueueSubscription]] = {}
        self._subs: set[QueueSubscription] = set()
        self._window = dedupe_window
        self._recent: OrderedDict[int, None] = OrderedDict()
        self._cursor: Position | None = None  # set by the tail: delivered up to here
        self._ahead: set[int] = set()  # ids the tail delivered beyond its cursor
        self._closed = False
        # Called (no arguments, not awaited) each time the transport (re)connects: the
        # tail catches up at once instead of at its next tick.
        self.on_connect: Callable[[], None] | None = None
        self._up: bool | None = None  # None until the transport first connects
        self._down_reason: str | None = None
        self._since = 0.0  # wall clock of the last change of state

    # ------------------------------------------------------------- subscriptions

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

    def _close_subscriptions(self) -> None:
        self._closed = True
        for sub in list(self._subs):
            sub.close_nowait()

    # ------------------------------------------------------------------ delivery

    @property
    def cursor(self) -> Position | None:
        """Where the tail has read the outbox up to (None: no tail)."""
        return self._cursor

    def _known(self, event: Event) -> bool:
        """True if ``event`` reached this process already; remembers it otherwise."""
        eid = event.id
        if eid in self._recent:
            return True
        cursor = self._cursor
        if cursor is not None and event.txid is not None and (event.txid, eid) <= cursor:
            return True  # the tail handed it over (and its id has left the window since)
        recent = self._recent
        recent[eid] = None
        if len(recent) > self._window:
            recent.popitem(last=False)
        return False

    def _deliver(self, event: Event) -> None:
        """An event from the transport (or this process's own publish)."""
        if self._known(event):
            return
        self._fan_out(event)

    def _publish_here(self, events: Sequence[Event]) -> None:
        """The first step of every ``publish``: hand ``events`` to this process's
        subscribers (RuntimeError once the bus is closed)."""
        if self._closed:
            raise RuntimeError("the event bus is closed")
        for event in events:
            self._deliver(event)

    def catch_up(
        self, events: Sequence[Event], cursor: Position, ahead: Sequence[Event] = ()
    ) -> int:
        """Events read from the outbox in commit order, up to ``cursor``, and ``ahead``
        of it (committed, but not yet behind the horizon, see hub.events.outbox):
        deliver those that did not come by the transport. Returns how many."""
        delivered = 0
        for event in events:
            if event.id in self._ahead:
                self._ahead.discard(event.id)  # delivered while ahead of the cursor
            elif not self._known(event):
                self._fan_out(event)
                delivered += 1
        if self._cursor is None or cursor > self._cursor:
            self._cursor = cursor
        for event in ahead:
            if event.id not in self._ahead and not self._known(event):
                self._ahead.add(event.id)
                self._fan_out(event)
                delivered += 1
        return delivered

    def _fan_out(self, event: Event) -> None:
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

    # ------------------------------------------------------------------ state

    @property
    def healthy(self) -> bool:
        """False while the transport is known to be unreachable."""
        return self._up is not False

    def status(self) -> dict[str, Any]:
        """The transport's state for /readyz: up, down (with the reason) or starting."""
        state = {True: "up", False: "down", None: "starting"}[self._up]
        out: dict[str, Any] = {"kind": self.kind, "state": state}
        if self._up is False:
            out["reason"] = self._down_reason
            out["since"] = datetime.fromtimestamp(self._since, UTC).isoformat()
        return out

    def _went_down(self, reason: str) -> bool:
        """Record an outage; True if it is news (the caller logs one line)."""
        news = self._up is not False
        self._up = False
        self._down_reason = reason
        if news:
            self._since = time.time()
        return news

    def _came_up(self) -> bool:
        """Record the transport as connected and tell ``on_connect``; True if it is news
        (it was down, or had never been up)."""
        news = self._up is not True
        self._up = True
        self._down_reason = None
        self._since = time.time()
        if self.on_connect is not None:
            self.on_connect()
        return news


def event_from_wire(raw: Any) -> Event:
    """An event as a transport carries it (``orjson.dumps(event)``, read back);
    KeyError, TypeError, ValueError or AttributeError when ``raw`` is not one."""
    txid = raw.get("txid")
    return Event(
        int(raw["id"]),
        str(raw["topic"]),
        raw["payload"],
        None if txid is None else int(txid),
    )


class _TransportBus(_LocalFanout):
    """A bus with a transport between processes (PostgreSQL, Redis): a reader task that
    keeps the transport subscribed, and is ``connected`` while it is."""

    _ready: asyncio.Event
    _reader: asyncio.Task[None] | None
    _start_timeout: float

    @property
    def connected(self) -> bool:
        """True while the transport is subscribed."""
        return self._ready.is_set()

    async def _start_reader(
        self, run: Callable[[], Coroutine[Any, Any, None]], name: str, what: str
    ) -> None:
        """Start the reader and wait until it is subscribed (ConnectionError if it can't
        be ``what`` in time)."""
        if self._closed:
            raise RuntimeError("the event bus is closed")
        if self._reader is None:
            self._reader = asyncio.create_task(run(), name=name)
        try:
            await asyncio.wait_for(self._ready.wait(), self._start_timeout)
        except TimeoutError:
            await self._stop_reader()
            raise ConnectionError(
                f"event bus: could not {what} within {self._start_timeout:g}s"
                + (f" ({self._down_reason})" if self._down_reason else "")
            ) from None

    async def _stop_reader(self) -> None:
        task, self._reader = self._reader, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])  # unlike ``await task``, keeps our own cancellation
        self._ready.clear()


class MemoryBus(_LocalFanout):
    """In-process bus: ``publish`` hands events straight to local subscribers."""

    async def start(self) -> None:
        self._came_up()

    async def close(self) -> None:
        self._close_subscriptions()

    async def publish(self, events: Sequence[Event]) -> None:
        self._publish_here(events)


__all__ = [
    "DEFAULT_DEDUPE_WINDOW",
    "BusUnavailable",
    "Event",
    "EventBus",
    "MemoryBus",
    "Position",
    "QueueSubscription",
    "Subscription",
]
