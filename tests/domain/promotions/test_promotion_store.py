"""The promotion store on SQLite and PostgreSQL: what active_promotions loads (filters,
usage state, statement count, cache), what redeem records, and limits and budgets
that hold when checkouts race on separate connections.

Every promotion made here is either a CODE promotion with codes unique to the test or
an automatic one in a currency no channel uses (CHF, NOK, SEK), so the carts and
checkouts other tests price against the shared demo database never see them."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, insert, select, update

from hub.db.models.base import utcnow
from hub.db.tables import codes_t, promotions_t, redemptions_t, usage_t
from hub.domain import promotions as admin
from hub.domain.promotions import (
    NOT_ACTIVE,
    Basket,
    BasketLine,
    Context,
    Result,
    UsageState,
    active_promotions,
    apply,
    explain_code,
    redeem,
)
from tests.helpers.client import Hub

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
TEST_ONLY = "test-only"  # a channel no test basket is priced in


def _uid() -> str:
    return uuid.uuid4().hex[:8].upper()


def _definition(
    action: dict[str, Any] | None = None, klass: str = "ORDER", conditions: list | None = None
) -> dict[str, Any]:
    return {
        "conditions": conditions or [],
        "action": action or {"type": "percent_off", "percent": "10"},
        "combination": {"class": klass, "combines_with": ["PRODUCT", "ORDER", "SHIPPING"]},
    }


async def _create(hub: Hub, **fields: Any) -> int:
    fields.setdefault("title", f"test {_uid()}")
    fields.setdefault("definition", _definition())
    return await admin.create_promotion(hub.db, admin.PromotionInput(**fields))


async def _code(hub: Hub, pk: int, code: str, usage_limit: int | None = None) -> None:
    await admin.create_code(hub.db, pk, code, usage_limit)


async def _active(hub: Hub, currency: str, codes=(), customer=None, now=NOW) -> dict[int, Any]:
    async with hub.db.read() as conn:
        got = await active_promotions(
            conn, currency=currency, codes=codes, customer_key=customer, now=now
        )
    return {p.id: p for p in got}


def _basket(currency: str, amount: int = 10000, qty: int = 1) -> Basket:
    return Basket(currency, (BasketLine("a", 1, 1, qty, amount),), shipping=500)


def _ctx(codes=(), now=NOW, channel: str = "web") -> Context:
    return Context(channel, "US", None, frozenset(), None, False, now, codes=tuple(codes))


# ----------------------------------------------------------------- loading


async def test_active_promotions_filters(hub: Hub) -> None:
    day = timedelta(days=1)
    # The automatic ones never apply (a channel no basket uses): loading is the point.
    inert = _definition(conditions=[{"type": "channel", "channels": [TEST_ONLY]}])
    plain = await _create(hub, currency="CHF", definition=inert)
    future = await _create(hub, currency="CHF", definition=inert, starts_at=NOW + day)
    ended = await _create(
        hub, currency="CHF", definition=inert, starts_at=NOW - 2 * day, ends_at=NOW - day
    )
    window = await _create(
        hub, currency="CHF", definition=inert, starts_at=NOW - day, ends_at=NOW + day
    )
    paused = await _create(hub, currency="CHF", definition=inert, status="PAUSED")
    other_currency = await _create(hub, currency="SEK", definition=inert)
    anywhere = await _create(hub, definition=inert)
    coded = await _create(hub, method="CODE", currency="CHF")
    expired_code = await _create(hub, method="CODE", currency="CHF", ends_at=NOW - day)
    archived_code = await _create(hub, method="CODE", status="ARCHIVED")
    c1, c2, c3 = f"T{_uid()}", f"T{_uid()}", f"T{_uid()}"
    await _code(hub, coded, c1)
    await _code(hub, expired_code, c2)
    await _code(hub, archived_code, c3)
    mine = {
        plain,
        future,
        ended,
        window,
        paused,
        other_currency,
        anywhere,
        coded,
        expired_code,
        archived_code,
    }

    got = await _active(hub, "CHF")
    assert set(got) & mine == {plain, window, anywhere}
    assert got[plain].usage == UsageState() and got[plain].code is None

    # Codes match like the engine (case, spaces); an entered code brings its promotion
    # even outside its window, so the engine can say EXPIRED; archived stays unknown.
    entered = [f"  {c1.lower()} ", c2, c3, "no-such-code"]
    got = await _active(hub, "CHF", entered)
    assert set(got) & mine == {plain, window, anywhere, coded, expired_code}
    assert got[coded].code == (c1.lower(),)
    result = apply(_basket("CHF"), _ctx(entered), list(got.values()))
    reasons = {s.code: explain_code(s) for s in result.codes}
    assert reasons[entered[0]].applicable
    assert reasons[c2].reason == "EXPIRED" and reasons[c2].message
    assert reasons[c3].reason == "UNKNOWN_CODE"
    assert reasons["no-such-code"].reason == "UNKNOWN_CODE"

    # A code promotion in another currency is returned and explained, not dropped.
    got = await _active(hub, "SEK", [c1])
    assert coded in got and plain not in got and other_currency in got
    result = apply(_basket("SEK"), _ctx([c1]), list(got.values()))
    assert result.code(c1).reason == "WRONG_CURRENCY"


async def test_usage_state_comes_from_the_counters(hub: Hub) -> None:
    pk = await _create(
        hub,
        method="CODE",
        currency="CHF",
        usage_limit=5,
        per_customer_limit=2,
        budget=Decimal("10.00"),
    )
    spent_out, has_uses = f"S{_uid()}", f"U{_uid()}"
    await _code(hub, pk, spent_out, usage_limit=4)
    await _code(hub, pk, has_uses, usage_limit=10)
    async with hub.db.transaction() as conn:
        await conn.execute(
            update(promotions_t).where(promotions_t.c.id == pk).values(times_used=2, spent=250)
        )
        await conn.execute(
            update(codes_t).where(codes_t.c.display_code == spent_out).values(times_used=4)
        )
        await conn.execute(
            insert(usage_t).values(promotion_id=pk, customer_key="ann@example.com", times_used=1)
        )
    got = await _active(hub, "CHF", [spent_out], customer=" Ann@Example.com ")
    assert got[pk].usage == UsageState(code_uses_left=0, customer_uses_left=1, budget_left=750)
    # With a second code that still has uses, that one is offered (and counted).
    got = await _active(hub, "CHF", [spent_out, has_uses], customer="someone-else")
    assert got[pk].code == (has_uses.lower(),)
    assert got[pk].usage == UsageState(code_uses_left=3, customer_uses_left=2, budget_left=750)
    # Without a customer key the full per-customer limit is shown.
    got = await _active(hub, "CHF", [has_uses])
    assert got[pk].usage.customer_uses_left == 2


async def test_statement_count_is_constant_and_definitions_are_cached(hub: Hub) -> None:
    now = utcnow()
    definition = _definition({"type": "fixed_off", "amount": 100})

    def rows(n: int) -> list[dict[str, Any]]:
        return [
            {
                "title": f"bulk {i}",
                "status": "ACTIVE",
                "method": "AUTOMATIC",
                "priority": i,
                "definition": definition,
                "currency": "NOK",
                "usage_limit": 1000 if i % 2 else None,
                "spent": 0,
                "times_used": 0,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(n)
        ]

    code_pk = await _create(hub, method="CODE", currency="NOK")
    codes = [f"N{_uid()}" for _ in range(3)]
    for code in codes:
        await _code(hub, code_pk, code)
    try:
        async with hub.db.transaction() as conn:
            await conn.execute(insert(promotions_t), rows(10))
        counts = {}
        for n in (10, 500):
            if n == 500:
                async with hub.db.transaction() as conn:
                    await conn.execute(insert(promotions_t), rows(490))
            with hub.count_statements() as cold:
                got = await _active(hub, "NOK", codes, customer="c@example.com")
            with hub.count_statements() as warm:
                again = await _active(hub, "NOK", codes, customer="c@example.com")
            assert len(got) >= n + 1 and len(again) == len(got)
            counts[n] = (len(cold), len(warm))
            # Cached: the same parsed definition object serves the next request.
            plain = next(p for p in again.values() if p.usage == UsageState())
            assert got[plain.id] is plain
        assert counts[10] == counts[500] == (2, 1), counts
        # An admin edit moves updated_at, so the next load re-reads that definition.
        some = min(pid for pid, p in got.items() if p.currency == "NOK" and p.code is None)
        await admin.update_promotion(
            hub.db,
            some,
            admin.PromotionInput(definition=_definition({"type": "fixed_off", "amount": 7})),
        )
        with hub.count_statements() as after_edit:
            edited = await _active(hub, "NOK", codes)
        assert len(after_edit) == 2
        assert edited[some].action.amount == 7  # type: ignore[attr-defined]
    finally:
        async with hub.db.transaction() as conn:
            await conn.execute(delete(promotions_t).where(promotions_t.c.currency == "NOK"))


async def test_the_same_rows_give_the_same_answer_and_any_change_a_new_one(hub: Hub) -> None:
    """active_promotions remembers its last answer per (codes, customer key) and gives
    it again while the candidate rows are the same; a counter moved by a redemption, a
    code's use, a new promotion or an edit is a different row: a new answer."""
    limited = await _create(hub, currency="SEK", usage_limit=10)
    plain = await _create(hub, currency="SEK")
    code_pk = await _create(hub, method="CODE", currency="SEK")
    made = [limited, plain, code_pk]
    code = f"M{_uid()}"
    await _code(hub, code_pk, code, usage_limit=3)
    try:
        first = await _active(hub, "SEK", [code])
        again = await _active(hub, "SEK", [code])
        assert again[limited] is first[limited] and again[code_pk] is first[code_pk]
        assert first[limited].usage.code_uses_left == 10
        # Redemptions move the counters: the next load shows them.
        async with hub.db.transaction() as conn:
            await conn.execute(
                update(promotions_t).where(promotions_t.c.id == limited).values(times_used=4)
            )
            await conn.execute(
                update(codes_t).where(codes_t.c.promotion_id == code_pk).values(times_used=3)
            )
        moved = await _active(hub, "SEK", [code])
        assert moved[limited].usage.code_uses_left == 6
        assert moved[code_pk].usage.code_uses_left == 0
        assert moved[plain] is first[plain]  # nothing of it changed: the same object
        # Another customer key or other codes are answers of their own.
        other = await _active(hub, "SEK", [code], customer="x@example.com")
        assert other[limited].usage.code_uses_left == 6
        assert code_pk not in await _active(hub, "SEK", [])
        # A new promotion is in the next answer.
        made.append(newer := await _create(hub, currency="SEK"))
        assert newer in await _active(hub, "SEK", [code])
    finally:
        async with hub.db.transaction() as conn:
            await conn.execute(delete(codes_t).where(codes_t.c.promotion_id == code_pk))
            await conn.execute(delete(promotions_t).where(promotions_t.c.id.in_(made)))


# ----------------------------------------------------------------- redeeming


async def _price(hub: Hub, currency: str, codes, customer=None, amount: int = 10000):
    promotions = list((await _active(hub, currency, codes, customer=customer)).values())
    return apply(_basket(currency, amount), _ctx(codes), promotions), promotions


async def _checkout(
    hub: Hub, result: Result, promotions, order: str, customer=None, currency="CHF"
) -> list[tuple[int, str]]:
    """One checkout transaction: redeem, and roll back when anything failed."""

    class Rollback(Exception):
        pass

    failures: list[tuple[int, str]] = []
    try:
        async with hub.db.transaction() as conn:
            failures = await redeem(
                conn,
                result,
                promotions,
                order_ref=order,
                customer_key=customer,
                currency=currency,
            )
            if failures:
                raise Rollback
    except Rollback:
        pass
    return failures


async def _counters(hub: Hub, pk: int) -> tuple[int, int, int]:
    async with hub.db.read() as conn:
        row = (
            await conn.execute(
                select(promotions_t.c.times_used, promotions_t.c.spent).where(
                    promotions_t.c.id == pk
                )
            )
        ).one()
        n = len(
            (
                await conn.execute(
                    select(redemptions_t.c.id).where(redemptions_t.c.promotion_id == pk)
                )
            ).all()
        )
    return row.times_used, row.spent, n


async def test_redeem_records_counters_and_rows(hub: Hub) -> None:
    pk = await _create(hub, method="CODE", currency="CHF", per_customer_limit=1)
    code = f"R{_uid()}"
    await _code(hub, pk, code, usage_limit=5)
    result, promotions = await _price(hub, "CHF", [code.lower()], customer="bo@example.com")
    [allocation] = [a for a in result.allocations if a.promotion_id == pk]
    assert allocation.amount == 1000
    assert await _checkout(hub, result, promotions, "order-1", "bo@example.com") == []
    assert await _counters(hub, pk) == (1, 1000, 1)
    async with hub.db.read() as conn:
        row = (
            await conn.execute(select(redemptions_t).where(redemptions_t.c.promotion_id == pk))
        ).one()
        code_used = await conn.scalar(
            select(codes_t.c.times_used).where(codes_t.c.promotion_id == pk)
        )
    assert (row.order_ref, row.customer_key, row.amount, row.currency, row.code) == (
        "order-1",
        "bo@example.com",
        1000,
        "CHF",
        code.lower(),
    )
    assert code_used == 1
    # The same customer again: the per-customer limit says no, nothing is recorded.
    assert await _checkout(hub, result, promotions, "order-2", "BO@example.com") == [
        (pk, "USAGE_LIMIT_REACHED")
    ]
    assert await _counters(hub, pk) == (1, 1000, 1)
    # ...and a fresh load already knows.
    result, _ = await _price(hub, "CHF", [code], customer="bo@example.com")
    assert result.code(code).reason == "USAGE_LIMIT_REACHED"
    # Paused between pricing and checkout.
    result, promotions = await _price(hub, "CHF", [code], customer="cy@example.com")
    await admin.update_promotion(hub.db, pk, admin.PromotionInput(status="PAUSED"))
    assert await _checkout(hub, result, promotions, "order-3", "cy@example.com") == [
        (pk, NOT_ACTIVE)
    ]


async def _race(hub: Hub, n: int, make_order) -> list[list[tuple[int, str]]]:
    """``n`` checkouts at once, each in its own transaction on its own connection."""
    start = asyncio.Event()

    async def one(i: int) -> list[tuple[int, str]]:
        result, promotions, customer = await make_order(i)
        await start.wait()
        return await _checkout(hub, result, promotions, f"race-{i}", customer)

    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    await asyncio.sleep(0.05)
    start.set()
    return list(await asyncio.gather(*tasks))


async def test_code_usage_limit_holds_under_concurrency(hub: Hub) -> None:
    pk = await _create(hub, method="CODE", currency="CHF")
    code = f"RACE{_uid()}"
    await _code(hub, pk, code, usage_limit=3)

    async def order(i: int):
        result, promotions = await _price(hub, "CHF", [code])
        assert result.code(code).applicable  # all of them priced before anyone paid
        return result, promotions, f"racer{i}@example.com"

    outcomes = await _race(hub, 16, order)
    assert sum(1 for o in outcomes if not o) == 3
    assert all(o == [(pk, "USAGE_LIMIT_REACHED")] for o in outcomes if o)
    async with hub.db.read() as conn:
        used = await conn.scalar(select(codes_t.c.times_used).where(codes_t.c.promotion_id == pk))
    assert used == 3
    assert await _counters(hub, pk) == (3, 3000, 3)


async def test_total_and_per_customer_limits_hold_under_concurrency(hub: Hub) -> None:
    total = await _create(hub, method="CODE", currency="CHF", usage_limit=4)
    per_customer = await _create(hub, method="CODE", currency="CHF", per_customer_limit=2)
    c_total, c_customer = f"TOT{_uid()}", f"PER{_uid()}"
    await _code(hub, total, c_total)
    await _code(hub, per_customer, c_customer)

    async def by_total(i: int):
        result, promotions = await _price(hub, "CHF", [c_total])
        return result, promotions, f"t{i}@example.com"

    async def same_customer(i: int):
        result, promotions = await _price(hub, "CHF", [c_customer], customer="dee@example.com")
        return result, promotions, "dee@example.com"

    outcomes = await _race(hub, 12, by_total)
    assert sum(1 for o in outcomes if not o) == 4
    assert (await _counters(hub, total))[0] == 4
    outcomes = await _race(hub, 10, same_customer)
    assert sum(1 for o in outcomes if not o) == 2
    assert (await _counters(hub, per_customer))[::2] == (2, 2)


async def test_budget_is_never_overspent(hub: Hub) -> None:
    pk = await _create(
        hub,
        method="CODE",
        currency="CHF",
        budget=Decimal("10.00"),
        definition=_definition({"type": "fixed_off", "amount": 300}),
    )
    code = f"BUD{_uid()}"
    await _code(hub, pk, code)

    async def order(i: int):
        result, promotions = await _price(hub, "CHF", [code])
        return result, promotions, None

    outcomes = await _race(hub, 16, order)
    assert sum(1 for o in outcomes if not o) == 3
    assert all(o == [(pk, "BUDGET_EXHAUSTED")] for o in outcomes if o)
    assert await _counters(hub, pk) == (3, 900, 3)
    # Repriced with what is left, the next order gets the last 1.00, and no more.
    result, promotions = await _price(hub, "CHF", [code])
    assert [a.amount for a in result.allocations if a.promotion_id == pk] == [100]
    assert await _checkout(hub, result, promotions, "last") == []
    assert await _counters(hub, pk) == (4, 1000, 4)
    result, _ = await _price(hub, "CHF", [code])
    assert result.code(code).reason == "BUDGET_EXHAUSTED"
