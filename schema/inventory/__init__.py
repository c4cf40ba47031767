"""Inventory on the API: locations, stock levels, storefront availability, the ledger,
and the stock operations staff and connectors use.

- :mod:`.types`: the object types and payloads;
- :mod:`.inputs`: the mutations' inputs;
- :mod:`.queries`: ``InventoryQuery`` and the stock fields of product variants;
- :mod:`.mutations`: ``InventoryMutation``;
- :mod:`.paths`: :func:`graphql_errors`, which maps the domain's error fields to GraphQL
  paths (checkout and shipping use it too).
"""

from schema.inventory.mutations import InventoryMutation
from schema.inventory.paths import graphql_errors, graphql_paths
from schema.inventory.queries import InventoryQuery, inventory_levels, store_availability
from schema.inventory.types import (
    GeoPointInput,
    InventoryLevelType,
    LocationType,
    StoreAvailability,
)

__all__ = [
    "GeoPointInput",
    "InventoryLevelType",
    "InventoryMutation",
    "InventoryQuery",
    "LocationType",
    "StoreAvailability",
    "graphql_errors",
    "graphql_paths",
    "inventory_levels",
    "store_availability",
]
