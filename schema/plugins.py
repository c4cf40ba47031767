"""The admin ``plugins`` query: every installed plugin with its version and state, as
start-up loaded it (:mod:`plugins.host`)."""

from __future__ import annotations

from enum import Enum

import strawberry
from strawberry.types import Info

from plugins import PluginState as DomainState
from schema.permissions import needs


@strawberry.enum(name="PluginState", description="ACTIVE: loaded and serving; FAILED: left out.")
class PluginStateType(Enum):
    ACTIVE = DomainState.ACTIVE.value
    FAILED = DomainState.FAILED.value


@strawberry.type(name="Plugin", description="An installed plugin, as this process loaded it.")
class PluginType:
    name: str = strawberry.field(description="Its name (the entry point's when it failed to load).")
    version: str = strawberry.field(description="The version of the package it came from.")
    state: PluginStateType
    reason: str | None = strawberry.field(
        description="Why it FAILED (import, settings, schema...)."
    )
    source: str = strawberry.field(description='Its entry point: "group: name = module:object".')
    permissions: list[str] = strawberry.field(description="The permissions it declares.")
    partner_key_permissions: list[str] = strawberry.field(
        description="What a partner key made for it (`hub apikey create --scope partner "
        "--plugin NAME`) holds: its own permissions and the hub's ones it requires."
    )
    event_topics: list[str] = strawberry.field(description="The event topics it handles.")
    events_handled: int = strawberry.field(description="Events its handlers took in this process.")
    event_errors: int = strawberry.field(description="Events its handlers failed on (logged).")


@strawberry.type
class PluginQuery:
    @strawberry.field(
        description="The installed plugins: name, version, ACTIVE or FAILED with the reason.",
        permission_classes=needs("settings"),
    )
    def plugins(self, info: Info) -> list[PluginType]:
        return [
            PluginType(
                name=r.name,
                version=r.version,
                state=PluginStateType(r.state.value),
                reason=r.reason,
                source=r.source,
                permissions=list(r.permissions),
                partner_key_permissions=list(r.partner_key_permissions),
                event_topics=sorted(r.plugin.on_events) if r.plugin is not None else [],
                events_handled=r.events_handled,
                event_errors=r.event_errors,
            )
            for r in info.context.hub.plugins.records
        ]
