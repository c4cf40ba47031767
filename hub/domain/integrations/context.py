"""The :class:`connectors.base.RunContext` of one run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.base import HubGateway
from hub.domain.integrations.records import MAX_RUN_ERRORS
from hub.domain.integrations.store import Outcome


class RunCtx:
    """What a connector's ``sync``/``handle`` gets: its config (secrets included), its
    cursor, the hub (``ctx.hub``, a :class:`HubGateway`) and the run's counters."""

    def __init__(
        self,
        instance_id: int,
        config: Mapping[str, Any],
        cursor: str | None,
        hub: HubGateway,
        trigger: str,
        *,
        name: str = "",
    ) -> None:
        self._instance_id = instance_id
        self._config = dict(config)
        self._cursor = cursor
        self._hub = hub
        self.trigger = trigger  # SCHEDULE, EVENT or MANUAL
        self.name = name
        self.out = Outcome(status="RUNNING")

    @property
    def instance_id(self) -> int:
        return self._instance_id

    @property
    def config(self) -> Mapping[str, Any]:
        return self._config

    @property
    def cursor(self) -> str | None:
        return self._cursor

    @property
    def hub(self) -> HubGateway:
        return self._hub

    def set_cursor(self, cursor: str | None) -> None:
        """The cursor the next run starts from; saved only if this run does not fail."""
        self._cursor = cursor
        self.out.cursor = cursor
        self.out.cursor_set = True

    def read(self, n: int = 1) -> None:
        self.out.items_read += n

    def written(self, n: int = 1) -> None:
        self.out.items_written += n

    def error(self, item: str, code: str, message: str) -> None:
        """One item that failed (the run goes on; it ends PARTIAL). The first
        MAX_RUN_ERRORS are kept with the run, all are counted."""
        self.out.error_count += 1
        if len(self.out.errors) < MAX_RUN_ERRORS:
            self.out.errors.append(
                {"item": str(item)[:255], "code": str(code)[:64], "message": str(message)[:1000]}
            )
