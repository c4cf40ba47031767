"""Issuing and disabling gift cards (staff). The code is answered once, at issue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.database import Database
from hub.db.dialect import dialect_insert
from hub.db.tables import cards_t, txns_t
from hub.domain.customers import get_customer
from hub.domain.errors import Code, Errors, fail
from hub.domain.giftcards.reads import get_gift_card
from hub.domain.giftcards.records import (
    CODE_RE,
    MAX_AMOUNT,
    MAX_REFERENCE,
    GiftCardRecord,
    code_hash,
    generate_code,
    normalize_code,
)
from hub.money import MoneyError, is_currency, parse_amount


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class NewCard:
    """A card to issue, its input checked: ``code`` as shown to the buyer, ``norm`` as
    hashed; ``amount`` in minor units of ``currency``."""

    code: str
    norm: str
    currency: str
    amount: int
    expires_at: datetime | None
    customer_pk: int | None
    reference: str | None


def new_card(
    *,
    amount: Decimal | int | str,
    currency: str,
    code: str | None = None,
    expires_at: datetime | None = None,
    customer_pk: int | None = None,
    reference: str | None = None,
) -> NewCard:
    """Check a card to issue (every problem at once); nothing is read or written."""
    errs = Errors()
    currency = (currency or "").strip().upper()
    minor = 0
    if not is_currency(currency):
        errs.add(Code.INVALID, f"{currency!r} is not an ISO 4217 currency code", "currency_code")
    else:
        try:
            minor = parse_amount(amount, currency, max_minor=MAX_AMOUNT)
            if minor <= 0:
                errs.add(Code.INVALID, "amount must be above 0", "amount")
        except MoneyError as exc:
            errs.add(Code.INVALID, str(exc), "amount")
    if code is None:
        code = generate_code()
    elif not CODE_RE.match(normalize_code(code)):
        errs.add(
            Code.INVALID,
            "a code is 8 to 64 letters and digits (spaces and dashes are ignored)",
            "code",
        )
    if reference is not None and len(reference) > MAX_REFERENCE:
        errs.add(Code.TOO_LONG, f"a note is at most {MAX_REFERENCE} characters", "reference")
    if expires_at is not None:
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        if expires_at <= _now():
            errs.add(Code.INVALID, "expiresAt must be in the future", "expires_at")
    errs.raise_if_any()
    norm = normalize_code(code)
    return NewCard(code, norm, currency, minor, expires_at, customer_pk, reference)


async def issue_card(conn: AsyncConnection, card: NewCard) -> GiftCardRecord:
    """Write the card and its ISSUE ledger row in the caller's transaction."""
    now = _now()
    if card.customer_pk is not None and await get_customer(conn, card.customer_pk) is None:
        raise fail(Code.NOT_FOUND, "no customer with that id", "customer_id")
    pk = (
        await conn.execute(
            dialect_insert(conn, cards_t)
            .values(
                code_hash=code_hash(card.norm),
                last4=card.norm[-4:],
                currency=card.currency,
                initial_amount=card.amount,
                balance=card.amount,
                status="ACTIVE",
                expires_at=card.expires_at,
                customer_id=card.customer_pk,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["code_hash"])
            .returning(cards_t.c.id)
        )
    ).scalar()
    if pk is None:
        raise fail(Code.TAKEN, "a gift card with that code exists", "code")
    await conn.execute(
        insert(txns_t).values(
            gift_card_id=pk,
            kind="ISSUE",
            amount=card.amount,
            reference=card.reference,
            idempotency_key="issue",
            returned=0,
            created_at=now,
        )
    )
    got = await get_gift_card(conn, pk)
    assert got is not None
    return got


async def issue(
    db: Database,
    *,
    amount: Decimal | int | str,
    currency: str,
    code: str | None = None,
    expires_at: datetime | None = None,
    customer_pk: int | None = None,
    reference: str | None = None,
) -> tuple[GiftCardRecord, str]:
    """Issue a card worth ``amount`` (major units, e.g. ``Decimal("50.00")``) and
    return it with its code, the only time the code is shown. Without ``code`` an
    unguessable one is generated."""
    card = new_card(
        amount=amount,
        currency=currency,
        code=code,
        expires_at=expires_at,
        customer_pk=customer_pk,
        reference=reference,
    )
    async with db.transaction() as conn:
        record = await issue_card(conn, card)
    return record, card.code


async def disable_card(conn: AsyncConnection, pk: int) -> GiftCardRecord:
    """Stop a card from paying (its balance stays, for the record). Disabling a
    disabled card changes nothing."""
    await conn.execute(
        update(cards_t)
        .where(cards_t.c.id == pk, cards_t.c.status == "ACTIVE")
        .values(status="DISABLED", updated_at=_now())
    )
    card = await get_gift_card(conn, pk)
    if card is None:
        raise fail(Code.NOT_FOUND, "no gift card with that id", "id")
    return card


async def disable(db: Database, pk: int) -> GiftCardRecord:
    """:func:`disable_card` in a transaction of its own."""
    async with db.transaction() as conn:
        return await disable_card(conn, pk)
