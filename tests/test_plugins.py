"""Plugins add schema fields through ``build_schema(plugins=)`` (plugins.Plugin)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from hub.settings import load_settings
from plugins import SchemaPlugin
from schema import build_schema


@strawberry.type
class HelloQuery:
    @strawberry.field(description="A greeting from a plugin.")
    def plugin_hello(self, info: Info, name: str = "hub") -> str:
        return f"hello, {name}"


def test_a_plugin_adds_a_query_field() -> None:
    plain = build_schema(load_settings())
    assert "pluginHello" not in plain.as_str()
    schema = build_schema(load_settings(), plugins=[SchemaPlugin("hello", query=(HelloQuery,))])
    printed = schema.as_str()
    assert 'pluginHello(name: String! = "hub"): String!' in printed
    assert "products(" in printed  # the hub's own fields are all still there


async def test_a_plugin_field_resolves() -> None:
    schema = build_schema(load_settings(), plugins=[SchemaPlugin("hello", query=(HelloQuery,))])
    result = await schema.execute('{ pluginHello(name: "partner") }')
    assert result.errors is None
    assert result.data == {"pluginHello": "hello, partner"}
