"""Inventory on the API: locations, stock levels, storefront availability, the ledger,
and the stock operations staff and connectors use.

- :mod:`.types`: the object types and payloads;
- :mod:`.inputs`: the mutations' inputs;
- :mod:`.queries`: ``InventoryQuery`` and the stock fields of product variants;
- :mod:`.mutations`: ``InventoryMutation``.
"""

from schema.inventory.mutations import InventoryMutation
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
    "inventory_levels",
    "store_availability",
]
