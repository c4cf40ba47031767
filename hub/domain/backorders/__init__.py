"""Backorders and pre-orders (issue 14, item 6).

Owns a variant's inventory policy (``DENY``, the default: never sell beyond stock;
``BACKORDER``: sell beyond stock, with an optional expected date; ``PREORDER``: sell
against stock expected on a date), the cap on units sold beyond stock
(``backorder_limit``; ``backordered`` counts the units sold beyond stock and not yet
allocated), the backorders themselves (the units of an order line sold beyond stock
at one location) and their allocation, oldest first, when stock is received there.

Backordered units are never negative stock: the level is left alone until stock is
received; then the units are committed (``backorder_allocated`` in the ledger) and the
fulfillment order holding them (``ON_HOLD`` with the hold reason ``BACKORDER`` or
``PREORDER``) becomes fulfillable again (``OPEN``).
"""

from __future__ import annotations

from hub.domain.backorders.allocate import allocate_received, on_receipt
from hub.domain.backorders.checkout import BackorderTake, plan_backorders, take_backorders
from hub.domain.backorders.codes import BackorderCode, InventoryPolicy
from hub.domain.backorders.policy import PolicyRecord, policies_for, set_policy
from hub.domain.backorders.service import MAX_PAGE, BackorderRecord, Backorders, queue

__all__ = [
    "MAX_PAGE",
    "BackorderCode",
    "BackorderRecord",
    "BackorderTake",
    "Backorders",
    "InventoryPolicy",
    "PolicyRecord",
    "allocate_received",
    "on_receipt",
    "plan_backorders",
    "policies_for",
    "queue",
    "set_policy",
    "take_backorders",
]
