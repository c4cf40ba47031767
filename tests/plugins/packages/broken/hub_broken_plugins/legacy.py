"""A plugin of the first API's entry point group (``hub.plugins``), still loaded."""

import strawberry

from plugins import SchemaPlugin


@strawberry.type
class LegacyQuery:
    @strawberry.field
    def legacy_hello(self) -> str:
        return "hello from hub.plugins"


plugin = SchemaPlugin("legacy_hello", query=(LegacyQuery,))
