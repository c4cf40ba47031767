"""Promotions and discount codes for staff on the API: types (:mod:`.types`), queries
(:mod:`.queries`) and mutations (:mod:`.mutations`), all in the admin scope.

A promotion's rules are one JSON `definition` in the engine's format (see
`hub.domain.promotions`), validated as a whole; an error names its path
(`definition.action.percent`). Every mutation returns `userErrors` and writes
nothing on error.
"""

from schema.promotions.mutations import PromotionMutation
from schema.promotions.queries import PromotionQuery
from schema.promotions.types import (
    DiscountCodeType,
    PromotionMethod,
    PromotionStatus,
    PromotionType,
)

__all__ = [
    "DiscountCodeType",
    "PromotionMethod",
    "PromotionMutation",
    "PromotionQuery",
    "PromotionStatus",
    "PromotionType",
]
