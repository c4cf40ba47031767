"""Discount codes for staff: create codes one by one or generate them by the
thousand (one statement), and read them back with their counters. Usage counters
are never written here: only :func:`hub.domain.promotions.store.redeem` moves them."""

from __future__ import annotations

import re
import secrets
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from hub import ids
from hub.db.database import Database, Reader
from hub.db.models.base import UTCDateTime, utcnow
from hub.db.tables import codes_t, promotions_t
from hub.domain.errors import Errors, fail
from hub.domain.paging import rank_within
from hub.domain.promotions.basket import normalize_code
from hub.domain.promotions.errors import PromotionCode

MAX_GENERATE = 10_000
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # 32 symbols, no 0/O or 1/I
MIN_CODE_LENGTH, MAX_CODE_LENGTH, DEFAULT_CODE_LENGTH = 8, 32, 12
MAX_PREFIX = 20
CODE_RE = re.compile(r"^[\w-]{1,64}$")
PREFIX_RE = re.compile(r"^[A-Za-z0-9_-]*$")


class DiscountCodeRecord:
    __slots__ = ("code", "created_at", "id", "pk", "promotion_pk", "times_used", "usage_limit")

    def __init__(self, row: Any) -> None:
        self.pk = row.id
        self.id = ids.encode("DiscountCode", row.id)
        self.promotion_pk = row.promotion_id
        self.code = row.display_code
        self.usage_limit = row.usage_limit
        self.times_used = row.times_used
        self.created_at = row.created_at


async def codes_by_pks(reader: Reader, pks: Sequence[int]) -> dict[int, DiscountCodeRecord]:
    rows = await reader.all(select(codes_t).where(codes_t.c.id.in_(pks)))
    return {r.id: DiscountCodeRecord(r) for r in rows}


async def codes_by_promotions(
    reader: Reader, pks: Sequence[int], first: int, after: int | None
) -> dict[int, tuple[list[DiscountCodeRecord], bool]]:
    """The first ``first`` codes (by id, after code id ``after``) of each promotion,
    and whether it has more: one statement for any number of promotions."""
    dc = codes_t
    cond: list[ColumnElement[bool]] = [dc.c.promotion_id.in_(pks)]
    if after is not None:
        cond.append(dc.c.id > after)
    ranked = (
        select(
            dc,
            rank_within(dc.c.promotion_id, dc.c.id),
        )
        .where(*cond)
        .subquery()
    )
    rows = await reader.all(
        select(ranked).where(ranked.c.rn <= first + 1).order_by(ranked.c.promotion_id, ranked.c.id)
    )
    out: dict[int, tuple[list[DiscountCodeRecord], bool]] = {}
    grouped: dict[int, list[Any]] = defaultdict(list)
    for r in rows:
        grouped[r.promotion_id].append(r)
    for pk in pks:
        got = grouped.get(pk, [])
        out[pk] = ([DiscountCodeRecord(r) for r in got[:first]], len(got) > first)
    return out


# --------------------------------------------------------------------------- writes


def check_limit(errs: Errors, value: Any, name: str, label: str) -> None:
    """A usage limit (field ``name``, ``label`` in messages) is None or a count >= 1."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        errs.add(PromotionCode.INVALID, f"{label} must be a whole number of at least 1", name)


async def _code_promotion(conn: AsyncConnection, pk: int) -> None:
    method = await conn.scalar(select(promotions_t.c.method).where(promotions_t.c.id == pk))
    if method is None:
        raise fail(PromotionCode.NOT_FOUND, "promotion not found", "promotion_id")
    if method != "CODE":
        raise fail(
            PromotionCode.INVALID,
            "this promotion applies automatically; codes belong to promotions with method CODE",
            "promotion_id",
        )


async def insert_code(
    conn: AsyncConnection, promotion_pk: int, display: str, usage_limit: int | None
) -> int:
    """Insert the checked code ``display`` (see :func:`create_code`) for CODE promotion
    ``promotion_pk``, in the caller's transaction."""
    await _code_promotion(conn, promotion_pk)
    try:
        res = await conn.execute(
            insert(codes_t)
            .values(
                promotion_id=promotion_pk,
                code=normalize_code(display),
                display_code=display,
                usage_limit=usage_limit,
                times_used=0,
                created_at=utcnow(),
            )
            .returning(codes_t.c.id)
        )
    except IntegrityError:
        raise fail(PromotionCode.TAKEN, f"the code {display!r} is already taken", "code") from None
    return res.scalar_one()


async def create_code(db: Database, promotion_pk: int, code: str, usage_limit: int | None) -> int:
    errs = Errors()
    display = (code or "").strip()
    if not display:
        errs.add(PromotionCode.BLANK, "code can't be blank", "code")
    elif len(display) > 64 or len(normalize_code(display)) > 64:
        errs.add(PromotionCode.TOO_LONG, "code is longer than 64 characters", "code")
    elif not CODE_RE.match(display):
        errs.add(PromotionCode.INVALID, "a code is letters, digits, '-' and '_'", "code")
    check_limit(errs, usage_limit, "usage_limit", "usageLimit")
    errs.raise_if_any()
    async with db.transaction() as conn:
        return await insert_code(conn, promotion_pk, display, usage_limit)


def random_codes(count: int, prefix: str, length: int) -> list[str]:
    """``count`` distinct codes: ``prefix`` + ``length`` symbols drawn with ``secrets``
    from a 32-symbol alphabet (5 bits each, so 12 symbols are 60 bits)."""
    out: dict[str, None] = {}
    while len(out) < count:
        out[prefix + "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))] = None
    return list(out)


_INSERT_CODES = {
    # One statement however many codes: the codes travel as one JSON array parameter.
    # (The WHERE true lets SQLite parse INSERT ... SELECT ... ON CONFLICT.)
    "sqlite": "INSERT INTO discount_codes "
    "(promotion_id, code, display_code, usage_limit, times_used, created_at) "
    "SELECT :pid, lower(value), value, :lim, 0, :now FROM json_each(:codes) WHERE true "
    "ON CONFLICT (code) DO NOTHING RETURNING display_code",
    "postgresql": "INSERT INTO discount_codes "
    "(promotion_id, code, display_code, usage_limit, times_used, created_at) "
    "SELECT :pid, lower(c), c, :lim, 0, :now "
    "FROM json_array_elements_text(CAST(:codes AS json)) AS c "
    "ON CONFLICT (code) DO NOTHING RETURNING display_code",
}


async def generate_codes(
    db: Database,
    promotion_pk: int,
    count: int,
    *,
    prefix: str = "",
    length: int = DEFAULT_CODE_LENGTH,
    usage_limit: int | None = None,
) -> list[str]:
    """Make ``count`` (at most 10,000) unguessable codes for a CODE promotion in one
    multi-row INSERT; returns them as stored (``prefix`` + random symbols)."""
    errs = Errors()
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        errs.add(PromotionCode.INVALID, "count must be at least 1", "count")
    elif count > MAX_GENERATE:
        errs.add(
            PromotionCode.LIMIT_EXCEEDED,
            f"generate at most {MAX_GENERATE:,} codes at once",
            "count",
        )
    prefix = prefix or ""
    if len(prefix) > MAX_PREFIX:
        errs.add(PromotionCode.TOO_LONG, f"prefix is longer than {MAX_PREFIX} characters", "prefix")
    elif not PREFIX_RE.match(prefix):
        errs.add(PromotionCode.INVALID, "prefix is ASCII letters, digits, '-' and '_'", "prefix")
    if not MIN_CODE_LENGTH <= length <= MAX_CODE_LENGTH:
        errs.add(
            PromotionCode.INVALID,
            f"length must be between {MIN_CODE_LENGTH} and {MAX_CODE_LENGTH} "
            "(8 random symbols are 40 bits)",
            "length",
        )
    check_limit(errs, usage_limit, "usage_limit", "usageLimit")
    errs.raise_if_any()
    async with db.transaction() as conn:
        return await insert_codes(conn, promotion_pk, count, prefix, length, usage_limit)


async def insert_codes(
    conn: AsyncConnection,
    promotion_pk: int,
    count: int,
    prefix: str,
    length: int,
    usage_limit: int | None,
) -> list[str]:
    """Insert ``count`` random codes (checked arguments; see :func:`generate_codes`)
    for CODE promotion ``promotion_pk``, in the caller's transaction."""
    await _code_promotion(conn, promotion_pk)
    stmt = text(_INSERT_CODES[conn.dialect.name]).bindparams(bindparam("now", type_=UTCDateTime()))
    made: list[str] = []
    for _ in range(5):  # a collision with an existing code is astronomically rare
        want = random_codes(count - len(made), prefix, length)
        res = await conn.execute(
            stmt,
            {
                "pid": promotion_pk,
                "lim": usage_limit,
                "now": utcnow(),
                "codes": orjson.dumps(want).decode(),
            },
        )
        made.extend(r[0] for r in res)
        if len(made) == count:
            return made
    raise fail(
        PromotionCode.INVALID,
        "could not make enough unique codes; use a longer length",
        "length",
    )
