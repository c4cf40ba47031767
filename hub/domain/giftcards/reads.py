"""Reading gift cards: by id, their ledger, a code's balance, and the ledger check."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.database import Database, Reader, fetch_all
from hub.db.tables import cards_t, txns_t
from hub.domain.giftcards.records import (
    CODE_RE,
    GiftCardBalance,
    GiftCardRecord,
    GiftCardTransactionRecord,
    code_hash,
    normalize_code,
)
from hub.money import Money


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
    if not CODE_RE.match(norm):
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


async def ledger_drift(conn: AsyncConnection) -> list[dict[str, int]]:
    """Cards whose balance differs from the sum of their ledger (empty when none)."""
    sums = (
        select(txns_t.c.gift_card_id, func.sum(txns_t.c.amount).label("total"))
        .group_by(txns_t.c.gift_card_id)
        .subquery()
    )
    stmt = select(cards_t.c.id, cards_t.c.balance, func.coalesce(sums.c.total, 0)).outerjoin(
        sums, sums.c.gift_card_id == cards_t.c.id
    )
    rows = (await conn.execute(stmt)).all()
    return [
        {"giftCardId": r[0], "balance": r[1], "ledger": int(r[2])} for r in rows if r[1] != r[2]
    ]


async def verify(db: Database) -> list[dict[str, int]]:
    """:func:`ledger_drift` on a read connection of its own."""
    async with db.read() as conn:
        return await ledger_drift(conn)
