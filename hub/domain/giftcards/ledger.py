"""Money moves on a gift card: a debit, and a re-credit (refund or void) of a debit.

- A **debit** is one transaction: the ledger row first (``INSERT .. ON CONFLICT DO
  NOTHING`` on the card's idempotency key, so a repeated key returns the first debit
  instead of taking the money twice, also when the repeats arrive at once), then one
  conditional UPDATE that succeeds only while ``balance >= amount`` and the card is
  active and not expired. When it refuses, the transaction rolls back and nothing is
  written: two buyers can never both spend the last of a balance, on SQLite or
  PostgreSQL, from one process or many. The database's ``CHECK (balance >= 0)`` backs
  this up.
- A **re-credit** names its debit and is one transaction too: its ledger row
  (idempotent on its key), one conditional UPDATE of the debit's ``returned`` that
  keeps it within what was debited, and the balance back up.

``debit_card`` and ``recredit_debit`` run in the caller's transaction and raise to
refuse (the caller's transaction then rolls back); ``debit`` and ``recredit`` open
their own.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import PaymentError
from hub.db.database import Database
from hub.db.dialect import dialect_insert
from hub.db.tables import cards_t, txns_t
from hub.domain.giftcards.records import (
    CODE_RE,
    MAX_AMOUNT,
    MAX_REFERENCE,
    DebitState,
    GiftCardCode,
    GiftCardDeclined,
    code_hash,
    normalize_code,
)

RECREDIT_KINDS = ("REFUND", "VOID")


def _now() -> datetime:
    return datetime.now(UTC)


def _unusable() -> GiftCardDeclined:
    return GiftCardDeclined(GiftCardCode.INVALID, "no usable gift card with that code")


def _ledger_row(
    conn: AsyncConnection,
    card_pk: int,
    kind: str,
    amount: int,
    *,
    reference: str | None,
    key: str,
    now: datetime,
    debit_pk: int | None = None,
) -> Any:
    """An INSERT of a ledger row that does nothing when the card's key was used."""
    return (
        dialect_insert(conn, txns_t)
        .values(
            gift_card_id=card_pk,
            kind=kind,
            amount=amount,
            reference=(reference or None) and reference[:MAX_REFERENCE],
            idempotency_key=key,
            **({} if debit_pk is None else {"debit_id": debit_pk}),
            returned=0,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["gift_card_id", "idempotency_key"])
        .returning(txns_t.c.id)
    )


async def debit_card(
    conn: AsyncConnection,
    code: str,
    amount: int,
    currency: str,
    *,
    reference: str | None,
    key: str,
    card_pk: int | None = None,
) -> DebitState:
    """Take ``amount`` minor units of ``currency`` from the card, once per ``key``, in
    the caller's transaction. Raises :class:`GiftCardDeclined` when the card can't pay
    it (the caller rolls back: nothing is written). The same key returns the first
    debit as it stands now (``replayed``)."""
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_AMOUNT:
        raise ValueError("amount must be a positive integer of minor units")
    if not key:
        raise ValueError("a debit needs an idempotency key")
    now = _now()
    if card_pk is not None:  # store credit: a customer's card, found by its pk
        card = (
            await conn.execute(
                select(cards_t.c.id, cards_t.c.currency).where(
                    cards_t.c.id == card_pk, cards_t.c.customer_id.is_not(None)
                )
            )
        ).first()
    else:
        norm = normalize_code(code)
        if not CODE_RE.match(norm):
            raise _unusable()
        card = (
            await conn.execute(
                select(cards_t.c.id, cards_t.c.currency).where(
                    cards_t.c.code_hash == code_hash(norm)
                )
            )
        ).first()
    if card is None:
        raise _unusable()
    if card.currency != currency:
        raise GiftCardDeclined(
            GiftCardCode.INVALID,
            f"the gift card is in {card.currency}; this payment is in {currency}",
        )
    # The ledger row first: a repeated key stops here (PostgreSQL makes a concurrent
    # repeat wait for the first to commit or roll back).
    txn = (
        await conn.execute(
            _ledger_row(
                conn, card.id, "DEBIT", -amount, reference=reference, key=key[:255], now=now
            )
        )
    ).scalar()
    if txn is None:
        return await _replayed_debit(conn, card.id, key[:255], amount)
    took = (
        await conn.execute(
            update(cards_t)
            .where(
                cards_t.c.id == card.id,
                cards_t.c.balance >= amount,
                cards_t.c.status == "ACTIVE",
                or_(cards_t.c.expires_at.is_(None), cards_t.c.expires_at > now),
            )
            .values(balance=cards_t.c.balance - amount, updated_at=now)
            .returning(cards_t.c.balance)
        )
    ).first()
    if took is None:
        raise await _why_refused(conn, card.id, now)
    return DebitState(txn, card.id, currency, amount, 0, 0)


async def debit(
    db: Database,
    code: str,
    amount: int,
    currency: str,
    *,
    reference: str | None,
    key: str,
    card_pk: int | None = None,
) -> DebitState:
    """:func:`debit_card` in a transaction of its own."""
    async with db.transaction() as conn:
        return await debit_card(
            conn, code, amount, currency, reference=reference, key=key, card_pk=card_pk
        )


async def _why_refused(conn: AsyncConnection, card_pk: int, now: datetime) -> GiftCardDeclined:
    row = (
        await conn.execute(
            select(cards_t.c.status, cards_t.c.expires_at).where(cards_t.c.id == card_pk)
        )
    ).one()
    if row.status != "ACTIVE":
        return _unusable()
    if row.expires_at is not None and row.expires_at <= now:
        return GiftCardDeclined(
            GiftCardCode.INVALID, f"the gift card expired on {row.expires_at.date().isoformat()}"
        )
    return GiftCardDeclined(
        GiftCardCode.INSUFFICIENT_FUNDS, "the gift card's balance does not cover the amount"
    )


async def _replayed_debit(conn: AsyncConnection, card_pk: int, key: str, amount: int) -> DebitState:
    row = (
        await conn.execute(
            select(txns_t.c.id, txns_t.c.kind, txns_t.c.amount).where(
                txns_t.c.gift_card_id == card_pk, txns_t.c.idempotency_key == key
            )
        )
    ).one()
    if row.kind != "DEBIT" or -row.amount != amount:
        raise PaymentError(
            "idempotency_key_in_use",
            "this idempotency key was used for another gift card transaction; use a new key",
        )
    return await _replayed(conn, row.id)


async def _replayed(conn: AsyncConnection, debit_pk: int) -> DebitState:
    """The debit as it stands, answered for a repeated key."""
    state = await debit_state(conn, debit_pk)
    assert state is not None
    return replace(state, replayed=True)


async def debit_state(conn: AsyncConnection, debit_pk: int) -> DebitState | None:
    """A debit and what was given back of it; None when there is no such debit."""
    debit_row = (
        await conn.execute(
            select(txns_t.c.id, txns_t.c.gift_card_id, txns_t.c.amount, cards_t.c.currency)
            .join(cards_t, cards_t.c.id == txns_t.c.gift_card_id)
            .where(txns_t.c.id == debit_pk, txns_t.c.kind == "DEBIT")
        )
    ).first()
    if debit_row is None:
        return None
    rows = (
        await conn.execute(
            select(txns_t.c.kind, func.sum(txns_t.c.amount))
            .where(txns_t.c.debit_id == debit_pk)
            .group_by(txns_t.c.kind)
        )
    ).all()
    back = {kind: total for kind, total in rows}
    return DebitState(
        debit_row.id,
        debit_row.gift_card_id,
        debit_row.currency,
        -debit_row.amount,
        int(back.get("VOID") or 0),
        int(back.get("REFUND") or 0),
    )


async def recredit_debit(
    conn: AsyncConnection,
    state: DebitState,
    give: int,
    *,
    kind: str,
    key: str,
    reference: str | None,
) -> DebitState:
    """Give ``give`` of the debit ``state`` back to its card, once per ``key``, in the
    caller's transaction. Raises PaymentError (the caller rolls back) when that would
    give back more than was debited."""
    now = _now()
    txn = None
    if give > 0:
        row = _ledger_row(
            conn,
            state.gift_card_pk,
            kind,
            give,
            reference=reference,
            key=key,
            now=now,
            debit_pk=state.pk,
        )
        txn = (await conn.execute(row)).scalar()
    if txn is None:
        # A repeated key (or nothing left to give back): the debit as it stands.
        return await _replayed(conn, state.pk)
    ok = await conn.execute(
        update(txns_t)
        .where(txns_t.c.id == state.pk, txns_t.c.returned + give <= -txns_t.c.amount)
        .values(returned=txns_t.c.returned + give)
    )
    if ok.rowcount != 1:
        raise PaymentError(
            "amount_too_large", f"giving back {give} would exceed the {state.amount} debited"
        )
    await conn.execute(
        update(cards_t)
        .where(cards_t.c.id == state.gift_card_pk)
        .values(balance=cards_t.c.balance + give, updated_at=now)
    )
    got = await debit_state(conn, state.pk)
    assert got is not None
    return got


async def recredit(
    db: Database,
    debit_pk: int,
    amount: int | None,
    *,
    kind: str,
    key: str,
    reference: str | None = None,
) -> DebitState:
    """Give back ``amount`` (all that remains when None) of a debit, once per ``key``:
    ``kind`` is ``REFUND`` or ``VOID``. Raises PaymentError for an unknown debit or an
    amount above what remains."""
    if kind not in RECREDIT_KINDS:
        raise ValueError("kind is REFUND or VOID")
    if not key:
        raise ValueError("a re-credit needs an idempotency key")
    async with db.read() as conn:
        state = await debit_state(conn, debit_pk)
    if state is None:
        raise PaymentError("resource_missing", f"no such gift card payment: gc_{debit_pk}")
    give = state.amount - state.voided - state.refunded if amount is None else amount
    if isinstance(give, bool) or not isinstance(give, int) or give < 0:
        raise PaymentError("invalid_amount", "amount must be a positive integer")
    async with db.transaction() as conn:
        return await recredit_debit(
            conn, state, give, kind=kind, key=key[:255], reference=reference
        )
