"""Adds a field ``Order`` already has (``totalPrice``): the schema can't take it."""

from typing import Any

import strawberry

from plugins import Plugin


@strawberry.type
class OrderClash:
    @strawberry.field
    def total_price(self, root: strawberry.Parent[Any]) -> int:
        return 0


@strawberry.type
class ClashQuery:
    @strawberry.field
    def clash_hello(self) -> str:
        return "should never be served"


plugin = Plugin("bad_schema", query=(ClashQuery,), type_extensions={"Order": OrderClash})
