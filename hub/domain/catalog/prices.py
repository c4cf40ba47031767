"""Catalog prices: a variant's price in each channel (in the channel's currency) and
the per-channel price range of each product that listings sort and filter on."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.database import Database
from hub.db.tables import channels_t, prices_t, ranges_t, variants_t
from hub.domain.catalog._checks import touch_products
from hub.domain.catalog.errors import CatalogCode
from hub.domain.channels import channel_handles, handle_key, unknown_channel
from hub.domain.errors import Errors, fail
from hub.money import MoneyError, parse_amount


@dataclass
class PriceInput:
    variant_pk: int
    channel_handle: str
    amount: Decimal
    compare_at_amount: Decimal | None = None
    cost_amount: Decimal | None = None
    currency: str | None = None  # optional check: must equal the channel's currency


async def refresh_price_ranges(conn: AsyncConnection, product_pks: Iterable[int]) -> None:
    pks = list(set(product_pks))
    if not pks:
        return
    await conn.execute(delete(ranges_t).where(ranges_t.c.product_id.in_(pks)))
    agg = (
        select(
            prices_t.c.channel_id,
            prices_t.c.product_id,
            func.min(prices_t.c.amount),
            func.max(prices_t.c.amount),
        )
        .where(prices_t.c.product_id.in_(pks))
        .group_by(prices_t.c.channel_id, prices_t.c.product_id)
    )
    await conn.execute(
        insert(ranges_t).from_select(["channel_id", "product_id", "min_amount", "max_amount"], agg)
    )
    await touch_products(conn, pks)


async def _price_rows(
    conn: AsyncConnection, prices: Sequence[PriceInput], errs: Errors
) -> list[tuple[Any, int, int, list[int | None]]]:
    """Each price's (channel row, variant, product, minor amounts), once its channel,
    variant, currency and amounts check out; what doesn't is added to ``errs``."""
    handles = {handle_key(p.channel_handle) for p in prices}
    chans = {
        r.handle: r
        for r in (
            await conn.execute(select(channels_t).where(channels_t.c.handle.in_(handles)))
        ).all()
    }
    vrows = {
        r.id: r.product_id
        for r in (
            await conn.execute(
                select(variants_t.c.id, variants_t.c.product_id).where(
                    variants_t.c.id.in_({p.variant_pk for p in prices})
                )
            )
        ).all()
    }
    rows: list[tuple[Any, int, int, list[int | None]]] = []
    known: list[str] | None = None
    for i, p in enumerate(prices):
        ch = chans.get(handle_key(p.channel_handle))
        if ch is None:
            known = known if known is not None else await channel_handles(conn)
            errs.add(
                CatalogCode.NOT_FOUND,
                unknown_channel(p.channel_handle, known),
                "prices",
                str(i),
                "channel",
            )
            continue
        if p.variant_pk not in vrows:
            errs.add(CatalogCode.NOT_FOUND, "variant not found", "prices", str(i), "variant_id")
            continue
        if p.currency is not None and p.currency != ch.currency:
            errs.add(
                CatalogCode.CURRENCY_MISMATCH,
                f"channel {ch.handle!r} sells in {ch.currency}, not {p.currency}",
                "prices",
                str(i),
                "currency",
            )
            continue
        amounts: list[int | None] = []
        for name, a in (
            ("amount", p.amount),
            ("compare_at_amount", p.compare_at_amount),
            ("cost_amount", p.cost_amount),
        ):
            try:
                amounts.append(None if a is None else parse_amount(a, ch.currency))
            except MoneyError as exc:
                errs.add(CatalogCode.INVALID, str(exc), "prices", str(i), name)
        if len(amounts) < 3:
            continue
        rows.append((ch, p.variant_pk, vrows[p.variant_pk], amounts))
    return rows


async def upsert_prices(
    conn: AsyncConnection, prices: Sequence[PriceInput]
) -> list[tuple[int, int]]:
    """Upsert channel prices, in the caller's transaction; the (variant, channel)
    pairs written."""
    errs = Errors()
    rows = await _price_rows(conn, prices, errs)
    errs.raise_if_any()
    seen: set[tuple[int, int]] = set()
    for ch, vpk, ppk, (amount, cmp_, cost) in rows:
        if (vpk, ch.id) in seen:
            raise fail(CatalogCode.TAKEN, "the same variant and channel appear twice", "prices")
        seen.add((vpk, ch.id))
        res = await conn.execute(
            update(prices_t)
            .where(prices_t.c.variant_id == vpk, prices_t.c.channel_id == ch.id)
            .values(amount=amount, compare_at_amount=cmp_, cost_amount=cost)
        )
        if res.rowcount == 0:
            await conn.execute(
                insert(prices_t).values(
                    channel_id=ch.id,
                    variant_id=vpk,
                    product_id=ppk,
                    currency=ch.currency,
                    amount=amount,
                    compare_at_amount=cmp_,
                    cost_amount=cost,
                )
            )
    await refresh_price_ranges(conn, [r[2] for r in rows])
    return list(seen)


async def remove_prices(conn: AsyncConnection, pairs: Sequence[tuple[int, str]]) -> int:
    """Delete the prices of the (variant, channel handle) ``pairs``, in the caller's
    transaction; how many."""
    chans = {
        r.handle: r.id
        for r in (
            await conn.execute(
                select(channels_t.c.handle, channels_t.c.id).where(
                    channels_t.c.handle.in_({handle_key(h) for _, h in pairs})
                )
            )
        ).all()
    }
    deleted = 0
    products: set[int] = set()
    for i, (vpk, handle) in enumerate(pairs):
        if handle_key(handle) not in chans:
            msg = unknown_channel(handle, await channel_handles(conn))
            raise fail(CatalogCode.NOT_FOUND, msg, "prices", str(i))
        res = await conn.execute(
            delete(prices_t)
            .where(
                prices_t.c.variant_id == vpk,
                prices_t.c.channel_id == chans[handle_key(handle)],
            )
            .returning(prices_t.c.product_id)
        )
        got = res.scalars().all()
        if not got:
            raise fail(CatalogCode.NOT_FOUND, "no such price", "prices", str(i))
        deleted += len(got)
        products.update(got)
    await refresh_price_ranges(conn, products)
    return deleted


# --------------------------------------------------------------------------- services


async def set_prices(db: Database, prices: Sequence[PriceInput]) -> list[tuple[int, int]]:
    """Upsert channel prices; returns the (variant, channel) pairs written."""
    errs = Errors()
    if not prices:
        errs.add(CatalogCode.BLANK, "give at least one price", "prices")
    errs.raise_if_any()
    async with db.transaction() as conn:
        return await upsert_prices(conn, prices)


async def delete_prices(db: Database, pairs: Sequence[tuple[int, str]]) -> int:
    async with db.transaction() as conn:
        return await remove_prices(conn, pairs)
