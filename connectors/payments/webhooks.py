"""Idempotent webhook handling: providers deliver each event at least once.

A handler asks ``await deduper.seen(event.id)`` before acting; ``seen`` records the id
and answers whether it had been recorded already, so the second delivery of an event
is skipped. If handling then fails, ``forget`` removes the id so that the provider's
redelivery is handled. The app backs this with the database (an insert into a
processed-events table in the handler's transaction); ``MemoryWebhookDeduper`` serves
one process and the tests.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol


class WebhookDeduper(Protocol):
    async def seen(self, event_id: str) -> bool:
        """Record ``event_id``; True if it had been recorded before (skip the event)."""
        ...

    async def forget(self, event_id: str) -> None:
        """Drop ``event_id`` after handling failed, so a redelivery is handled."""
        ...


class MemoryWebhookDeduper:
    """Remembers the most recent ``max_entries`` event ids of this process.

    ``seen`` checks and records without awaiting in between, so two concurrent
    deliveries of one event on the same event loop cannot both be handled.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._ids: OrderedDict[str, None] = OrderedDict()

    async def seen(self, event_id: str) -> bool:
        if event_id in self._ids:
            self._ids.move_to_end(event_id)
            return True
        self._ids[event_id] = None
        if len(self._ids) > self._max_entries:
            self._ids.popitem(last=False)
        return False

    async def forget(self, event_id: str) -> None:
        self._ids.pop(event_id, None)

    def __len__(self) -> int:
        return len(self._ids)
