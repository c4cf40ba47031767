"""The extension API for partners: what a plugin may add to the hub's schema.

A plugin is any object with the attributes of :class:`Plugin` (a frozen
:class:`SchemaPlugin` is the simple way to make one). ``build_schema(settings,
plugins=[...])`` then adds:

- ``query`` / ``mutation``: strawberry types whose fields join the ``Query`` /
  ``Mutation`` roots (they are mixed in before the hub's own, so a name the hub
  already has is the plugin's to avoid);
- ``types``: extra types the schema must know (e.g. implementations of ``Node``
  that no field returns directly);
- ``extensions``: strawberry schema extensions (classes or instances), run after the
  hub's own.

A plugin's resolvers get the hub's request context (``info.context``, a
:class:`schema.context.HubContext`: ``ctx.hub`` is the container, ``ctx.reader`` the
request's database reader). Plugins shipped as packages are found through the
``hub.plugins`` entry point group (:func:`discover`).

Example::

    @strawberry.type
    class HelloQuery:
        @strawberry.field
        def hello(self) -> str:
            return "hi"

    schema = build_schema(settings, plugins=[SchemaPlugin("hello", query=(HelloQuery,))])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Protocol

ENTRY_POINT_GROUP = "hub.plugins"


class Plugin(Protocol):
    """What a plugin contributes to the schema (see the module docstring)."""

    @property
    def name(self) -> str: ...

    @property
    def query(self) -> Sequence[type]: ...

    @property
    def mutation(self) -> Sequence[type]: ...

    @property
    def types(self) -> Sequence[type]: ...

    @property
    def extensions(self) -> Sequence[Any]: ...


@dataclass(frozen=True, slots=True)
class SchemaPlugin:
    """A plugin as plain data."""

    name: str
    query: Sequence[type] = ()
    mutation: Sequence[type] = ()
    types: Sequence[type] = ()
    extensions: Sequence[Any] = ()


def discover() -> list[Plugin]:
    """The plugins installed as packages: each ``hub.plugins`` entry point names a
    :class:`Plugin` object (or a callable returning one)."""
    found: list[Plugin] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        plugin = ep.load()
        found.append(plugin() if callable(plugin) else plugin)
    return found


__all__ = ["ENTRY_POINT_GROUP", "Plugin", "SchemaPlugin", "discover"]
