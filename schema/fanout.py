"""Broadcast delivery: one execution per event for every identical subscription.

Ten thousand storefronts watching one product ask the same thing: the same document,
the same variables, with the same key (or none) and channel. Run per subscription,
each event would wake ten thousand tasks and walk each through the GraphQL stream
machinery; most of the fan-out time went there, not into the sockets.

So websocket subscriptions (graphql-transport-ws and the legacy graphql-ws) that are
identical on one process form a :class:`Group`. The group runs the subscription once,
as a *leader*: a subscription of its own (``Schema.subscribe``, the full pipeline:
validation, extensions, error masking) on a context with the first member's principal,
channel and connection. Each result the leader gets is encoded once, then written to
every member's socket with the member's own operation id, in a plain loop: no task per
member and per event (on uvicorn's websockets-sansio protocol straight into the
connection, as uvicorn's own ``send`` does; elsewhere through the ASGI ``send``). A
member's own subscription stream just waits until it ends.

What each member sees is exactly what it would have got on its own: the same ``next``
(``data`` for graphql-ws) messages, an error result and ``complete`` when the leader's
stream ends (``SUBSCRIBER_OVERFLOW``, or the server stopping), nothing after the
client's ``complete``/``stop``. A member whose socket can't take a message at once
(TCP back-pressure) gets its own backlog drained by a task of its own; past
``QUEUE_SIZE`` waiting messages it is closed with ``SUBSCRIBER_OVERFLOW``, as a slow
subscriber always was, without slowing anyone else.

Grouped by (protocol, parsed operation, variables, key or customer and scopes, the
connection's channel), so a result depending on who asks is never shared between
different askers. Subscriptions that are not on a websocket of these protocols (an
in-process ``Schema.subscribe``) run on their own as before.
"""

from __future__ import annotations

import asyncio
import logging
import types
import weakref
from collections import deque
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any, Final

import orjson
from graphql import DocumentNode, print_ast
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from websockets.protocol import State

from hub.container import Hub
from hub.websockets import LegacyWSHandler as GuardedLegacyWSHandler
from hub.websockets import TransportWSHandler as GuardedTransportWSHandler
from schema.context import HubContext
from schema.errors import ApiError

log = logging.getLogger("hub.graphql")

TRANSPORT_WS: Final = "graphql-transport-ws"
LEGACY_WS: Final = "graphql-ws"
# Members served in one go before the loop gives other work (requests) a turn.
SLICE: Final = 1000


# ------------------------------------------------------------- knowing the socket


class TransportWSHandler(GuardedTransportWSHandler):
    """strawberry's graphql-transport-ws handler, telling the context it serves it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(self.context, HubContext):
            self.context.ws_handler = (TRANSPORT_WS, self)


class LegacyWSHandler(GuardedLegacyWSHandler):
    """strawberry's graphql-ws handler, telling the context it serves it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(self.context, HubContext):
            self.context.ws_handler = (LEGACY_WS, self)


def _operation(ctx: HubContext) -> tuple[str, str, Callable[[], bool]] | None:
    """(protocol, operation id, is-finished) of the subscription being resolved now, on
    a websocket served by one of the handlers above; None otherwise."""
    served = ctx.ws_handler
    if served is None:
        return None
    protocol, handler = served
    task = asyncio.current_task()
    if task is None:
        return None
    if protocol == TRANSPORT_WS:
        for op in list(handler.operations.values()):
            if op.task is task:
                return protocol, op.id, lambda op=op, task=task: op.completed or task.done()
        return None
    for op_id, op_task in list(handler.tasks.items()):
        if op_task is task:
            return protocol, op_id, task.done
    return None


# ------------------------------------------------------------------- sending


def _uvicorn_protocol(send: Any, depth: int = 8) -> Any:
    """The uvicorn websocket protocol behind an ASGI ``send`` callable (through the
    middlewares' wrappers), if it is uvicorn's websockets-sansio one; else None."""
    for _ in range(depth):
        owner = getattr(send, "__self__", None)
        if owner is not None:
            kind = type(owner)
            if kind.__name__ == "WebSocketsSansIOProtocol" and kind.__module__.startswith(
                "uvicorn.protocols.websockets"
            ):
                return owner
            return None
        cells = [c.cell_contents for c in getattr(send, "__closure__", None) or ()]
        inner = [c for c in cells if callable(c) and getattr(c, "__name__", "") == "send"]
        if len(inner) != 1:
            return None
        send = inner[0]
    return None


def _frame(data: bytes) -> bytes:
    """A final, unmasked text frame (RFC 6455 5.2) carrying ``data``."""
    n = len(data)
    if n < 126:
        return bytes((0x81, n)) + data
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big") + data
    return b"\x81\x7f" + n.to_bytes(8, "big") + data


def direct_writer(websocket: Any) -> Callable[[bytes], bool] | None:
    """A function writing a text message (UTF-8 bytes) straight to the socket of
    ``websocket`` (a Starlette WebSocket served by uvicorn's websockets-sansio
    protocol), as one unfragmented frame, as uvicorn's own ``send`` would but without
    the ASGI layers: True when written, False when the caller must take the ordinary
    path (flow control holds the socket, or it is closing). None when it can't apply
    (another server, or an extension such as compression on the connection)."""
    proto = _uvicorn_protocol(getattr(websocket, "_send", None))
    if proto is None:
        return None
    conn, transport = getattr(proto, "conn", None), getattr(proto, "transport", None)
    writable = getattr(proto, "writable", None)
    needed = ("close_sent", "disconnected", "handshake_complete", "initial_response")
    if (
        conn is None
        or transport is None
        or not isinstance(writable, asyncio.Event)
        or not all(hasattr(proto, name) for name in needed)
        or getattr(conn, "state", None) is not State.OPEN
        or getattr(conn, "extensions", None)  # e.g. permessage-deflate
    ):
        return None

    def write(data: bytes) -> bool:
        if (
            proto.close_sent
            or proto.disconnected
            or not proto.handshake_complete
            or proto.initial_response is not None
            or conn.state is not State.OPEN
            or not writable.is_set()
            or transport.is_closing()
        ):
            return False
        transport.write(_frame(data))
        return True

    return write


@types.coroutine
def _resume(coro: Any, yielded: Any) -> Generator[Any, Any, Any]:
    """Await the rest of a coroutine that was stepped by hand and suspended on
    ``yielded`` (what ``yield from coro`` would have done from there)."""
    while True:
        try:
            sent = yield yielded
        except BaseException as exc:
            try:
                yielded = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                yielded = coro.send(sent)
            except StopIteration as stop:
                return stop.value


class Member:
    """One subscription served by its group: where its messages go."""

    __slots__ = (
        "_finished",
        "backlog",
        "direct",
        "ended",
        "gone",
        "group",
        "prefix",
        "raw_prefix",
        "send_text",
        "writer",
    )

    def __init__(
        self,
        group: Group,
        send_text: Callable[[str], Any],
        prefix: str,
        finished: Callable[[], bool],
        direct: Callable[[bytes], bool] | None = None,
    ) -> None:
        self.group = group
        self.send_text = send_text
        self.direct = direct
        self.prefix = prefix  # the message up to its payload, with this operation's id
        self.raw_prefix = prefix.encode()
        self._finished = finished
        self.backlog: deque[str] | None = None  # messages behind one the socket holds
        self.writer: asyncio.Task[None] | None = None
        self.gone = False  # ended: out of its group
        # Resolved (or failed) when the member ends; its own stream waits on it.
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def push(self, payload: str, raw: bytes) -> None:
        """Send ``prefix + payload + "}"`` (``raw``: the payload's UTF-8) now if the
        socket takes it without waiting; else queue it behind what the socket holds
        (closed past the queue limit)."""
        if self.gone:
            return
        if self._finished():  # stopped by the client, maybe before its stream even ran
            self.end()
            return
        if (
            self.backlog is None
            and self.direct is not None
            and self.direct(self.raw_prefix + raw + b"}")
        ):
            return
        text = self.prefix + payload + "}"
        if self.backlog is not None:
            if len(self.backlog) >= self.group.broadcaster.queue_size:
                self.end(ApiError(_OVERFLOW, "SUBSCRIBER_OVERFLOW"))
                return
            self.backlog.append(text)
            return
        coro = self.send_text(text)
        try:
            yielded = coro.send(None)
        except StopIteration:
            return
        except Exception as exc:  # the client is gone
            self.end(None, exc)
            return
        self.backlog = deque()
        self.writer = asyncio.ensure_future(self._drain(coro, yielded))

    async def _drain(self, coro: Any, yielded: Any) -> None:
        try:
            await _resume(coro, yielded)
            while self.backlog:
                if self.gone or self._finished():
                    return
                await self.send_text(self.backlog.popleft())
            self.backlog = None
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.end(None, exc)

    def end(self, error: Exception | None = None, gone: Exception | None = None) -> None:
        """Stop serving this member: its stream ends (raising ``error`` if given)."""
        if self.gone:
            return
        self.gone = True
        if gone is not None:
            log.debug("subscription member gone: %s", gone)
        if not self.ended.done():  # (cancelled when its own stream was)
            if error is not None:
                log.warning(
                    "closing a slow subscriber: %d messages waiting", len(self.backlog or ())
                )
                self.ended.set_exception(error)
            else:
                self.ended.set_result(None)
        self.group.leave(self)


_OVERFLOW = (
    "this subscription fell too far behind the stock changes and was closed; "
    "subscribe again (and re-read current levels)"
)


# ------------------------------------------------------------------- groups


class Group:
    """Identical subscriptions on one process, and the leader subscription serving them."""

    def __init__(self, broadcaster: Broadcaster, key: tuple[Any, ...], anchor: Any) -> None:
        self.broadcaster = broadcaster
        self.key = key
        self.anchor = anchor  # keeps the parsed operation (its id is in the key) alive
        self.members: set[Member] = set()
        self.ready = asyncio.Event()  # the leader is subscribed on the bus
        self.leader: asyncio.Task[None] | None = None
        self.closed = False
        self.results = 0

    def leave(self, member: Member) -> None:
        self.members.discard(member)
        if not self.members and not self.closed:
            self.close()

    def close(self) -> None:
        self.closed = True
        self.broadcaster.groups.pop(self.key, None)
        if self.leader is not None and not self.leader.done():
            self.leader.cancel()
        for member in list(self.members):
            member.end()

    def start(self, schema: Any, document: str, variables: dict[str, Any], ctx: HubContext) -> None:
        self.leader = asyncio.create_task(
            self._lead(schema, document, variables, ctx), name="hub-subscription-leader"
        )

    async def _lead(
        self, schema: Any, document: str, variables: dict[str, Any], ctx: HubContext
    ) -> None:
        try:
            stream = await schema.subscribe(document, variable_values=variables, context_value=ctx)
            async for result in stream:
                await self._broadcast(result)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("subscription leader failed")
        finally:
            await ctx.close()
            if not self.closed:
                self.close()  # every member's stream ends: `complete`, as on its own

    async def _broadcast(self, result: ExecutionResult | PreExecutionError) -> None:
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [err.formatted for err in result.errors]
        if result.extensions:
            payload["extensions"] = result.extensions
        raw = orjson.dumps(payload)
        encoded = raw.decode()
        self.results += 1
        members = list(self.members)
        for i, member in enumerate(members, 1):
            member.push(encoded, raw)
            if i % SLICE == 0 and i < len(members):
                await asyncio.sleep(0)  # let requests through between slices


class Broadcaster:
    """The groups of one process (one per app's services)."""

    def __init__(self, queue_size: int) -> None:
        self.queue_size = queue_size
        self.groups: dict[tuple[Any, ...], Group] = {}

    @property
    def live(self) -> int:
        """Members of groups whose leader is subscribed (live subscriptions)."""
        return sum(len(g.members) for g in self.groups.values() if g.ready.is_set())

    @property
    def leaders(self) -> int:
        return sum(1 for g in self.groups.values() if g.ready.is_set())


_BROADCASTERS: weakref.WeakKeyDictionary[Any, Broadcaster] = weakref.WeakKeyDictionary()


def broadcaster(hub: Hub, queue_size: int = 1000) -> Broadcaster:
    found = _BROADCASTERS.get(hub)
    if found is None:
        found = _BROADCASTERS[hub] = Broadcaster(queue_size)
    return found


def leader_of(ctx: HubContext) -> Group | None:
    """The group ``ctx`` leads, when it is a leader's context."""
    group = ctx.fanout_group
    return group if isinstance(group, Group) else None


def join(info: Any, ctx: HubContext, queue_size: int) -> AsyncGenerator[Any, None] | None:
    """Serve the subscription being resolved through its group: the stream to return
    for it (which yields nothing itself and ends when the member does), or None when it
    can't be (not on a websocket of ours; variables that aren't plain JSON)."""
    found = _operation(ctx)
    if found is None:
        return None
    protocol, op_id, finished = found
    raw = info._raw_info
    try:
        frozen = orjson.dumps(raw.variable_values, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return None
    principal = ctx.principal
    key = (
        protocol,
        id(raw.operation),
        frozen,
        principal.credential,
        principal.customer_id,
        principal.scopes,
        ctx.channel_header,
    )
    fanout = broadcaster(ctx.hub, queue_size)
    group = fanout.groups.get(key)
    if group is None or group.closed:
        group = fanout.groups[key] = Group(fanout, key, raw.operation)
        document = print_ast(DocumentNode(definitions=(raw.operation, *raw.fragments.values())))
        leader_ctx = HubContext(
            ctx.hub,
            request=ctx.request,
            principal=principal,
            channel_header=ctx.channel_header,
            request_id=f"{ctx.request_id}-fanout",
        )
        leader_ctx.fanout_group = group
        group.start(info.schema, document, dict(raw.variable_values), leader_ctx)
    if protocol == TRANSPORT_WS:
        prefix = '{"id":' + orjson.dumps(op_id).decode() + ',"type":"next","payload":'
    else:
        prefix = '{"type":"data","id":' + orjson.dumps(op_id).decode() + ',"payload":'
    member = Member(group, ctx.request.send_text, prefix, finished, direct_writer(ctx.request))
    group.members.add(member)
    # However the operation ends (even stopped before its stream first ran), it leaves.
    task = asyncio.current_task()
    if task is not None:

        def leave(_task: asyncio.Task[Any]) -> None:
            member.end()

        task.add_done_callback(leave)
    return _member_stream(member)


async def _member_stream(member: Member) -> AsyncGenerator[Any, None]:
    """A member's own stream: nothing to yield (its group sends), until it ends."""
    try:
        await member.ended
    finally:
        member.end()
        if member.writer is not None and not member.writer.done():
            member.writer.cancel()
    return
    yield  # an async generator that yields nothing
