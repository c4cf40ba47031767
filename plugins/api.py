"""The plugin API: what a plugin package imports (``from plugins import Plugin, Fee``).

This module is the stable surface: its names keep their meaning across minor versions
of the hub. A plugin is one :class:`Plugin` object, named by an entry point of the
``commerce_hub.plugins`` group (``hub.plugins`` is read too) in the plugin package's
``pyproject.toml``::

    [project.entry-points."commerce_hub.plugins"]
    gift_wrap = "hub_gift_wrap:plugin"

What a plugin may bring (every field is optional but ``name``):

- ``query`` / ``mutation``: strawberry types whose fields join the ``Query`` /
  ``Mutation`` roots; ``types``: extra types the schema must know; ``extensions``:
  strawberry schema extensions, run after the hub's own;
- ``type_extensions``: fields added to the hub's own object types, by GraphQL type
  name: ``{"Order": OrderGiftWrap}`` adds every field of the strawberry type
  ``OrderGiftWrap`` to ``Order``. The field's resolver gets the hub's object as its
  parent (``root: strawberry.Parent[Any]``: an ``OrderRecord`` for ``Order``, a
  ``PricedLine`` for ``CartLine``, a ``PricedCart`` for ``Cart``); a name the type
  already has fails the plugin;
- ``on_events``: ``{"order.created": handler}``; ``handler(event, hub)`` (sync or
  async; a sync one runs on the event loop, so it must be quick) gets each committed
  outbox event of that topic (see :mod:`plugins.host` for the delivery guarantees);
- ``promotion_conditions`` / ``promotion_actions``: subclasses of :class:`Condition`
  (``matches(basket, ctx)``) / :class:`Action` (``compute(view) -> Outcome``; and
  ``classes``, the :class:`DiscountClass` es it may be) with a unique ``kind``,
  ``to_json`` and ``from_json``, readable in promotion definitions
  (``{"type": kind, ...}``) from then on;
- ``fees``: ``{name: hook}``; ``hook(priced_cart)`` returns :class:`Fee` s charged on
  top of the merchandise (:mod:`hub.domain.carts.fees`);
- ``connectors``: connector types (``connectors.base.Connector``) the hub offers next to
  its own;
- ``permissions``: the permissions the plugin's fields check (``"giftwrap:write"``): a
  partner key is limited to those its plugin declares;
- ``partner_permissions``: the hub's own permissions (names of
  ``hub.auth.PERMISSIONS``, e.g. ``("orders",)``) the plugin's partner keys need on top
  of ``permissions``. ``hub apikey create --scope partner --plugin NAME`` makes a key
  holding exactly ``permissions`` + ``partner_permissions`` (``--permission`` may only
  narrow that); at request time such a key holds only what its plugin, ACTIVE in the
  serving process, still declares (nothing once the plugin is gone or FAILED);
- ``settings``: a pydantic model; its values come from the environment,
  ``HUB_PLUGIN_<NAME>__<FIELD>`` (``HUB_PLUGIN_GIFT_WRAP__FEE=250``), validated at
  start-up, and are read with :meth:`Plugin.config`.

A plugin that fails to import, to register (a kind already taken, bad settings, a
malformed declaration) or to join the schema is reported FAILED (name, version,
reason: in the start-up log and the admin ``plugins`` query) and left out; the hub
serves without it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from connectors.base import Event
from hub.auth import PERMISSIONS
from hub.domain.carts.fees import Fee, FeeHook
from hub.domain.carts.priced import PricedCart, PricedLine
from hub.domain.promotions import Action, Basket, Condition, Context, Outcome, PricingView
from hub.domain.promotions.enums import DiscountClass

ENTRY_POINT_GROUP = "commerce_hub.plugins"
# The group of the first plugin API, still read.
LEGACY_ENTRY_POINT_GROUP = "hub.plugins"
ENTRY_POINT_GROUPS = (ENTRY_POINT_GROUP, LEGACY_ENTRY_POINT_GROUP)

EventHandler = Callable[[Event, Any], Awaitable[None] | None]
"""``handler(event, hub)``: ``hub`` is the process's ``hub.container.Hub``."""

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_PERMISSION = re.compile(r"^[a-z][a-z0-9_-]{0,31}:[a-z][a-z0-9_-]{0,31}$")


# Each loaded plugin's validated settings, by name (set by plugins.host at load).
_CONFIGS: dict[str, Any] = {}


class PluginState(StrEnum):
    ACTIVE = "ACTIVE"
    FAILED = "FAILED"


class PluginError(Exception):
    """A plugin's declaration is not usable (the reason is the message)."""


@dataclass(frozen=True)
class Plugin:
    """One plugin (see the module docstring)."""

    name: str
    description: str = ""
    query: Sequence[type] = ()
    mutation: Sequence[type] = ()
    types: Sequence[type] = ()
    extensions: Sequence[Any] = ()
    type_extensions: Mapping[str, type | Sequence[type]] = field(default_factory=dict)
    on_events: Mapping[str, EventHandler] = field(default_factory=dict)
    promotion_conditions: Sequence[type[Condition]] = ()
    promotion_actions: Sequence[type[Action]] = ()
    fees: Mapping[str, FeeHook] = field(default_factory=dict)
    connectors: Sequence[type] = ()
    permissions: Sequence[str] = ()
    partner_permissions: Sequence[str] = ()
    settings: type[BaseModel] | None = None

    @property
    def partner_key_permissions(self) -> tuple[str, ...]:
        """What a partner key made for this plugin holds: its own permissions and the
        hub's ones it requires (sorted, no repeats)."""
        return tuple(sorted({*self.permissions, *self.partner_permissions}))

    def config(self) -> Any:
        """The plugin's validated settings (an instance of ``settings``), once loaded."""
        try:
            return _CONFIGS[self.name]
        except KeyError:
            raise PluginError(f"plugin {self.name!r} is not loaded") from None

    def check(self) -> None:
        """Raise :class:`PluginError` when the declaration is malformed."""
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise PluginError(f"name {self.name!r}: lower case letters, digits and _")
        for topic, handler in self.on_events.items():
            if not isinstance(topic, str) or not topic or not callable(handler):
                raise PluginError(f"on_events[{topic!r}] must map a topic to a callable")
        for perm in self.permissions:
            if not isinstance(perm, str) or not _PERMISSION.match(perm):
                raise PluginError(f"permission {perm!r}: write it as 'area:action'")
        for perm in self.partner_permissions:
            if perm not in PERMISSIONS:
                raise PluginError(
                    f"partner permission {perm!r} is not one of the hub's "
                    f"({', '.join(PERMISSIONS)})"
                )
        for kinds, base in (
            (self.promotion_conditions, Condition),
            (self.promotion_actions, Action),
        ):
            for cls in kinds:
                if not (isinstance(cls, type) and issubclass(cls, base)):
                    raise PluginError(f"{cls!r} is not a subclass of {base.__name__}")
        for cls in self.connectors:
            if not isinstance(cls, type) or not isinstance(getattr(cls, "type_name", None), str):
                raise PluginError(f"connector {cls!r} is not a connector type (type_name)")
        if self.settings is not None and not (
            isinstance(self.settings, type) and issubclass(self.settings, BaseModel)
        ):
            raise PluginError("settings must be a pydantic model class")
        for name, hook in self.fees.items():
            if not callable(hook):
                raise PluginError(f"fees[{name!r}] is not callable")


SchemaPlugin = Plugin  # the first API's name for a plugin that only adds to the schema


__all__ = [
    "ENTRY_POINT_GROUP",
    "ENTRY_POINT_GROUPS",
    "LEGACY_ENTRY_POINT_GROUP",
    "Action",
    "Basket",
    "Condition",
    "Context",
    "DiscountClass",
    "Event",
    "EventHandler",
    "Fee",
    "FeeHook",
    "Outcome",
    "Plugin",
    "PluginError",
    "PluginState",
    "PricedCart",
    "PricedLine",
    "PricingView",
    "SchemaPlugin",
]
