"""Privacy: everything the hub holds about a customer (``customerDataExport``), and
erasure (``customerErase``).

Erasure anonymizes the personal data and keeps the business records whole: the
profile keeps its id with its name, email, phone, VAT id, segments and consent
cleared (the email becomes ``erased-<id>@erased.invalid``); its orders (and guest
orders under its email) lose their email, phone, note and delivery addresses (the
country stays, for tax records), but keep their lines, amounts, payments and stock
movements, so order totals and ``hub inventory verify`` are unchanged; its carts lose
the same; its loyalty account gets a new card number (the old one no longer finds
anyone) and keeps its ledger; its API keys are revoked. A timeline event records the
erasure (with no personal data). Erasing again changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import ids
from hub.auth import API_KEY, REVOKED_TOPIC
from hub.db.database import Database
from hub.db.tables import (
    cards_t,
    carts_t,
    customer_events_t,
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
        "orders": [{**_row(o), **by_order[o.id]} for o in orders],
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
    await timeline.record(conn, pk, "ERASED", {"orders": len(orders)}, key="erase")
    outbox.add("customer.erased", {"customerId": pk})
    return True


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
