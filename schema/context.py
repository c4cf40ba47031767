"""The per-request context: database reader, principal, channel and dataloaders."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from graphql import GraphQLResolveInfo, StringValueNode, VariableNode

from hub.auth import ANONYMOUS, Principal
from hub.bounds import control_character, describe
from hub.db.database import Database, Reader
from hub.domain import catalog
from hub.settings import Settings
from schema.errors import ApiError

if TYPE_CHECKING:
    from schema.loaders import Loaders

# A channel handle's column is String(64).
MAX_HANDLE = 64


class HubContext:
    def __init__(
        self,
        *,
        db: Database,
        settings: Settings,
        request: Any = None,
        response: Any = None,
        principal: Principal = ANONYMOUS,
        channel_header: str | None = None,
        request_id: str = "-",
        services: Any = None,
    ) -> None:
        from schema.loaders import Loaders

        self.db = db
        self.settings = settings
        self.services = services
        self.request = request
        self.response = response
        self.principal = principal
        self.channel_header = channel_header
        self.request_id = request_id
        # Whose budgets and limits this request counts against: "key:<id>" for an API
        # key, else "ip:<address>" (None: no limits, e.g. in-process calls).
        self.client: str | None = None
        self.limiter: Any = None  # hub.ratelimit.Limiter of the app
        self.reader = Reader(db)
        self.loaders: Loaders = Loaders(self)
        self._channel: asyncio.Future[catalog.ChannelRecord] | None = None

    @property
    def staff(self) -> bool:
        return self.principal.is_staff

    def channel(self, info: GraphQLResolveInfo | None = None) -> asyncio.Future:
        """The request's sales channel: ``@inContext(channel:)``, else the
        ``X-Hub-Channel`` header, else the first channel. Looked up once."""
        if self._channel is None:
            handle = self.channel_header
            if info is not None:
                chosen = in_context_arg(info, "channel")
                if chosen:
                    handle = chosen
            self._channel = asyncio.ensure_future(self._load_channel(handle))
        return self._channel

    async def _load_channel(self, handle: str | None) -> catalog.ChannelRecord:
        if handle:
            bad = control_character(handle)
            if bad is not None:
                raise ApiError(
                    f"the channel contains a control character ({describe(bad)})",
                    "BAD_USER_INPUT",
                )
            # Longer than any handle can be: unknown, without asking the database.
            ch = (
                None
                if len(handle) > MAX_HANDLE
                else await catalog.channel_by_handle(self.reader, handle)
            )
            if ch is None:
                known = await catalog.channel_handles(self.reader)
                raise ApiError(catalog.unknown_channel(handle, known), "CHANNEL_NOT_FOUND")
            return ch
        ch = await catalog.default_channel(self.reader)
        if ch is None:
            raise ApiError("the hub has no sales channel yet; create one first", "NO_CHANNEL")
        return ch

    async def close(self) -> None:
        if self._channel is not None and not self._channel.done():
            self._channel.cancel()
        await self.reader.close()


def in_context_arg(info: GraphQLResolveInfo, name: str) -> str | None:
    """An argument of the operation's ``@inContext`` directive (literal or variable)."""
    for directive in info.operation.directives or ():
        if directive.name.value != "inContext":
            continue
        for arg in directive.arguments:
            if arg.name.value != name:
                continue
            value = arg.value
            if isinstance(value, VariableNode):
                got = (info.variable_values or {}).get(value.name.value)
                return got if isinstance(got, str) else None
            if isinstance(value, StringValueNode):
                return value.value
    return None
