"""Promotions: a pure, deterministic pricing engine for discounts, its bridge to the
database (:mod:`.store`: load what may apply, redeem inside checkout) and staff admin
(:mod:`.admin` for promotions, :mod:`.discount_codes` for codes). Admin errors carry
:class:`PromotionCode` codes.

The engine:
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
    FixedOff,
    FreeShipping,
    Outcome,
    PercentOff,
    PricingView,
    TieredSpend,
    VolumeTiers,
    register_action,
    unregister_action,
)
from .admin import (
    KEEP,
    PromotionInput,
    PromotionRecord,
    change_promotion,
    create_promotion,
    delete_promotion,
    insert_promotion,
    list_promotions,
    promotions_by_pks,
    remove_promotion,
    update_promotion,
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
    unregister_condition,
)
from .discount_codes import (
    CODE_ALPHABET,
    DEFAULT_CODE_LENGTH,
    MAX_GENERATE,
    DiscountCodeRecord,
    codes_by_pks,
    codes_by_promotions,
    create_code,
    generate_codes,
    insert_code,
    insert_codes,
    random_codes,
)
from .engine import apply
from .enums import DiscountClass, Reason
from .errors import PromotionCode
from .multibuy import BundlePrice, BuyXGetY, MixAndMatch
from .promotion import Combination, Promotion, UsageState
from .result import Allocation, CodeStatus, LineResult, Result
from .serialization import from_dict, to_dict

# The engine is imported first: the store and admin build on it.
from .store import (
    NOT_ACTIVE,
    REASON_MESSAGES,
    CodeExplanation,
    active_promotions,
    build_promotion,
    explain_code,
    normalize_customer_key,
    reason_message,
    redeem,
)

__all__ = [
    "CODE_ALPHABET",
    "DEFAULT_CODE_LENGTH",
    "EVERYTHING",
    "KEEP",
    "MAX_GENERATE",
    "NOT_ACTIVE",
    "REASON_MESSAGES",
    "Action",
    "Allocation",
    "Basket",
    "BasketLine",
    "BundlePrice",
    "BuyXGetY",
    "Channel",
    "CodeExplanation",
    "CodeStatus",
    "Combination",
    "Condition",
    "Context",
    "Country",
    "CouponCode",
    "CustomerSegment",
    "DateWindow",
    "DiscountClass",
    "DiscountCodeRecord",
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
    "PromotionCode",
    "PromotionInput",
    "PromotionRecord",
    "Reason",
    "Result",
    "Target",
    "TieredSpend",
    "UsageState",
    "VolumeTiers",
    "active_promotions",
    "apply",
    "build_promotion",
    "change_promotion",
    "codes_by_pks",
    "codes_by_promotions",
    "create_code",
    "create_promotion",
    "delete_promotion",
    "explain_code",
    "from_dict",
    "generate_codes",
    "insert_code",
    "insert_codes",
    "insert_promotion",
    "list_promotions",
    "normalize_code",
    "normalize_customer_key",
    "promotions_by_pks",
    "random_codes",
    "reason_message",
    "redeem",
    "register_action",
    "register_condition",
    "remove_promotion",
    "to_dict",
    "unregister_action",
    "unregister_condition",
    "update_promotion",
]
