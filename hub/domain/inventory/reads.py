"""Stock reads: levels per variant and location, and what a channel can sell online
(a bundle counts the complete kits its components make at one location)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import and_, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY

from hub.db import fast
from hub.db.database import Reader
from hub.db.dialect import is_postgres, one_of
from hub.db.tables import bundle_t, levels_t, loc_channels_t, locations_t
from hub.domain.inventory.records import LevelRecord, available_sql, on_channel


async def levels_for_variants(
    reader: Reader, variant_pks: Sequence[int]
) -> dict[int, list[LevelRecord]]:
    return await reader.grouped(
        select(levels_t)
        .where(levels_t.c.variant_id.in_(variant_pks))
        .order_by(levels_t.c.variant_id, levels_t.c.location_id),
        lambda r: r.variant_id,
        LevelRecord,
    )


async def level(reader: Reader, variant_pk: int, location_pk: int) -> LevelRecord | None:
    row = await reader.first(
        select(levels_t).where(
            levels_t.c.variant_id == variant_pk, levels_t.c.location_id == location_pk
        )
    )
    return LevelRecord(row) if row else None


async def levels_by_pairs(
    reader: Reader, pairs: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], LevelRecord]:
    if not pairs:
        return {}
    vpks = {v for v, _ in pairs}
    rows = await reader.all(select(levels_t).where(levels_t.c.variant_id.in_(vpks)))
    want = set(pairs)
    return {
        (r.variant_id, r.location_id): LevelRecord(r)
        for r in rows
        if (r.variant_id, r.location_id) in want
    }


# Sellable units per variant and location over a channel's active locations; built
# once (no construction or cache key per call), bound per call. On PostgreSQL the
# variants are one array parameter (see hub.db.dialect.one_of).
_SELLABLE_BASE = (
    select(levels_t.c.variant_id, levels_t.c.location_id, available_sql().label("a"))
    .join(loc_channels_t, on_channel(levels_t.c.location_id))
    .join(
        locations_t,
        and_(locations_t.c.id == levels_t.c.location_id, locations_t.c.active.is_(True)),
    )
)
_SELLABLE = fast.Prebuilt(
    _SELLABLE_BASE.where(levels_t.c.variant_id.in_(bindparam("variants", expanding=True)))
)
_SELLABLE_PG = fast.Prebuilt(
    _SELLABLE_BASE.where(
        levels_t.c.variant_id
        == any_(bindparam("variants", type_=ARRAY(levels_t.c.variant_id.type)))
    )
)


async def _sellable(reader: Reader, variant_pks: Iterable[int], channel_pk: int) -> Any:
    """The rows (variant_id, location_id, a) of :data:`_SELLABLE` for these variants."""
    stmt = _SELLABLE_PG if is_postgres(reader) else _SELLABLE
    return await reader.all(stmt, {"channel": channel_pk, "variants": list(variant_pks)})


async def stock_by_location(
    reader: Reader,
    variant_pks: Sequence[int],
    channel_pk: int,
    *,
    bundles: Collection[int] | None = None,
) -> dict[int, dict[int, int]]:
    """Units sellable online per variant and location, over the channel's active
    locations (safety stock kept back). A bundle counts complete kits per location.
    ``bundles``: which of ``variant_pks`` are bundles, when the caller knows (an empty
    set saves the look-up of components); None looks them up."""
    if not variant_pks:
        return {}
    comps: Sequence[Any] = ()
    if bundles is None or bundles:
        comps = await reader.all(
            select(
                bundle_t.c.bundle_variant_id, bundle_t.c.component_variant_id, bundle_t.c.quantity
            ).where(
                one_of(
                    reader,
                    bundle_t.c.bundle_variant_id,
                    variant_pks if bundles is None else bundles,
                )
            )
        )
    wanted = set(variant_pks) | {c.component_variant_id for c in comps}
    per_loc: dict[int, dict[int, int]] = defaultdict(dict)
    for r in await _sellable(reader, wanted, channel_pk):
        per_loc[r.variant_id][r.location_id] = r.a
    out = {v: dict(per_loc.get(v, {})) for v in variant_pks}
    by_bundle: dict[int, list[Any]] = defaultdict(list)
    for c in comps:
        by_bundle[c.bundle_variant_id].append(c)
    for bpk, parts in by_bundle.items():
        # A kit is assembled at one location: count kits per location.
        locs = set.intersection(*(set(per_loc.get(p.component_variant_id, {})) for p in parts))
        out[bpk] = {
            loc: min(per_loc[p.component_variant_id][loc] // p.quantity for p in parts)
            for loc in locs
        }
    return out


async def channel_availability(
    reader: Reader,
    variant_pks: Sequence[int],
    channel_pk: int,
    *,
    bundles: Collection[int] | None = None,
) -> dict[int, int]:
    """Units sellable online per variant in a channel (see :func:`stock_by_location`;
    ``bundles`` as there)."""
    if bundles is not None and not bundles and variant_pks:
        # No bundles among them (the caller knows): the sums straight from the rows.
        out = dict.fromkeys(variant_pks, 0)
        for r in await _sellable(reader, out, channel_pk):
            out[r.variant_id] += r.a
        return out
    per = await stock_by_location(reader, variant_pks, channel_pk, bundles=bundles)
    return {v: sum(locs.values()) for v, locs in per.items()}
