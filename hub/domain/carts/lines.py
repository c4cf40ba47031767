"""A cart's lines: add (merged into an equal line), change, remove; each quantity cut
to what the channel can sell. Every function runs in the caller's transaction, on a
cart :func:`hub.domain.carts.operations.touch` has locked; a fixed number of
statements whatever the number of lines."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import ids
from hub.db.tables import lines_t
from hub.domain.backorders.policy import policies_for
from hub.domain.carts.lookups import available, channel_of, counts_stock, quote, variant_info
from hub.domain.carts.model import (
    MAX_LINES,
    MAX_QUANTITY,
    CartCode,
    CartState,
    CartWarning,
    Known,
    LineInput,
    LineUpdate,
    WarningCode,
    refuse,
)
from hub.domain.carts.validation import attribute_key, clean_attributes
from hub.domain.catalog import ChannelRecord
from hub.domain.errors import Code, fail

# Lines changed in bulk (executemany: one statement whatever the number of lines).
_SET_QUANTITY = (
    update(lines_t).where(lines_t.c.id == bindparam("line")).values(quantity=bindparam("q"))
)
_SET_ATTRIBUTES = (
    update(lines_t).where(lines_t.c.id == bindparam("line")).values(attributes=bindparam("attrs"))
)

LineKey = tuple[int, str]  # (variant pk, what tells equal lines of it apart)


def _now() -> datetime:
    return datetime.now(UTC)


def merchandise_label(v: Any, vpk: int) -> str:
    """A variant as messages name it: its SKU while its product is published, else the
    merchandise id (an unpublished product's SKU is internal)."""
    if v is not None and v.status == "ACTIVE" and v.sku:
        return str(v.sku)
    return f"merchandise {ids.encode('ProductVariant', vpk)}"


def check_quantity(quantity: int | None, low: int, i: int) -> None:
    if quantity is not None and (quantity < low or quantity > MAX_QUANTITY):
        raise fail(
            Code.INVALID, f"quantity must be {low} to {MAX_QUANTITY}", "lines", str(i), "quantity"
        )


async def add_lines(
    conn: AsyncConnection,
    state: CartState,
    lines: Sequence[LineInput],
    *,
    channel: ChannelRecord | None = None,
    inserted: list[Any] | None = None,
    known: Known | None = None,
) -> list[CartWarning]:
    """Add lines (merged into equal ones). ``channel``: the cart's channel when the
    caller has it; ``inserted`` collects the new line rows as written, ``known`` what
    was read about their variants."""
    for i, ln in enumerate(lines):
        check_quantity(ln.quantity, 1, i)
    info = await variant_info(conn, [ln.variant_pk for ln in lines])
    channel = await channel_of(conn, state.cart.channel_id, channel)
    quantities = {ln.variant_pk: ln.quantity for ln in lines}
    priced = await quote(conn, channel, quantities, customer_group=None, now=_now())
    if known is not None:
        known.info, known.quantities, known.quotes = info, quantities, priced
    _check_sold(lines, info, priced, channel)
    # Merge into an existing line with the same variant and attributes.
    existing = {(r.variant_id, attribute_key(r.attributes)): r for r in state.lines}
    wanted: dict[LineKey, int] = defaultdict(int)
    attrs_of: dict[LineKey, list[dict[str, str]]] = {}
    for i, ln in enumerate(lines):
        attrs = clean_attributes(ln.attributes, "lines", str(i), "attributes")
        k = (ln.variant_pk, attribute_key(attrs))
        wanted[k] += ln.quantity
        attrs_of[k] = attrs
    new_keys = [k for k in wanted if k not in existing]
    if len(state.lines) + len(new_keys) > MAX_LINES:
        raise fail(Code.LIMIT_EXCEEDED, f"a cart holds at most {MAX_LINES} lines", "lines")
    targets = {k: (existing[k].quantity if k in existing else 0) + q for k, q in wanted.items()}
    totals: dict[int, int] = defaultdict(int)  # other lines of the same variants
    for k, r in existing.items():
        if k not in targets:
            totals[r.variant_id] += r.quantity
    warnings, fitted = await fit_to_stock(conn, state, info, targets, totals, known)
    new_rows = [
        {
            "cart_id": state.cart.id,
            "variant_id": k[0],
            "quantity": q,
            "attributes": attrs_of[k],
            "created_at": _now(),
        }
        for k, q in fitted.items()
        if k not in existing
    ]
    resized = [{"line": existing[k].id, "q": q} for k, q in fitted.items() if k in existing]
    await _write_lines(conn, resized, new_rows, inserted)
    return warnings


def _check_sold(
    lines: Sequence[LineInput],
    info: Mapping[int, Any],
    priced: Mapping[int, Any],
    channel: ChannelRecord,
) -> None:
    """Each line's variant exists, and its product is published and priced here."""
    for i, ln in enumerate(lines):
        v = info.get(ln.variant_pk)
        if v is None:
            raise fail(Code.NOT_FOUND, "no such product variant", "lines", str(i), "merchandise_id")
        if v.status != "ACTIVE" or ln.variant_pk not in priced:
            # Name the merchandise as the client sent it: an unpublished
            # product's SKU is internal.
            raise fail(
                Code.INVALID,
                f"lines[{i}]: merchandise {ids.encode('ProductVariant', ln.variant_pk)} "
                f"is not sold in the {channel.handle} channel",
                "lines",
                str(i),
                "merchandise_id",
            )


async def _write_lines(
    conn: AsyncConnection,
    resized: list[dict[str, Any]],
    new_rows: list[dict[str, Any]],
    inserted: list[Any] | None,
) -> None:
    if resized:  # one executemany for every merged line, whatever their number
        await conn.execute(_SET_QUANTITY, resized)
    if new_rows:  # one INSERT of every new line, in the order asked
        # executemany, not .values(list): SQLAlchemy batches it into one INSERT
        # ("insertmanyvalues") from a cached compilation, where a multi-VALUES
        # construct is compiled again on every call.
        if inserted is None:
            await conn.execute(insert(lines_t), new_rows)
        else:
            stmt = insert(lines_t).returning(*lines_t.c, sort_by_parameter_order=True)
            inserted += (await conn.execute(stmt, new_rows)).all()


async def update_lines(
    conn: AsyncConnection, state: CartState, updates: Sequence[LineUpdate]
) -> list[CartWarning]:
    """Change lines' quantities (0 removes the line) or attributes."""
    by_pk = {r.id: r for r in state.lines}
    for i, u in enumerate(updates):
        if u.line_pk not in by_pk:
            raise fail(Code.NOT_FOUND, "no such line in this cart", "lines", str(i), "id")
        check_quantity(u.quantity, 0, i)
    info = await variant_info(conn, [r.variant_id for r in state.lines])
    changed: dict[LineKey, int] = {}
    key_of: dict[LineKey, int] = {}
    attributes: list[dict[str, Any]] = []
    gone: list[int] = []
    for i, u in enumerate(updates):
        row = by_pk[u.line_pk]
        if u.attributes is not None:
            attrs = clean_attributes(u.attributes, "lines", str(i), "attributes")
            attributes.append({"line": row.id, "attrs": attrs})
        if u.quantity == 0:
            gone.append(row.id)
        elif u.quantity is not None:
            k = (row.variant_id, f"line:{row.id}")
            changed[k] = u.quantity
            key_of[k] = row.id
    # A fixed number of statements whatever the number of lines: one
    # executemany per kind of change, one DELETE.
    if attributes:
        await conn.execute(_SET_ATTRIBUTES, attributes)
    if gone:
        await conn.execute(delete(lines_t).where(lines_t.c.id.in_(gone)))
    # Other lines of the same variants count against the stock too.
    left_as_is = set(gone) | set(key_of.values())
    totals: dict[int, int] = defaultdict(int)
    for r in state.lines:
        if r.id not in left_as_is:
            totals[r.variant_id] += r.quantity
    warnings, fitted = await fit_to_stock(conn, state, info, changed, totals)
    if fitted:
        await conn.execute(_SET_QUANTITY, [{"line": key_of[k], "q": q} for k, q in fitted.items()])
    return warnings


async def remove_lines(conn: AsyncConnection, state: CartState, line_pks: Sequence[int]) -> None:
    mine = {r.id for r in state.lines}
    for i, pk in enumerate(line_pks):
        if pk not in mine:
            raise fail(Code.NOT_FOUND, "no such line in this cart", "line_ids", str(i))
    await conn.execute(delete(lines_t).where(lines_t.c.id.in_(list(line_pks))))


_NO_CAP = 10**9


async def fit_to_stock(
    conn: AsyncConnection,
    state: CartState,
    info: Mapping[int, Any],
    targets: Mapping[LineKey, int],
    others: Mapping[int, int],
    known: Known | None = None,
) -> tuple[list[CartWarning], dict[LineKey, int]]:
    """Quantities asked, cut to what the channel can sell (other lines of the same
    variant count against it). Nothing at all left is INSUFFICIENT_STOCK."""
    tracked = [k[0] for k in targets if counts_stock(info[k[0]])]
    stock = await available(conn, state.cart.channel_id, tracked, info) if tracked else {}
    if known is not None:
        known.stock = stock
    left = {v: sum(stock.get(v, {}).values()) - others.get(v, 0) for v in set(tracked)}
    # Beyond stock: only then are the variants' policies read (backorders, pre-orders).
    beyond = sorted({k[0] for k, q in targets.items() if k[0] in left and q > left[k[0]]})
    if beyond:
        for v, pol in (await policies_for(conn, beyond)).items():
            if pol.sells_beyond_stock:
                room = pol.room
                left[v] = max(left[v], 0) + (room if room is not None else _NO_CAP)
    warnings: list[CartWarning] = []
    out: dict[LineKey, int] = {}
    for k, q in targets.items():
        vpk = k[0]
        if vpk not in left:
            out[k] = q
            continue
        can = max(left[vpk], 0)
        label = merchandise_label(info[vpk], vpk)
        if can <= 0:
            raise refuse(
                CartCode.INSUFFICIENT_STOCK, f"{label} is out of stock", "lines", "merchandise_id"
            )
        take = min(q, can)
        if take < q:
            warnings.append(
                CartWarning(
                    WarningCode.QUANTITY_REDUCED,
                    f"only {take} of {label} available; the quantity was reduced to {take}",
                    ids.encode("ProductVariant", vpk),
                )
            )
        left[vpk] -= take
        out[k] = take
    return warnings, out
