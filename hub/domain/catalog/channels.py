"""Channel admin: create, update and delete sales channels (reads and the record are
in :mod:`hub.domain.channels`, which every domain may import)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.database import Database
from hub.db.tables import channels_t, prices_t
from hub.domain.catalog._checks import (
    check_handle,
    check_text,
    column_length,
    delete_row,
    insert_row,
    translate_integrity,
    utc_now,
)
from hub.domain.catalog.errors import CatalogCode
from hub.domain.errors import Errors, fail
from hub.money import is_currency


@dataclass
class ChannelInput:
    """A channel's fields. Channel errors are served with their paths as they are: a
    missing field is reported as its name here (``default_country``), a malformed
    country as ``defaultCountry``, as the API always has (changing either is an API
    change, not a restructuring)."""

    handle: str | None = None
    name: str | None = None
    currency: str | None = None
    default_country: str | None = None
    tax_inclusive: bool | None = None


def _validate_channel(errs: Errors, data: ChannelInput) -> None:
    check_handle(errs, data.handle, "handle", max_len=column_length(channels_t.c.handle))
    check_text(errs, data.name, "name", required=True)
    if data.currency is not None and not is_currency(data.currency):
        errs.add(
            CatalogCode.INVALID, f"{data.currency!r} is not an ISO 4217 currency code", "currency"
        )
    if data.default_country is not None and not re.fullmatch(r"[A-Z]{2}", data.default_country):
        errs.add(
            CatalogCode.INVALID,
            "defaultCountry must be an ISO 3166-1 alpha-2 code",
            "defaultCountry",  # the API's name, kept: see ChannelInput
        )


async def insert_channel(conn: AsyncConnection, data: ChannelInput) -> int:
    """Insert a channel of checked ``data`` (see :func:`create_channel`), in the
    caller's transaction."""
    return await insert_row(
        conn,
        channels_t,
        {
            "handle": data.handle,
            "name": data.name,
            "currency": data.currency,
            "default_country": data.default_country,
            "tax_inclusive": bool(data.tax_inclusive),
            "created_at": utc_now(),
        },
    )


async def change_channel(conn: AsyncConnection, pk: int, values: dict[str, Any]) -> int:
    """Change channel ``pk`` to checked ``values``, in the caller's transaction; its
    currency only while it has no prices."""
    row = (await conn.execute(select(channels_t).where(channels_t.c.id == pk))).first()
    if row is None:
        raise fail(CatalogCode.NOT_FOUND, "channel not found", "id")
    if "currency" in values and values["currency"] != row.currency:
        priced = await conn.scalar(
            select(func.count()).select_from(prices_t).where(prices_t.c.channel_id == pk)
        )
        if priced:
            raise fail(
                CatalogCode.CURRENCY_MISMATCH,
                f"the channel has {priced} prices in {row.currency}; remove them before "
                "changing its currency",
                "currency",
            )
    if values:
        try:
            await conn.execute(update(channels_t).where(channels_t.c.id == pk).values(**values))
        except IntegrityError as exc:
            raise translate_integrity(exc, "handle", "handle") from None
    return pk


async def remove_channel(conn: AsyncConnection, pk: int) -> None:
    """Delete channel ``pk``, in the caller's transaction."""
    await delete_row(conn, channels_t, pk, "channel")


# --------------------------------------------------------------------------- services
# Each checks its input, opens the transaction, runs the operation and commits.


async def create_channel(db: Database, data: ChannelInput) -> int:
    errs = Errors()
    errs.require(data, ("handle", "name", "currency", "default_country"))
    _validate_channel(errs, data)
    errs.raise_if_any()
    async with db.transaction() as conn:
        return await insert_channel(conn, data)


async def update_channel(db: Database, pk: int, data: ChannelInput) -> int:
    errs = Errors()
    _validate_channel(errs, data)
    errs.raise_if_any()
    values = {k: v for k, v in vars(data).items() if v is not None}
    async with db.transaction() as conn:
        await change_channel(conn, pk, values)
    return pk


async def delete_channel(db: Database, pk: int) -> None:
    async with db.transaction() as conn:
        await remove_channel(conn, pk)
