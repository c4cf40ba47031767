"""Redis pub/sub between hub processes: the transport for scale.

``publish`` delivers to this process's subscribers at once, then sends each event to
the channel ``<prefix>:events:<topic>``. One pub/sub connection per process
(``PSUBSCRIBE <prefix>:events:*``) feeds a reader task that fans the other processes'
events out here; our own come back too and are dropped as already seen.

Pub/sub keeps nothing, and our Redis runs without persistence: what is published while
a reader is away is gone. That is fine because the transport is only the fast path:
each process's outbox tail (:mod:`hub.events.tail`) delivers whatever did not arrive,
and is woken at once when the reader (re)subscribes. While Redis is unreachable,
``publish`` delivers locally and raises :class:`~hub.events.bus.BusUnavailable`
without waiting (the rows stay unpublished for the sweeper), and ``status()`` says why.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from hub.events.bus import BusUnavailable, Event, _TransportBus, event_from_wire

log = logging.getLogger("hub.events.bus")

CHANNEL_PREFIX = "hub:events:"


class RedisBus(_TransportBus):
    """Redis pub/sub; one subscribing connection per bus (per process).

    The reader uses ``PSUBSCRIBE``, so a local ``subscribe()`` is live at once, with no
    round trip to Redis; messages of topics nobody here wants are skipped before
    decoding. If the connection drops, the reader reconnects with exponential backoff.
    A silent connection is probed with PING and replaced if it does not answer.
    """

    kind = "redis"

    def __init__(
        self,
        url: str,
        *,
        prefix: str = CHANNEL_PREFIX,
        client_name: str | None = "hub-events",
        dedupe_window: int | None = None,
        start_timeout: float = 10.0,
        ping_interval: float = 15.0,
        ping_timeout: float = 5.0,
        backoff: tuple[float, float] = (0.1, 2.0),
        connect_timeout: float = 2.0,
        command_timeout: float = 2.0,
        publish_pause: float = 1.0,
    ) -> None:
        super().__init__(**({} if dedupe_window is None else {"dedupe_window": dedupe_window}))
        self.url = url
        self.prefix = prefix
        self._prefix_bytes = prefix.encode()
        self._pattern = prefix + "*"
        # Two clients: PUBLISH with a bounded wait, and the pub/sub connection, which
        # is idle for long stretches (the reader probes it with PING itself).
        self._client = aioredis.Redis.from_url(
            url,
            client_name=client_name,
            socket_connect_timeout=connect_timeout,
            socket_timeout=command_timeout,
        )
        self._sub_client = aioredis.Redis.from_url(
            url, client_name=client_name, socket_connect_timeout=connect_timeout
        )
        self._start_timeout = start_timeout
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._backoff = backoff
        self._ready = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        # After a failed PUBLISH, don't try again for a moment: a Redis that hangs
        # (rather than refusing) would otherwise hold every write for the timeout.
        self._publish_pause = publish_pause
        self._paused_until = 0.0

    async def start(self) -> None:
        """Start the reader and wait until it is subscribed (ConnectionError if it can't)."""
        await self._start_reader(self._read_forever, "hub-events-reader", "subscribe on Redis")

    async def close(self) -> None:
        """Stop the reader, close every subscription and the Redis connections."""
        self._close_subscriptions()
        await self._stop_reader()
        await self._client.aclose()
        await self._sub_client.aclose()

    async def publish(self, events: Sequence[Event]) -> None:
        """Deliver to this process's subscribers, then PUBLISH each event (one pipeline
        round trip for a batch). Raises BusUnavailable if Redis can't take them."""
        self._publish_here(events)
        if not events:
            return
        if self._reader is not None and not self._ready.is_set():
            # The reader knows Redis is away: don't make every write wait to find out.
            raise BusUnavailable(f"Redis is unreachable ({self._down_reason or 'connecting'})")
        loop = asyncio.get_running_loop()
        if loop.time() < self._paused_until:
            raise BusUnavailable("Redis PUBLISH failed a moment ago")
        try:
            if len(events) == 1:
                event = events[0]
                await self._client.publish(self.prefix + event.topic, orjson.dumps(event))
                return
            async with self._client.pipeline(transaction=False) as pipe:
                for event in events:
                    pipe.publish(self.prefix + event.topic, orjson.dumps(event))
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._paused_until = loop.time() + self._publish_pause
            raise BusUnavailable(f"Redis PUBLISH failed ({exc})") from exc

    async def _read_forever(self) -> None:
        low, high = self._backoff
        delay = low
        while True:
            pubsub = self._sub_client.pubsub()
            try:
                await pubsub.psubscribe(self._pattern)
                await self._pump(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._ready.is_set():
                    delay = low
                self._ready.clear()
                if self._went_down(str(exc) or type(exc).__name__):
                    log.warning(
                        "event bus: Redis unreachable (%s); reconnecting, and each process "
                        "reads missed events from the outbox meanwhile",
                        self._down_reason,
                    )
                else:
                    log.debug("event bus: Redis still unreachable (%s)", exc)
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
                self._ready.set()
                if self._came_up():
                    log.info("event bus: subscribed to %s on Redis", self._pattern)

    def _on_message(self, channel: bytes, data: bytes) -> None:
        topic = channel[len(self._prefix_bytes) :].decode()
        if not self._wants(topic):
            return
        try:
            event = event_from_wire(orjson.loads(data))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            log.warning("event bus: dropping a malformed message on %r: %s", channel, exc)
            return
        self._deliver(event)
