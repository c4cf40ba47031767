"""The per-request context: the hub, the database reader, the principal, the channel and
the dataloaders. Every field a request carries is declared here, typed.

The channel: its handle is fixed once per operation before any resolver runs
(:meth:`HubContext.begin_operation`, called by the engine as it starts an operation:
``@inContext(channel:)``, else the ``X-Hub-Channel`` header, else the first channel), and
its record is loaded lazily, once, by the first resolver or loader that needs it
(``await ctx.channel()``): an operation that never needs it costs no statement.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Protocol, TypeVar

from graphql import GraphQLResolveInfo, OperationDefinitionNode, StringValueNode, VariableNode
from strawberry.types import Info

from hub.auth import ANONYMOUS, Principal
from hub.bounds import control_character, describe
from hub.container import Hub
from hub.db.database import Database, Reader
from hub.domain import catalog
from hub.ratelimit import Limiter
from hub.settings import Settings
from schema.errors import ApiCode, ApiError
from schema.loaders import Loaders

# A channel handle's column is String(64).
MAX_HANDLE = 64

T = TypeVar("T")


class FanoutGroup(Protocol):
    """What the context knows of the subscription group it leads (schema.fanout)."""

    @property
    def ready(self) -> asyncio.Event: ...


class HubContext:
    """One request's (or one websocket connection's) context."""

    def __init__(
        self,
        hub: Hub,
        *,
        request: Any = None,
        response: Any = None,
        principal: Principal = ANONYMOUS,
        channel_header: str | None = None,
        request_id: str = "-",
    ) -> None:
        self.hub = hub
        self.db: Database = hub.db
        self.settings: Settings = hub.settings
        # Starlette's Request or WebSocket, and the response headers go on (None: an
        # in-process call).
        self.request: Any = request
        self.response: Any = response
        self.principal = principal
        self.channel_header = channel_header
        self.request_id = request_id
        # Whose budgets and limits this request counts against: "key:<id>" for an API
        # key, "customer:<id>" for a customer access token, else "ip:<address>"
        # (None: no limits, e.g. in-process calls).
        self.client: str | None = None
        # The client's network address (per-address limits such as sign-in attempts).
        self.address: str | None = None
        self.limiter: Limiter | None = None
        self.reader = Reader(self.db)
        self.loaders: Loaders = Loaders(self)
        # Loaders of one shape each (a page size, a cursor), made on first use.
        self.keyed_loaders: dict[Hashable, Any] = {}
        # The handle of the operation running now (None: the default channel).
        self.channel_handle: str | None = channel_header
        self._channel: asyncio.Future[catalog.ChannelRecord] | None = None
        # Websockets: the connection_init payload, the key the socket was opened with
        # (re-checked before each operation), whether it was revoked since.
        self.connection_params: Any = None
        self.token: str | None = None
        self.revoked = False
        # schema.fanout: the handler serving the socket, and the group a leader runs.
        self.ws_handler: tuple[str, Any] | None = None
        self.fanout_group: FanoutGroup | None = None
        # Persisted queries (hub.persisted): the registered operation this request runs
        # (its parsed and validated document rides on it), whether to register it
        # once its document validated (set by schema.documents), and whether the
        # answer may be cached publicly (an anonymous GET of catalog fields).
        self.persisted: Any = None
        self.register = False
        self.document_valid: bool | None = None
        self.public = False
        # schema.subscriptions: serialises the database use of a connection's
        # subscriptions, which share this context.
        self.subscription_lock = asyncio.Lock()

    @property
    def staff(self) -> bool:
        """Whether the request sees the catalog as staff do (drafts, unpriced products):
        its principal holds ``catalog:read``."""
        return self.principal.can("catalog:read")

    def keyed(self, key: Hashable, make: Callable[[], T]) -> T:
        """The per-request object under ``key``, made by ``make`` on first use (for
        loaders that schema modules define: one per page shape, per channel...)."""
        try:
            found: T = self.keyed_loaders[key]
        except KeyError:
            found = self.keyed_loaders[key] = make()
        return found

    def begin_operation(
        self, operation: OperationDefinitionNode, variables: Mapping[str, Any] | None
    ) -> None:
        """Fix the channel handle of the operation about to run: ``@inContext(channel:)``,
        else the connection's ``X-Hub-Channel``. The first operation of a context fixes
        it for the context's life (its channel may be loaded already)."""
        if self._channel is None:
            chosen = directive_arg(operation, variables, "inContext", "channel")
            self.channel_handle = chosen or self.channel_header

    def channel(self) -> asyncio.Future[catalog.ChannelRecord]:
        """The operation's sales channel, loaded once on first use (its handle is fixed
        by :meth:`begin_operation` before any resolver runs). A root field awaits it
        when an unknown channel should fail that field, not a nested one."""
        if self._channel is None:
            self._channel = asyncio.ensure_future(self.load_channel(self.channel_handle))
        return self._channel

    def use_channel(self, channel: asyncio.Future[catalog.ChannelRecord]) -> None:
        """Serve what follows in ``channel`` (a subscription's, per event)."""
        self._channel = channel

    def loaded_channel(self) -> catalog.ChannelRecord | None:
        """The channel if it is loaded already (no statement), else None."""
        fut = self._channel
        if fut is not None and fut.done() and not fut.cancelled() and not fut.exception():
            return fut.result()
        return None

    async def load_channel(self, handle: str | None) -> catalog.ChannelRecord:
        """The channel of ``handle`` (None: the default), or an ApiError saying why not."""
        if handle:
            bad = control_character(handle)
            if bad is not None:
                raise ApiError(
                    f"the channel contains a control character ({describe(bad)})",
                    ApiCode.BAD_USER_INPUT,
                )
            # Longer than any handle can be: unknown, without asking the database.
            ch = (
                None
                if len(handle) > MAX_HANDLE
                else await catalog.channel_by_handle(self.reader, handle)
            )
            if ch is None:
                known = await catalog.channel_handles(self.reader)
                raise ApiError(catalog.unknown_channel(handle, known), ApiCode.CHANNEL_NOT_FOUND)
            return ch
        ch = await catalog.default_channel(self.reader)
        if ch is None:
            raise ApiError("the hub has no sales channel yet; create one first", ApiCode.NO_CHANNEL)
        return ch

    async def close(self) -> None:
        if self._channel is not None and not self._channel.done():
            self._channel.cancel()
        await self.reader.close()


def directive_arg(
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any] | None,
    directive: str,
    name: str,
) -> str | None:
    """A string argument of a directive on ``operation`` (literal or variable)."""
    for d in operation.directives or ():
        if d.name.value != directive:
            continue
        for arg in d.arguments or ():
            if arg.name.value != name:
                continue
            value = arg.value
            if isinstance(value, VariableNode):
                got = (variables or {}).get(value.name.value)
                return got if isinstance(got, str) else None
            if isinstance(value, StringValueNode):
                return value.value
    return None


def in_context_arg(info: GraphQLResolveInfo | Info, name: str) -> str | None:
    """An argument of the operation's ``@inContext`` directive (literal or variable)."""
    variables: Any = info.variable_values  # graphql-core's VariableValues, or a dict
    return directive_arg(
        info.operation, getattr(variables, "coerced", variables), "inContext", name
    )
