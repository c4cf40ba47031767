"""Open websockets and the credentials they were opened with, re-checked for their life.

A websocket authenticates once, on ``connection_init``, and may stay open for days.
:class:`OpenSockets` keeps, per process, which sockets stand on which credential and
closes them (code 4403) as soon as the credential stops being valid:

- at once when a revocation reaches this process: revoked here
  (:func:`hub.auth.credential_revoked`), or an ``auth.revoked`` event on the bus from
  another process (``hub apikey revoke``, another hub);
- within ``interval`` seconds otherwise (``HUB_AUTH_CACHE_SECONDS``, at least 1): one
  query per credential kind for the ids of every open socket, plus each principal's
  own expiry.

If the database can't be reached the sockets stay as they are (the next sweep asks
again); a credential is only dropped on a definite answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from hub.auth import CREDENTIAL_CHECKS, REVOKED_TOPIC, Principal, on_revocation
from hub.db.database import Database, Reader

log = logging.getLogger("hub.sessions")

CLOSE_FORBIDDEN = 4403
Closer = Callable[[int, str], Awaitable[None]]


class OpenSockets:
    def __init__(self, db: Database, interval: float) -> None:
        self.db = db
        self.interval = max(1.0, interval)
        self._sockets: dict[tuple[str, int], dict[int, tuple[Principal, Closer]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._closing: set[asyncio.Task[None]] = set()
        self.closed_count = 0  # sockets closed for a lapsed credential (for tests, metrics)
        self.bus_subscriptions = 0  # this registry's own subscriptions on the event bus
        on_revocation(self)

    def __len__(self) -> int:
        return sum(len(v) for v in self._sockets.values())

    def add(self, principal: Principal, closer: Closer) -> int | None:
        """Watch a socket opened with ``principal``; a handle for :meth:`remove`."""
        cred = principal.credential
        if cred is None:
            return None
        handle = id(closer)
        self._sockets.setdefault(cred, {})[handle] = (principal, closer)
        return handle

    def remove(self, principal: Principal, handle: int | None) -> None:
        cred = principal.credential
        if cred is None or handle is None:
            return
        socks = self._sockets.get(cred)
        if socks is not None:
            socks.pop(handle, None)
            if not socks:
                del self._sockets[cred]

    def revoked(self, kind: str, pk: int) -> None:
        """Close every socket of credential (kind, pk) now."""
        self._close((kind, pk), "the API key was revoked")

    def _close(self, cred: tuple[str, int], reason: str) -> None:
        socks = self._sockets.pop(cred, None)
        for _, closer in (socks or {}).values():
            self.closed_count += 1
            task = asyncio.ensure_future(self._close_one(closer, reason))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close_one(closer: Closer, reason: str) -> None:
        try:
            await closer(CLOSE_FORBIDDEN, reason)
        except Exception as exc:  # the client is already gone
            log.debug("closing a socket failed: %s", exc)

    async def sweep(self) -> int:
        """Close the sockets whose credential lapsed; how many credentials were dropped."""
        if not self._sockets:
            return 0
        now = datetime.now(UTC)
        dropped = 0
        for cred, socks in list(self._sockets.items()):
            if any(p.expired(now) for p, _ in socks.values()):
                self._close(cred, "the API key expired")
                dropped += 1
        by_kind: dict[str, list[int]] = {}
        for kind, pk in self._sockets:
            by_kind.setdefault(kind, []).append(pk)
        reader = Reader(self.db)
        try:
            for kind, pks in by_kind.items():
                check = CREDENTIAL_CHECKS.get(kind)
                if check is None:
                    continue
                valid = await check(reader, pks)
                for pk in set(pks) - valid:
                    self._close((kind, pk), "the API key was revoked or expired")
                    dropped += 1
        finally:
            await reader.close()
        return dropped

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sweep()
            except Exception as exc:  # database unreachable: keep the sockets, ask again
                log.warning("re-checking the keys of open websockets failed: %s", exc)

    async def _listen(self, bus: Any) -> None:
        """Revocations published by other processes (and this one)."""
        sub = bus.subscribe([REVOKED_TOPIC], maxsize=10_000)
        self.bus_subscriptions += 1
        try:
            async for event in sub:
                try:
                    kind, pk = str(event.payload["kind"]), int(event.payload["id"])
                except (KeyError, TypeError, ValueError):
                    continue
                from hub.auth import credential_revoked

                credential_revoked(kind, pk)  # clears the key caches, closes here
        finally:
            self.bus_subscriptions -= 1
            await sub.close()

    def start(self, bus: Any = None) -> None:
        self._tasks.append(asyncio.create_task(self._sweep_forever(), name="hub-sessions-sweep"))
        if bus is not None:
            self._tasks.append(asyncio.create_task(self._listen(bus), name="hub-sessions-bus"))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
