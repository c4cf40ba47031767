"""A promotion: when it is eligible (conditions, dates, code), what it takes off (its
action), how it stacks (its combination policy) and how much of it is left (usage)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from hub.money import exponent

from ._fields import check_int, check_opt_int, check_str
from .actions import Action
from .basket import normalize_code
from .conditions import Condition, CouponCode, check_window
from .enums import DiscountClass


@dataclass(frozen=True, slots=True)
class UsageState:
    """What is left, filled by the caller from its counters (``None`` = unlimited).

    ``code_uses_left``: redemptions left for the code; ``customer_uses_left``: left for
    this customer; ``budget_left``: minor units of the basket's currency the promotion
    may still give away. At zero (or below) the engine refuses the promotion with
    ``USAGE_LIMIT_REACHED`` / ``BUDGET_EXHAUSTED``; otherwise it never allocates more
    than ``budget_left``."""

    code_uses_left: int | None = None
    customer_uses_left: int | None = None
    budget_left: int | None = None

    def __post_init__(self) -> None:
        check_opt_int(self.code_uses_left, "code_uses_left", minimum=None)
        check_opt_int(self.customer_uses_left, "customer_uses_left", minimum=None)
        check_opt_int(self.budget_left, "budget_left", minimum=None)


@dataclass(frozen=True, slots=True)
class Combination:
    """How a promotion stacks.

    ``klass`` is the class of discount it gives. It applies only if it combines with
    the class of every promotion already applied AND each of those combines with its
    class (``combines_with`` lists classes, its own included if it may stack with its
    own kind; empty = combines with nothing). ``exclusive``: nothing else may apply
    with it. ``stop_after``: once it applies, lower-priority promotions are not
    considered. ``best_deal_group``: of the promotions sharing the group, only the one
    giving the largest discount applies."""

    klass: DiscountClass
    combines_with: frozenset[DiscountClass] = frozenset()
    exclusive: bool = False
    stop_after: bool = False
    best_deal_group: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "klass", DiscountClass(self.klass))
        if isinstance(self.combines_with, str):
            raise ValueError("combines_with must be a set of discount classes")
        object.__setattr__(
            self, "combines_with", frozenset(DiscountClass(c) for c in self.combines_with)
        )
        for name in ("exclusive", "stop_after"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be a bool")
        if self.best_deal_group is not None:
            check_str(self.best_deal_group, "best_deal_group")


@dataclass(frozen=True, slots=True)
class Promotion:
    """One promotion. ``priority``: higher is considered first, ties by lower ``id``.
    ``code``: ``None`` for an automatic promotion, else one code or several (any of
    them activates it; matched case-insensitively). ``starts_at`` (inclusive) and
    ``ends_at`` (exclusive) bound it in time. ``currency`` is required when the
    conditions or the action hold amounts, which are minor units of that currency;
    the promotion then only applies to baskets in that currency."""

    id: int
    title: str
    priority: int
    conditions: tuple[Condition, ...]
    action: Action
    combination: Combination
    code: str | tuple[str, ...] | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    usage: UsageState = UsageState()
    currency: str | None = None
    codes: tuple[str, ...] = field(init=False, repr=False, compare=False)
    """Normalized codes that activate it: ``code`` plus any ``CouponCode`` condition's."""

    def __post_init__(self) -> None:
        check_int(self.id, "id", minimum=None)
        check_str(self.title, "title", blank=True)
        check_int(self.priority, "priority", minimum=None)
        if isinstance(self.conditions, Condition):
            raise ValueError("conditions must be a sequence of conditions")
        conditions = tuple(self.conditions)
        for condition in conditions:
            if not isinstance(condition, Condition):
                raise ValueError(f"not a Condition: {condition!r}")
        object.__setattr__(self, "conditions", conditions)
        if not isinstance(self.action, Action):
            raise ValueError(f"not an Action: {self.action!r}")
        if not isinstance(self.combination, Combination):
            raise ValueError(f"not a Combination: {self.combination!r}")
        if self.combination.klass not in self.action.classes:
            allowed = ", ".join(sorted(self.action.classes))
            raise ValueError(
                f"a {self.action.kind} action cannot be a {self.combination.klass} "
                f"discount; its class must be one of: {allowed}"
            )
        code = self.code
        if isinstance(code, list):
            code = tuple(code)
        if code is not None:
            for c in (code,) if isinstance(code, str) else code:
                check_str(c, "code")
            if isinstance(code, tuple) and not code:
                code = None
        object.__setattr__(self, "code", code)
        check_window(self.starts_at, self.ends_at)
        if not isinstance(self.usage, UsageState):
            raise ValueError(f"not a UsageState: {self.usage!r}")
        if self.currency is not None:
            exponent(self.currency)
        elif self.action.uses_money or any(c.uses_money for c in conditions):
            raise ValueError(f"promotion {self.id} holds amounts in minor units: set its currency")
        entered = () if code is None else ((code,) if isinstance(code, str) else code)
        for condition in conditions:
            if isinstance(condition, CouponCode):
                entered += condition.codes
        object.__setattr__(self, "codes", tuple(dict.fromkeys(normalize_code(c) for c in entered)))

    @property
    def klass(self) -> DiscountClass:
        return self.combination.klass

    @property
    def is_automatic(self) -> bool:
        return not self.codes
