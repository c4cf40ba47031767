"""Promotions for staff: create, change, archive and delete promotions, and read them
back with their counters (discount codes: :mod:`.discount_codes`).

Writes validate everything first (a definition through the engine's ``from_dict``,
so an error names its path, e.g. ``definition.action.percent``), run in one
transaction and raise :class:`DomainError` with stable codes; nothing is written on
error. Usage counters are never written here: only :func:`.store.redeem` moves
them."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import ids
from hub.db.database import Database, Reader
from hub.db.models.base import utcnow
from hub.db.models.promotions import PROMOTION_METHODS, PROMOTION_STATUSES
from hub.db.tables import codes_t, deletions_t, promotions_t, redemptions_t
from hub.domain.errors import Errors, fail
from hub.domain.paging import PageRequest, id_page
from hub.domain.promotions.basket import normalize_code
from hub.domain.promotions.discount_codes import check_limit
from hub.domain.promotions.errors import PromotionCode
from hub.domain.promotions.store import build_promotion
from hub.money import MoneyError, exponent, is_currency, parse_amount

DEFINITION_KEYS = frozenset({"version", "conditions", "action", "combination"})
MAX_PRIORITY = 1_000_000
MAX_MINOR = 2**62  # budgets fit a BIGINT with room to count


class _Keep:
    """Marks an input field that was not given (so an update leaves it alone)."""

    _instance: _Keep | None = None

    def __new__(cls) -> _Keep:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()


# --------------------------------------------------------------------------- records


class PromotionRecord:
    __slots__ = (
        "budget",
        "codes_count",
        "created_at",
        "currency",
        "definition",
        "ends_at",
        "id",
        "method",
        "per_customer_limit",
        "pk",
        "priority",
        "spent",
        "starts_at",
        "status",
        "times_used",
        "title",
        "updated_at",
        "usage_limit",
    )

    def __init__(self, row: Any) -> None:
        self.pk = row.id
        self.id = ids.encode("Promotion", row.id)
        self.title = row.title
        self.status = row.status
        self.method = row.method
        self.priority = row.priority
        self.definition = row.definition
        self.currency = row.currency
        self.starts_at = row.starts_at
        self.ends_at = row.ends_at
        self.usage_limit = row.usage_limit
        self.per_customer_limit = row.per_customer_limit
        self.budget = row.budget
        self.spent = row.spent
        self.times_used = row.times_used
        self.codes_count = row.codes_count
        self.created_at = row.created_at
        self.updated_at = row.updated_at


def _codes_count() -> Any:
    return (
        select(func.count())
        .select_from(codes_t)
        .where(codes_t.c.promotion_id == promotions_t.c.id)
        .scalar_subquery()
        .label("codes_count")
    )


def _promotion_select() -> Any:
    return select(promotions_t, _codes_count())


async def promotions_by_pks(reader: Reader, pks: Sequence[int]) -> dict[int, PromotionRecord]:
    rows = await reader.all(_promotion_select().where(promotions_t.c.id.in_(pks)))
    return {r.id: PromotionRecord(r) for r in rows}


async def list_promotions(
    reader: Reader, page: PageRequest, *, query: str | None = None, status: str | None = None
) -> tuple[list[PromotionRecord], list[str], bool, bool]:
    """Keyset page by id. ``query`` matches words of the title (case-insensitive) or
    a discount code exactly; ``status`` narrows to one status."""
    p = promotions_t
    stmt = _promotion_select()
    if status is not None:
        stmt = stmt.where(p.c.status == status)
    if query and query.strip():
        term = query.strip()
        like = "%" + term.lower().replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
        stmt = stmt.where(
            or_(
                func.lower(p.c.title).like(like + "%", escape="\\"),
                p.c.id.in_(
                    select(codes_t.c.promotion_id).where(codes_t.c.code == normalize_code(term))
                ),
            )
        )
    rows, cursors, has_next, has_prev = await id_page(reader, stmt, p.c.id, page, "PR")
    return [PromotionRecord(r) for r in rows], cursors, has_next, has_prev


# --------------------------------------------------------------------------- writes


@dataclass
class PromotionInput:
    """What an admin sends. ``KEEP`` (the default) = not given; on update, ``None``
    clears a nullable field (a limit, a budget, a date, the currency)."""

    title: Any = KEEP
    status: Any = KEEP
    method: Any = KEEP
    priority: Any = KEEP
    definition: Any = KEEP  # {"conditions", "action", "combination"} in the engine's JSON
    currency: Any = KEEP
    starts_at: Any = KEEP
    ends_at: Any = KEEP
    usage_limit: Any = KEEP
    per_customer_limit: Any = KEEP
    budget: Any = KEEP  # Decimal, in `currency`


_DEFAULTS: dict[str, Any] = {
    "status": "ACTIVE",
    "method": "AUTOMATIC",
    "priority": 0,
    "currency": None,
    "starts_at": None,
    "ends_at": None,
    "usage_limit": None,
    "per_customer_limit": None,
    "budget": None,
}
_PATH_RE = re.compile(r"^([A-Za-z_][\w]*(?:\[\d+\]|\.[A-Za-z_]\w*)*): (.*)$", re.S)


def _definition_error(errs: Errors, message: str, definition: Mapping[str, Any]) -> None:
    """Map a ``from_dict`` error ("action.percent: must be ...", or "action: percent
    must be ...") to a userError on ``definition.action.percent``; promotion-level
    errors to the input field they concern."""
    match = _PATH_RE.match(message)
    path: list[str] = []
    text_ = message
    if match and match.group(1) != "promotion":
        path = [part for part in re.split(r"[.\[\]]+", match.group(1)) if part]
        text_ = match.group(2)
    elif match:
        text_ = match.group(2)
    node: Any = definition
    for part in path:
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            node = None
    first = text_.split(" ", 1)[0]
    if path and isinstance(node, Mapping) and first in node:
        path.append(first)  # "percent must be ..." names the field
    if "set its currency" in text_:
        errs.add(
            PromotionCode.BLANK,
            "the definition holds amounts (minor units): set currencyCode",
            "currency",
        )
        return
    if "ends_at" in text_ and "must be after" in text_ and not path:
        errs.add(PromotionCode.INVALID, "endsAt must be after startsAt", "ends_at")
        return
    where = ".".join(["definition", *path])
    errs.add(PromotionCode.INVALID, f"{where}: {text_}", "definition", *path)


def _validate(errs: Errors, merged: dict[str, Any], pk: int) -> int | None:
    """Check a promotion's full state; return its budget in minor units."""
    title = merged["title"]
    if title is None or not str(title).strip():
        errs.add(PromotionCode.BLANK, "title can't be blank", "title")
    elif len(title) > 255:
        errs.add(PromotionCode.TOO_LONG, "title is longer than 255 characters", "title")
    if merged["status"] not in PROMOTION_STATUSES:
        errs.add(
            PromotionCode.INVALID,
            f"status must be one of {', '.join(PROMOTION_STATUSES)}",
            "status",
        )
    if merged["method"] not in PROMOTION_METHODS:
        errs.add(
            PromotionCode.INVALID, f"method must be one of {', '.join(PROMOTION_METHODS)}", "method"
        )
    priority = merged["priority"]
    if isinstance(priority, bool) or not isinstance(priority, int):
        errs.add(PromotionCode.INVALID, "priority must be a whole number", "priority")
    elif abs(priority) > MAX_PRIORITY:
        errs.add(
            PromotionCode.INVALID,
            f"priority must be between -{MAX_PRIORITY} and {MAX_PRIORITY}",
            "priority",
        )
    currency = merged["currency"]
    if currency is not None and not is_currency(currency):
        errs.add(
            PromotionCode.INVALID, f"{currency!r} is not an ISO 4217 currency code", "currency"
        )
        currency = None
    for name, label in (("starts_at", "startsAt"), ("ends_at", "endsAt")):
        value = merged[name]
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            errs.add(PromotionCode.INVALID, f"{label} needs a timezone offset (e.g. Z)", name)
    check_limit(errs, merged["usage_limit"], "usage_limit", "usageLimit")
    check_limit(errs, merged["per_customer_limit"], "per_customer_limit", "perCustomerLimit")
    budget_minor = None
    budget = merged["budget"]
    if budget is not None:
        if merged["currency"] is None:
            errs.add(PromotionCode.BLANK, "a budget needs currencyCode", "currency")
        elif currency is not None:
            try:
                budget_minor = parse_amount(budget, currency, max_minor=MAX_MINOR)
            except MoneyError as exc:
                errs.add(PromotionCode.INVALID, f"budget: {exc}", "budget")
    _validate_definition(errs, merged, pk, currency)
    return budget_minor


def _validate_definition(
    errs: Errors, merged: dict[str, Any], pk: int, currency: str | None
) -> None:
    """Check the definition: its keys, no coupon conditions, then the engine reads it."""
    definition = merged["definition"]
    if not isinstance(definition, Mapping):
        errs.add(PromotionCode.INVALID, "definition must be a JSON object", "definition")
        return
    unknown = sorted(set(definition) - DEFINITION_KEYS)
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        errs.add(
            PromotionCode.INVALID,
            f"definition: unknown field(s) {names}; a definition holds conditions, action "
            "and combination (title, priority, dates, currency and limits are input fields)",
            "definition",
        )
        return
    for n, condition in enumerate(definition.get("conditions") or ()):
        if isinstance(condition, Mapping) and condition.get("type") == "coupon_code":
            errs.add(
                PromotionCode.INVALID,
                f"definition.conditions[{n}]: codes are not part of a definition; create the "
                "promotion with method CODE and add codes with discountCodeCreate or "
                "discountCodesGenerate",
                "definition",
                "conditions",
                str(n),
            )
            return
    if errs.items:
        return
    try:
        build_promotion(
            id=pk,
            title=merged["title"],
            priority=merged["priority"],
            definition=definition,
            currency=currency,
            starts_at=merged["starts_at"],
            ends_at=merged["ends_at"],
        )
    except ValueError as exc:
        _definition_error(errs, str(exc), definition)


def _merge(data: PromotionInput, base: Mapping[str, Any]) -> dict[str, Any]:
    return {name: (base[name] if value is KEEP else value) for name, value in vars(data).items()}


def _later(now: datetime, previous: datetime) -> datetime:
    """``updated_at`` always moves forward: it is the definition cache's key."""
    return now if now > previous else previous + timedelta(microseconds=1)


async def insert_promotion(
    conn: AsyncConnection, merged: Mapping[str, Any], budget: int | None
) -> int:
    """Insert a promotion of checked values (see :func:`create_promotion`), in the
    caller's transaction."""
    now = utcnow()
    res = await conn.execute(
        insert(promotions_t)
        .values(
            title=merged["title"].strip(),
            status=merged["status"],
            method=merged["method"],
            priority=merged["priority"],
            definition=dict(merged["definition"]),
            currency=merged["currency"],
            starts_at=merged["starts_at"],
            ends_at=merged["ends_at"],
            usage_limit=merged["usage_limit"],
            per_customer_limit=merged["per_customer_limit"],
            budget=budget,
            spent=0,
            times_used=0,
            created_at=now,
            updated_at=now,
        )
        .returning(promotions_t.c.id)
    )
    return res.scalar_one()


async def create_promotion(db: Database, data: PromotionInput) -> int:
    errs = Errors()
    for name, field in (("title", "title"), ("definition", "definition")):
        if getattr(data, name) is KEEP or getattr(data, name) is None:
            errs.add(PromotionCode.BLANK, f"{field} is required", field)
    errs.raise_if_any()
    merged = _merge(data, {**_DEFAULTS})
    for name, value in _DEFAULTS.items():
        if merged[name] is None and value is not None:
            merged[name] = value  # null on create = the default
    budget = _validate(errs, merged, 0)
    errs.raise_if_any()
    async with db.transaction() as conn:
        return await insert_promotion(conn, merged, budget)


async def _locked(conn: AsyncConnection, pk: int) -> Any:
    stmt = select(promotions_t).where(promotions_t.c.id == pk)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()  # redemptions wait while the limits change
    return (await conn.execute(stmt)).first()


async def change_promotion(conn: AsyncConnection, pk: int, data: PromotionInput) -> int:
    """Change the given fields of promotion ``pk`` (its row locked on PostgreSQL while
    the limits are checked against its uses), in the caller's transaction."""
    row = await _locked(conn, pk)
    if row is None:
        raise fail(PromotionCode.NOT_FOUND, "promotion not found", "id")
    base = row._mapping
    errs = Errors()
    if data.method is not KEEP and data.method != row.method:
        errs.add(
            PromotionCode.INVALID,
            "method can't change; create a new promotion (and archive this one)",
            "method",
        )
    for name in ("title", "status", "priority", "definition"):
        if getattr(data, name) is None:
            errs.add(PromotionCode.BLANK, f"{name} can't be null", name)
    errs.raise_if_any()
    merged = _merge(data, {**base, "budget": None})
    if data.budget is KEEP:
        merged["budget"] = None if row.budget is None else _to_decimal(row.budget, row.currency)
    budget = _validate(errs, merged, pk)
    if merged["usage_limit"] is not None and merged["usage_limit"] < row.times_used:
        errs.add(
            PromotionCode.INVALID,
            f"usageLimit can't be below the {row.times_used} uses already made",
            "usage_limit",
        )
    if budget is not None and budget < row.spent:
        errs.add(PromotionCode.INVALID, "budget can't be below what was already spent", "budget")
    if merged["currency"] != row.currency and row.spent:
        errs.add(
            PromotionCode.CURRENCY_MISMATCH,
            f"the promotion already gave away {row.spent} minor units of {row.currency}; "
            "create a new promotion for another currency",
            "currency",
        )
    errs.raise_if_any()
    values = {
        "title": merged["title"].strip(),
        "status": merged["status"],
        "priority": merged["priority"],
        "definition": dict(merged["definition"]),
        "currency": merged["currency"],
        "starts_at": merged["starts_at"],
        "ends_at": merged["ends_at"],
        "usage_limit": merged["usage_limit"],
        "per_customer_limit": merged["per_customer_limit"],
        "budget": budget,
        "updated_at": _later(utcnow(), row.updated_at),
    }
    try:
        await conn.execute(update(promotions_t).where(promotions_t.c.id == pk).values(values))
    except IntegrityError:  # a redemption got in first (SQLite has no FOR UPDATE)
        raise fail(
            PromotionCode.INVALID, "the new limits are below the uses made meanwhile; try again"
        ) from None
    return pk


async def update_promotion(db: Database, pk: int, data: PromotionInput) -> int:
    async with db.transaction() as conn:
        await change_promotion(conn, pk, data)
    return pk


def _to_decimal(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-exponent(currency))


async def remove_promotion(conn: AsyncConnection, pk: int) -> None:
    """Delete promotion ``pk`` if no order used it, in the caller's transaction."""
    used = await conn.scalar(
        select(func.count()).select_from(redemptions_t).where(redemptions_t.c.promotion_id == pk)
    )
    if used:
        raise fail(
            PromotionCode.IN_USE,
            f"the promotion was used on {used} orders; archive it instead "
            "(promotionUpdate with status ARCHIVED)",
            "id",
        )
    try:
        res = await conn.execute(delete(promotions_t).where(promotions_t.c.id == pk))
    except IntegrityError:
        raise fail(
            PromotionCode.IN_USE, "the promotion was just used; archive it instead", "id"
        ) from None
    if res.rowcount == 0:
        raise fail(PromotionCode.NOT_FOUND, "promotion not found", "id")
    # Tills syncing changes (posSnapshot) learn of the deletion from this log.
    await conn.execute(
        insert(deletions_t).values(kind="PROMOTION", entity_id=pk, deleted_at=utcnow())
    )


async def delete_promotion(db: Database, pk: int) -> None:
    async with db.transaction() as conn:
        await remove_promotion(conn, pk)
