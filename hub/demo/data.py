"""The demo catalog's fixed data: channels, product types (their nouns, materials,
sizes and prices), vendors, tags, collections and bundles. Changing anything here
changes the demo rows (tests and benchmarks rely on them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

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
class TypeSpec:
    name: str
    code: str  # SKU prefix
    nouns: tuple[str, ...]
    materials: tuple[tuple[str, str], ...]  # (title word, material attribute)
    scheme: str  # "apparel": Size (+ Color); "color": Color only
    price: tuple[int, int]  # whole USD
    weight: tuple[int, int]  # grams
    textile: bool = True


TYPES = (
    TypeSpec(
        "Sweater",
        "SWT",
        ("Crew Sweater", "Cardigan", "Turtleneck", "Quarter-Zip"),
        (("Merino", "Merino wool"), ("Cashmere", "Cashmere"), ("Alpaca", "Alpaca wool")),
        "apparel",
        (60, 220),
        (300, 900),
    ),
    TypeSpec(
        "T-Shirt",
        "TEE",
        ("Crew Tee", "Pocket Tee", "Long Sleeve Tee", "Henley"),
        (("Organic", "Organic cotton"), ("Pima", "Pima cotton"), ("Slub", "Slub cotton")),
        "apparel",
        (15, 60),
        (120, 300),
    ),
    TypeSpec(
        "Jacket",
        "JKT",
        ("Rain Jacket", "Puffer Jacket", "Chore Coat", "Parka", "Field Jacket"),
        (("Waxed", "Waxed cotton"), ("Recycled", "Recycled nylon"), ("Canvas", "Canvas")),
        "apparel",
        (90, 290),
        (600, 1800),
    ),
    TypeSpec(
        "Pants",
        "PNT",
        ("Chinos", "Joggers", "Trousers", "Jeans"),
        (("Stretch", "Stretch twill"), ("Denim", "Selvedge denim"), ("Corduroy", "Corduroy")),
        "apparel",
        (40, 160),
        (350, 900),
    ),
    TypeSpec(
        "Shirt",
        "SHR",
        ("Oxford Shirt", "Flannel Shirt", "Overshirt", "Camp Shirt"),
        (("Linen", "Linen"), ("Brushed", "Brushed cotton"), ("Chambray", "Chambray")),
        "apparel",
        (35, 130),
        (200, 500),
    ),
    TypeSpec(
        "Socks",
        "SCK",
        ("Crew Socks", "Hiking Socks", "Ankle Socks"),
        (("Merino", "Merino wool"), ("Bamboo", "Bamboo viscose"), ("Cotton", "Cotton")),
        "apparel",
        (10, 30),
        (100, 200),
    ),
    TypeSpec(
        "Hat",
        "HAT",
        ("Beanie", "Cap", "Bucket Hat"),
        (("Ribbed", "Lambswool"), ("Twill", "Cotton twill"), ("Waxed", "Waxed cotton")),
        "color",
        (15, 60),
        (100, 250),
    ),
    TypeSpec(
        "Bag",
        "BAG",
        ("Tote", "Backpack", "Weekender", "Crossbody Bag"),
        (("Canvas", "Canvas"), ("Leather", "Leather"), ("Ripstop", "Ripstop nylon")),
        "color",
        (25, 260),
        (300, 1800),
    ),
    TypeSpec(
        "Blanket",
        "BLK",
        ("Throw Blanket", "Picnic Blanket", "Bed Blanket"),
        (("Wool", "Wool"), ("Waffle", "Cotton waffle"), ("Linen", "Linen")),
        "color",
        (40, 260),
        (600, 2000),
    ),
    TypeSpec(
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


def usd_snap(minor: int, cents: int) -> int:
    """Nearest amount ending in ``cents`` (99 or 0) minor units."""
    if cents == 0:
        return max(100, (minor + 50) // 100 * 100)
    return max(99, (minor + 1 + 50) // 100 * 100 - 1)


def to_eur(usd: int) -> int:
    """USD minor units -> EUR at 0.92, snapped to .95 (for .99 prices) or .00."""
    raw = (usd * 92 + 50) // 100
    if usd % 100 == 0:
        return max(100, (raw + 50) // 100 * 100)
    return max(95, (raw + 5 + 50) // 100 * 100 - 5)


def ean13(n: int) -> str:
    digits = f"200{n:09d}"  # 200-299: in-store numbers, never a real GTIN
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits))
    return digits + str((10 - total % 10) % 10)
