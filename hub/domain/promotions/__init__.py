"""Promotions: a pure, deterministic pricing engine for discounts.

``apply(basket, ctx, promotions) -> Result`` takes a ``Basket`` (lines with integer
minor-unit prices), a ``Context`` (channel, country, customer, time, entered codes)
and the ``Promotion`` definitions the caller loaded (with their ``UsageState``), and
returns line totals, allocations per promotion and a status per entered code. No
database, no I/O: the cart and checkout layers load and store, this package decides.
The algorithm is documented in ``engine``; the action rules in ``actions``.

Definitions round-trip through JSON with ``to_dict`` / ``from_dict``. Plugins add
conditions and actions with ``register_condition`` / ``register_action``."""

from .actions import (
    Action,
    BundlePrice,
    BuyXGetY,
    FixedOff,
    FreeShipping,
    MixAndMatch,
    Outcome,
    PercentOff,
    PricingView,
    TieredSpend,
    VolumeTiers,
    register_action,
)
from .basket import EVERYTHING, Basket, BasketLine, Context, Target, normalize_code
from .conditions import (
    Channel,
    Condition,
    Country,
    CouponCode,
    CustomerSegment,
    DateWindow,
    FirstOrder,
    HasItems,
    LoyaltyTier,
    MinQuantity,
    MinSubtotal,
    register_condition,
)
from .engine import apply
from .enums import DiscountClass, Reason
from .promotion import Combination, Promotion, UsageState
from .result import Allocation, CodeStatus, LineResult, Result
from .serialization import from_dict, to_dict

__all__ = [
    "EVERYTHING",
    "Action",
    "Allocation",
    "Basket",
    "BasketLine",
    "BundlePrice",
    "BuyXGetY",
    "Channel",
    "CodeStatus",
    "Combination",
    "Condition",
    "Context",
    "Country",
    "CouponCode",
    "CustomerSegment",
    "DateWindow",
    "DiscountClass",
    "FirstOrder",
    "FixedOff",
    "FreeShipping",
    "HasItems",
    "LineResult",
    "LoyaltyTier",
    "MinQuantity",
    "MinSubtotal",
    "MixAndMatch",
    "Outcome",
    "PercentOff",
    "PricingView",
    "Promotion",
    "Reason",
    "Result",
    "Target",
    "TieredSpend",
    "UsageState",
    "VolumeTiers",
    "apply",
    "from_dict",
    "normalize_code",
    "register_action",
    "register_condition",
    "to_dict",
]
