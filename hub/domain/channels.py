"""Sales channels as every domain sees them: the handle rule, the channel record and
its reads.

A channel sets the currency its prices are in; inventory (locations selling to
channels), shipping, price lists and the catalog all refer to channels by handle.
This module imports no other domain module, so each of them can depend on it; the
channel admin writes live in :mod:`hub.domain.catalog.channels`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import ids
from hub.db.database import Reader
from hub.db.tables import channels_t

# Handles (of channels, products, collections, locations, ...): lowercase words and dashes.
HANDLE_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class ChannelRecord:
    __slots__ = (
        "created_at",
        "currency",
        "default_country",
        "handle",
        "id",
        "name",
        "pk",
        "tax_inclusive",
    )

    def __init__(self, row: Any) -> None:
        self.pk = row.id
        self.id = ids.encode("Channel", row.id)
        self.handle = row.handle
        self.name = row.name
        self.currency = row.currency
        self.default_country = row.default_country
        self.tax_inclusive = row.tax_inclusive
        self.created_at = row.created_at


def handle_key(handle: str) -> str:
    """Channel handles are lowercase (``HANDLE_RE``): a client's ``EU`` or `` eu`` is ``eu``."""
    return handle.strip().lower()


_CHANNEL_HANDLES = select(channels_t.c.handle).order_by(channels_t.c.id)  # built once


async def channel_handles(conn: AsyncConnection | Reader) -> list[str]:
    """Every channel's handle, oldest first (for errors that list the valid ones)."""
    if isinstance(conn, Reader):
        return [r.handle for r in await conn.all(_CHANNEL_HANDLES)]
    return list((await conn.execute(_CHANNEL_HANDLES)).scalars())


def unknown_channel(handle: str, known: Sequence[str]) -> str:
    valid = ", ".join(known) if known else "none yet"
    return f"unknown channel {handle!r}; the channels are: {valid}"


_BY_HANDLE = select(channels_t).where(channels_t.c.handle == bindparam("handle"))  # built once


async def channel_by_handle(reader: Reader, handle: str) -> ChannelRecord | None:
    rows = await reader.all(_BY_HANDLE, {"handle": handle_key(handle)})
    return ChannelRecord(rows[0]) if rows else None


_FIRST_CHANNEL = select(channels_t).order_by(channels_t.c.id).limit(1)  # built once


async def default_channel(reader: Reader) -> ChannelRecord | None:
    row = await reader.first(_FIRST_CHANNEL)
    return ChannelRecord(row) if row else None


async def channels_by_pks(reader: Reader, pks: Sequence[int]) -> dict[int, ChannelRecord]:
    rows = await reader.all(select(channels_t).where(channels_t.c.id.in_(pks)))
    return {r.id: ChannelRecord(r) for r in rows}


async def list_channels(reader: Reader) -> list[ChannelRecord]:
    rows = await reader.all(select(channels_t).order_by(channels_t.c.id))
    return [ChannelRecord(r) for r in rows]
