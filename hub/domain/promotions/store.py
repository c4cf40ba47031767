"""Promotions at checkout: load what may apply, record what did, explain codes.

The engine (the rest of ``hub.domain.promotions``) is pure; this module is its bridge to the
database, for the cart and checkout layers:

- :func:`active_promotions` loads the engine ``Promotion`` objects that may apply to a
  basket, with their ``UsageState`` filled from the counters. Two SQL statements at
  most, however many promotions and codes: one for the candidates and their counters,
  and one for the definitions this process has not parsed yet (parsed definitions are
  cached per database, keyed by ``(id, updated_at)``; a redemption never changes
  ``updated_at``, an admin edit always does).
- :func:`redeem` records an order's applied promotions inside the checkout's
  transaction with conditional UPDATEs, so a usage limit, a code's limit, a
  per-customer limit or a budget holds however many checkouts race for the last use.
- :func:`explain_code` turns the engine's ``CodeStatus`` into a stable reason code and
  a message a storefront can show.

Reason codes on the wire are the engine's ``Reason`` values, plus ``NOT_ACTIVE`` (the
promotion was paused, archived or deleted between pricing and checkout).
"""

from __future__ import annotations

import copy
import logging
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db import fast
from hub.db.models.base import utcnow
from hub.db.tables import codes_t, promotions_t, redemptions_t, usage_t
from hub.domain.promotions.basket import normalize_code
from hub.domain.promotions.enums import Reason
from hub.domain.promotions.promotion import Promotion, UsageState
from hub.domain.promotions.result import CodeStatus, Result
from hub.domain.promotions.serialization import from_dict

__all__ = [
    "NOT_ACTIVE",
    "REASON_MESSAGES",
    "CodeExplanation",
    "active_promotions",
    "build_promotion",
    "explain_code",
    "normalize_customer_key",
    "reason_message",
    "redeem",
]

log = logging.getLogger("hub.promotions")


NOT_ACTIVE = "NOT_ACTIVE"
"""Redemption failure: the promotion is no longer ACTIVE (paused, archived, deleted)."""


# ----------------------------------------------------------------- definitions


def build_promotion(
    *,
    id: int,
    title: str,
    priority: int,
    definition: Mapping[str, Any],
    currency: str | None,
    starts_at: datetime | None,
    ends_at: datetime | None,
    usage: UsageState | None = None,
) -> Promotion:
    """An engine ``Promotion`` from a row's columns and its stored ``definition``
    (``{"conditions", "action", "combination"}``, optionally ``"version"``).

    Raises ``ValueError`` naming the offending path (``conditions[1].amount: ...``)."""
    if not isinstance(definition, Mapping):
        raise ValueError(f"expected an object, got {type(definition).__name__}")
    return from_dict(
        {
            **definition,
            "id": id,
            "title": title,
            "priority": priority,
            "code": None,
            "starts_at": None if starts_at is None else starts_at.isoformat(),
            "ends_at": None if ends_at is None else ends_at.isoformat(),
            "currency": currency,
        },
        usage=usage,
    )


class _Cache:
    """Parsed promotions of one database: id -> (updated_at, Promotion); and the last
    counted copy of each automatic one (id -> (the parsed one, its counters, the
    copy)), handed out again while neither the definition nor the counters changed."""

    __slots__ = ("counted", "entries", "last")

    def __init__(self) -> None:
        self.entries: dict[int, tuple[datetime, Promotion]] = {}
        self.counted: dict[int, tuple[Promotion, tuple[Any, ...], Promotion]] = {}
        # The last answer per (codes entered, customer key): the candidate rows as
        # plain tuples and the promotions built from them (see active_promotions).
        self.last: dict[tuple[Any, ...], tuple[list[tuple[Any, ...]], list[Promotion]]] = {}


# One cache per engine: tests and tools may talk to several databases whose promotion
# ids overlap.
_CACHES: weakref.WeakKeyDictionary[Engine, _Cache] = weakref.WeakKeyDictionary()


def _cache(conn: AsyncConnection) -> _Cache:
    engine = conn.sync_engine
    cache = _CACHES.get(engine)
    if cache is None:
        cache = _CACHES[engine] = _Cache()
    return cache


def normalize_customer_key(value: str | None) -> str | None:
    """The key per-customer limits count under: trimmed and lowercased (so an email
    matches however it is typed); ``None`` for a blank or missing key."""
    if value is None:
        return None
    key = value.strip().lower()
    return key or None


# ----------------------------------------------------------------- loading


def _left(limit: int | None, used: int | None) -> int | None:
    return None if limit is None else limit - (used or 0)


def _least(*values: int | None) -> int | None:
    known = [v for v in values if v is not None]
    return min(known) if known else None


_CANDIDATES: dict[tuple[Any, ...], Any] = {}
_LAST_ANSWERS = 256  # (codes, customer key) pairs remembered per database, oldest out


def _candidates(entered: bool, keyed: bool) -> Any:
    """``active_promotions``' statement for its shape (codes entered or not, customer
    key or not), built once per shape with bind parameters ``now``, ``currency``,
    ``entered`` and ``key``: no construction or cache key per call."""
    stmt = _CANDIDATES.get((entered, keyed))
    if stmt is not None:
        return stmt
    p = promotions_t
    automatic = and_(
        p.c.method == "AUTOMATIC",
        or_(p.c.starts_at.is_(None), p.c.starts_at <= bindparam("now")),
        or_(p.c.ends_at.is_(None), p.c.ends_at > bindparam("now")),
        or_(p.c.currency.is_(None), p.c.currency == bindparam("currency")),
    )
    stmt, source = _counters_select(entered, keyed)
    if entered:
        which = or_(automatic, and_(p.c.method == "CODE", codes_t.c.id.is_not(None)))
    else:
        which = automatic
    stmt = stmt.select_from(source).where(p.c.status == "ACTIVE", which).order_by(p.c.id)
    built = _CANDIDATES[(entered, keyed)] = fast.Prebuilt(stmt)
    return built


def _counters_select(entered: bool, keyed: bool) -> tuple[Any, Any]:
    """The columns of a candidate row (its counters, the entered codes' and the
    customer key's) and the joins they come from."""
    p = promotions_t
    stmt = select(
        p.c.id,
        p.c.updated_at,
        p.c.method,
        p.c.usage_limit,
        p.c.times_used,
        p.c.per_customer_limit,
        p.c.budget,
        p.c.spent,
    )
    source: Any = p
    if entered:
        dc = codes_t
        source = source.outerjoin(
            dc,
            and_(dc.c.promotion_id == p.c.id, dc.c.code.in_(bindparam("entered", expanding=True))),
        )
        stmt = stmt.add_columns(
            dc.c.code, dc.c.usage_limit.label("code_limit"), dc.c.times_used.label("code_used")
        )
    if keyed:
        source = source.outerjoin(
            usage_t,
            and_(usage_t.c.promotion_id == p.c.id, usage_t.c.customer_key == bindparam("key")),
        )
        stmt = stmt.add_columns(usage_t.c.times_used.label("customer_used"))
    return stmt, source


def _counters_of(entered: bool, keyed: bool) -> Any:
    shape = ("ids", entered, keyed)
    stmt = _CANDIDATES.get(shape)
    if stmt is None:
        stmt, source = _counters_select(entered, keyed)
        stmt = (
            stmt.select_from(source)
            .where(promotions_t.c.id.in_(bindparam("ids", expanding=True)))
            .order_by(promotions_t.c.id)
        )
        stmt = _CANDIDATES[shape] = fast.Prebuilt(stmt)
    return stmt


def _entered_and_key(
    codes: Sequence[str], customer_key: str | None, params: dict[str, Any]
) -> tuple[list[str], str | None]:
    """The entered codes (normalized, once each, in order) and the customer key, also
    set in ``params`` (``entered``, ``key``) when there are any."""
    entered = list(dict.fromkeys(n for n in (normalize_code(c) for c in codes) if n))
    key = normalize_customer_key(customer_key)
    if entered:
        params["entered"] = entered
    if key is not None:
        params["key"] = key
    return entered, key


def _by_promotion(
    rows: Sequence[Any], entered: bool
) -> tuple[dict[int, Any], dict[int, list[Any]]]:
    """The candidate rows (one per promotion, or per (promotion, entered code) for
    code promotions) by promotion: its first row, and the rows of its entered codes."""
    heads: dict[int, Any] = {}
    matched: dict[int, list[Any]] = {}
    for row in rows:
        heads.setdefault(row.id, row)
        if entered and row.code is not None:
            matched.setdefault(row.id, []).append(row)
    return heads, matched


async def counted_again(
    conn: AsyncConnection,
    promotions: Sequence[Promotion],
    *,
    codes: Sequence[str],
    customer_key: str | None,
) -> dict[int, Promotion]:
    """``promotions`` (as ``active_promotions`` gave them) with their counters read
    now, by id, in one statement: what ``active_promotions`` would give for them now
    (their definitions unchanged). One that no longer comes back (its codes gone) is
    absent."""
    if not promotions:
        return {}
    params: dict[str, Any] = {"ids": [p.id for p in promotions]}
    entered, key = _entered_and_key(codes, customer_key, params)
    rows = (await fast.execute(conn, _counters_of(bool(entered), key is not None), params)).all()
    heads, matched = _by_promotion(rows, bool(entered))
    rank = {code: n for n, code in enumerate(entered)}
    out: dict[int, Promotion] = {}
    for p in promotions:
        head = heads.get(p.id)
        if head is None:
            continue
        again = _counted(p, head, matched.get(p.id, ()), rank, {})
        if again is not None:
            out[p.id] = again
    return out


async def active_promotions(
    conn: AsyncConnection,
    *,
    currency: str,
    codes: Sequence[str],
    customer_key: str | None,
    now: datetime,
) -> list[Promotion]:
    """The promotions that may apply to a basket in ``currency`` at ``now``.

    Returns every ACTIVE automatic promotion whose window contains ``now`` and whose
    currency is ``currency`` (or none), plus every ACTIVE code promotion one of whose
    discount codes is in ``codes`` (matched like the engine: trimmed, casefolded).
    Code promotions are returned even outside their window or in another currency, so
    the engine can tell the shopper why the code does not apply (``EXPIRED``,
    ``NOT_STARTED``, ``WRONG_CURRENCY``); a code of a paused or archived promotion is
    unknown.

    Each promotion's ``UsageState`` comes from the counters: ``code_uses_left`` is the
    smaller of the promotion's uses left and the entered code's uses left,
    ``customer_uses_left`` the uses left for ``customer_key`` (see :func:`normalize_customer_key`;
    with no key the full per-customer limit, as nothing can be counted yet; checkout
    must pass the customer id or email) and ``budget_left`` the budget minus what was
    spent. A code promotion's ``code`` is the entered code(s) that activate it, those
    with uses left first.

    At most two statements whatever the number of promotions or codes."""
    params: dict[str, Any] = {"now": now, "currency": currency}
    entered, key = _entered_and_key(codes, customer_key, params)
    rows = (await fast.execute(conn, _candidates(bool(entered), key is not None), params)).all()
    if not rows:
        return []
    # The same rows as the last time for these codes and key (nothing redeemed, edited
    # or started since): the same promotions. Comparing plain tuples costs a fraction
    # of reading each row's counters again (the rows carry each promotion's
    # updated_at, counters and codes: everything the answer is built from).
    cache = _cache(conn)
    snapshot = [tuple(r) for r in rows]
    memo_key = (tuple(entered), key)
    last = cache.last.get(memo_key)
    if last is not None and last[0] == snapshot:
        return list(last[1])

    heads, matched = _by_promotion(rows, bool(entered))

    entries = cache.entries
    stale = [
        pid
        for pid, row in heads.items()
        if (hit := entries.get(pid)) is None or hit[0] != row.updated_at
    ]
    if stale:
        await _parse_into(conn, cache, stale)

    rank = {code: n for n, code in enumerate(entered)}
    out: list[Promotion] = []
    complete = True
    for pid, row in heads.items():
        hit = entries.get(pid)
        if hit is None:
            complete = False  # its definition could not be read: logged, skipped
            continue
        promotion = _counted(hit[1], row, matched.get(pid, ()), rank, cache.counted)
        if promotion is not None:
            out.append(promotion)
    if complete:  # (a definition that failed to parse is tried again next time)
        if len(cache.last) >= _LAST_ANSWERS:
            cache.last.pop(next(iter(cache.last)))
        cache.last[memo_key] = (snapshot, out)
    return list(out)


def _counted(
    base: Promotion,
    row: Any,
    hits: Sequence[Any],
    rank: Mapping[str, int],
    memo: dict[int, tuple[Promotion, tuple[Any, ...], Promotion]],
) -> Promotion | None:
    """``base`` with the ``UsageState`` of its counters (``row``) and, for a code
    promotion, the entered codes that activate it (``hits``; None when none does).
    An automatic promotion's copy is kept in ``memo`` and handed out again while
    its definition and counters are unchanged (promotions are immutable)."""
    if (
        row.method == "AUTOMATIC"
        and row.usage_limit is None
        and row.per_customer_limit is None
        and row.budget is None
    ):
        return base  # nothing counted: the cached object as it is
    customer_used = getattr(row, "customer_used", None)
    if row.method != "CODE":
        counters = (
            row.usage_limit,
            row.times_used,
            row.per_customer_limit,
            customer_used,
            row.budget,
            row.spent,
        )
        last = memo.get(base.id)
        if last is not None and last[0] is base and last[1] == counters:
            return last[2]
    uses_left = _left(row.usage_limit, row.times_used)
    usage = UsageState(
        code_uses_left=uses_left,
        customer_uses_left=None
        if row.per_customer_limit is None
        else _left(row.per_customer_limit, customer_used),
        budget_left=_left(row.budget, row.spent),
    )
    if row.method != "CODE":
        counted = _with_usage(base, usage)
        memo[base.id] = (base, counters, counted)
        return counted
    ordered = sorted(hits, key=lambda r: rank[r.code])
    if not ordered:
        return None
    usable = [r for r in ordered if r.code_limit is None or r.code_limit - r.code_used > 0]
    chosen = usable or ordered
    first = chosen[0]
    usage = replace(
        usage, code_uses_left=_least(uses_left, _left(first.code_limit, first.code_used))
    )
    return replace(base, code=tuple(r.code for r in chosen), usage=usage)


def _with_usage(base: Promotion, usage: UsageState) -> Promotion:
    """``replace(base, usage=usage)`` without re-validating the whole definition (the
    usage is the only change, and ``UsageState`` validated itself)."""
    clone = copy.copy(base)
    object.__setattr__(clone, "usage", usage)
    return clone


async def _parse_into(conn: AsyncConnection, cache: _Cache, pids: Sequence[int]) -> None:
    p = promotions_t
    rows = (
        await conn.execute(
            select(
                p.c.id,
                p.c.title,
                p.c.priority,
                p.c.definition,
                p.c.currency,
                p.c.starts_at,
                p.c.ends_at,
                p.c.updated_at,
            ).where(p.c.id.in_(pids))
        )
    ).all()
    for row in rows:
        try:
            promotion = build_promotion(
                id=row.id,
                title=row.title,
                priority=row.priority,
                definition=row.definition,
                currency=row.currency,
                starts_at=row.starts_at,
                ends_at=row.ends_at,
            )
        except ValueError:
            # A definition written by an older engine or a plugin that is no longer
            # installed: skip the promotion rather than fail every checkout.
            log.exception("promotion %s: unreadable definition, skipped", row.id)
            cache.entries.pop(row.id, None)
            continue
        cache.entries[row.id] = (row.updated_at, promotion)


# ----------------------------------------------------------------- redeeming


# redeem()'s conditional counter UPDATEs, built once (bound per call).
_TAKE_PROMOTION = (
    update(promotions_t)
    .where(
        promotions_t.c.id == bindparam("pid"),
        promotions_t.c.status == "ACTIVE",
        or_(
            promotions_t.c.usage_limit.is_(None),
            promotions_t.c.times_used < promotions_t.c.usage_limit,
        ),
        or_(
            promotions_t.c.budget.is_(None),
            promotions_t.c.spent + bindparam("spend") <= promotions_t.c.budget,
        ),
    )
    .values(
        times_used=promotions_t.c.times_used + 1,
        spent=promotions_t.c.spent + bindparam("spend"),
    )
    .returning(promotions_t.c.per_customer_limit)
)
_TAKE_CODE = (
    update(codes_t)
    .where(
        codes_t.c.promotion_id == bindparam("pid"),
        codes_t.c.code == bindparam("norm"),
        or_(codes_t.c.usage_limit.is_(None), codes_t.c.times_used < codes_t.c.usage_limit),
    )
    .values(times_used=codes_t.c.times_used + 1)
    .returning(codes_t.c.id)
)


async def redeem(
    conn: AsyncConnection,
    result: Result,
    promotions: Sequence[Promotion],
    *,
    order_ref: str,
    customer_key: str | None,
    currency: str,
) -> list[tuple[int, str]]:
    """Record ``result``'s applied promotions for order ``order_ref``, inside the
    caller's transaction. Returns ``(promotion_id, reason)`` for every promotion that
    can no longer be given (``USAGE_LIMIT_REACHED``, ``BUDGET_EXHAUSTED``,
    ``UNKNOWN_CODE``, ``NOT_ACTIVE``); empty when everything was recorded.

    On a non-empty answer the caller MUST roll its transaction back (counters of the
    other allocations were already taken), then reprice with fresh
    :func:`active_promotions` and try again.

    Per allocation: one conditional UPDATE of the promotion (``times_used + 1`` while
    under ``usage_limit``, ``spent + amount`` while within ``budget``), one of the code
    that activated it (while under the code's limit), and, when the promotion has a
    per-customer limit and a ``customer_key`` is given, a conditional upsert of the
    customer's counter; then one INSERT of all redemption rows. Row locks (PostgreSQL,
    READ COMMITTED: a waiting UPDATE re-checks its WHERE on the committed row) and the
    single writer (SQLite) make these exact under any concurrency; the table CHECKs
    back them up. Without a customer key the per-customer limit cannot be counted and
    is not enforced. Budgets are in the promotion's currency; a promotion without a
    currency has no budget and ``spent`` stays 0."""
    by_id = {promotion.id: promotion for promotion in promotions}
    key = normalize_customer_key(customer_key)
    failures: list[tuple[int, str]] = []
    rows: list[dict[str, Any]] = []
    now = utcnow()
    for allocation in result.allocations:
        pid = allocation.promotion_id
        promotion = by_id.get(pid)
        if promotion is None:
            raise ValueError(f"allocation of promotion {pid}, which is not in `promotions`")
        if promotion.currency is not None and promotion.currency != currency:
            raise ValueError(f"promotion {pid} is in {promotion.currency}, the order in {currency}")
        amount = allocation.amount
        spend = amount if promotion.currency is not None else 0
        took = (await conn.execute(_TAKE_PROMOTION, {"pid": pid, "spend": spend})).first()
        if took is None:
            failures.append((pid, await _why_not(conn, pid, spend)))
            continue
        code_id = norm = None
        if allocation.code is not None:
            taken = await _take_code(conn, pid, allocation.code)
            if isinstance(taken, Reason):
                failures.append((pid, taken))
                continue
            code_id, norm = taken
        if took.per_customer_limit is not None and key is not None:
            if not await _count_customer(conn, pid, key, took.per_customer_limit):
                failures.append((pid, Reason.USAGE_LIMIT_REACHED))
                continue
        rows.append(
            {
                "promotion_id": pid,
                "code_id": code_id,
                "code": norm,
                "order_ref": order_ref,
                "customer_key": key,
                "amount": amount,
                "currency": currency,
                "created_at": now,
            }
        )
    if rows and not failures:
        # executemany: one batched INSERT from a cached compilation (.values(list)
        # would be compiled again on every call).
        await conn.execute(insert(redemptions_t), rows)
    return [(pid, str(reason)) for pid, reason in failures]


async def _take_code(conn: AsyncConnection, pid: int, entered: str) -> tuple[int, str] | Reason:
    """One use of the entered code, while under its limit: the code's id and its
    normalized form, or why it can't be used."""
    norm = normalize_code(entered)
    code = (await conn.execute(_TAKE_CODE, {"pid": pid, "norm": norm})).first()
    if code is None:
        exists = await conn.scalar(
            select(codes_t.c.id).where(codes_t.c.promotion_id == pid, codes_t.c.code == norm)
        )
        return Reason.USAGE_LIMIT_REACHED if exists else Reason.UNKNOWN_CODE
    return code.id, norm


async def _count_customer(conn: AsyncConnection, pid: int, key: str, limit: int) -> bool:
    """One more use for this customer, if under ``limit``: a conditional upsert."""
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = dialect_insert(usage_t).values(promotion_id=pid, customer_key=key, times_used=1)
    upsert = stmt.on_conflict_do_update(
        index_elements=[usage_t.c.promotion_id, usage_t.c.customer_key],
        set_={"times_used": usage_t.c.times_used + 1},
        where=usage_t.c.times_used < limit,
    ).returning(usage_t.c.times_used)
    return (await conn.execute(upsert)).first() is not None


async def _why_not(conn: AsyncConnection, pid: int, spend: int) -> str:
    p = promotions_t
    row = (
        await conn.execute(
            select(p.c.status, p.c.usage_limit, p.c.times_used, p.c.budget, p.c.spent).where(
                p.c.id == pid
            )
        )
    ).first()
    if row is None or row.status != "ACTIVE":
        return NOT_ACTIVE
    if row.usage_limit is not None and row.times_used >= row.usage_limit:
        return Reason.USAGE_LIMIT_REACHED
    return Reason.BUDGET_EXHAUSTED


# ----------------------------------------------------------------- explaining


REASON_MESSAGES: dict[str, str] = {
    Reason.UNKNOWN_CODE: "This code doesn't exist.",
    Reason.DUPLICATE_CODE: "This code was already entered.",
    Reason.NOT_STARTED: "This code isn't valid yet.",
    Reason.EXPIRED: "This code has expired.",
    Reason.WRONG_CURRENCY: "This code isn't valid in this currency.",
    Reason.WRONG_CHANNEL: "This code isn't valid in this store.",
    Reason.WRONG_COUNTRY: "This code isn't valid for this country.",
    Reason.CUSTOMER_NOT_ELIGIBLE: "This code isn't available for your account.",
    Reason.FIRST_ORDER_ONLY: "This code is only valid on a first order.",
    Reason.CODE_REQUIRED: "This offer needs a code.",
    Reason.MIN_SUBTOTAL_NOT_MET: "Your cart doesn't reach this code's minimum amount yet.",
    Reason.MIN_QUANTITY_NOT_MET: "Your cart doesn't have enough items for this code yet.",
    Reason.NO_MATCHING_ITEMS: "Nothing in your cart qualifies for this code.",
    Reason.USAGE_LIMIT_REACHED: "This code has reached its usage limit.",
    Reason.BUDGET_EXHAUSTED: "This offer has ended.",
    Reason.NOT_COMBINABLE: "This code can't be combined with the discounts already applied.",
    Reason.BETTER_DEAL_APPLIED: "A better discount already applies to your cart.",
    Reason.NO_DISCOUNT: "This code gives no further discount on your cart.",
    NOT_ACTIVE: "This offer is no longer available.",
}


def reason_message(reason: str) -> str:
    """A short shopper-facing sentence for a reason code (English)."""
    return REASON_MESSAGES.get(reason, "This code can't be applied to your cart.")


@dataclass(frozen=True, slots=True)
class CodeExplanation:
    code: str  # as entered
    applicable: bool
    reason: str | None  # a stable reason code when not applicable
    message: str | None  # shopper-facing text when not applicable


def explain_code(status: CodeStatus) -> CodeExplanation:
    """A code's status from the engine's ``Result.codes``, as the cart shows it."""
    if status.applicable:
        return CodeExplanation(status.code, True, None, None)
    reason = str(status.reason or Reason.UNKNOWN_CODE)
    return CodeExplanation(status.code, False, reason, reason_message(reason))
