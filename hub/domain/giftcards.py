"""Gift cards: issue, check, debit and re-credit a stored balance.

A code is a secret: the hub keeps only the SHA-256 of its normalized form (upper case,
without spaces and dashes) and its last four characters, and shows a generated code
exactly once, when the card is issued. Codes the hub generates are 16 characters of
Crockford's base 32 (80 random bits), shown as ``XXXX-XXXX-XXXX-XXXX``.

Money never goes missing or negative, the way stock doesn't (:mod:`hub.domain.inventory`):

- A **debit** is one transaction: the ledger row first (``INSERT .. ON CONFLICT DO
  NOTHING`` on the card's idempotency key, so a repeated key returns the first debit
  instead of taking the money twice, also when the repeats arrive at once), then one
  conditional UPDATE that succeeds only while ``balance >= amount`` and the card is
  active and not expired. When it refuses, the transaction rolls back and nothing is
  written: two buyers can never both spend the last of a balance, on SQLite or
  PostgreSQL, from one process or many. The database's ``CHECK (balance >= 0)`` backs
  this up.
- A **re-credit** (a refund, or the void of a debit that won't be used) names its
  debit and is one transaction too: its ledger row (idempotent on its key), one
  conditional UPDATE of the debit's ``returned`` that keeps it within what was
  debited, and the balance back up.

:class:`GiftCardProvider` puts this behind the payment provider protocol
(``connectors.payments.base.PaymentProvider``), so ``checkoutComplete`` takes a gift
card like any other payment: ``authorize`` debits (the money is taken, so the
payment is ``captured`` at once, like cash), ``capture`` confirms, ``cancel`` voids
the debit, ``refund`` gives back all or part of it. It lives here and not in
``connectors/`` because it works on the hub's own database, which connectors never
touch. A refused debit is a ``failed`` payment whose ``failure_code`` is the
userError code checkout answers: ``GIFT_CARD_INSUFFICIENT_FUNDS`` or
``GIFT_CARD_INVALID`` (unknown or disabled code, expired card, another currency).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import (
    REFUND_REASONS,
    PaymentError,
    PaymentIntentResult,
    PaymentStatus,
    PaymentUnavailable,
    RefundReason,
)
from hub import ids
from hub.db.database import Database, Reader, fetch_all
from hub.db.models.giftcards import GiftCard, GiftCardTransaction
from hub.domain.errors import Code, Errors, fail
from hub.domain.inventory import _dialect_insert
from hub.money import MAX_MINOR, Money, MoneyError, is_currency, parse_amount

cards_t = GiftCard.__table__
txns_t = GiftCardTransaction.__table__

PROVIDER = "gift_card"
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32: no I, L, O, U
_CODE_RE = re.compile(r"^[A-Z0-9]{8,64}$")
_STRIP = re.compile(r"[\s-]+")
MAX_AMOUNT = MAX_MINOR  # minor units: what the balance column (32-bit) holds


class GiftCardCode:
    INSUFFICIENT_FUNDS = "GIFT_CARD_INSUFFICIENT_FUNDS"
    INVALID = "GIFT_CARD_INVALID"


# Provider failure codes that checkout answers as userError codes of their own.
DECLINE_CODES = frozenset({GiftCardCode.INSUFFICIENT_FUNDS, GiftCardCode.INVALID})


def _now() -> datetime:
    return datetime.now(UTC)


# ----------------------------------------------------------------------------- codes


def normalize_code(code: str) -> str:
    """What is hashed: upper case, without spaces and dashes."""
    return _STRIP.sub("", code or "").upper()


def code_hash(code: str) -> str:
    return hashlib.sha256(normalize_code(code).encode()).hexdigest()


def generate_code() -> str:
    """16 random characters of Crockford's base 32 (80 bits), in groups of four."""
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


# --------------------------------------------------------------------------- records


class GiftCardRecord:
    __slots__ = (
        "balance",
        "created_at",
        "currency",
        "customer_pk",
        "expires_at",
        "id",
        "initial_value",
        "last4",
        "pk",
        "status",
        "updated_at",
    )

    def __init__(self, row: Any) -> None:
        self.pk = row.id
        self.id = ids.encode("GiftCard", row.id)
        self.last4 = row.last4
        self.currency = row.currency
        self.initial_value = Money(row.initial_amount, row.currency)
        self.balance = Money(row.balance, row.currency)
        self.status = row.status
        self.expires_at = row.expires_at
        self.customer_pk = row.customer_id
        self.created_at = row.created_at
        self.updated_at = row.updated_at


class GiftCardTransactionRecord:
    __slots__ = ("amount", "created_at", "id", "kind", "pk", "reference")

    def __init__(self, row: Any, currency: str) -> None:
        self.pk = row.id
        self.id = ids.encode("GiftCardTransaction", row.id)
        self.kind = row.kind
        self.amount = Money(row.amount, currency)
        self.reference = row.reference
        self.created_at = row.created_at


@dataclass(frozen=True, slots=True)
class GiftCardBalance:
    """All a code's holder learns about its card."""

    balance: Money
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class DebitState:
    """A debit as it stands: ``amount`` taken, of which ``voided`` and ``refunded``
    were given back."""

    pk: int
    gift_card_pk: int
    currency: str
    amount: int
    voided: int
    refunded: int
    replayed: bool = False

    @property
    def status(self) -> PaymentStatus:
        if self.voided + self.refunded == 0:
            return "captured"
        if self.voided >= self.amount:
            return "canceled"
        if self.voided + self.refunded >= self.amount:
            return "refunded"
        return "partially_refunded"


class GiftCardDeclined(Exception):
    """The card can't pay this: ``code`` is one of :class:`GiftCardCode`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# ----------------------------------------------------------------------------- reads


async def get_gift_card(conn: Reader | AsyncConnection, pk: int) -> GiftCardRecord | None:
    return (await gift_cards_by_pks(conn, [pk])).get(pk)


async def gift_cards_by_pks(
    conn: Reader | AsyncConnection, pks: Sequence[int]
) -> dict[int, GiftCardRecord]:
    if not pks:
        return {}
    rows = await fetch_all(conn, select(cards_t).where(cards_t.c.id.in_(list(pks))))
    return {r.id: GiftCardRecord(r) for r in rows}


async def transactions(
    conn: Reader | AsyncConnection, card: GiftCardRecord
) -> list[GiftCardTransactionRecord]:
    """The card's ledger, oldest first."""
    rows = await fetch_all(
        conn, select(txns_t).where(txns_t.c.gift_card_id == card.pk).order_by(txns_t.c.id)
    )
    return [GiftCardTransactionRecord(r, card.currency) for r in rows]


async def balance_for_code(conn: Reader | AsyncConnection, code: str) -> GiftCardBalance | None:
    """The balance, currency and expiry of an active card; None for any code that is
    not one (unknown, malformed or disabled), so the answer tells nothing more."""
    norm = normalize_code(code)
    if not _CODE_RE.match(norm):
        return None
    rows = await fetch_all(
        conn,
        select(cards_t.c.balance, cards_t.c.currency, cards_t.c.expires_at).where(
            cards_t.c.code_hash == code_hash(norm), cards_t.c.status == "ACTIVE"
        ),
    )
    if not rows:
        return None
    return GiftCardBalance(Money(rows[0].balance, rows[0].currency), rows[0].expires_at)


async def verify(db: Database) -> list[dict[str, int]]:
    """Cards whose balance differs from the sum of their ledger (empty when none)."""
    sums = (
        select(txns_t.c.gift_card_id, func.sum(txns_t.c.amount).label("total"))
        .group_by(txns_t.c.gift_card_id)
        .subquery()
    )
    stmt = select(cards_t.c.id, cards_t.c.balance, func.coalesce(sums.c.total, 0)).outerjoin(
        sums, sums.c.gift_card_id == cards_t.c.id
    )
    async with db.read() as conn:
        rows = (await conn.execute(stmt)).all()
    return [
        {"giftCardId": r[0], "balance": r[1], "ledger": int(r[2])} for r in rows if r[1] != r[2]
    ]


# ----------------------------------------------------------------------------- admin


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
    errs = Errors()
    currency = (currency or "").strip().upper()
    minor = 0
    if not is_currency(currency):
        errs.add(Code.INVALID, f"{currency!r} is not an ISO 4217 currency code", "currencyCode")
    else:
        try:
            minor = parse_amount(amount, currency, max_minor=MAX_AMOUNT)
            if minor <= 0:
                errs.add(Code.INVALID, "amount must be above 0", "amount")
        except MoneyError as exc:
            errs.add(Code.INVALID, str(exc), "amount")
    if code is not None:
        norm = normalize_code(code)
        if not _CODE_RE.match(norm):
            errs.add(
                Code.INVALID,
                "a code is 8 to 64 letters and digits (spaces and dashes are ignored)",
                "code",
            )
    else:
        code = generate_code()
        norm = normalize_code(code)
    if reference is not None and len(reference) > 255:
        errs.add(Code.TOO_LONG, "a note is at most 255 characters", "note")
    if expires_at is not None:
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        if expires_at <= _now():
            errs.add(Code.INVALID, "expiresAt must be in the future", "expiresAt")
    errs.raise_if_any()
    now = _now()
    async with db.transaction() as conn:
        if customer_pk is not None:
            from hub.domain.customers import get_customer

            if await get_customer(conn, customer_pk) is None:
                raise fail(Code.NOT_FOUND, "no customer with that id", "customerId")
        pk = (
            await conn.execute(
                _dialect_insert(conn, cards_t)
                .values(
                    code_hash=code_hash(norm),
                    last4=norm[-4:],
                    currency=currency,
                    initial_amount=minor,
                    balance=minor,
                    status="ACTIVE",
                    expires_at=expires_at,
                    customer_id=customer_pk,
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
                amount=minor,
                reference=reference,
                idempotency_key="issue",
                returned=0,
                created_at=now,
            )
        )
        card = await get_gift_card(conn, pk)
    assert card is not None
    return card, code


async def disable(db: Database, pk: int) -> GiftCardRecord:
    """Stop a card from paying (its balance stays, for the record). Disabling a
    disabled card changes nothing."""
    async with db.transaction() as conn:
        await conn.execute(
            update(cards_t)
            .where(cards_t.c.id == pk, cards_t.c.status == "ACTIVE")
            .values(status="DISABLED", updated_at=_now())
        )
        card = await get_gift_card(conn, pk)
    if card is None:
        raise fail(Code.NOT_FOUND, "no gift card with that id", "id")
    return card


# ---------------------------------------------------------------------- money moves


class _Refused(Exception):
    pass


async def debit(
    db: Database, code: str, amount: int, currency: str, *, reference: str | None, key: str
) -> DebitState:
    """Take ``amount`` minor units of ``currency`` from the card, once per ``key``.

    Raises :class:`GiftCardDeclined` when the card can't pay it; then nothing is
    written. The same key returns the first debit as it stands now (``replayed``)."""
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_AMOUNT:
        raise ValueError("amount must be a positive integer of minor units")
    if not key:
        raise ValueError("a debit needs an idempotency key")
    norm = normalize_code(code)
    if not _CODE_RE.match(norm):
        raise GiftCardDeclined(GiftCardCode.INVALID, "no usable gift card with that code")
    now = _now()
    try:
        async with db.transaction() as conn:
            card = (
                await conn.execute(
                    select(cards_t.c.id, cards_t.c.currency).where(
                        cards_t.c.code_hash == code_hash(norm)
                    )
                )
            ).first()
            if card is None:
                raise GiftCardDeclined(GiftCardCode.INVALID, "no usable gift card with that code")
            if card.currency != currency:
                raise GiftCardDeclined(
                    GiftCardCode.INVALID,
                    f"the gift card is in {card.currency}; this payment is in {currency}",
                )
            # The ledger row first: a repeated key stops here (PostgreSQL makes a
            # concurrent repeat wait for the first to commit or roll back).
            txn = (
                await conn.execute(
                    _dialect_insert(conn, txns_t)
                    .values(
                        gift_card_id=card.id,
                        kind="DEBIT",
                        amount=-amount,
                        reference=(reference or None) and reference[:255],
                        idempotency_key=key[:255],
                        returned=0,
                        created_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=["gift_card_id", "idempotency_key"])
                    .returning(txns_t.c.id)
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
                raise _Refused(await _why_refused(conn, card.id, now))
            return DebitState(txn, card.id, currency, amount, 0, 0)
    except _Refused as exc:  # rolled back: nothing written
        raise exc.args[0] from None


async def _why_refused(conn: AsyncConnection, card_pk: int, now: datetime) -> GiftCardDeclined:
    row = (
        await conn.execute(
            select(cards_t.c.status, cards_t.c.expires_at).where(cards_t.c.id == card_pk)
        )
    ).one()
    if row.status != "ACTIVE":
        return GiftCardDeclined(GiftCardCode.INVALID, "no usable gift card with that code")
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
    state = await _debit_state(conn, row.id)
    assert state is not None
    return DebitState(**{**_fields(state), "replayed": True})


def _fields(s: DebitState) -> dict[str, Any]:
    return {k: getattr(s, k) for k in DebitState.__slots__}


async def _debit_state(conn: AsyncConnection, debit_pk: int) -> DebitState | None:
    debit_row = (
        await conn.execute(
            select(txns_t.c.id, txns_t.c.gift_card_id, txns_t.c.amount, cards_t.c.currency)
            .join(cards_t, cards_t.c.id == txns_t.c.gift_card_id)
            .where(txns_t.c.id == debit_pk, txns_t.c.kind == "DEBIT")
        )
    ).first()
    if debit_row is None:
        return None
    back = dict(
        (
            await conn.execute(
                select(txns_t.c.kind, func.sum(txns_t.c.amount))
                .where(txns_t.c.debit_id == debit_pk)
                .group_by(txns_t.c.kind)
            )
        ).all()
    )
    return DebitState(
        debit_row.id,
        debit_row.gift_card_id,
        debit_row.currency,
        -debit_row.amount,
        int(back.get("VOID") or 0),
        int(back.get("REFUND") or 0),
    )


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
    if kind not in ("REFUND", "VOID"):
        raise ValueError("kind is REFUND or VOID")
    if not key:
        raise ValueError("a re-credit needs an idempotency key")
    key = key[:255]
    async with db.read() as conn:
        state = await _debit_state(conn, debit_pk)
    if state is None:
        raise PaymentError("resource_missing", f"no such gift card payment: gc_{debit_pk}")
    left = state.amount - state.voided - state.refunded
    give = left if amount is None else amount
    if isinstance(give, bool) or not isinstance(give, int) or give < 0:
        raise PaymentError("invalid_amount", "amount must be a positive integer")
    now = _now()
    try:
        async with db.transaction() as conn:
            txn = None
            if give > 0:
                txn = (
                    await conn.execute(
                        _dialect_insert(conn, txns_t)
                        .values(
                            gift_card_id=state.gift_card_pk,
                            kind=kind,
                            amount=give,
                            reference=(reference or None) and reference[:255],
                            idempotency_key=key,
                            debit_id=debit_pk,
                            returned=0,
                            created_at=now,
                        )
                        .on_conflict_do_nothing(index_elements=["gift_card_id", "idempotency_key"])
                        .returning(txns_t.c.id)
                    )
                ).scalar()
            if txn is None:
                # A repeated key (or nothing left to give back): the debit as it stands.
                got = await _debit_state(conn, debit_pk)
                assert got is not None
                return DebitState(**{**_fields(got), "replayed": True})
            ok = await conn.execute(
                update(txns_t)
                .where(txns_t.c.id == debit_pk, txns_t.c.returned + give <= -txns_t.c.amount)
                .values(returned=txns_t.c.returned + give)
            )
            if ok.rowcount != 1:
                raise _Refused(
                    PaymentError(
                        "amount_too_large",
                        f"giving back {give} would exceed the {state.amount} debited",
                    )
                )
            await conn.execute(
                update(cards_t)
                .where(cards_t.c.id == state.gift_card_pk)
                .values(balance=cards_t.c.balance + give, updated_at=now)
            )
            got = await _debit_state(conn, debit_pk)
            assert got is not None
            return got
    except _Refused as exc:
        raise exc.args[0] from None


# -------------------------------------------------------------------------- provider


class GiftCardProvider:
    """The gift card as a payment provider (``connectors.payments.base.PaymentProvider``).

    ``payment_method_id`` is the card's code. ``authorize`` takes the money at once
    (status ``captured``); the payment's id is ``gc_<ledger row>``, never the code."""

    name = PROVIDER
    voids_captured = True  # cancel() voids a debit, though it was taken at once

    def __init__(self, db: Database) -> None:
        self.db = db

    async def authorize(
        self,
        *,
        amount: int,
        currency: str,
        payment_method_id: str | None,
        reference: str,
        idempotency_key: str,
        metadata: Mapping[str, str] | None = None,
    ) -> PaymentIntentResult:
        if not idempotency_key or not idempotency_key.strip():
            raise PaymentError("idempotency_key_required", "pass a non-empty idempotency key")
        if not payment_method_id or not payment_method_id.strip():
            raise PaymentError("gift_card_code_required", "pass the gift card's code")
        if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_AMOUNT:
            raise PaymentError("invalid_amount", "amount must be a positive integer")
        if not is_currency(currency):
            raise PaymentError("invalid_currency", f"{currency!r} is not an ISO 4217 code")
        try:
            state = await debit(
                self.db,
                payment_method_id,
                amount,
                currency,
                reference=reference,
                key=idempotency_key,
            )
        except GiftCardDeclined as exc:
            return PaymentIntentResult(
                provider=self.name,
                id="",
                status="failed",
                amount=amount,
                currency=currency,
                amount_captured=0,
                amount_refunded=0,
                failure_code=exc.code,
                failure_message=exc.message,
                raw_status="declined",
            )
        except DBAPIError as exc:
            raise PaymentUnavailable(f"the gift card ledger could not be written: {exc}") from exc
        return self._result(state)

    async def lookup(self, idempotency_key: str) -> PaymentIntentResult | None:
        """The debit ``authorize`` made with this idempotency key (on whichever card),
        as it stands now; None when there is none. Reconciliation finds a crashed
        checkout's debit this way: the card's code is never stored."""
        async with self.db.read() as conn:
            pk = (
                await conn.execute(
                    select(txns_t.c.id).where(
                        txns_t.c.idempotency_key == idempotency_key[:255],
                        txns_t.c.kind == "DEBIT",
                    )
                )
            ).scalar()
            state = await _debit_state(conn, pk) if pk is not None else None
        return self._result(state) if state is not None else None

    async def capture(
        self, intent_id: str, amount: int | None = None, *, idempotency_key: str
    ) -> PaymentIntentResult:
        """Taken when authorized: returns the payment as it stands."""
        async with self.db.read() as conn:
            state = await _debit_state(conn, self._parse(intent_id))
        if state is None:
            raise PaymentError("resource_missing", f"no such gift card payment: {intent_id!r}")
        if amount is not None and amount != state.amount:
            raise PaymentError(
                "payment_intent_unexpected_state",
                f"this gift card payment was taken in full ({state.amount}) when authorized; "
                "refund the difference instead",
            )
        return self._result(state)

    async def cancel(self, intent_id: str, *, idempotency_key: str) -> PaymentIntentResult:
        """Give back all that remains of the debit to the card (a void)."""
        state = await self._recredit(intent_id, None, "VOID", idempotency_key)
        return self._result(state)

    async def refund(
        self,
        intent_id: str,
        amount: int | None = None,
        *,
        idempotency_key: str,
        reason: RefundReason | None = None,
    ) -> PaymentIntentResult:
        """Give back all that remains, or ``amount`` of it, to the card."""
        if reason is not None and reason not in REFUND_REASONS:
            raise PaymentError(
                "invalid_refund_reason", f"reason must be one of {sorted(REFUND_REASONS)}"
            )
        if amount is not None and (
            isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0
        ):
            raise PaymentError("invalid_amount", "refund amount must be a positive integer")
        state = await self._recredit(intent_id, amount, "REFUND", idempotency_key)
        return self._result(state)

    async def _recredit(
        self, intent_id: str, amount: int | None, kind: str, key: str
    ) -> DebitState:
        if not key or not key.strip():
            raise PaymentError("idempotency_key_required", "pass a non-empty idempotency key")
        try:
            return await recredit(
                self.db, self._parse(intent_id), amount, kind=kind, key=key, reference=intent_id
            )
        except DBAPIError as exc:
            raise PaymentUnavailable(f"the gift card ledger could not be written: {exc}") from exc

    @staticmethod
    def _parse(intent_id: str) -> int:
        prefix, _, raw = (intent_id or "").partition("_")
        if prefix != "gc" or not raw.isdigit() or len(raw) > 18:
            raise PaymentError("resource_missing", f"no such gift card payment: {intent_id!r}")
        return int(raw)

    def _result(self, s: DebitState) -> PaymentIntentResult:
        status = s.status
        return PaymentIntentResult(
            provider=self.name,
            id=f"gc_{s.pk}",
            status=status,
            amount=s.amount,
            currency=s.currency,
            amount_captured=s.amount - s.voided,
            amount_refunded=s.refunded,
            failure_code=None,
            failure_message=None,
            raw_status=status,
        )
