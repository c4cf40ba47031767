"""Shipping: how an order reaches its buyer.

What the package owns:

- :mod:`.rates`: the delivery options for a destination, weight and subtotal
  (:func:`shipping_options`, what carts and checkout call), and the rate tables;
- :mod:`.zones`: shipping zones (countries, optionally narrowed to regions);
- :mod:`.checks`: the checks zones and rates share;
- :mod:`.pickup`: store pickup, which is no rate: whether the store a cart picks up at
  holds its lines, which nearby stores do, and a variant's availability per store.

Shipping refuses only with the common codes (:class:`hub.domain.errors.Code`): it has
no code enum of its own.
"""

from hub.domain.shipping.pickup import (
    Shortage,
    StoreAvailabilityRecord,
    pickup_locations,
    shortages,
    store_availability,
)
from hub.domain.shipping.rates import (
    KINDS,
    RATE_CLEARABLE,
    RateInput,
    ShippingOption,
    ShippingRateRecord,
    create_rate,
    delete_rate,
    rates_by_pks,
    region_code,
    shipping_options,
    update_rate,
)
from hub.domain.shipping.zones import (
    ShippingZoneRecord,
    ZoneInput,
    create_zone,
    delete_zone,
    list_zones,
    update_zone,
)

__all__ = [
    "KINDS",
    "RATE_CLEARABLE",
    "RateInput",
    "ShippingOption",
    "ShippingRateRecord",
    "ShippingZoneRecord",
    "Shortage",
    "StoreAvailabilityRecord",
    "ZoneInput",
    "create_rate",
    "create_zone",
    "delete_rate",
    "delete_zone",
    "list_zones",
    "pickup_locations",
    "rates_by_pks",
    "region_code",
    "shipping_options",
    "shortages",
    "store_availability",
    "update_rate",
    "update_zone",
]
