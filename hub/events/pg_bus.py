"""PostgreSQL LISTEN/NOTIFY between hub processes: the bus on PostgreSQL without Redis.

Every process keeps one dedicated asyncpg connection (``application_name`` hub-events,
outside the SQLAlchemy pool) that LISTENs on the channel ``hub_events`` and also sends
this process's NOTIFYs, so that several ``hub serve`` processes (or ``--workers``) on
one database all see every event without any other service.

``publish`` delivers to this process's subscribers at once, then sends the events to
the others. A NOTIFY payload must stay under 8,000 bytes: events are packed into JSON
arrays below :data:`MAX_PAYLOAD` bytes, and an event too large for one goes as a
reference (its id and topic), which a receiving process that wants the topic reads from
the outbox (later notifications wait for it, so events keep their order). Publishers
that arrive while a NOTIFY is in flight are sent together in the next round trip (one
``SELECT pg_notify(...) FROM unnest(...)``).

NOTIFY keeps nothing for a listener that is away. As with Redis, that is the fast path
only: the outbox tail (:mod:`hub.events.tail`) delivers what was missed, and is woken
as soon as the listener is back. The listener connection is checked every few seconds;
a dropped one (``pg_terminate_backend``, a database restart) is replaced with backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
import orjson

from hub.events.bus import BusUnavailable, Event, _TransportBus, event_from_wire

if TYPE_CHECKING:
    from hub.db.database import Database

log = logging.getLogger("hub.events.bus")

CHANNEL = "hub_events"
MAX_PAYLOAD = 7_900  # bytes; PostgreSQL refuses a NOTIFY payload of 8,000 or more
_NOTIFY = "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p"

Connect = Callable[[], Awaitable[asyncpg.Connection]]
Fetch = Callable[[list[int]], Awaitable[list[Event]]]


def pack(events: Sequence[Event], limit: int = MAX_PAYLOAD) -> list[str]:
    """NOTIFY payloads for ``events``: JSON arrays of at most ``limit`` bytes each, an
    event too large for one replaced by ``{"ref": id, "topic": ...}``."""
    payloads: list[str] = []
    items: list[bytes] = []
    size = 2  # the brackets
    for event in events:
        item = orjson.dumps(event)
        if len(item) + 2 > limit:
            item = orjson.dumps({"ref": event.id, "topic": event.topic})
        if items and size + 1 + len(item) > limit:
            payloads.append((b"[" + b",".join(items) + b"]").decode())
            items, size = [], 2
        items.append(item)
        size += len(item) + (1 if len(items) > 1 else 0)
    if items:
        payloads.append((b"[" + b",".join(items) + b"]").decode())
    return payloads


class PostgresBus(_TransportBus):
    kind = "postgresql"

    def __init__(
        self,
        connect: Connect,
        fetch: Fetch,
        *,
        channel: str = CHANNEL,
        dedupe_window: int | None = None,
        start_timeout: float = 10.0,
        ping_interval: float = 5.0,
        command_timeout: float = 5.0,
        backoff: tuple[float, float] = (0.1, 2.0),
    ) -> None:
        super().__init__(**({} if dedupe_window is None else {"dedupe_window": dedupe_window}))
        self.channel = channel
        self._connect = connect
        self._fetch = fetch
        self._start_timeout = start_timeout
        self._ping_interval = ping_interval
        self._command_timeout = command_timeout
        self._backoff = backoff
        self._conn: asyncpg.Connection | None = None
        self._pid: int | None = None
        self._lock = asyncio.Lock()  # one command at a time on the connection
        self._outgoing: list[tuple[list[str], asyncio.Future[None]]] = []
        self._ready = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._fetches: set[asyncio.Task[None]] = set()
        # Notifications waiting (in order) behind one whose large events are being read.
        self._held: deque[list[dict[str, Any]]] | None = None

    @classmethod
    def for_database(cls, db: Database, **kw: Any) -> PostgresBus:
        """A bus on ``db``'s server, connecting as its engine does."""
        from hub.events.outbox import events_by_ids

        engine = db.engine
        args, params = engine.dialect.create_connect_args(engine.url)
        params = {**params, "server_settings": {"application_name": "hub-events"}}

        async def connect() -> asyncpg.Connection:
            return await asyncpg.connect(*args, timeout=5, **params)

        async def fetch(ids: list[int]) -> list[Event]:
            return await events_by_ids(db, ids)

        return cls(connect, fetch, **kw)

    async def start(self) -> None:
        """Connect and LISTEN; ConnectionError if that can't be done in time."""
        await self._start_reader(self._run, "hub-events-listener", "LISTEN on PostgreSQL")

    async def close(self) -> None:
        self._close_subscriptions()
        await self._stop_reader()
        for task in list(self._fetches):
            task.cancel()
        if self._fetches:
            await asyncio.wait(list(self._fetches))

    async def publish(self, events: Sequence[Event]) -> None:
        """Deliver to this process's subscribers, then NOTIFY the others (batched with
        concurrent publishers). Raises BusUnavailable if the connection is down."""
        self._publish_here(events)
        if not events:
            return
        if not self._ready.is_set():
            raise BusUnavailable(
                f"PostgreSQL listener is down ({self._down_reason or 'connecting'})"
            )
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outgoing.append((pack(events), done))
        async with self._lock:
            if not done.done():
                await self._send_outgoing()
        await done

    async def _send_outgoing(self) -> None:
        """Send every queued payload in one round trip (under the lock)."""
        batch, self._outgoing = self._outgoing, []
        payloads = [p for ps, _ in batch for p in ps]
        conn = self._conn
        try:
            if conn is None:
                raise ConnectionError("no connection")
            await conn.execute(_NOTIFY, self.channel, payloads, timeout=self._command_timeout)
        except Exception as exc:
            error = BusUnavailable(f"NOTIFY failed ({exc})")
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(error)
            return
        for _, fut in batch:
            if not fut.done():
                fut.set_result(None)

    async def _run(self) -> None:
        low, high = self._backoff
        delay = low
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await self._connect()
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(self.channel, self._on_notify)
                self._conn, self._pid = conn, conn.get_server_pid()
                self._ready.set()
                delay = low
                if self._came_up():
                    log.info("event bus: listening on PostgreSQL channel %s", self.channel)
                await self._watch(conn, lost)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._ready.clear()
                self._conn = None
                reason = str(exc) or type(exc).__name__
                if self._went_down(reason):
                    log.warning(
                        "event bus: PostgreSQL listener lost (%s); reconnecting, and each "
                        "process reads missed events from the outbox meanwhile",
                        reason,
                    )
            finally:
                self._ready.clear()
                self._conn = None
                if conn is not None:
                    conn.terminate()
            await asyncio.sleep(delay)
            delay = min(delay * 2, high)

    async def _watch(self, conn: asyncpg.Connection, lost: asyncio.Event) -> None:
        """Until the connection is lost: wait, and check it every ``ping_interval``."""
        while True:
            try:
                await asyncio.wait_for(lost.wait(), self._ping_interval)
            except TimeoutError:
                pass
            if lost.is_set() or conn.is_closed():
                raise ConnectionError("the listening connection was closed")
            async with self._lock:
                await conn.fetchval("SELECT 1", timeout=self._command_timeout)

    def _on_notify(self, _conn: Any, pid: int, _channel: str, payload: str) -> None:
        if pid == self._pid:
            return  # our own NOTIFY: delivered here already
        try:
            items = [raw for raw in orjson.loads(payload) if self._wants(str(raw["topic"]))]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            log.warning("event bus: dropping a malformed notification: %s", exc)
            return
        if not items:
            return
        if self._held is not None:  # behind a notification whose large events are read
            self._held.append(items)
        elif any("ref" in raw for raw in items):
            self._held = deque([items])
            task = asyncio.create_task(self._deliver_held(), name="hub-events-fetch")
            self._fetches.add(task)
            task.add_done_callback(self._fetches.discard)
        else:
            self._deliver_items(items, {})

    def _deliver_items(self, items: list[dict[str, Any]], fetched: dict[int, Event]) -> None:
        for raw in items:
            try:
                if "ref" in raw:
                    event = fetched.get(int(raw["ref"]))
                    if event is None:
                        continue  # not readable now: the tail delivers it
                else:
                    event = event_from_wire(raw)
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("event bus: dropping a malformed event: %s", exc)
                continue
            self._deliver(event)

    async def _deliver_held(self) -> None:
        """Deliver held notifications in order, reading their large events from the
        outbox (those that can't be read are left to the tail)."""
        held = self._held
        try:
            while held:
                items = held.popleft()
                refs = [int(raw["ref"]) for raw in items if "ref" in raw]
                fetched: dict[int, Event] = {}
                if refs:
                    try:
                        fetched = {e.id: e for e in await self._fetch(refs)}
                    except Exception as exc:
                        log.warning(
                            "event bus: reading %d events from the outbox failed: %s",
                            len(refs),
                            exc,
                        )
                self._deliver_items(items, fetched)
        finally:
            self._held = None
