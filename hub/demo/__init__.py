"""The demo store: a deterministic apparel and home-goods catalog with stock, prices,
promotions and a gift card, for ``hub seed --demo`` / ``hub serve --demo``, the tests
and the benchmarks.

- :mod:`hub.demo.seed`: :func:`seed_demo` (the whole load, one transaction) and the
  catalog generator (products, variants, prices, bundles, collections);
- :mod:`hub.demo.data`: the fixed data (channels, product types, vendors, tags,
  collections, bundles);
- :mod:`hub.demo.locations` and :mod:`hub.demo.stock`: the locations and the stock
  rows (levels with the ledger, transfers, reservations, lots and serials behind them);
- :mod:`hub.demo.pricing`: customers, the wholesale price list, shipping zones;
- :mod:`hub.demo.promotions`: one promotion of every kind, and the demo codes;
- :mod:`hub.demo.giftcards`: the demo gift card;
- :mod:`hub.demo.orders`: :func:`~hub.demo.orders.seed_demo_orders`, one order in
  every state after checkout (``hub seed --demo`` / ``hub serve --demo`` only), built
  through the domain services.
- :mod:`hub.demo.till`: the till ``SOHO-1`` at the SoHo store and a store associate who
  signs in at it with the PIN ``2468`` (README, "Point of sale").
- :mod:`hub.demo.loyalty`: the loyalty tiers, and customers with orders from the web,
  a store and a marketplace, their points and a tier.

The same seed and product count always give the same rows.
"""

from hub.demo.data import CHANNELS, COLLECTIONS, EU, REDUCED_TAX_CLASS, REDUCED_TAX_TAG, WEB
from hub.demo.giftcards import DEMO_GIFT_CARD_CODE
from hub.demo.locations import (
    BERLIN,
    BROOKLYN,
    CHICAGO,
    LOCATIONS,
    NEWARK,
    ROTTERDAM,
    SOHO,
)
from hub.demo.loyalty import DEMO_LOYALTY_CARDS, DEMO_TIERS
from hub.demo.pricing import WHOLESALE_BREAKS
from hub.demo.promotions import DEMO_CODES
from hub.demo.seed import has_catalog, seed_demo
from hub.demo.till import DEMO_STAFF_EMAIL, DEMO_STAFF_PIN, DEMO_TILL_CODE

__all__ = [
    "BERLIN",
    "BROOKLYN",
    "CHANNELS",
    "CHICAGO",
    "COLLECTIONS",
    "DEMO_CODES",
    "DEMO_GIFT_CARD_CODE",
    "DEMO_LOYALTY_CARDS",
    "DEMO_STAFF_EMAIL",
    "DEMO_STAFF_PIN",
    "DEMO_TIERS",
    "DEMO_TILL_CODE",
    "EU",
    "LOCATIONS",
    "NEWARK",
    "REDUCED_TAX_CLASS",
    "REDUCED_TAX_TAG",
    "ROTTERDAM",
    "SOHO",
    "WEB",
    "WHOLESALE_BREAKS",
    "has_catalog",
    "seed_demo",
]
