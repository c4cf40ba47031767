"""Reaching into a running app: its GraphQL schema and its hub container."""

from __future__ import annotations

from typing import Any

import strawberry
from starlette.applications import Starlette
from starlette.routing import Route

from hub.container import Hub


def schema_of(app: Starlette) -> strawberry.Schema:
    """The GraphQL schema the app serves at /graphql."""
    for route in app.routes:
        if isinstance(route, Route) and route.path == "/graphql":
            found: Any = route.endpoint
            schema: strawberry.Schema = found.schema
            return schema
    raise LookupError("the app serves no /graphql route")


def hub_of(app: Starlette) -> Hub:
    """The app's container (while its lifespan runs)."""
    hub: Hub = app.state.hub
    return hub
