"""Inventory: one truth about stock at every location.

What the package owns, module by module:

- :mod:`.records`: the level record, :class:`InventoryCode`, the states a level holds
  and how many units are sellable;
- :mod:`.changes`: levels and changes, the one write path (a conditional UPDATE, its
  ledger row and its event, in the caller's transaction);
- :mod:`.operations`: adjustments, counts, thresholds, receipts, quarantine,
  fulfilment, store sales and returns; :mod:`.transfers`: stock between locations;
- :mod:`.reservations`: holding stock for checkouts, in two strategies of one operation
  (:mod:`.reservation_pg`: PostgreSQL's single statement), and the one path that
  settles reservations (commit, release, expiry);
- :mod:`.oversold`: a sale whose goods already left the store (a till's offline sale)
  takes onHand below zero into the flagged oversold state, which a count settles;
- :mod:`.lots`: lots and serial numbers; :mod:`.idempotency`: idempotency keys and the
  unit of work a write runs as;
- :mod:`.bulk`: absolute on-hand levels of many (variant, location) pairs in a few
  statements (imports), each moved level with its ledger row and event;
- :mod:`.reads`: levels and sellable stock per channel; :mod:`.ledger`: movements,
  the audit (:func:`verify`) and reorder suggestions;
- :mod:`.locations`: locations and the channels they sell to (the operations
  :func:`insert_location`, :func:`change_location`, :func:`remove_location`, and the
  thin services :func:`create_location`, :func:`update_location`,
  :func:`delete_location` that open and commit their transaction);
- :mod:`.service`: :class:`Inventory`, the thin service that opens and commits each
  write's transaction and publishes its events.

Domain operations take the open connection they run in; only :class:`Inventory` and
the location services open transactions. Error fields are named in the domain's terms
(``variant_id``, ``expected_quantity``); ``schema/`` maps them to GraphQL paths.
"""

from hub.db.tables import levels_t, loc_channels_t, locations_t, reservations_t
from hub.domain.inventory.changes import Change, dialect_insert
from hub.domain.inventory.idempotency import run_in
from hub.domain.inventory.ledger import movements, reorder_suggestions, verify
from hub.domain.inventory.locations import (
    LocationRecord,
    change_location,
    create_location,
    delete_location,
    distance_km,
    insert_location,
    list_locations,
    location_values,
    locations_by_pks,
    pickup_time,
    remove_location,
    update_location,
)
from hub.domain.inventory.reads import (
    channel_availability,
    level,
    levels_by_pairs,
    levels_for_variants,
    stock_by_location,
)
from hub.domain.inventory.records import (
    DEFAULT_RESERVATION_TTL,
    STATES,
    InventoryCode,
    LevelRecord,
    Outcome,
    ReserveRequest,
    available_sql,
    on_channel,
    refuse,
)
from hub.domain.inventory.reservations import (
    ReservationStrategy,
    commit_reservations,
    release,
    reservation_ttl,
    reserve,
    settle,
)
from hub.domain.inventory.service import Inventory

# The name other domain modules imported before the package existed.
_dialect_insert = dialect_insert

__all__ = [
    "DEFAULT_RESERVATION_TTL",
    "STATES",
    "Change",
    "Inventory",
    "InventoryCode",
    "LevelRecord",
    "LocationRecord",
    "Outcome",
    "ReservationStrategy",
    "ReserveRequest",
    "_dialect_insert",
    "available_sql",
    "change_location",
    "channel_availability",
    "commit_reservations",
    "create_location",
    "delete_location",
    "dialect_insert",
    "distance_km",
    "insert_location",
    "level",
    "levels_by_pairs",
    "levels_for_variants",
    "levels_t",
    "list_locations",
    "loc_channels_t",
    "location_values",
    "locations_by_pks",
    "locations_t",
    "movements",
    "on_channel",
    "pickup_time",
    "refuse",
    "release",
    "remove_location",
    "reorder_suggestions",
    "reservation_ttl",
    "reservations_t",
    "reserve",
    "run_in",
    "settle",
    "stock_by_location",
    "update_location",
    "verify",
]
