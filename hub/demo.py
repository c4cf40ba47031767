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
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Table, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.database import Database
from hub.db.models import (
    BundleComponent,
    Channel,
    Collection,
    CollectionProduct,
    InventoryLevel,
    InventoryLot,
    InventoryMovement,
    InventorySerial,
    Location,
    LocationChannel,
    Product,
    ProductAttribute,
    ProductPriceRange,
    ProductTag,
    Reservation,
    Transfer,
    Variant,
    VariantPrice,
)
from hub.demo_giftcards import seed_demo_gift_cards
from hub.demo_pricing import seed_pricing_demo
from hub.demo_promotions import seed_demo_promotions
from hub.domain.catalog import search_text

__all__ = ["has_catalog", "seed_demo"]

channels_t = Channel.__table__
products_t = Product.__table__
variants_t = Variant.__table__
prices_t = VariantPrice.__table__
ranges_t = ProductPriceRange.__table__
tags_t = ProductTag.__table__
attrs_t = ProductAttribute.__table__
collections_t = Collection.__table__
coll_products_t = CollectionProduct.__table__
bundle_t = BundleComponent.__table__
locations_t = Location.__table__
loc_channels_t = LocationChannel.__table__
levels_t = InventoryLevel.__table__
moves_t = InventoryMovement.__table__
reservations_t = Reservation.__table__
transfers_t = Transfer.__table__
lots_t = InventoryLot.__table__
serials_t = InventorySerial.__table__

CHUNK = 2000  # products per batch of inserts
# Plain-typed (no JSON) stock tables that PostgreSQL loads with COPY instead of INSERT.
COPY_TABLES = frozenset(
    (
        "inventory_levels",
        "inventory_movements",
        "reservations",
        "inventory_lots",
        "inventory_serials",
    )
)
BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)
WEB, EU = 1, 2  # channel ids; web first, so it is the default channel
CHANNELS = (
    {
        "id": WEB,
        "handle": "web",
        "name": "Web store",
        "currency": "USD",
        "default_country": "US",
        "tax_inclusive": False,
        "created_at": BASE_TIME,
    },
    {
        "id": EU,
        "handle": "eu",
        "name": "EU store",
        "currency": "EUR",
        "default_country": "DE",
        "tax_inclusive": True,
        "created_at": BASE_TIME,
    },
)
# Tables whose ids the loader assigns; PostgreSQL's sequences move past them after.
SERIAL_TABLES = (
    "channels",
    "products",
    "variants",
    "variant_prices",
    "collections",
    "locations",
    "inventory_levels",
    "inventory_movements",
    "reservations",
    "transfers",
    "inventory_lots",
    "inventory_serials",
)

SIZES = ("XS", "S", "M", "L", "XL")
COLORS = ("Black", "Navy", "Olive", "Sand", "Red", "White")
VENDORS = (
    "Northwind Outfitters",
    "Alder & Pine",
    "Fjord Supply Co",
    "Harbor Mill",
    "Kestrel Goods",
    "Lumen Home",
    "Meadow & Main",
    "Oak Street Knits",
    "Pebble Studio",
    "Ridgeline",
    "Saltwater Co",
    "Tidewell",
)
TAGS = (
    "new",
    "organic",
    "summer",
    "winter",
    "bestseller",
    "limited",
    "recycled",
    "gift",
    "essentials",
    "vegan",
    "handmade",
    "fair-trade",
    "unisex",
    "travel",
    "outdoor",
    "cozy",
    "minimal",
    "classic",
    "eco",
)
SALE_TAG = "sale"  # given to exactly the products that have compare-at prices
# Products with this tag get the reduced tax class (7% in Germany instead of 19%; US
# states have no reduced rate and tax them at their standard one). Illustrative: the
# demo sells no books or food, the usual reduced-rate goods.
REDUCED_TAX_TAG = "handmade"
REDUCED_TAX_CLASS = "reduced"
VIEWS = ("front", "back", "detail")
ADJECTIVES = ("soft", "durable", "lightweight", "timeless", "relaxed", "warm", "breathable")
CLOSINGS = (
    "Made to last and easy to care for.",
    "Designed for everyday wear and years of use.",
    "Produced in small batches by a family-run workshop.",
    "A quiet favourite that goes with everything.",
    "Finished by hand and checked piece by piece.",
    "Packed plastic-free in recycled paper.",
)
FITS = ("Regular", "Relaxed", "Slim")
ORIGINS = (("PT", "Porto"), ("IT", "Biella"), ("GB", "Leicester"), ("PE", "Arequipa"))


@dataclass(frozen=True, slots=True)
class _Type:
    name: str
    code: str  # SKU prefix
    nouns: tuple[str, ...]
    materials: tuple[tuple[str, str], ...]  # (title word, material attribute)
    scheme: str  # "apparel": Size (+ Color); "color": Color only
    price: tuple[int, int]  # whole USD
    weight: tuple[int, int]  # grams
    textile: bool = True


TYPES = (
    _Type(
        "Sweater",
        "SWT",
        ("Crew Sweater", "Cardigan", "Turtleneck", "Quarter-Zip"),
        (("Merino", "Merino wool"), ("Cashmere", "Cashmere"), ("Alpaca", "Alpaca wool")),
        "apparel",
        (60, 220),
        (300, 900),
    ),
    _Type(
        "T-Shirt",
        "TEE",
        ("Crew Tee", "Pocket Tee", "Long Sleeve Tee", "Henley"),
        (("Organic", "Organic cotton"), ("Pima", "Pima cotton"), ("Slub", "Slub cotton")),
        "apparel",
        (15, 60),
        (120, 300),
    ),
    _Type(
        "Jacket",
        "JKT",
        ("Rain Jacket", "Puffer Jacket", "Chore Coat", "Parka", "Field Jacket"),
        (("Waxed", "Waxed cotton"), ("Recycled", "Recycled nylon"), ("Canvas", "Canvas")),
        "apparel",
        (90, 290),
        (600, 1800),
    ),
    _Type(
        "Pants",
        "PNT",
        ("Chinos", "Joggers", "Trousers", "Jeans"),
        (("Stretch", "Stretch twill"), ("Denim", "Selvedge denim"), ("Corduroy", "Corduroy")),
        "apparel",
        (40, 160),
        (350, 900),
    ),
    _Type(
        "Shirt",
        "SHR",
        ("Oxford Shirt", "Flannel Shirt", "Overshirt", "Camp Shirt"),
        (("Linen", "Linen"), ("Brushed", "Brushed cotton"), ("Chambray", "Chambray")),
        "apparel",
        (35, 130),
        (200, 500),
    ),
    _Type(
        "Socks",
        "SCK",
        ("Crew Socks", "Hiking Socks", "Ankle Socks"),
        (("Merino", "Merino wool"), ("Bamboo", "Bamboo viscose"), ("Cotton", "Cotton")),
        "apparel",
        (10, 30),
        (100, 200),
    ),
    _Type(
        "Hat",
        "HAT",
        ("Beanie", "Cap", "Bucket Hat"),
        (("Ribbed", "Lambswool"), ("Twill", "Cotton twill"), ("Waxed", "Waxed cotton")),
        "color",
        (15, 60),
        (100, 250),
    ),
    _Type(
        "Bag",
        "BAG",
        ("Tote", "Backpack", "Weekender", "Crossbody Bag"),
        (("Canvas", "Canvas"), ("Leather", "Leather"), ("Ripstop", "Ripstop nylon")),
        "color",
        (25, 260),
        (300, 1800),
    ),
    _Type(
        "Blanket",
        "BLK",
        ("Throw Blanket", "Picnic Blanket", "Bed Blanket"),
        (("Wool", "Wool"), ("Waffle", "Cotton waffle"), ("Linen", "Linen")),
        "color",
        (40, 260),
        (600, 2000),
    ),
    _Type(
        "Kitchen",
        "KIT",
        ("Mug", "Tumbler", "Tea Towel", "Serving Bowl"),
        (("Stoneware", "Stoneware"), ("Enamel", "Enamel steel"), ("Speckled", "Stoneware")),
        "color",
        (10, 70),
        (150, 900),
        textile=False,
    ),
)
# The product types each curated collection shows first; best-sellers, new arrivals
# and sale are picked by units sold, creation time and compare-at price instead.
COLLECTIONS = (
    ("new-arrivals", "New Arrivals", "The latest additions to the store.", 0.24, ()),
    ("sale", "Sale", "Reduced prices on selected pieces, while stock lasts.", 0.22, ()),
    ("best-sellers", "Best Sellers", "What other shoppers buy most.", 0.20, ()),
    (
        "outerwear",
        "Outerwear",
        "Jackets and coats for wind, rain and cold.",
        0.21,
        ("Jacket", "Hat"),
    ),
    (
        "knitwear",
        "Knitwear",
        "Sweaters, cardigans and knitted accessories.",
        0.23,
        ("Sweater", "Socks"),
    ),
    (
        "home",
        "Home",
        "Blankets and kitchen pieces for slow mornings.",
        0.22,
        ("Blanket", "Kitchen"),
    ),
    ("accessories", "Accessories", "Bags, hats and socks.", 0.25, ("Bag", "Hat", "Socks")),
    ("gift-ideas", "Gift Ideas", "Kits and favourites that make easy gifts.", 0.20, ("Bundle",)),
)
BUNDLES = (  # title, description, component product types
    (
        "Layering Starter Kit",
        "A tee, a sweater and a pair of socks picked to layer together.",
        ("T-Shirt", "Sweater", "Socks"),
    ),
    (
        "Cozy Gift Box",
        "A blanket, warm socks and something for the kitchen, ready-wrapped.",
        ("Blanket", "Socks", "Kitchen"),
    ),
    (
        "Weekend Travel Set",
        "A bag, a tee and socks: everything for two days away.",
        ("Bag", "T-Shirt", "Socks"),
    ),
)
BUNDLE_TYPE = "Bundle"

# ------------------------------------------------------------------ locations and stock

NEWARK, ROTTERDAM, SOHO, BROOKLYN, BERLIN, CHICAGO = range(1, 7)  # location ids


def _location(
    lid: int,
    handle: str,
    name: str,
    kind: str,
    address: tuple[str, str, str, str, str],  # address1, city, region, postal code, country
    coords: tuple[float, float],
    *,
    ships: bool,
    priority: int,
    cost: int,
    currency: str,
    capacity: int | None,
    lead_days: int,
    pickup_minutes: int | None = None,  # None: no pickup
) -> dict[str, Any]:
    address1, city, region, postal_code, country = address
    return {
        "id": lid,
        "handle": handle,
        "name": name,
        "kind": kind,
        "address1": address1,
        "city": city,
        "region": region,
        "postal_code": postal_code,
        "country_code": country,
        "latitude": coords[0],
        "longitude": coords[1],
        "active": True,
        "pickup_enabled": pickup_minutes is not None,
        "pickup_lead_minutes": pickup_minutes or 0,
        "ships": ships,
        "fulfillment_priority": priority,
        "cost_per_shipment": cost,
        "cost_currency": currency,
        "daily_capacity": capacity,
        "replenishment_lead_days": lead_days,
        "created_at": BASE_TIME,
    }


LOCATIONS = (
    _location(
        NEWARK,
        "wh-newark",
        "Newark Fulfillment Center",
        "WAREHOUSE",
        ("400 Delancy St", "Newark", "NJ", "07105", "US"),
        (40.7357, -74.1724),
        ships=True,
        priority=10,
        cost=450,
        currency="USD",
        capacity=5000,
        lead_days=14,
    ),
    _location(
        ROTTERDAM,
        "wh-rotterdam",
        "Rotterdam Distribution Center",
        "WAREHOUSE",
        ("Waalhaven Zuidzijde 21", "Rotterdam", "Zuid-Holland", "3089 JH", "NL"),
        (51.9244, 4.4777),
        ships=True,
        priority=10,
        cost=390,
        currency="EUR",
        capacity=4000,
        lead_days=14,
    ),
    _location(
        SOHO,
        "store-soho",
        "SoHo Flagship",
        "STORE",
        ("121 Prince St", "New York", "NY", "10012", "US"),
        (40.7233, -73.9985),
        ships=True,
        priority=50,
        cost=700,
        currency="USD",
        capacity=200,
        lead_days=7,
        pickup_minutes=60,
    ),
    _location(
        BROOKLYN,
        "store-brooklyn",
        "Brooklyn Store",
        "STORE",
        ("350 Atlantic Ave", "Brooklyn", "NY", "11217", "US"),
        (40.6782, -73.9442),
        ships=False,
        priority=60,
        cost=0,
        currency="USD",
        capacity=150,
        lead_days=7,
        pickup_minutes=120,
    ),
    _location(
        BERLIN,
        "store-berlin",
        "Berlin Mitte Store",
        "STORE",
        ("Rosenthaler Str. 40", "Berlin", "Berlin", "10178", "DE"),
        (52.5200, 13.4050),
        ships=True,
        priority=50,
        cost=650,
        currency="EUR",
        capacity=180,
        lead_days=7,
        pickup_minutes=90,
    ),
    _location(
        CHICAGO,
        "3pl-chicago",
        "Midwest 3PL (Chicago)",
        "THIRD_PARTY",
        ("2600 S Pulaski Rd", "Chicago", "IL", "60623", "US"),
        (41.8781, -87.6298),
        ships=True,
        priority=30,
        cost=520,
        currency="USD",
        capacity=3000,
        lead_days=10,
    ),
)
LOCATION_CHANNELS = (
    {"location_id": NEWARK, "channel_id": WEB},
    {"location_id": ROTTERDAM, "channel_id": EU},
    {"location_id": SOHO, "channel_id": WEB},
    {"location_id": BROOKLYN, "channel_id": WEB},
    {"location_id": BERLIN, "channel_id": EU},
    {"location_id": CHICAGO, "channel_id": WEB},
)
WAREHOUSES = (NEWARK, ROTTERDAM)  # one per channel: every active variant is available there
STORES = (  # store, share of an active product's variants it carries, where it restocks from
    (SOHO, 0.35, NEWARK),
    (BROOKLYN, 0.25, NEWARK),
    (BERLIN, 0.30, ROTTERDAM),
)
MIN_AVAILABLE = 3  # at the channel warehouses, so a kit of two of a component is sellable
RESERVATION_EXPIRY = datetime(2099, 1, 1, tzinfo=UTC)  # demo carts: held until released
SERIALISED_LEVELS = 8  # store levels of leather goods tracked by serial number


def _transfer_time(pid: int) -> datetime:
    """When the store restocks of product ``pid``'s block (CHUNK products) were sent."""
    return BASE_TIME + timedelta(minutes=((pid - 1) // CHUNK + 1) * CHUNK, days=2)


@dataclass(slots=True)
class _Level:
    """One (variant, location) level being generated, before its ledger rows."""

    loc: int
    on_hand: int
    committed: int = 0
    reserved: int = 0
    incoming: int = 0
    quarantined: int = 0
    safety_stock: int = 0
    reorder_point: int = 0
    transfer_in: int = 0  # the transfer that brings `incoming` (stores), 0: a purchase order
    sent: list[tuple[int, int]] = field(default_factory=list)  # (transfer, units) sent out


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
    gen = _Generator(products, seed)
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
        await seed_demo_promotions(conn)  # every promotion kind, DEMO10 (hub.demo_promotions)
        await seed_demo_gift_cards(conn)  # DEMO-GIFT-0000-0050, 50.00 USD (hub.demo_giftcards)
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


def _usd_snap(minor: int, cents: int) -> int:
    """Nearest amount ending in ``cents`` (99 or 0) minor units."""
    if cents == 0:
        return max(100, (minor + 50) // 100 * 100)
    return max(99, (minor + 1 + 50) // 100 * 100 - 1)


def _eur(usd: int) -> int:
    """USD minor units -> EUR at 0.92, snapped to .95 (for .99 prices) or .00."""
    raw = (usd * 92 + 50) // 100
    if usd % 100 == 0:
        return max(100, (raw + 50) // 100 * 100)
    return max(95, (raw + 5 + 50) // 100 * 100 - 5)


def _ean13(n: int) -> str:
    digits = f"200{n:09d}"  # 200-299: in-store numbers, never a real GTIN
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits))
    return digits + str((10 - total % 10) % 10)


class _Generator:
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
                    "barcode": _ean13(vid),
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
            eur = _eur(usd)
            self.usd.append(usd)
            self.eur.append(eur)
            cmp_usd = _usd_snap(usd * markup // 100, usd % 100) if on_sale else None
            for ch, amount, cmp_ in (
                (WEB, usd, cmp_usd),
                (EU, eur, None if cmp_usd is None else max(_eur(cmp_usd), eur + 100)),
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

    def _attributes(self, t: _Type, material: str, organic: bool) -> list[tuple[str, str, str]]:
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

    # ---------------------------------------------------------------- stock

    def _stock(
        self,
        pid: int,
        vid0: int,
        skus: list[str],
        status: str,
        serialisable: bool,
        created: datetime,
        out: dict[str, list[dict[str, Any]]],
    ) -> None:
        """Levels and their ledger rows for one product's variants.

        Active products: both channel warehouses hold every variant (at least
        MIN_AVAILABLE sellable), the 3PL and the stores a share of them. Drafts are
        being bought in; archived products have leftovers in Newark at most.
        """
        rng = self.srng
        for vid, sku in enumerate(skus, start=vid0):
            if status == "ACTIVE":
                levels = [
                    self._state(NEWARK, 20 + int(380 * rng.random() ** 1.5), selling=True),
                    self._state(ROTTERDAM, 20 + int(280 * rng.random() ** 1.5), selling=True),
                ]
                if rng.random() < 0.35:
                    on_hand = 0 if rng.random() < 0.1 else rng.randint(10, 150)
                    levels.append(self._state(CHICAGO, on_hand, selling=True))
                by_loc = {lv.loc: lv for lv in levels}
                for store, share, source in STORES:
                    if rng.random() >= share:
                        continue
                    on_hand = 0 if rng.random() < 0.2 else 1 + int(24 * rng.random() ** 2)
                    lv = self._state(store, on_hand, selling=True)
                    if rng.random() < 0.06:  # a restock on its way from the warehouse
                        lv.incoming = rng.randint(2, 12)
                        lv.transfer_in = self._transfer(pid, source, store, vid, lv.incoming, out)
                        by_loc[source].sent.append((lv.transfer_in, lv.incoming))
                    levels.append(lv)
                for loc in WAREHOUSES:  # sellable online, whatever is committed or held
                    lv = by_loc[loc]
                    free = lv.on_hand - lv.committed - lv.reserved - lv.quarantined
                    lv.on_hand += max(0, MIN_AVAILABLE - (free - lv.safety_stock))
            elif status == "DRAFT":
                levels = []
                for loc, most in ((NEWARK, 200), (ROTTERDAM, 150)):
                    if rng.random() < 0.5:  # ordered, not arrived yet
                        levels.append(_Level(loc, 0, incoming=rng.randint(50, 300)))
                    else:
                        levels.append(_Level(loc, rng.randint(20, most)))
            else:
                levels = [_Level(NEWARK, 0 if rng.random() < 0.6 else rng.randint(1, 10))]
            for lv in levels:
                self._ledger(pid, vid, sku, lv, serialisable, out)

    def _state(self, loc: int, on_hand: int, *, selling: bool) -> _Level:
        """A level of an active product: some of the stock committed to orders, held in
        carts, in quarantine or kept back as safety stock; replenishment on order."""
        rng = self.srng
        lv = _Level(loc, on_hand)
        warehouse = loc in WAREHOUSES
        if on_hand and selling:
            if warehouse and rng.random() < 0.10:
                lv.safety_stock = rng.randint(2, 10)
            free = on_hand - lv.safety_stock
            p_commit = 0.25 if warehouse else 0.20 if loc == CHICAGO else 0.08
            if free > 0 and rng.random() < p_commit:
                lv.committed = rng.randint(1, max(1, min(free // 5, 40)))
                free -= lv.committed
            if free > 0 and rng.random() < 0.03:
                lv.reserved = rng.randint(1, min(3, free))
                free -= lv.reserved
            if free > 0 and rng.random() < (0.04 if warehouse else 0.03):
                lv.quarantined = rng.randint(1, min(5, free))
        if rng.random() < 0.2:
            lv.reorder_point = (
                rng.randint(20, 60)
                if warehouse
                else rng.randint(10, 40)
                if loc == CHICAGO
                else rng.randint(2, 6)
            )
        if loc not in (SOHO, BROOKLYN, BERLIN) and rng.random() < 0.08:
            lv.incoming = rng.randint(50, 300)  # a purchase order
        return lv

    def _transfer(
        self, pid: int, source: int, store: int, vid: int, units: int, out: dict[str, list]
    ) -> int:
        """The in-transit transfer to a store for this block of products (one per chunk)."""
        key = ((pid - 1) // CHUNK, store)
        row = self.transfers.get(key)
        if row is None:
            self.n_transfers += 1
            row = {
                "id": self.n_transfers,
                "from_location_id": source,
                "to_location_id": store,
                "status": "IN_TRANSIT",
                "lines": [],
                "created_at": _transfer_time(pid),
                "received_at": None,
            }
            self.transfers[key] = row
            out["transfers"].append(row)
        row["lines"].append({"variant_id": vid, "quantity": units})
        return row["id"]

    def _ledger(
        self,
        pid: int,
        vid: int,
        sku: str,
        lv: _Level,
        serialisable: bool,
        out: dict[str, list[dict[str, Any]]],
    ) -> None:
        """The level row and the movements that add up to it."""
        rng = self.srng
        loc = lv.loc
        moves = out["moves"]
        created = BASE_TIME + timedelta(minutes=pid - 1)  # the product's
        last = created

        def move(reason: str, when: datetime, **kw: Any) -> None:
            nonlocal last
            self.n_moves += 1
            moves.append(
                {
                    "id": self.n_moves,
                    "variant_id": vid,
                    "location_id": loc,
                    "reason": reason,
                    "d_on_hand": kw.get("on_hand", 0),
                    "d_committed": kw.get("committed", 0),
                    "d_reserved": kw.get("reserved", 0),
                    "d_incoming": kw.get("incoming", 0),
                    "d_quarantined": kw.get("quarantined", 0),
                    "actor": "demo",
                    "reference": kw.get("reference"),
                    "lot_number": kw.get("lot_number"),
                    "serial_number": kw.get("serial_number"),
                    "created_at": when,
                }
            )
            last = max(last, when)

        received = lv.on_hand + sum(units for _, units in lv.sent)
        when = created + timedelta(days=1, hours=loc)
        if (
            received
            and loc in (SOHO, BROOKLYN, BERLIN)
            and serialisable
            and received <= 5
            and self.serialised_levels < SERIALISED_LEVELS
        ):
            # Leather goods in stores are tracked unit by unit.
            self.serialised_levels += 1
            for _ in range(received):
                self.n_serials += 1
                sn = f"SN-{sku}-{self.n_serials:04d}"
                move("received", when, on_hand=1, serial_number=sn)
                out["serials"].append(
                    {
                        "id": self.n_serials,
                        "variant_id": vid,
                        "serial_number": sn,
                        "location_id": loc,
                        "status": "ON_HAND",
                        "updated_at": when,
                    }
                )
            received = 0
        elif loc in WAREHOUSES and lv.on_hand >= 10 and rng.random() < 0.05:
            # Batches with a best-before date; what is left of them is still on hand.
            for _ in range(rng.randint(1, 2)):
                units = rng.randint(lv.on_hand // 4, lv.on_hand // 2)
                self.n_lots += 1
                lot = f"L{created:%y}{rng.randint(1, 52):02d}-{self.n_lots:06d}"
                move("received", when, on_hand=units, lot_number=lot)
                out["lots"].append(
                    {
                        "id": self.n_lots,
                        "variant_id": vid,
                        "location_id": loc,
                        "lot_number": lot,
                        "expires_on": date(2027, 1, 1) + timedelta(days=rng.randrange(730)),
                        "quantity": units,
                    }
                )
                received -= units
        if received:
            move("received", when, on_hand=received)
        for tid, units in lv.sent:
            move("transfer_out", _transfer_time(pid), on_hand=-units, reference=f"transfer:{tid}")
        if lv.incoming:
            if lv.transfer_in:
                move(
                    "transfer_in_transit",
                    _transfer_time(pid),
                    incoming=lv.incoming,
                    reference=f"transfer:{lv.transfer_in}",
                )
            else:
                move("purchase_order", created + timedelta(days=12), incoming=lv.incoming)
        if lv.quarantined:
            move("quarantined", created + timedelta(days=10), quarantined=lv.quarantined)
        if lv.committed:
            move("sale_committed", created + timedelta(days=20), committed=lv.committed)
        if lv.reserved:
            self.n_reservations += 1
            token = f"demo-{self.n_reservations}"
            at = created + timedelta(days=25)
            move("reserved", at, reserved=lv.reserved, reference=f"reservation:{token}")
            out["reservations"].append(
                {
                    "id": self.n_reservations,
                    "token": token,
                    "variant_id": vid,
                    "location_id": loc,
                    "quantity": lv.reserved,
                    "status": "ACTIVE",
                    "reference": None,
                    "expires_at": RESERVATION_EXPIRY,
                    "created_at": at,
                }
            )
        self.n_levels += 1
        out["levels"].append(
            {
                "id": self.n_levels,
                "variant_id": vid,
                "location_id": loc,
                "on_hand": lv.on_hand,
                "committed": lv.committed,
                "reserved": lv.reserved,
                "incoming": lv.incoming,
                "quarantined": lv.quarantined,
                "safety_stock": lv.safety_stock,
                "reorder_point": lv.reorder_point,
                "updated_at": last,
            }
        )

    # ---------------------------------------------------------------- bundles

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
            usd = min(29999, _usd_snap(full_usd * 85 // 100, 99))
            eur = _eur(usd)
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
                    "barcode": _ean13(vid),
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
