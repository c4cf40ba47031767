"""Shipping: how an order reaches its buyer.

What the package owns:

- :mod:`.rates`: the delivery options for a destination, weight and subtotal
  (:func:`shipping_options`, what carts and checkout call), and the rate tables;
- :mod:`.zones`: shipping zones (countries, optionally narrowed to regions);
- the writes of zones and rates are operations on the caller's transaction
  (``insert_zone``, ``change_zone``, ``remove_zone``, ``insert_rate``, ``change_rate``,
  ``remove_rate``) behind thin services that open and commit it (``create_zone``,
  ``update_zone``, ``delete_zone``, ``create_rate``, ``update_rate``, ``delete_rate``);
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
    change_rate,
    check_rate_change,
    create_rate,
    delete_rate,
    insert_rate,
    new_rate_values,
    rates_by_pks,
    region_code,
    remove_rate,
    shipping_options,
    update_rate,
)
from hub.domain.shipping.zones import (
    ShippingZoneRecord,
    ZoneInput,
    change_zone,
    create_zone,
    delete_zone,
    insert_zone,
    list_zones,
    new_zone_values,
    remove_zone,
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
    "change_rate",
    "change_zone",
    "check_rate_change",
    "create_rate",
    "create_zone",
    "delete_rate",
    "delete_zone",
    "insert_rate",
    "insert_zone",
    "list_zones",
    "new_rate_values",
    "new_zone_values",
    "pickup_locations",
    "rates_by_pks",
    "region_code",
    "remove_rate",
    "remove_zone",
    "shipping_options",
    "shortages",
    "store_availability",
    "update_rate",
    "update_zone",
]
