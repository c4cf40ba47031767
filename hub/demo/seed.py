"""The demo catalog: a deterministic apparel and home-goods store, with stock.

``hub seed --demo`` and ``hub serve --demo`` load it into an empty, migrated database.
The same seed and product count always give the same rows (handles, SKUs, prices,
tags, timestamps), so tests, benchmarks and screenshots can rely on it.

It writes with Core bulk inserts and ids it assigns itself (the tables are empty), in
chunks, so 100,000 products load in one to two minutes and memory stays flat. Product ``i``
is the same whatever the count: counts only change the bundles (the last products)
and collection membership.

Stock: six locations (warehouses in Newark and Rotterdam, stores in New York and Berlin,
a 3PL in Chicago) hold every non-bundle variant somewhere; bundles have no stock of their
own. Each level is backed by ledger rows that add up to it, so ``inventory.verify`` finds
no drift, and every variant of an active product is available at its channel's warehouse.
Stock comes from its own random stream, so it never changes the catalog rows.
"""

from __future__ import annotations

import json
import random
from array import array
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Table, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.database import Database
from hub.db.tables import (
    attrs_t,
    bundle_t,
    channels_t,
    coll_products_t,
    collections_t,
    levels_t,
    loc_channels_t,
    locations_t,
    lots_t,
    moves_t,
    prices_t,
    products_t,
    ranges_t,
    reservations_t,
    serials_t,
    tags_t,
    transfers_t,
    variants_t,
)
from hub.demo.backorders import seed_demo_backorders
from hub.demo.data import (
    ADJECTIVES,
    BASE_TIME,
    BUNDLE_TYPE,
    BUNDLES,
    CHANNELS,
    CHUNK,
    CLOSINGS,
    COLLECTIONS,
    COLORS,
    COPY_TABLES,
    EU,
    FITS,
    ORIGINS,
    REDUCED_TAX_CLASS,
    REDUCED_TAX_TAG,
    SALE_TAG,
    SERIAL_TABLES,
    SIZES,
    TAGS,
    TYPES,
    VENDORS,
    VIEWS,
    WEB,
    TypeSpec,
    ean13,
    to_eur,
    usd_snap,
)
from hub.demo.giftcards import seed_demo_gift_cards
from hub.demo.locations import LOCATION_CHANNELS, LOCATIONS
from hub.demo.loyalty import seed_demo_loyalty
from hub.demo.pricing import seed_pricing_demo
from hub.demo.promotions import seed_demo_promotions
from hub.demo.stock import StockRows
from hub.demo.till import seed_demo_till
from hub.domain.catalog import search_text

__all__ = ["has_catalog", "seed_demo"]


async def has_catalog(db: Database) -> bool:
    """True if the database holds any product."""
    async with db.read() as conn:
        return (await conn.execute(select(1).select_from(products_t).limit(1))).first() is not None


async def seed_demo(db: Database, products: int = 600, *, seed: int = 42) -> dict[str, int]:
    """Load the demo catalog into an empty, migrated database; return the row counts.

    Everything is written in one transaction: a failure leaves the database empty.
    """
    if products < 1:
        raise ValueError("products must be at least 1")
    gen = Generator(products, seed)
    async with db.transaction() as conn:
        if (await conn.execute(select(1).select_from(products_t).limit(1))).first():
            raise RuntimeError("the database already holds a catalog; seed an empty database")
        for table in (channels_t, collections_t, locations_t):
            if (await conn.execute(select(1).select_from(table).limit(1))).first():
                raise RuntimeError(
                    f"the database already holds {table.name}; seed an empty database"
                )
        await _insert(conn, channels_t, list(CHANNELS))
        await _insert(conn, locations_t, list(LOCATIONS))
        await _insert(conn, loc_channels_t, list(LOCATION_CHANNELS))
        for batch in gen.batches():
            for table, rows in batch:
                await _insert(conn, table, rows)
        for table, rows in gen.bundles():
            await _insert(conn, table, rows)
        for table, rows in gen.collections():
            await _insert(conn, table, rows)
        await seed_pricing_demo(conn)  # customers, wholesale price list, shipping zones
        await seed_demo_promotions(conn)  # every promotion kind, DEMO10 (hub.demo.promotions)
        await seed_demo_gift_cards(conn)  # DEMO-GIFT-0000-0050, 50.00 USD (hub.demo.giftcards)
        await seed_demo_loyalty(conn)  # orders from every channel, points, tiers (hub.demo.loyalty)
        await seed_demo_till(conn)  # till SOHO-1, an associate with PIN 2468 (hub.demo.till)
        await seed_demo_backorders(conn)  # a backorder, a pre-order variant (hub.demo.backorders)
        if conn.dialect.name == "postgresql":
            for name in SERIAL_TABLES:
                await conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT MAX(id) FROM {name}))"
                    )
                )
    # Fresh statistics after a bulk load, or the planner guesses (badly) from none.
    async with db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("ANALYZE"))
    return {
        "channels": len(CHANNELS),
        "products": gen.n_products,
        "variants": gen.n_variants,
        "prices": gen.n_prices,
        "collections": len(COLLECTIONS),
        "bundles": gen.n_bundles,
        "locations": len(LOCATIONS),
        "inventory_levels": gen.n_levels,
    }


async def _insert(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql" and table.name in COPY_TABLES:
        # COPY on the same connection (so in the same transaction): the stock tables
        # hold most of the rows, and COPY loads them many times faster than INSERT.
        columns = list(rows[0])
        raw = await conn.get_raw_connection()
        # union-attr: on PostgreSQL the driver connection is asyncpg's, never None.
        await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
            table.name, records=[tuple(r[c] for c in columns) for r in rows], columns=columns
        )
        return
    if conn.dialect.name == "postgresql":
        # With RETURNING, SQLAlchemy sends the rows as multi-row VALUES pages
        # ("insertmanyvalues"); without it asyncpg runs one INSERT per row, which
        # makes the 100,000-product load about twice as slow.
        stmt = insert(table).returning(next(iter(table.primary_key)))
        (await conn.execute(stmt, rows)).close()
    else:
        await conn.execute(insert(table), rows)


Batch = list[tuple[Table, list[dict[str, Any]]]]


class Generator(StockRows):
    """Builds the rows in a fixed order from one ``random.Random(seed)``."""

    def __init__(self, products: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.n_products = products
        self.n_bundles = min(len(BUNDLES), (products - 1) // 3)
        self.n_regular = products - self.n_bundles
        self.n_variants = 0
        self.n_prices = 0
        # Per-product facts kept for collections and bundles (index = product id).
        self.type_idx = bytearray(products + 1)
        self.units_sold = array("i", bytes(4 * (products + 1)))
        self.on_sale = bytearray(products + 1)
        self.first_variant = array("q", bytes(8 * (products + 1)))
        self.variant_count = bytearray(products + 1)
        self.active: list[int] = []
        self.usd = array("i", [0])  # USD price by variant id
        self.eur = array("i", [0])
        # Stock has its own stream: adding it left every catalog row as it was.
        self.srng = random.Random(f"demo-stock:{seed}")
        self.n_levels = 0
        self.n_moves = 0
        self.n_reservations = 0
        self.n_transfers = 0
        self.n_lots = 0
        self.n_serials = 0
        self.serialised_levels = 0
        self.transfers: dict[tuple[int, int], dict[str, Any]] = {}  # (block, store) -> row

    # ---------------------------------------------------------------- products

    def batches(self) -> Iterator[Batch]:
        for start in range(1, self.n_regular + 1, CHUNK):
            rows: dict[str, list[dict[str, Any]]] = {
                k: []
                for k in (
                    *("products", "tags", "attrs", "variants", "prices", "ranges"),
                    *("levels", "moves", "reservations", "transfers", "lots", "serials"),
                )
            }
            for pid in range(start, min(start + CHUNK, self.n_regular + 1)):
                self._product(pid, rows)
            self.transfers.clear()  # a transfer carries one block's lines: all done
            yield [
                (products_t, rows["products"]),
                (tags_t, rows["tags"]),
                (attrs_t, rows["attrs"]),
                (variants_t, rows["variants"]),
                (prices_t, rows["prices"]),
                (ranges_t, rows["ranges"]),
                (transfers_t, rows["transfers"]),
                (levels_t, rows["levels"]),
                (moves_t, rows["moves"]),
                (reservations_t, rows["reservations"]),
                (lots_t, rows["lots"]),
                (serials_t, rows["serials"]),
            ]

    # Long: one product's rows in the order the random stream draws them; splitting it
    # would make that order (which fixes every demo row) hard to keep.
    def _product(self, pid: int, out: dict[str, list[dict[str, Any]]]) -> None:
        rng = self.rng
        ti = rng.randrange(len(TYPES))
        t = TYPES[ti]
        noun = rng.choice(t.nouns)
        word, material = rng.choice(t.materials)
        vendor = rng.choice(VENDORS)
        title = f"{word} {noun} {pid:04d}"
        handle = f"{word}-{noun}-{pid:04d}".lower().replace(" ", "-")
        code = f"{t.code}{pid:05d}"
        created = BASE_TIME + timedelta(minutes=pid - 1)

        r = rng.random()
        status = "ACTIVE" if r < 0.92 or pid <= 3 else "DRAFT" if r < 0.97 else "ARCHIVED"
        units = 0 if status == "DRAFT" else int(5000 * rng.random() ** 2)
        on_sale = rng.random() < 0.25
        tags = rng.sample(TAGS, rng.randint(1, 4) - on_sale)
        if on_sale:
            tags.insert(0, SALE_TAG)
        description = (
            f"A {rng.choice(ADJECTIVES)} {noun.lower()} in {material.lower()} "
            f"from {vendor}. {rng.choice(CLOSINGS)}"
        )
        media = [
            {"url": f"https://cdn.example.com/demo/{handle}-{n}.jpg", "alt": f"{title}, {view}"}
            for n, view in enumerate(VIEWS[: rng.randint(1, 3)], start=1)
        ]
        if rng.random() < 0.3:
            seo_title: str | None = f"{title} | {vendor}"
            seo_description: str | None = description.split(". ")[0] + "."
        else:
            seo_title = seo_description = None

        # Options and variants: values in canonical order, sizes outermost.
        options: list[dict[str, Any]] = []
        if rng.random() >= 0.15:
            if t.scheme == "apparel":
                with_color = rng.random() < 0.7
                n_sizes = rng.randint(2, 3) if with_color else rng.randint(2, 5)
                first = rng.randint(0, len(SIZES) - n_sizes)
                options.append({"name": "Size", "values": list(SIZES[first : first + n_sizes])})
                if with_color:
                    picked = set(rng.sample(COLORS, rng.randint(1, 2)))
                    options.append({"name": "Color", "values": [c for c in COLORS if c in picked]})
            else:
                picked = set(rng.sample(COLORS, rng.randint(2, 6)))
                options.append({"name": "Color", "values": [c for c in COLORS if c in picked]})
        combos: list[tuple[str, ...]] = [()]
        for opt in options:
            combos = [(*c, v) for c in combos for v in opt["values"]]

        base_usd = rng.randint(*t.price) * 100 - (1 if rng.random() < 0.7 else 0)
        markup = rng.randrange(120, 165, 5)
        cost_pct = rng.randint(40, 50)
        base_weight = rng.randint(*t.weight)

        vid0 = self.n_variants + 1
        skus = []
        lo = {WEB: 1 << 30, EU: 1 << 30}
        hi = {WEB: 0, EU: 0}
        for pos, combo in enumerate(combos):
            vid = vid0 + pos
            sku = "-".join((code, *combo)).upper()
            skus.append(sku)
            size_rank = SIZES.index(combo[0]) if combo and combo[0] in SIZES else 0
            out["variants"].append(
                {
                    "id": vid,
                    "product_id": pid,
                    "sku": sku,
                    "barcode": ean13(vid),
                    "barcode_key": ean13(vid).zfill(14),
                    "title": " / ".join(combo) if combo else "Default",
                    "position": pos,
                    "option1": combo[0] if len(combo) > 0 else None,
                    "option2": combo[1] if len(combo) > 1 else None,
                    "option3": combo[2] if len(combo) > 2 else None,
                    "weight_grams": min(2000, base_weight + 25 * size_rank),
                    "requires_shipping": True,
                    "is_bundle": False,
                    "created_at": created,
                }
            )
            usd = base_usd + (500 if combo and combo[0] == "XL" and base_usd <= 29500 else 0)
            eur = to_eur(usd)
            self.usd.append(usd)
            self.eur.append(eur)
            cmp_usd = usd_snap(usd * markup // 100, usd % 100) if on_sale else None
            for ch, amount, cmp_ in (
                (WEB, usd, cmp_usd),
                (EU, eur, None if cmp_usd is None else max(to_eur(cmp_usd), eur + 100)),
            ):
                self.n_prices += 1
                out["prices"].append(
                    {
                        "id": self.n_prices,
                        "channel_id": ch,
                        "variant_id": vid,
                        "product_id": pid,
                        "currency": "USD" if ch == WEB else "EUR",
                        "amount": amount,
                        "compare_at_amount": cmp_,
                        "cost_amount": amount * cost_pct // 100,
                    }
                )
                lo[ch] = min(lo[ch], amount)
                hi[ch] = max(hi[ch], amount)
        self.n_variants += len(combos)
        for ch in (WEB, EU):
            out["ranges"].append(
                {"channel_id": ch, "product_id": pid, "min_amount": lo[ch], "max_amount": hi[ch]}
            )

        out["products"].append(
            {
                "id": pid,
                "handle": handle,
                "title": title,
                "description": description,
                "vendor": vendor,
                "product_type": t.name,
                "tax_class": REDUCED_TAX_CLASS if REDUCED_TAX_TAG in tags else "standard",
                "status": status,
                "options": options,
                "tags": tags,
                "media": media,
                "seo_title": seo_title,
                "seo_description": seo_description,
                "search_text": search_text(title, vendor, t.name, tags, skus),
                "units_sold": units,
                "created_at": created,
                "updated_at": created,
            }
        )
        out["tags"].extend({"product_id": pid, "tag": tag.lower()} for tag in tags)
        out["attrs"].extend(
            {"product_id": pid, "key": k, "type": ty, "value": v}
            for k, ty, v in self._attributes(t, material, "organic" in tags)
        )

        self.type_idx[pid] = ti
        self.units_sold[pid] = units
        self.on_sale[pid] = on_sale
        self.first_variant[pid] = vid0
        self.variant_count[pid] = len(combos)
        if status == "ACTIVE":
            self.active.append(pid)
        self._stock(pid, vid0, skus, status, word == "Leather", created, out)

    def _attributes(self, t: TypeSpec, material: str, organic: bool) -> list[tuple[str, str, str]]:
        rng = self.rng
        if rng.random() >= 0.7:
            return []
        keys = ["material", "organic", "release_date", "origin"]
        keys += ["care_temperature_c", "fabric_weight_gsm", "fit"] if t.textile else []
        keys += ["dishwasher_safe"] if not t.textile else []
        out = []
        for key in sorted(rng.sample(keys, rng.randint(1, 3))):
            if key == "material":
                out.append((key, "STRING", material))
            elif key == "organic":
                out.append((key, "BOOLEAN", "true" if organic else "false"))
            elif key == "release_date":
                day = date(2026, 1, 1) + timedelta(days=rng.randrange(180))
                out.append((key, "DATE", day.isoformat()))
            elif key == "origin":
                country, city = rng.choice(ORIGINS)
                out.append((key, "JSON", json.dumps({"country": country, "city": city})))
            elif key == "care_temperature_c":
                out.append((key, "INTEGER", str(rng.choice((30, 40, 60)))))
            elif key == "fabric_weight_gsm":
                out.append((key, "DECIMAL", f"{rng.randint(120, 450)}.{rng.randrange(10)}"))
            elif key == "fit":
                out.append((key, "STRING", rng.choice(FITS)))
            else:
                out.append((key, "BOOLEAN", rng.choice(("true", "false"))))
        return out

    # ---------------------------------------------------------------- bundles

    # Long: the bundles' rows in the order the random stream draws them (as _product).
    def bundles(self) -> Batch:
        rng = self.rng
        rows: dict[str, list[dict[str, Any]]] = {
            k: [] for k in ("products", "tags", "variants", "prices", "ranges", "components")
        }
        active_by_type: dict[str, list[int]] = {}
        for pid in self.active:
            active_by_type.setdefault(TYPES[self.type_idx[pid]].name, []).append(pid)
        for k in range(self.n_bundles):
            pid = self.n_regular + 1 + k
            title, description, part_types = BUNDLES[k]
            handle = title.lower().replace(" ", "-")
            vid = self.n_variants + 1
            sku = f"BND{pid:05d}"
            created = BASE_TIME + timedelta(minutes=pid - 1)
            components: list[tuple[int, int]] = []
            for type_name in part_types:
                # An active product of the type (any active one in a tiny catalog).
                pool = active_by_type.get(type_name) or self.active
                part = pool[rng.randrange(len(pool))]
                cvid = self.first_variant[part] + rng.randrange(self.variant_count[part])
                if all(cvid != c for c, _ in components):
                    components.append((cvid, rng.randint(1, 2)))
            for part in self.active:  # a tiny catalog may pick one variant twice
                if len(components) >= 2:
                    break
                cvid = self.first_variant[part]
                if all(cvid != c for c, _ in components):
                    components.append((cvid, 1))
            full_usd = sum(self.usd[c] * q for c, q in components)
            full_eur = sum(self.eur[c] * q for c, q in components)
            usd = min(29999, usd_snap(full_usd * 85 // 100, 99))
            eur = to_eur(usd)
            tags = ["gift", "essentials"]
            self.n_variants += 1
            self.type_idx[pid] = 255
            self.units_sold[pid] = units = rng.randint(100, 1500)
            self.first_variant[pid] = vid
            self.variant_count[pid] = 1
            rows["products"].append(
                {
                    "id": pid,
                    "handle": handle,
                    "title": title,
                    "description": description,
                    "vendor": VENDORS[0],
                    "product_type": BUNDLE_TYPE,
                    "tax_class": "standard",
                    "status": "ACTIVE",
                    "options": [],
                    "tags": tags,
                    "media": [
                        {
                            "url": f"https://cdn.example.com/demo/{handle}-1.jpg",
                            "alt": f"{title}, front",
                        }
                    ],
                    "seo_title": None,
                    "seo_description": None,
                    "search_text": search_text(title, VENDORS[0], BUNDLE_TYPE, tags, [sku]),
                    "units_sold": units,
                    "created_at": created,
                    "updated_at": created,
                }
            )
            rows["tags"].extend({"product_id": pid, "tag": tag.lower()} for tag in tags)
            rows["variants"].append(
                {
                    "id": vid,
                    "product_id": pid,
                    "sku": sku,
                    "barcode": ean13(vid),
                    "barcode_key": ean13(vid).zfill(14),
                    "title": "Default",
                    "position": 0,
                    "option1": None,
                    "option2": None,
                    "option3": None,
                    "weight_grams": rng.randint(500, 2000),
                    "requires_shipping": True,
                    "is_bundle": True,
                    "created_at": created,
                }
            )
            for ch, amount, full, currency in (
                (WEB, usd, full_usd, "USD"),
                (EU, eur, full_eur, "EUR"),
            ):
                self.n_prices += 1
                rows["prices"].append(
                    {
                        "id": self.n_prices,
                        "channel_id": ch,
                        "variant_id": vid,
                        "product_id": pid,
                        "currency": currency,
                        "amount": amount,
                        "compare_at_amount": full if full > amount else None,
                        "cost_amount": amount * 45 // 100,
                    }
                )
                rows["ranges"].append(
                    {
                        "channel_id": ch,
                        "product_id": pid,
                        "min_amount": amount,
                        "max_amount": amount,
                    }
                )
            rows["components"].extend(
                {"bundle_variant_id": vid, "component_variant_id": c, "quantity": q}
                for c, q in sorted(components)
            )
        return [
            (products_t, rows["products"]),
            (tags_t, rows["tags"]),
            (variants_t, rows["variants"]),
            (prices_t, rows["prices"]),
            (ranges_t, rows["ranges"]),
            (bundle_t, rows["components"]),
        ]

    # ---------------------------------------------------------------- collections

    def collections(self) -> Iterator[tuple[Table, list[dict[str, Any]]]]:
        rng = self.rng
        n = self.n_products
        yield (
            collections_t,
            [
                {
                    "id": cid,
                    "handle": handle,
                    "title": title,
                    "description": description,
                    "created_at": BASE_TIME,
                }
                for cid, (handle, title, description, _, _) in enumerate(COLLECTIONS, start=1)
            ],
        )
        type_names = [t.name for t in TYPES]
        for cid, (handle, _, _, share, types) in enumerate(COLLECTIONS, start=1):
            size = max(1, round(n * share))
            pids = range(1, n + 1)
            if handle == "new-arrivals":
                chosen = list(reversed(pids))[:size]
            elif handle == "best-sellers":
                chosen = sorted(pids, key=lambda p: (-self.units_sold[p], p))[:size]
            else:
                if handle == "sale":
                    first = [p for p in pids if self.on_sale[p]]
                else:
                    want = {i for i, name in enumerate(type_names) if name in types}
                    if BUNDLE_TYPE in types:
                        want.add(255)
                    first = [p for p in pids if self.type_idx[p] in want]
                firsts = set(first)
                rest = [p for p in pids if p not in firsts]
                rng.shuffle(first)
                rng.shuffle(rest)
                chosen = (first + rest)[:size]
            for start in range(0, len(chosen), 20 * CHUNK):
                yield (
                    coll_products_t,
                    [
                        {"collection_id": cid, "product_id": p, "position": pos}
                        for pos, p in enumerate(chosen[start : start + 20 * CHUNK], start=start)
                    ],
                )
