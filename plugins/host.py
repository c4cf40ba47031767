"""Loading plugins and running what they registered: :func:`load_plugins` and
:class:`PluginHost`.

``load_plugins()`` reads the entry points of the ``commerce_hub.plugins`` and
``hub.plugins`` groups; for each it imports the object, checks the declaration,
validates its settings from the environment and registers its promotion kinds and
fee hooks. Anything that goes wrong marks that plugin FAILED with the reason and
undoes what it had registered; the others load. The schema build then drops a plugin
whose contribution breaks it (``schema.build_schema(..., on_error=host.fail)``).

Events: a plugin's ``on_events`` handlers follow the event bus of the process
(:meth:`PluginHost.start`), each plugin on its own subscription and task, so a slow or
failing handler delays no one else: a handler that raises is logged and counted
(``eventErrors``) and the next event comes. The bus carries committed events only
(published after the commit; the outbox tail replays what a transport lost), so a
handler never sees a rolled-back write. The choice, over a durable cursor per plugin
in the outbox: delivery is at most once per process and live only (events committed
while no process runs are not replayed to plugins, and with several ``hub serve``
processes each one's handlers see the events). A plugin that needs every event
exactly once, across restarts, is a connector or a webhook subscription (both follow
the outbox with a stored cursor); an in-process handler is for caches, counters and
side effects that may be repeated.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic import ValidationError

from hub.auth import PERMISSIONS, PLUGIN_PARTNER_PERMISSIONS, PLUGIN_PERMISSIONS
from hub.domain.carts.fees import register_fee_hook, unregister_fee_hook
from hub.domain.promotions import (
    register_action,
    register_condition,
    unregister_action,
    unregister_condition,
)
from plugins.api import _CONFIGS, ENTRY_POINT_GROUPS, Plugin, PluginError, PluginState

log = logging.getLogger("hub.plugins")

ENV_PREFIX = "HUB_PLUGIN_"
EVENT_QUEUE = 10_000  # events a handler may be behind before its subscription is renewed


@dataclass(eq=False)
class PluginRecord:
    """What the hub knows of one plugin: what start-up logs and ``plugins`` shows."""

    name: str
    version: str
    state: PluginState
    reason: str | None = None
    source: str = ""  # "group: name = module:attr"
    plugin: Plugin | None = None
    events_handled: int = 0
    event_errors: int = 0

    @property
    def permissions(self) -> tuple[str, ...]:
        return tuple(self.plugin.permissions) if self.plugin is not None else ()

    @property
    def partner_key_permissions(self) -> tuple[str, ...]:
        """What a partner key made for it holds (its own and the hub's it requires)."""
        return self.plugin.partner_key_permissions if self.plugin is not None else ()


@dataclass(eq=False)
class PluginHost:
    """The plugins of one process: their records, the active ones, their handlers."""

    records: list[PluginRecord] = field(default_factory=list)
    bus_subscriptions: int = 0
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def active(self) -> list[Plugin]:
        return [
            r.plugin for r in self.records if r.state is PluginState.ACTIVE and r.plugin is not None
        ]

    def record(self, name: str) -> PluginRecord | None:
        return next((r for r in self.records if r.name == name), None)

    def fail(self, plugin: Plugin, reason: object) -> None:
        """Mark ``plugin`` FAILED (``reason``: a message or the exception) and undo what
        it registered."""
        rec = next((r for r in self.records if r.plugin is plugin), None)
        if rec is None:
            rec = PluginRecord(plugin.name, "", PluginState.FAILED, plugin=plugin)
            self.records.append(rec)
        rec.state = PluginState.FAILED
        rec.reason = _reason(reason)
        _unregister(plugin)
        log.debug("plugin %s %s left out: %s", rec.name, rec.version, rec.reason)

    def unload(self) -> None:
        """Undo what the active plugins registered in this process (promotion kinds,
        fee hooks, settings): for tests and embedders that build several apps."""
        for plugin in self.active:
            _unregister(plugin)

    def permissions(self) -> dict[str, tuple[str, ...]]:
        """The permissions each active plugin declares (its own)."""
        return {p.name: tuple(p.permissions) for p in self.active}

    def connector_types(self) -> list[type]:
        """The connector types the active plugins bring."""
        return [c for p in self.active for c in p.connectors]

    def log_report(self) -> None:
        """One line per plugin: name, version, state (and the reason of a failure)."""
        if not self.records:
            log.info("no plugins installed")
        for r in self.records:
            if r.state is PluginState.ACTIVE:
                log.info("plugin %s %s ACTIVE (%s)", r.name, r.version, r.source)
            else:
                log.warning("plugin %s %s FAILED: %s (%s)", r.name, r.version, r.reason, r.source)

    # ------------------------------------------------------------------ events

    def start(self, hub: Any) -> None:
        """Follow ``hub.bus`` for each active plugin's ``on_events``."""
        for rec in self.records:
            plugin = rec.plugin
            if rec.state is PluginState.ACTIVE and plugin is not None and plugin.on_events:
                task = asyncio.create_task(
                    self._follow(hub, rec, plugin), name=f"plugin-{rec.name}"
                )
                self._tasks.append(task)

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _follow(self, hub: Any, rec: PluginRecord, plugin: Plugin) -> None:
        handlers = plugin.on_events
        while True:
            sub = hub.bus.subscribe(list(handlers), maxsize=EVENT_QUEUE)
            self.bus_subscriptions += 1
            try:
                async for event in sub:
                    await _handle(rec, handlers[event.topic], event, hub)
            finally:
                self.bus_subscriptions -= 1
                await sub.close()
            if not sub.overflowed:
                return  # the bus closed
            log.warning("plugin %s fell %d events behind: some were skipped", rec.name, EVENT_QUEUE)


async def _handle(rec: PluginRecord, handler: Any, event: Any, hub: Any) -> None:
    try:
        result = handler(event, hub)
        if inspect.isawaitable(result):
            await result
    except Exception:
        rec.event_errors += 1
        log.exception(
            "plugin %s: its %s handler failed on event %s", rec.name, event.topic, event.id
        )
    else:
        rec.events_handled += 1


# --------------------------------------------------------------------- loading


def load_plugins(
    plugins: Iterable[Plugin] = (),
    *,
    env: Mapping[str, str] | None = None,
    groups: Sequence[str] = ENTRY_POINT_GROUPS,
) -> PluginHost:
    """The installed plugins (the entry points of ``groups``), then ``plugins``, each
    checked, configured from ``env`` (default ``os.environ``) and registered; FAILED
    with the reason when any step fails (see the module docstring)."""
    env = os.environ if env is None else env
    host = PluginHost()
    seen: set[str] = set()
    for group in groups:
        for ep in entry_points(group=group):
            if ep.value in seen:
                continue  # the same object under both groups
            seen.add(ep.value)
            host.records.append(_load_entry_point(ep, group, env, host))
    for plugin in plugins:
        host.records.append(_register(plugin, _version(None), "given", env, host))
    return host


def _load_entry_point(
    ep: EntryPoint, group: str, env: Mapping[str, str], host: PluginHost
) -> PluginRecord:
    source = f"{group}: {ep.name} = {ep.value}"
    version = _version(ep)
    try:
        obj = ep.load()
        plugin = obj if isinstance(obj, Plugin) else obj() if callable(obj) else obj
        if not isinstance(plugin, Plugin):
            raise PluginError(f"{ep.value} is not a plugins.Plugin (got {type(plugin).__name__})")
    except Exception as exc:
        rec = PluginRecord(ep.name, version, PluginState.FAILED, _reason(exc), source)
        log.debug("plugin %s %s failed to import", ep.name, version, exc_info=True)
        return rec
    return _register(plugin, version, source, env, host)


def _register(
    plugin: Plugin, version: str, source: str, env: Mapping[str, str], host: PluginHost
) -> PluginRecord:
    rec = PluginRecord(plugin.name, version, PluginState.ACTIVE, None, source, plugin)
    if host.record(plugin.name) is not None:
        # Before anything is registered: undoing would undo the other plugin's.
        rec.state, rec.reason = PluginState.FAILED, f"another plugin is named {plugin.name!r}"
        return rec
    try:
        plugin.check()
        taken = set(PERMISSIONS).intersection(plugin.permissions)
        if taken:
            raise PluginError(f"permissions {sorted(taken)} are the hub's own")
        _CONFIGS[plugin.name] = _settings(plugin, env)
        for cond in plugin.promotion_conditions:
            register_condition(cond)
        for action in plugin.promotion_actions:
            register_action(action)
        for name, hook in plugin.fees.items():
            register_fee_hook(f"{plugin.name}.{name}", hook)
        PLUGIN_PERMISSIONS.update(plugin.permissions)
        PLUGIN_PARTNER_PERMISSIONS[plugin.name] = frozenset(plugin.partner_key_permissions)
    except Exception as exc:
        rec.state, rec.reason = PluginState.FAILED, _reason(exc)
        _unregister(plugin)
        log.debug("plugin %s %s failed to register", plugin.name, version, exc_info=True)
    return rec


def _unregister(plugin: Plugin) -> None:
    PLUGIN_PERMISSIONS.difference_update(plugin.permissions)
    PLUGIN_PARTNER_PERMISSIONS.pop(plugin.name, None)
    for cond in plugin.promotion_conditions:
        unregister_condition(cond)
    for action in plugin.promotion_actions:
        unregister_action(action)
    for name in plugin.fees:
        unregister_fee_hook(f"{plugin.name}.{name}")
    _CONFIGS.pop(plugin.name, None)


def env_prefix(name: str) -> str:
    """``HUB_PLUGIN_<NAME>__``: where a plugin's settings come from."""
    return f"{ENV_PREFIX}{re.sub(r'[^A-Z0-9]', '_', name.upper())}__"


def _settings(plugin: Plugin, env: Mapping[str, str]) -> Any:
    """The plugin's settings model validated from its ``HUB_PLUGIN_<NAME>__*`` variables
    (case-insensitive field names); None without a model."""
    prefix = env_prefix(plugin.name)
    given = {k[len(prefix) :].lower(): v for k, v in env.items() if k.upper().startswith(prefix)}
    if plugin.settings is None:
        if given:
            raise PluginError(f"{prefix}* is set but the plugin has no settings")
        return None
    fields = set(plugin.settings.model_fields)
    unknown = sorted(set(given) - fields)
    if unknown:
        raise PluginError(f"unknown settings: {', '.join(prefix + u.upper() for u in unknown)}")
    try:
        return plugin.settings.model_validate(given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{prefix}{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        raise PluginError(f"bad settings: {problems}") from None


def _version(ep: EntryPoint | None) -> str:
    dist = getattr(ep, "dist", None) if ep is not None else None
    return str(dist.version) if dist is not None else "0+unknown"


def _reason(exc: object) -> str:
    if isinstance(exc, PluginError):
        return str(exc)
    if isinstance(exc, BaseException):
        return f"{type(exc).__name__}: {exc}"[:1000]
    return str(exc)[:1000]


__all__ = ["ENV_PREFIX", "PluginHost", "PluginRecord", "env_prefix", "load_plugins"]
