"""Tills, the thin service: each call one transaction; events published and mail sent
after the commit."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import Event
from hub.auth import (
    REVOKED_TOPIC,
    STAFF_TOKEN,
    STAFF_TOKEN_PREFIX,
    credential_revoked,
    token_digest,
)
from hub.db.database import Database
from hub.db.tables import staff_tokens_t, tills_t
from hub.domain.accounts.passwords import Passwords
from hub.domain.errors import Code, DomainError, fail
from hub.domain.staff import StaffToken
from hub.domain.till import pins, receipts
from hub.domain.till import tills as writes
from hub.domain.till.codes import TillCode
from hub.emails import EmailMessage, InvalidEmail, Mailer, normalize_email
from hub.events.outbox import Outbox

log = logging.getLogger("hub.till")
# A till sign-in lasts a shift at most.
TILL_TOKEN_LIFE = timedelta(hours=8)
RECEIPT_TOPIC = "order.receipt_requested"
RECEIPT_TEMPLATE = "order.receipt"


@dataclass
class _Unit:
    outbox: Outbox = field(default_factory=Outbox)
    mail: list[EmailMessage] = field(default_factory=list)


class Tills:
    def __init__(
        self,
        db: Database,
        passwords: Passwords,
        mailer: Mailer,
        token_life: timedelta,
        publish: Callable[[Sequence[Event]], Awaitable[None]] | None = None,
    ) -> None:
        self.db = db
        self.passwords = passwords
        self.mailer = mailer
        self.token_life = min(token_life, TILL_TOKEN_LIFE)
        self._publish = publish

    async def _run(self, work: Callable[[AsyncConnection, _Unit], Awaitable[Any]]) -> Any:
        unit = _Unit()
        async with self.db.transaction() as conn:
            result = await work(conn, unit)
            events = await unit.outbox.flush(conn)
        for event in events:
            if event.topic == REVOKED_TOPIC:
                credential_revoked(str(event.payload["kind"]), int(event.payload["id"]))
        if events and self._publish is not None:
            await self._publish(events)
        for message in unit.mail:
            try:
                await self.mailer.send(message)
            except Exception as exc:  # the event stands; staff may send it again
                log.warning("sending %s failed: %s", message.template, exc)
        return result

    # ------------------------------------------------------------------- tills

    async def create_till(self, location_pk: int, code: str, name: str) -> int:
        pk: int = await self._run(lambda c, u: writes.create_till(c, location_pk, code, name))
        return pk

    async def update_till(self, pk: int, **changes: Any) -> int:
        """Deactivating a till ends the staff tokens signed in at it (their websockets
        close)."""

        async def work(conn: AsyncConnection, unit: _Unit) -> int:
            await writes.update_till(conn, pk, **changes)
            if changes.get("active") is False:
                ended = await conn.execute(
                    update(staff_tokens_t)
                    .where(staff_tokens_t.c.till_id == pk, staff_tokens_t.c.ended_at.is_(None))
                    .values(ended_at=datetime.now(UTC))
                    .returning(staff_tokens_t.c.id)
                )
                for r in ended.all():
                    unit.outbox.add(REVOKED_TOPIC, {"kind": STAFF_TOKEN, "id": r.id})
            return pk

        done: int = await self._run(work)
        return done

    # -------------------------------------------------------------------- PINs

    async def set_pin(self, user_pk: int, pin: str, location_pks: Sequence[int]) -> int:
        hashed = await self.passwords.hash(pins.check_pin(pin))
        done: int = await self._run(lambda c, u: pins.store_pin(c, user_pk, hashed, location_pks))
        return done

    async def sign_in(
        self, till_pk: int, pin: str, *, email: str | None = None, user_pk: int | None = None
    ) -> StaffToken:
        """A staff token bound to the till (its location only), else PIN_REJECTED (the
        same for an unknown user, a wrong PIN, a PIN not valid at the till's location or
        a deactivated user), PIN_LOCKED, TILL_INACTIVE or NOT_FOUND (the till)."""
        if email is not None:
            try:
                email = normalize_email(email)
            except InvalidEmail:
                email = None
                user_pk = None
        async with self.db.read() as conn:
            till = (
                await conn.execute(
                    select(tills_t.c.location_id, tills_t.c.active).where(tills_t.c.id == till_pk)
                )
            ).first()
            if till is None:
                raise fail(Code.NOT_FOUND, "no till with that id", "till_id")
            if not till.active:
                raise fail(TillCode.TILL_INACTIVE, "the till is deactivated", "till_id")
            row = (
                await pins.find_pin(conn, email=email, user_pk=user_pk)
                if email is not None or user_pk is not None
                else None
            )
        now = datetime.now(UTC)
        if row is not None and row.locked_until is not None and row.locked_until > now:
            raise pins.locked(row.locked_until)
        good = await self.passwords.verify(row.pin_hash if row else None, pin[:16])
        if row is None or row.pin_hash is None:
            raise pins.rejected()
        if not good or not row.active or till.location_id not in row.location_pks:
            async with self.db.transaction() as conn:
                until = await pins.count_failure(conn, row.user_pk)
            raise pins.locked(until) if until is not None else pins.rejected()

        async def work(conn: AsyncConnection, unit: _Unit) -> StaffToken:
            await pins.reset_failures(conn, row.user_pk)
            raw = STAFF_TOKEN_PREFIX + secrets.token_urlsafe(32)
            at = datetime.now(UTC)
            expires = at + self.token_life
            pk = (
                await conn.execute(
                    insert(staff_tokens_t)
                    .values(
                        user_id=row.user_pk,
                        token_hash=token_digest(raw),
                        created_at=at,
                        expires_at=expires,
                        till_id=till_pk,
                    )
                    .returning(staff_tokens_t.c.id)
                )
            ).scalar_one()
            return StaffToken(row.user_pk, raw, expires, int(pk))

        issued: StaffToken = await self._run(work)
        return issued

    # ---------------------------------------------------------------- sessions

    async def open_session(self, till_pk: int, opening_float: int, staff_pk: int | None) -> int:
        pk: int = await self._run(
            lambda c, u: writes.open_session(c, till_pk, opening_float, staff_pk)
        )
        return pk

    async def cash_movement(
        self, session_pk: int, kind: str, amount: int, reason: str | None, staff_pk: int | None
    ) -> int:
        pk: int = await self._run(
            lambda c, u: writes.cash_movement(c, session_pk, kind, amount, reason, staff_pk)
        )
        return pk

    async def close_session(self, session_pk: int, counted: int, staff_pk: int | None) -> int:
        pk: int = await self._run(
            lambda c, u: writes.close_session(c, session_pk, counted, staff_pk)
        )
        return pk

    # ---------------------------------------------------------------- receipts

    async def send_receipt(self, order_pk: int, email: str) -> int:
        """Queue ``order.receipt_requested`` (outbox, in the transaction) and hand the
        receipt to the mailer after the commit (template ``order.receipt``)."""
        try:
            to = normalize_email(email)
        except InvalidEmail as exc:
            raise fail(Code.INVALID, str(exc), "email") from None

        async def work(conn: AsyncConnection, unit: _Unit) -> int:
            receipt = (await receipts.receipts_of(conn, [order_pk])).get(order_pk)
            if receipt is None:
                raise fail(Code.NOT_FOUND, "no order with that id", "order_id")
            unit.outbox.add(
                RECEIPT_TOPIC,
                {"order_id": order_pk, "order_number": receipt["orderNumber"], "email": to},
            )
            unit.mail.append(EmailMessage(to, RECEIPT_TEMPLATE, {"receipt": receipt}))
            return order_pk

        done: int = await self._run(work)
        return done


__all__ = ["DomainError", "Tills"]
