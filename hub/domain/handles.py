"""Handles: the lowercase, dash-separated names clients use for channels, products,
locations, shipping zones and rates (``eu``, ``main-warehouse``).

Shared by every domain package, so none needs another's module for them (locations
name their channels by handle; inventory must not import the catalog that reads its
availability).
"""

from __future__ import annotations

import re

HANDLE_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def handle_key(handle: str) -> str:
    """Channel handles are lowercase (``HANDLE_RE``): a client's ``EU`` or `` eu`` is ``eu``."""
    return handle.strip().lower()
