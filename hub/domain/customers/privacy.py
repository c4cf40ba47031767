"""Privacy: everything the hub holds about a customer (``customerDataExport``), and
erasure (``customerErase``).

Erasure anonymizes the personal data and keeps the business records whole: the
profile keeps its id with its name, email, phone, VAT id, segments and consent
cleared (the email becomes ``erased-<id>@erased.invalid``); its orders (and guest
orders under its email) lose their email, phone, note and delivery addresses (the
country stays, for tax records), but keep their lines, amounts, payments and stock
movements, so order totals and ``hub inventory verify`` are unchanged; its carts lose
the same; its loyalty account gets a new card number (the old one no longer finds
anyone) and keeps its ledger; its API keys are revoked; its saved addresses are
deleted; every customer token (access, password reset, activation) ends, and the
account loses its password hash and is disabled (no one signs in to it again); a
consent still granted gets a withdrawal row (source ``erasure``: the consent history
keeps no personal data, only topic, answer, source and time). A timeline event
records the erasure with what was done (counts, no personal data). Erasing again
changes nothing.

The export holds the profile, its account state (never the password hash: whether
there is one), its tokens (kind and times, never their hashes), addresses, consent
history (with time and source), orders with lines and payments, loyalty account and
ledger, carts, gift cards, API keys (no hashes) and timeline.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import ids
from hub.auth import API_KEY, REVOKED_TOPIC
from hub.db.database import Database
from hub.db.tables import (
    accounts_t,
    addresses_t,
    cards_t,
    carts_t,
    consents_t,
    customer_events_t,
    customer_tokens_t,
    customers_t,
    groups_t,
    keys_t,
    loyalty_accounts_t,
    loyalty_txns_t,
    order_lines_t,
    orders_t,
    payments_t,
)
from hub.domain.customers import timeline
from hub.domain.customers.credentials import end_customer_tokens
from hub.domain.errors import Code, fail
from hub.domain.loyalty.accounts import new_card_id
from hub.events.bus import Event
from hub.events.outbox import Outbox

ERASED_DOMAIN = "erased.invalid"
# Address fields kept on an erased order: where it went, coarsely (tax records).
KEPT_ADDRESS = ("countryCode",)


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _row(row: Any, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    return {k: _json(v) for k, v in row._mapping.items() if k not in drop}


async def _all(conn: AsyncConnection, stmt: Any) -> list[Any]:
    return list((await conn.execute(stmt)).all())


async def _account_export(conn: AsyncConnection, pk: int) -> dict[str, Any]:
    """The account (state, never the password hash), its tokens (never their hashes),
    saved addresses and consent history (with time and source)."""
    account_row = (
        await conn.execute(
            select(
                accounts_t.c.state,
                accounts_t.c.email_verified_at,
                accounts_t.c.password_changed_at,
                accounts_t.c.created_at,
                accounts_t.c.updated_at,
                accounts_t.c.password_hash.is_not(None).label("has_password"),
            ).where(accounts_t.c.customer_id == pk)
        )
    ).first()
    customer_tokens = await _all(
        conn,
        select(
            customer_tokens_t.c.kind,
            customer_tokens_t.c.created_at,
            customer_tokens_t.c.expires_at,
            customer_tokens_t.c.ended_at,
        )
        .where(customer_tokens_t.c.customer_id == pk)
        .order_by(customer_tokens_t.c.id),
    )
    addresses = await _all(
        conn,
        select(addresses_t).where(addresses_t.c.customer_id == pk).order_by(addresses_t.c.id),
    )
    consents = await _all(
        conn,
        select(
            consents_t.c.topic,
            consents_t.c.granted,
            consents_t.c.source,
            consents_t.c.recorded_at,
        )
        .where(consents_t.c.customer_id == pk)
        .order_by(consents_t.c.id),
    )
    account: dict[str, Any] = {"state": None, "has_password": False}
    if account_row is not None:
        account = {**_row(account_row), "has_password": bool(account_row.has_password)}
    return {
        "account": {**account, "tokens": [_row(t) for t in customer_tokens]},
        "addresses": [_row(a, drop=("customer_id",)) for a in addresses],
        "consents": [_row(k) for k in consents],
    }


async def export_customer(conn: AsyncConnection, pk: int) -> dict[str, Any] | None:
    """Everything the hub holds about customer ``pk`` as JSON-ready data, or None."""
    c = (await conn.execute(select(customers_t).where(customers_t.c.id == pk))).first()
    if c is None:
        return None
    orders = await _all(
        conn, select(orders_t).where(orders_t.c.customer_id == pk).order_by(orders_t.c.id)
    )
    opks = [o.id for o in orders]
    lines = await _all(
        conn,
        select(order_lines_t)
        .where(order_lines_t.c.order_id.in_(opks))
        .order_by(order_lines_t.c.id),
    )
    pays = await _all(
        conn, select(payments_t).where(payments_t.c.order_id.in_(opks)).order_by(payments_t.c.id)
    )
    account = (
        await conn.execute(select(loyalty_accounts_t).where(loyalty_accounts_t.c.customer_id == pk))
    ).first()
    ledger = (
        await _all(
            conn,
            select(loyalty_txns_t)
            .where(loyalty_txns_t.c.account_id == account.id)
            .order_by(loyalty_txns_t.c.id),
        )
        if account is not None
        else []
    )
    keys = await _all(
        conn,
        select(
            keys_t.c.name,
            keys_t.c.prefix,
            keys_t.c.scopes,
            keys_t.c.created_at,
            keys_t.c.revoked_at,
            keys_t.c.expires_at,
        ).where(keys_t.c.customer_id == pk),
    )
    carts = await _all(conn, select(carts_t).where(carts_t.c.customer_id == pk))
    cards = await _all(
        conn,
        select(
            cards_t.c.id,
            cards_t.c.last4,
            cards_t.c.currency,
            cards_t.c.balance,
            cards_t.c.status,
            cards_t.c.expires_at,
        ).where(cards_t.c.customer_id == pk),
    )
    events = await _all(
        conn,
        select(customer_events_t)
        .where(customer_events_t.c.customer_id == pk)
        .order_by(customer_events_t.c.id),
    )
    by_order: dict[int, dict[str, list[Any]]] = {o: {"lines": [], "payments": []} for o in opks}
    for ln in lines:
        by_order[ln.order_id]["lines"].append(_row(ln))
    for p in pays:
        by_order[p.order_id]["payments"].append(_row(p))
    return {
        "id": ids.encode("Customer", pk),
        "exportedAt": datetime.now(UTC).isoformat(),
        "customer": _row(c),
        **await _account_export(conn, pk),
        "orders": [{**_row(o, drop=("status_token_hash",)), **by_order[o.id]} for o in orders],
        "loyalty": {
            "account": _row(account) if account is not None else None,
            "transactions": [_row(t) for t in ledger],
        },
        "carts": [_row(ct, drop=("token", "checkout_lease")) for ct in carts],
        "giftCards": [_row(g) for g in cards],
        "apiKeys": [_row(k) for k in keys],
        "timeline": [_row(e) for e in events],
    }


def _scrub(delivery: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    out = []
    for g in delivery or ():
        addr = g.get("address")
        if isinstance(addr, dict):
            addr = {k: v for k, v in addr.items() if k in KEPT_ADDRESS}
        out.append({**g, "address": addr})
    return out


async def erase_customer(conn: AsyncConnection, pk: int, outbox: Outbox) -> bool:
    """Anonymize customer ``pk`` (see the module docstring); False when it was already."""
    c = (await conn.execute(select(customers_t).where(customers_t.c.id == pk))).first()
    if c is None:
        raise fail(Code.NOT_FOUND, "customer not found", "id")
    if c.erased_at is not None:
        return False
    now = datetime.now(UTC)
    await conn.execute(
        update(customers_t)
        .where(customers_t.c.id == pk)
        .values(
            email=f"erased-{pk}@{ERASED_DOMAIN}",
            phone=None,
            phone_key=None,
            first_name="",
            last_name="",
            segments=[],
            customer_group=None,
            tax_exempt_vat_id=None,
            accepts_marketing=False,
            erased_at=now,
            updated_at=now,
        )
    )
    mine = or_(orders_t.c.customer_id == pk, orders_t.c.email == c.email)
    orders = await _all(conn, select(orders_t.c.id, orders_t.c.delivery).where(mine))
    for o in orders:
        await conn.execute(
            update(orders_t)
            .where(orders_t.c.id == o.id)
            .values(email=None, phone=None, note=None, delivery=_scrub(o.delivery))
        )
    carts = select(carts_t.c.id).where(carts_t.c.customer_id == pk).scalar_subquery()
    await conn.execute(update(groups_t).where(groups_t.c.cart_id.in_(carts)).values(address=None))
    await conn.execute(
        update(carts_t)
        .where(carts_t.c.customer_id == pk)
        .values(email=None, phone=None, note=None, attributes=[])
    )
    await conn.execute(
        update(loyalty_accounts_t)
        .where(loyalty_accounts_t.c.customer_id == pk)
        .values(card_id=new_card_id(), updated_at=now)
    )
    revoked = await _all(
        conn,
        update(keys_t)
        .where(keys_t.c.customer_id == pk, keys_t.c.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(keys_t.c.id),
    )
    for k in revoked:  # every process closes the key's sockets and forgets it
        outbox.add(REVOKED_TOPIC, {"kind": API_KEY, "id": k.id})
    gone = await _erase_account(conn, outbox, pk, now)
    await timeline.record(
        conn, pk, "ERASED", {"orders": len(orders), "apiKeys": len(revoked), **gone}, key="erase"
    )
    outbox.add("customer.erased", {"customerId": pk})
    return True


async def _erase_account(
    conn: AsyncConnection, outbox: Outbox, pk: int, at: datetime
) -> dict[str, int]:
    """The account side of an erasure: addresses deleted, tokens ended, the password
    hash dropped and the account disabled, granted consents withdrawn."""
    addresses = await conn.execute(delete(addresses_t).where(addresses_t.c.customer_id == pk))
    ended = await end_customer_tokens(conn, outbox, pk, at)
    await conn.execute(
        update(accounts_t)
        .where(accounts_t.c.customer_id == pk)
        .values(password_hash=None, state="DISABLED", updated_at=at)
    )
    rows = await _all(
        conn,
        select(consents_t.c.topic, consents_t.c.granted)
        .where(consents_t.c.customer_id == pk)
        .order_by(consents_t.c.id),
    )
    latest = {r.topic: bool(r.granted) for r in rows}
    withdrawn = [topic for topic, granted in latest.items() if granted]
    for topic in withdrawn:
        await conn.execute(
            insert(consents_t).values(
                customer_id=pk, topic=topic, granted=False, source="erasure", recorded_at=at
            )
        )
    return {
        "addresses": int(addresses.rowcount or 0),
        "tokens": ended,
        "consentsWithdrawn": len(withdrawn),
    }


async def erase(db: Database, pk: int) -> tuple[bool, list[Event]]:
    outbox = Outbox()
    async with db.transaction() as conn:
        done = await erase_customer(conn, pk, outbox)
        events = await outbox.flush(conn)
    return done, events


async def export(db: Database, pk: int, *, by: str) -> dict[str, Any]:
    """The export of customer ``pk``, recorded on its timeline (who asked: ``by``)."""
    async with db.transaction() as conn:
        data = await export_customer(conn, pk)
        if data is None:
            raise fail(Code.NOT_FOUND, "customer not found", "id")
        await timeline.record(conn, pk, "EXPORTED", {"by": by})
    return data
