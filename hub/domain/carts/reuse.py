"""Checkout reuses a cart's priced state while nothing it was priced from changed.

A storefront prices a cart when it writes it (``cartCreate``, ``cartLinesAdd``...) or
shows it; ``checkoutComplete`` a moment later used to price it again from scratch (six
statements and the promotions engine on every checkout). Each process now keeps the
last priced state of the carts it priced (:func:`keep`, up to ``SIZE`` carts) and
checkout takes it (:func:`take`) when it is provably what pricing would give now:

* the cart is the same **version** (every change of its lines, codes, buyer or
  delivery bumps it);
* the **pricing generation** is the same: a number the database's triggers increase on
  every committed change of what pricing reads (catalog, prices and price lists,
  channels, collections, shipping, locations, promotions and codes, customers' pricing
  fields; migration 0031 says which columns). It is read in the same statement as the
  cart row, before anything else the pricing read, so a change committed while the
  cart was being priced makes the kept state stale, never the other way round;
* no **time boundary** passed since: no promotion or price list started or ended
  between the kept pricing's clock and now (:data:`CROSSED`, a column of checkout's
  cart-row statement), and none of the kept promotions' own date-window conditions;
* the **counters** of the kept promotions with a usage limit, per-customer limit or
  budget, read again (one statement, none without such promotions), give the same
  prices: every count on the same side of zero, the same codes in use, a budget still
  covering what it gave;
* **stock** still covers every line: read again at checkout (one statement, which
  routing needed anyway); the kept state is used with the stock just read;
* and it did not depend on anything else that moves: a cart is not kept when its
  pricing had warnings, a pickup group, loyalty points, a fee plugin, a tax engine
  that calls out (only the built-in rules are pure), a first-order condition (the
  buyer's order count moves), or a condition or action a plugin registered.

Whatever fails, checkout prices the cart as before. A kept state is used once (taken
out), so nothing checkout does to it reaches a later checkout. Each process keeps its
own: a checkout landing on another process than the cart's last write just prices.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import TaxEngine
from hub.db.database import Database
from hub.db.tables import lists_t, pricing_changes_t, pricing_gen_t, promotions_t
from hub.domain.carts import fees
from hub.domain.carts.lookups import stock_of
from hub.domain.carts.model import PICKUP, CartState
from hub.domain.carts.priced import PricedCart
from hub.domain.carts.pricing import customer_key
from hub.domain.promotions import FirstOrder, Promotion
from hub.domain.promotions.conditions import DateWindow
from hub.domain.promotions.promotion import UsageState
from hub.domain.promotions.store import counted_again

log = logging.getLogger("hub.carts")

SIZE = 4096  # carts kept per process (least recently priced dropped first)
FOLD_EVERY = 256  # PostgreSQL: fold pricing_changes into n after this many

# The pricing generation, as a column of the statement that reads the cart row.
GENERATION = (
    select(
        pricing_gen_t.c.n + select(func.count()).select_from(pricing_changes_t).scalar_subquery()
    )
    .where(pricing_gen_t.c.id == 1)
    .scalar_subquery()
    .label("pricing_gen")
)

_FOLD = text(
    "WITH gone AS (DELETE FROM pricing_changes RETURNING 1) "
    "UPDATE pricing_generation SET n = n + (SELECT count(*) FROM gone) WHERE id = 1"
)


_T = promotions_t.c.starts_at.type
_SINCE, _UNTIL = bindparam("since", type_=_T), bindparam("until", type_=_T)


def _crossing(column: Any) -> Any:
    return and_(column > _SINCE, column <= _UNTIL)


# Whether a promotion or a price list started or ended in (since, until]: a column of
# the statement checkout reads the cart row with, when a priced state is kept for it.
CROSSED = (
    select(
        or_(
            exists().where(
                or_(_crossing(promotions_t.c.starts_at), _crossing(promotions_t.c.ends_at))
            ),
            exists().where(or_(_crossing(lists_t.c.starts_at), _crossing(lists_t.c.ends_at))),
        )
    )
    .scalar_subquery()
    .label("pricing_crossed")
)


@dataclass(slots=True)
class _Kept:
    version: int
    generation: int
    since: datetime  # no later than the clock any of the pricing's reads used
    until: datetime | None  # the kept promotions' next date-window boundary
    tax: object
    priced: PricedCart


class PricedCarts:
    """One process's kept priced carts, by cart token (see the module docstring)."""

    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self._folded_at: int | None = None
        self._folding: asyncio.Task[None] | None = None
        self.taken = 0  # checkouts that reused a kept state (for tests and benchmarks)

    def clear(self) -> None:
        self._kept.clear()

    def keep(
        self, db: Database, priced: PricedCart, *, since: datetime, tax_engine: TaxEngine | None
    ) -> None:
        """Keep ``priced`` (priced from rows read after the cart row) if it may be
        reused; else forget what was kept for the cart."""
        cart = priced.cart
        self._kept.pop(cart.token, None)
        generation = getattr(cart, "pricing_gen", None)
        tax = _pure(tax_engine)
        if generation is None or tax is None:
            return
        ok, until = _assess(priced, since)
        if not ok:
            return
        self._kept[cart.token] = _Kept(
            int(cart.version),
            int(generation),
            _aware(since),
            until,
            tax,
            priced,
        )
        if len(self._kept) > self.size:
            self._kept.popitem(last=False)
        self._fold_now_and_then(db, int(generation))

    def since(self, token: str) -> datetime | None:
        """The clock of the priced state kept for the cart ``token``, if any: checkout
        reads the cart row with :data:`CROSSED` from then (see :func:`load_cart`)."""
        kept = self._kept.get(token)
        return None if kept is None else kept.since

    async def take(
        self,
        conn: AsyncConnection,
        state: CartState,
        *,
        tax_engine: TaxEngine | None,
        now: datetime,
    ) -> PricedCart | None:
        """The kept priced state of the cart ``state`` holds (read with its pricing
        generation), if nothing it depends on changed; with the stock read now. Taken
        out either way."""
        kept = self._kept.pop(state.cart.token, None)
        generation = getattr(state.cart, "pricing_gen", None)
        if (
            kept is None
            or generation is None
            or kept.version != state.cart.version
            or kept.generation != generation
            or kept.tax is not _pure(tax_engine)
            or (kept.until is not None and now >= kept.until)
        ):
            return None
        if getattr(state.cart, "pricing_crossed", True):
            return None  # a promotion or price list started or ended (or not asked)
        priced = kept.priced
        if not await _counters_hold(conn, priced):
            return None
        stock = await _stock(conn, priced)
        if stock is None:
            return None
        priced.state, priced.stock = state, stock
        self.taken += 1
        return priced

    def _fold_now_and_then(self, db: Database, generation: int) -> None:
        """PostgreSQL: fold ``pricing_changes`` into ``pricing_generation.n`` once it
        may hold ``FOLD_EVERY`` rows, and the first time (in the background; the
        generation is unchanged)."""
        if db.dialect != "postgresql":
            return
        if self._folding is not None and not self._folding.done():
            return
        if self._folded_at is not None and generation - self._folded_at < FOLD_EVERY:
            return  # (the first time: whatever a seed or a migration left)
        self._folded_at = generation
        self._folding = asyncio.create_task(fold(db), name="hub-pricing-fold")


_MEMOS: weakref.WeakKeyDictionary[Database, PricedCarts] = weakref.WeakKeyDictionary()


def priced_carts(db: Database) -> PricedCarts:
    """This process's kept priced carts for ``db``."""
    memo = _MEMOS.get(db)
    if memo is None:
        memo = _MEMOS[db] = PricedCarts()
    return memo


async def fold(db: Database) -> None:
    """Fold ``pricing_changes`` into ``pricing_generation.n`` (PostgreSQL)."""
    try:
        async with db.transaction() as conn:
            await conn.execute(_FOLD)
    except Exception:  # the next one folds them; nothing depends on it
        log.exception("folding pricing_changes failed")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _pure(tax_engine: TaxEngine | None) -> object | None:
    """What the tax stage computed with, if it computes without calling out: the
    built-in rules engine (also behind the connected-tax switch), or no engine."""
    if tax_engine is None:
        return _NO_TAX
    engine = getattr(tax_engine, "current_engine", None)
    inner = engine() if callable(engine) else tax_engine
    return inner if getattr(inner, "pure", False) else None


_NO_TAX = object()


def _builtin(part: object) -> bool:
    return type(part).__module__.startswith("hub.domain.promotions.")


def _assess(priced: PricedCart, since: datetime) -> tuple[bool, datetime | None]:
    """Whether ``priced`` may be kept, and its promotions' next date-window boundary
    after ``since``. One pass over the promotions, each one's shape read once per
    definition (a cart view against 500 promotions must not pay for it)."""
    if priced.warnings or priced.cart.loyalty_points or fees.hooked():
        return False, None
    if any(g.kind == PICKUP for g in priced.groups):
        return False, None
    since = _aware(since)
    until: datetime | None = None
    for p in priced.promotions:
        steady, moments = _shape(p)
        if not steady:
            return False, None
        for m in moments:
            if m > since and (until is None or m < until):
                until = m
    return True, until


# (id(conditions), id(action)) -> (conditions, action, steady, date-window moments).
# A promotion's definition objects are shared by its copies with other counters, and
# kept by the promotions store while the definition is unchanged.
_SHAPES: dict[tuple[int, int], tuple[Any, Any, bool, tuple[datetime, ...]]] = {}


def _shape(p: Promotion) -> tuple[bool, tuple[datetime, ...]]:
    key = (id(p.conditions), id(p.action))
    hit = _SHAPES.get(key)
    if hit is not None and hit[0] is p.conditions and hit[1] is p.action:
        return hit[2], hit[3]
    steady = _builtin(p.action) and all(
        _builtin(c) and not isinstance(c, FirstOrder) for c in p.conditions
    )
    moments = tuple(
        m
        for c in p.conditions
        if isinstance(c, DateWindow)
        for m in (c.starts_at, c.ends_at)
        if m is not None
    )
    if len(_SHAPES) >= 8192:
        _SHAPES.clear()
    _SHAPES[key] = (p.conditions, p.action, steady, moments)
    return steady, moments


async def _counters_hold(conn: AsyncConnection, priced: PricedCart) -> bool:
    """Whether the counters of the kept promotions with limits (uses, per customer,
    budget) read now give the same prices: every count on the same side of zero, the
    same codes in use, and a budget still covering what it gave (the same budget, if
    it was what capped the discount). One statement, none without such promotions."""
    limited = [p for p in priced.promotions if p.usage != _UNLIMITED]
    if not limited:
        return True
    cart = priced.cart
    again = await counted_again(
        conn,
        limited,
        codes=list(cart.discount_codes or ()),
        customer_key=customer_key(cart, priced.customer),
    )
    given: dict[int, int] = {}
    for a in priced.allocations:
        given[a.promotion_id] = given.get(a.promotion_id, 0) + a.amount + a.shipping_amount
    for p in limited:
        now = again.get(p.id)
        if (
            now is None
            or now.code != p.code
            or not _same_usage(p.usage, now.usage, given.get(p.id, 0))
        ):
            return False
    return True


def _same_usage(kept: UsageState, now: UsageState, given: int) -> bool:
    for a, b in (
        (kept.code_uses_left, now.code_uses_left),
        (kept.customer_uses_left, now.customer_uses_left),
        (kept.budget_left, now.budget_left),
    ):
        if (a is None) != (b is None) or (a is not None and b is not None and (a > 0) != (b > 0)):
            return False
    left, left_now = kept.budget_left, now.budget_left
    if left is None or left_now is None:
        return True
    return left_now == left if given >= left else left_now >= given


_UNLIMITED = UsageState()


async def _stock(conn: AsyncConnection, priced: PricedCart) -> dict[int, dict[int, int]] | None:
    """The sellable stock of the cart's tracked lines now, if it still covers each
    line (as when the state was kept: it had no stock warning); else None."""
    wanted: dict[int, int] = {}
    bundles: set[int] = set()
    for ln in priced.lines:
        if ln.tracked:
            wanted[ln.variant_pk] = wanted.get(ln.variant_pk, 0) + ln.quantity
            if ln.is_bundle:
                bundles.add(ln.variant_pk)
    if not wanted:
        return {}
    stock = await stock_of(conn, priced.cart.channel_id, list(wanted), bundles)
    for v, qty in wanted.items():
        if sum(stock.get(v, {}).values()) < qty:
            return None
    return stock
