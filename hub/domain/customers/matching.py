"""One profile across channels: which customer a sale belongs to.

A till (a store sale), an imported marketplace order or staff at a till looking a
shopper up give what they know: an email, a phone, a loyalty card number.
:func:`find_customer` answers the one profile they name, trying the card first (it
names one person), then the email (unique), then the phone (digits only; a phone
shared by several profiles names none). A duplicate merged into another profile
(``customerMerge``) answers the profile it was merged into; an erased profile is
never found.
"""

from __future__ import annotations

import re

from sqlalchemy import Executable, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.database import Reader, fetch_all
from hub.db.tables import customers_t, loyalty_accounts_t
from hub.domain.customers.records import CustomerRecord, get_customer
from hub.emails import InvalidEmail, normalize_email

MIN_PHONE_DIGITS = 6


def phone_key(phone: str | None) -> str | None:
    """The digits of a phone number (how profiles are matched by phone), or None."""
    if not phone:
        return None
    digits = re.sub(r"\D", "", phone)[:32]
    return digits or None


async def find_customer(
    conn: AsyncConnection | Reader,
    *,
    email: str | None = None,
    phone: str | None = None,
    loyalty_id: str | None = None,
) -> CustomerRecord | None:
    """The customer profile these identifiers name (see the module docstring)."""
    c = customers_t
    pk = None
    if loyalty_id and loyalty_id.strip():
        pk = await _scalar(
            conn,
            select(loyalty_accounts_t.c.customer_id).where(
                loyalty_accounts_t.c.card_id == loyalty_id.strip().upper()
            ),
        )
    if pk is None and email:
        try:
            wanted = normalize_email(email)
        except InvalidEmail:
            wanted = None
        if wanted:
            pk = await _scalar(conn, select(c.c.id).where(c.c.email == wanted))
    key = phone_key(phone)
    if pk is None and key is not None and len(key) >= MIN_PHONE_DIGITS:
        rows = await fetch_all(
            conn,
            select(c.c.id, c.c.merged_into_id)
            .where(c.c.phone_key == key, c.c.erased_at.is_(None))
            .limit(5),
        )
        people = {r.merged_into_id or r.id for r in rows}
        pk = people.pop() if len(people) == 1 else None
    if pk is None:
        return None
    found = await get_customer(conn, pk)
    if found is not None and found.merged_into_pk is not None:
        found = await get_customer(conn, found.merged_into_pk)
    if found is None or found.erased_at is not None:
        return None
    return found


async def _scalar(conn: AsyncConnection | Reader, stmt: Executable) -> int | None:
    rows = await fetch_all(conn, stmt)
    return int(rows[0][0]) if rows else None
