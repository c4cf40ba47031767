"""What carts read from the other aggregates, on the connection they run in: the
variants in a cart, their stock and prices in the cart's channel, the channel and the
customer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Executable, Row, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db import fast
from hub.db.database import Reader, fetch_all
from hub.db.tables import channels_t, products_t, variants_t
from hub.domain.catalog import ChannelRecord
from hub.domain.catalog.price_lists import PriceQuote, quote_prices
from hub.domain.customers import CustomerRecord, get_customer
from hub.domain.inventory import stock_by_location


class _ConnReader(Reader):
    """A :class:`Reader` over a connection the caller holds, so read helpers written
    for a request's reader run inside this operation's connection."""

    __slots__ = ("conn",)

    def __init__(self, conn: AsyncConnection) -> None:  # no pool: the caller's connection
        self.conn = conn

    @property
    def dialect_name(self) -> str:
        return self.conn.dialect.name

    async def all(
        self, stmt: Executable | fast.Prebuilt, params: dict[str, Any] | None = None
    ) -> Sequence[Row[Any]]:
        return await fetch_all(self.conn, stmt, params)

    async def first(self, stmt: Executable) -> Row[Any] | None:
        rows = await self.all(stmt)
        return rows[0] if rows else None


_VARIANT_INFO = fast.Prebuilt(
    select(
        variants_t.c.id,
        variants_t.c.sku,
        variants_t.c.title,
        variants_t.c.weight_grams,
        variants_t.c.requires_shipping,
        variants_t.c.tracked,
        variants_t.c.is_bundle,
        variants_t.c.product_id,
        products_t.c.title.label("product_title"),
        products_t.c.product_type,
        products_t.c.tax_class,
        products_t.c.status,
        products_t.c.tags,
    )
    .join(products_t, products_t.c.id == variants_t.c.product_id)
    .where(variants_t.c.id.in_(bindparam("vpks", expanding=True)))
)
_CHANNEL_BY_PK = fast.Prebuilt(select(channels_t).where(channels_t.c.id == bindparam("pk")))


async def variant_info(conn: AsyncConnection, vpks: Sequence[int]) -> dict[int, Any]:
    """The variants (with their product's title, type, tax class, status and tags)."""
    if not vpks:
        return {}
    rows = (await fast.execute(conn, _VARIANT_INFO, {"vpks": list(set(vpks))})).all()
    return {r.id: r for r in rows}


def counts_stock(v: Any) -> bool:
    """Whether a variant's quantity is bounded by stock (tracked, or a bundle)."""
    return bool(v.tracked or v.is_bundle)


async def available(
    conn: AsyncConnection, channel_pk: int, vpks: Sequence[int], info: Mapping[int, Any]
) -> dict[int, dict[int, int]]:
    """Sellable stock per variant and location for the channel (bundles in kits)."""
    wanted = list(set(vpks))
    bundles = {v for v in wanted if v in info and info[v].is_bundle}
    return await stock_of(conn, channel_pk, wanted, bundles)


async def stock_of(
    conn: AsyncConnection, channel_pk: int, vpks: Sequence[int], bundles: set[int]
) -> dict[int, dict[int, int]]:
    """:func:`available` of variants whose bundles are known."""
    return await stock_by_location(_ConnReader(conn), vpks, channel_pk, bundles=bundles)


async def quote(
    conn: AsyncConnection,
    channel: ChannelRecord,
    lines: Mapping[int, int],
    *,
    customer_group: str | None,
    now: datetime,
) -> dict[int, PriceQuote]:
    """Unit prices per variant (absent: not sold in the channel), through the pricing
    service (price lists with volume breaks)."""
    if not lines:
        return {}
    return dict(await quote_prices(conn, channel, lines, customer_group=customer_group, now=now))


async def channel_of(conn: AsyncConnection, pk: int, known: ChannelRecord | None) -> ChannelRecord:
    """The channel ``pk``: ``known`` when it is that one (the request read it), else read."""
    if known is not None and known.pk == pk:
        return known
    row = (await fast.execute(conn, _CHANNEL_BY_PK, {"pk": pk})).first()
    return ChannelRecord(row)


async def customer_of(conn: AsyncConnection, pk: int | None) -> CustomerRecord | None:
    return None if pk is None else await get_customer(conn, pk)
