"""The extension API for partners (:mod:`plugins.api`, re-exported here).

A plugin package imports from here only::

    from plugins import Fee, Plugin

and names its :class:`Plugin` in an entry point of the ``commerce_hub.plugins`` group
(``hub.plugins`` is read too). The hub loads the installed plugins at start-up
(:func:`plugins.host.load_plugins`), logs each with its name, version and state, lists
them in the admin ``plugins`` query, and skips, reporting why, one that fails to
import, register or join the schema. The README's "Write a plugin" walks through the
example in ``plugins/examples/gift_wrap``.

Example::

    @strawberry.type
    class HelloQuery:
        @strawberry.field
        def hello(self) -> str:
            return "hi"

    schema = build_schema(settings, plugins=[Plugin("hello", query=(HelloQuery,))])
"""

from __future__ import annotations

from plugins.api import (
    ENTRY_POINT_GROUP,
    ENTRY_POINT_GROUPS,
    LEGACY_ENTRY_POINT_GROUP,
    Action,
    Basket,
    Condition,
    Context,
    DiscountClass,
    Event,
    EventHandler,
    Fee,
    FeeHook,
    Outcome,
    Plugin,
    PluginError,
    PluginState,
    PricedCart,
    PricedLine,
    PricingView,
    SchemaPlugin,
)


def discover() -> list[Plugin]:
    """The installed plugins that load (the failed ones are logged and left out)."""
    from plugins.host import load_plugins

    return load_plugins().active


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
    "discover",
]
