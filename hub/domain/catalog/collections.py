"""Collections: manual, ordered groups of products; their reads (a page of
collections, a page of each collection's products in one statement) and writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, delete, func, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.database import Database, Reader
from hub.db.tables import coll_products_t, collections_t, products_t, ranges_t
from hub.domain.catalog._checks import (
    check_handle,
    check_text,
    delete_row,
    insert_row,
    slugify,
    translate_integrity,
    utc_now,
)
from hub.domain.catalog.errors import CatalogCode
from hub.domain.catalog.records import CollectionRecord, ProductRecord
from hub.domain.channels import ChannelRecord
from hub.domain.errors import Errors, fail
from hub.domain.paging import PageRequest, id_page, rank_within


async def collections_by_pks(reader: Reader, pks: Sequence[int]) -> dict[int, CollectionRecord]:
    rows = await reader.all(select(collections_t).where(collections_t.c.id.in_(pks)))
    return {r.id: CollectionRecord(r) for r in rows}


async def collection_by_handle(reader: Reader, handle: str) -> CollectionRecord | None:
    row = await reader.first(select(collections_t).where(collections_t.c.handle == handle))
    return CollectionRecord(row) if row else None


async def list_collections(
    reader: Reader, page: PageRequest
) -> tuple[list[CollectionRecord], list[str], bool, bool]:
    rows, cursors, has_next, has_prev = await id_page(
        reader, select(collections_t), collections_t.c.id, page, "C"
    )
    return [CollectionRecord(r) for r in rows], cursors, has_next, has_prev


async def collections_by_products(
    reader: Reader, pks: Sequence[int]
) -> dict[int, list[CollectionRecord]]:
    return await reader.grouped(
        select(coll_products_t.c.product_id, collections_t)
        .join(collections_t, collections_t.c.id == coll_products_t.c.collection_id)
        .where(coll_products_t.c.product_id.in_(pks))
        .order_by(coll_products_t.c.product_id, collections_t.c.id),
        lambda r: r.product_id,
        CollectionRecord,
    )


@dataclass
class CollectionInput:
    handle: str | None = None
    title: str | None = None
    description: str | None = None
    product_pks: list[int] | None = None


async def _require_collection(conn: AsyncConnection, pk: int) -> None:
    found = await conn.execute(select(collections_t.c.id).where(collections_t.c.id == pk))
    if found.first() is None:
        raise fail(CatalogCode.NOT_FOUND, "collection not found", "id")


async def _add_to_collection(conn: AsyncConnection, pk: int, product_pks: Sequence[int]) -> None:
    wanted = list(dict.fromkeys(product_pks))
    found = set(
        (await conn.execute(select(products_t.c.id).where(products_t.c.id.in_(wanted))))
        .scalars()
        .all()
    )
    missing = [p for p in wanted if p not in found]
    if missing:
        raise fail(CatalogCode.NOT_FOUND, f"{len(missing)} product(s) not found", "product_ids")
    present = set(
        (
            await conn.execute(
                select(coll_products_t.c.product_id).where(
                    coll_products_t.c.collection_id == pk, coll_products_t.c.product_id.in_(wanted)
                )
            )
        )
        .scalars()
        .all()
    )
    last = await conn.scalar(
        select(func.coalesce(func.max(coll_products_t.c.position), -1)).where(
            coll_products_t.c.collection_id == pk
        )
    )
    start = -1 if last is None else int(last)
    new = [p for p in wanted if p not in present]
    if new:
        await conn.execute(
            insert(coll_products_t),
            [
                {"collection_id": pk, "product_id": p, "position": start + 1 + i}
                for i, p in enumerate(new)
            ],
        )


async def insert_collection(conn: AsyncConnection, data: CollectionInput) -> int:
    """Insert a collection of checked ``data`` (see :func:`create_collection`) with its
    products, in the caller's transaction."""
    pk = await insert_row(
        conn,
        collections_t,
        {
            "handle": data.handle or slugify(data.title or ""),
            "title": data.title,
            "description": data.description or "",
            "created_at": utc_now(),
        },
    )
    if data.product_pks:
        await _add_to_collection(conn, pk, data.product_pks)
    return pk


async def change_collection(conn: AsyncConnection, pk: int, data: CollectionInput) -> int:
    """Change the given fields of collection ``pk`` (checked; see
    :func:`update_collection`), in the caller's transaction; ``product_pks`` replaces
    its products."""
    values = {
        k: v
        for k, v in (
            ("handle", data.handle),
            ("title", data.title),
            ("description", data.description),
        )
        if v is not None
    }
    await _require_collection(conn, pk)
    if values:
        try:
            await conn.execute(
                update(collections_t).where(collections_t.c.id == pk).values(**values)
            )
        except IntegrityError as exc:
            raise translate_integrity(exc, "handle", "handle") from None
    if data.product_pks is not None:
        await conn.execute(delete(coll_products_t).where(coll_products_t.c.collection_id == pk))
        await _add_to_collection(conn, pk, data.product_pks)
    return pk


async def remove_collection(conn: AsyncConnection, pk: int) -> None:
    """Delete collection ``pk``, in the caller's transaction."""
    await delete_row(conn, collections_t, pk, "collection")


async def add_to_collection(conn: AsyncConnection, pk: int, product_pks: Sequence[int]) -> None:
    """Append the products ``product_pks`` (those not in it yet) to collection ``pk``,
    in the caller's transaction."""
    await _require_collection(conn, pk)
    await _add_to_collection(conn, pk, product_pks)


async def remove_from_collection(
    conn: AsyncConnection, pk: int, product_pks: Sequence[int]
) -> None:
    """Take the products ``product_pks`` out of collection ``pk``, in the caller's
    transaction."""
    await _require_collection(conn, pk)
    await conn.execute(
        delete(coll_products_t).where(
            coll_products_t.c.collection_id == pk,
            coll_products_t.c.product_id.in_(list(product_pks)),
        )
    )


# --------------------------------------------------------------------------- services
# Each checks its input, opens the transaction, runs the operation and commits.


async def create_collection(db: Database, data: CollectionInput) -> int:
    errs = Errors()
    if not data.title:
        errs.add(CatalogCode.BLANK, "title is required", "title")
    check_handle(errs, data.handle, "handle")
    check_text(errs, data.title, "title", required=True)
    errs.raise_if_any()
    async with db.transaction() as conn:
        return await insert_collection(conn, data)


async def update_collection(db: Database, pk: int, data: CollectionInput) -> int:
    errs = Errors()
    check_handle(errs, data.handle, "handle")
    check_text(errs, data.title, "title", required=True)
    errs.raise_if_any()
    async with db.transaction() as conn:
        return await change_collection(conn, pk, data)


async def delete_collection(db: Database, pk: int) -> None:
    async with db.transaction() as conn:
        await remove_collection(conn, pk)


async def collection_add_products(db: Database, pk: int, product_pks: Sequence[int]) -> None:
    async with db.transaction() as conn:
        await add_to_collection(conn, pk, product_pks)


async def collection_remove_products(db: Database, pk: int, product_pks: Sequence[int]) -> None:
    async with db.transaction() as conn:
        await remove_from_collection(conn, pk, product_pks)


# --------------------------------------------------------------------------- reads


async def products_in_collections(
    reader: Reader,
    collection_pks: Sequence[int],
    channel: ChannelRecord,
    size: int,
    after: tuple[int, int] | None,
    *,
    staff: bool = False,
) -> dict[int, tuple[list[ProductRecord], list[tuple[int, int]], bool]]:
    """The first ``size`` products of each collection in manual (position) order, in one
    statement: {collection: (records, (position, id) keys, has_next)}."""
    join_on = and_(ranges_t.c.product_id == products_t.c.id, ranges_t.c.channel_id == channel.pk)
    rn = rank_within(coll_products_t.c.collection_id, coll_products_t.c.position, products_t.c.id)
    src = coll_products_t.join(products_t, products_t.c.id == coll_products_t.c.product_id)
    src = src.outerjoin(ranges_t, join_on) if staff else src.join(ranges_t, join_on)
    inner = (
        select(
            products_t,
            ranges_t.c.min_amount,
            ranges_t.c.max_amount,
            coll_products_t.c.collection_id,
            coll_products_t.c.position,
            rn,
        )
        .select_from(src)
        .where(coll_products_t.c.collection_id.in_(collection_pks))
    )
    if not staff:
        inner = inner.where(products_t.c.status == "ACTIVE")
    if after is not None:
        inner = inner.where(tuple_(coll_products_t.c.position, products_t.c.id) > after)
    sub = inner.subquery()
    stmt = select(sub).where(sub.c.rn <= size + 1).order_by(sub.c.collection_id, sub.c.rn)
    out: dict[int, tuple[list[ProductRecord], list[tuple[int, int]], bool]] = {
        pk: ([], [], False) for pk in collection_pks
    }
    for r in await reader.all(stmt):
        recs, keys, _ = out[r.collection_id]
        if r.rn > size:
            out[r.collection_id] = (recs, keys, True)
            continue
        recs.append(ProductRecord(r, channel))
        keys.append((r.position, r.id))
    return out
