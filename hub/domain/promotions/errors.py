"""The error codes of promotion and discount-code admin (the engine's own outcomes
are :class:`~hub.domain.promotions.enums.Reason` values, not errors): the common
codes, :class:`hub.domain.errors.Code`; promotions have none of their own."""

from __future__ import annotations

from hub.domain.errors import Code

PromotionCode = Code
