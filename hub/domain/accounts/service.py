"""Accounts, the thin service: each operation checks its input, opens one transaction,
runs the operations of :mod:`tokens` and :mod:`profile` on it, and after the commit
publishes its events (revocations) and hands its messages to the mailer.

Rate limits are the caller's (the API knows the client's address); this service
decides who is who and what is valid.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import Event
from hub import ids
from hub.auth import CUSTOMER_TOKEN, credential_revoked
from hub.db.database import Database
from hub.db.tables import accounts_t, customers_t
from hub.domain.accounts import profile, tokens
from hub.domain.accounts.codes import AccountCode
from hub.domain.accounts.passwords import Passwords, check_password
from hub.domain.accounts.records import sign_in_row
from hub.domain.customers import CustomerInput, change_customer, insert_customer, new_customer
from hub.domain.customers.events import CREATED, UPDATED, emit_profile
from hub.domain.customers.writes import customer_changes
from hub.domain.errors import Code, DomainError, fail
from hub.emails import EmailMessage, InvalidEmail, Mailer, normalize_email
from hub.events.outbox import Outbox

log = logging.getLogger("hub.accounts")

RECOVER_DELAY = 0.05  # seconds, plus up to 50 ms at random
ACTIVATION_MAIL = "customer.activation"
RESET_MAIL = "customer.password_reset"


@dataclass
class SignUp:
    email: str
    password: str
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    accepts_marketing: bool | None = None


@dataclass
class ProfileChange:
    """What a signed-in customer may change of itself (None: unchanged)."""

    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    password: str | None = None
    accepts_marketing: bool | None = None
    accepts_sms_marketing: bool | None = None
    clear_phone: bool = False


@dataclass
class _Unit:
    """What one operation leaves for after its commit."""

    outbox: Outbox = field(default_factory=Outbox)
    mail: list[EmailMessage] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


def unidentified() -> DomainError:
    return fail(AccountCode.UNIDENTIFIED_CUSTOMER, "unidentified customer", "email")


def account_email(raw: str) -> str | None:
    """The normalized email, or None when it can't be one (then no account has it)."""
    try:
        return normalize_email(raw)
    except InvalidEmail:
        return None


class Accounts:
    def __init__(
        self,
        db: Database,
        settings: Any,
        mailer: Mailer,
        publish: Callable[[Sequence[Event]], Awaitable[None]] | None = None,
    ) -> None:
        self.db = db
        self.mailer = mailer
        self._publish = publish
        s = settings
        self.passwords = Passwords(
            s.password_hash_time_cost, s.password_hash_memory_kib, s.password_hash_parallelism
        )
        self.access_life = timedelta(seconds=s.customer_token_seconds)
        self.reset_life = timedelta(seconds=s.customer_reset_token_seconds)
        self.activation_life = timedelta(seconds=s.customer_activation_token_seconds)
        self._background: set[asyncio.Task[None]] = set()

    # ----------------------------------------------------------------- plumbing

    async def _after(self, unit: _Unit) -> None:
        """After the commit: revocations take effect here and on the bus; mail leaves."""
        for event in unit.events:
            if event.topic == "auth.revoked":
                credential_revoked(str(event.payload["kind"]), int(event.payload["id"]))
        if unit.events and self._publish is not None:
            await self._publish(unit.events)
        for message in unit.mail:
            try:
                await self.mailer.send(message)
            except Exception as exc:  # the account change stands; the customer may ask again
                log.warning("sending %s failed: %s", message.template, exc)

    async def _run(self, work: Callable[[AsyncConnection, _Unit], Awaitable[Any]]) -> Any:
        unit = _Unit()
        async with self.db.transaction() as conn:
            result = await work(conn, unit)
            unit.events = await unit.outbox.flush(conn)
        await self._after(unit)
        return result

    async def _mail_token(
        self,
        conn: AsyncConnection,
        unit: _Unit,
        customer_pk: int,
        email: str,
        kind: str,
    ) -> None:
        life = self.reset_life if kind == tokens.RESET else self.activation_life
        issued = await tokens.issue(conn, customer_pk, kind, life)
        unit.mail.append(
            EmailMessage(
                to=email,
                template=RESET_MAIL if kind == tokens.RESET else ACTIVATION_MAIL,
                data={
                    "customerId": ids.encode("Customer", customer_pk),
                    "token": issued.token,
                    "expiresAt": issued.expires_at.isoformat(),
                },
            )
        )

    async def _access(self, conn: AsyncConnection, customer_pk: int) -> tokens.IssuedToken:
        return await tokens.issue(conn, customer_pk, tokens.ACCESS, self.access_life)

    # --------------------------------------------------------------- sign-up, in, out

    async def sign_up(self, data: SignUp) -> int:
        """A new customer with an account (enabled, its email not yet verified: an
        activation message verifies it). An email that has a customer without an
        account gets an activation message instead, and CUSTOMER_DISABLED."""
        check_password(data.password)
        values = new_customer(
            CustomerInput(
                email=data.email,
                first_name=data.first_name,
                last_name=data.last_name,
                phone=data.phone,
            )
        )
        hashed = await self.passwords.hash(data.password)

        async def work(conn: AsyncConnection, unit: _Unit) -> int:
            row = await sign_in_row(conn, values["email"])
            if row is not None:
                if row.password_hash is None and row.merged_into_id is None:
                    await profile.ensure_account(conn, row.id, tokens.now())
                    await self._mail_token(conn, unit, row.id, row.email, tokens.ACTIVATION)
                    return -row.id
                raise fail(Code.TAKEN, "a customer with this email already exists", "email")
            at = tokens.now()
            pk = await insert_customer(conn, values)
            await conn.execute(
                accounts_t.insert().values(
                    customer_id=pk,
                    password_hash=hashed,
                    state="ENABLED",
                    password_changed_at=at,
                    created_at=at,
                    updated_at=at,
                )
            )
            if data.accepts_marketing is not None:
                await profile.record_consent(
                    conn, pk, "EMAIL", data.accepts_marketing, "storefront", at
                )
            changed = [k for k in ("email", "phone", "first_name", "last_name") if values.get(k)]
            if data.accepts_marketing is not None:
                changed.append("accepts_marketing")
            await emit_profile(conn, unit.outbox, pk, CREATED, changed, "storefront")
            await self._mail_token(conn, unit, pk, values["email"], tokens.ACTIVATION)
            return pk

        pk = await self._run(work)
        if pk < 0:
            raise fail(
                AccountCode.CUSTOMER_DISABLED,
                "this email has a customer without a password: we sent it a link to "
                "activate the account",
                "email",
            )
        return int(pk)

    async def sign_in(self, email: str, password: str) -> tokens.IssuedToken:
        """An access token for the email and password, else UNIDENTIFIED_CUSTOMER (the
        same answer, in the same time, whether the email is unknown or the password
        wrong); CUSTOMER_DISABLED for a disabled account with the right password,
        CUSTOMER_MERGED for a profile merged into another (``customerMerge``: its
        tokens ended then; the customer signs in to the kept profile)."""
        normalized = account_email(email)
        row = None
        if normalized is not None and len(password) <= 1024:
            async with self.db.read() as conn:
                row = await sign_in_row(conn, normalized)
        stored = row.password_hash if row is not None else None
        if not await self.passwords.verify(stored, password[:1024]) or row is None:
            raise unidentified()
        if row.merged_into_id is not None:
            raise fail(
                AccountCode.CUSTOMER_MERGED,
                "this profile was merged into another: sign in with that one's email",
                "email",
            )
        if row.state != "ENABLED":
            raise fail(AccountCode.CUSTOMER_DISABLED, "this account is disabled", "email")
        rehash = (
            await self.passwords.hash(password)
            if self.passwords.needs_rehash(stored or "")
            else None
        )

        async def work(conn: AsyncConnection, unit: _Unit) -> tokens.IssuedToken:
            at = tokens.now()
            if rehash is not None:
                await profile.set_account(conn, row.id, at, password_hash=rehash)
            if row.email_verified_at is not None:
                await profile.claim_guest_orders(conn, row.id, row.email)
            return await self._access(conn, row.id)

        issued: tokens.IssuedToken = await self._run(work)
        return issued

    async def renew(self, raw: str) -> tokens.IssuedToken:
        """A new access token for a valid one, which ends (rotation)."""

        async def work(conn: AsyncConnection, unit: _Unit) -> tokens.IssuedToken:
            ended = await tokens.end_access(conn, unit.outbox, raw)
            if ended is None:
                raise _token_invalid("customerAccessToken")
            return await self._access(conn, ended[1])

        issued: tokens.IssuedToken = await self._run(work)
        return issued

    async def sign_out(self, raw: str) -> None:
        async def work(conn: AsyncConnection, unit: _Unit) -> None:
            if await tokens.end_access(conn, unit.outbox, raw) is None:
                raise _token_invalid("customerAccessToken")

        await self._run(work)

    # ------------------------------------------------------- recover, reset, activate

    async def recover(self, email: str) -> None:
        """Answers at once, the same whether or not the email has an account: the
        message (a reset link, or an activation link for an account without a
        password) is prepared and sent in the background."""
        normalized = account_email(email)
        if normalized is None:
            raise fail(Code.INVALID, "not an email address", "email")
        task = asyncio.create_task(self._recover(normalized), name="hub-accounts-recover")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _recover(self, email: str) -> None:
        # After the answer has left (and at a random moment), so neither the answer's
        # timing nor the process's load at that instant tells whether the email has
        # an account.
        await asyncio.sleep(RECOVER_DELAY + secrets.randbelow(50) / 1000)

        async def work(conn: AsyncConnection, unit: _Unit) -> None:
            row = await sign_in_row(conn, email)
            if row is None or row.state == "DISABLED" or row.merged_into_id is not None:
                return
            if row.state is None:
                await profile.ensure_account(conn, row.id, tokens.now())
            kind = tokens.RESET if row.password_hash is not None else tokens.ACTIVATION
            await self._mail_token(conn, unit, row.id, row.email, kind)

        try:
            await self._run(work)
        except Exception as exc:
            log.warning("password recovery failed: %s", exc)

    async def drain(self) -> None:
        """Wait for the background recoveries (shutdown, tests)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def reset(self, customer_pk: int, raw: str, password: str) -> tokens.IssuedToken:
        """A new password with a reset token (used once): every access token ends, the
        email counts as verified, and a new access token is returned."""
        check_password(password)
        hashed = await self.passwords.hash(password)
        return await self._take_and_set(customer_pk, raw, tokens.RESET, hashed, "resetToken")

    async def activate(
        self, customer_pk: int, raw: str, password: str | None
    ) -> tokens.IssuedToken:
        """Activate an account with its activation token (used once): sets the
        password (required when the account has none), verifies the email, enables
        the account and signs it in."""
        hashed = None
        if password is not None:
            check_password(password)
            hashed = await self.passwords.hash(password)
        return await self._take_and_set(
            customer_pk, raw, tokens.ACTIVATION, hashed, "activationToken"
        )

    async def _take_and_set(
        self, customer_pk: int, raw: str, kind: str, hashed: str | None, field_name: str
    ) -> tokens.IssuedToken:
        async def work(conn: AsyncConnection, unit: _Unit) -> tokens.IssuedToken:
            row = (
                await conn.execute(
                    select(
                        customers_t.c.email,
                        customers_t.c.merged_into_id,
                        accounts_t.c.password_hash,
                        accounts_t.c.state,
                    )
                    .select_from(customers_t.join(accounts_t))
                    .where(customers_t.c.id == customer_pk)
                )
            ).first()
            if row is None or not await tokens.take_once(conn, customer_pk, kind, raw):
                raise _token_invalid(field_name)
            if row.merged_into_id is not None:  # (its tokens ended at the merge)
                raise fail(AccountCode.CUSTOMER_MERGED, "this profile was merged", "id")
            if row.state == "DISABLED":
                raise fail(AccountCode.CUSTOMER_DISABLED, "this account is disabled", "id")
            if hashed is None and row.password_hash is None:
                raise fail(Code.BLANK, "set a password to activate the account", "password")
            at = tokens.now()
            values: dict[str, Any] = {"state": "ENABLED", "email_verified_at": at}
            if hashed is not None:
                values.update(password_hash=hashed, password_changed_at=at)
                await tokens.end_all_access(conn, unit.outbox, customer_pk)
            await profile.set_account(conn, customer_pk, at, **values)
            await profile.claim_guest_orders(conn, customer_pk, row.email)
            return await self._access(conn, customer_pk)

        issued: tokens.IssuedToken = await self._run(work)
        return issued

    async def invite(self, customer_pk: int) -> None:
        """Staff: send a customer without a password an activation link."""

        async def work(conn: AsyncConnection, unit: _Unit) -> None:
            row = (
                await conn.execute(
                    select(customers_t.c.email, accounts_t.c.password_hash)
                    .select_from(customers_t.outerjoin(accounts_t))
                    .where(customers_t.c.id == customer_pk)
                )
            ).first()
            if row is None:
                raise fail(Code.NOT_FOUND, "customer not found", "id")
            if row.password_hash is not None:
                raise fail(AccountCode.ALREADY_ENABLED, "the account is already active", "id")
            await profile.ensure_account(conn, customer_pk, tokens.now())
            await self._mail_token(conn, unit, customer_pk, row.email, tokens.ACTIVATION)

        await self._run(work)

    # ------------------------------------------------------------------ the profile

    async def update(self, customer_pk: int, change: ProfileChange) -> tokens.IssuedToken | None:
        """The signed-in customer changes its own profile. A new email must be verified
        again (an activation message goes to it); a new password ends every access
        token and returns a new one."""
        values = customer_changes(
            CustomerInput(
                email=change.email,
                first_name=change.first_name,
                last_name=change.last_name,
                phone=change.phone,
            ),
            ["phone"] if change.clear_phone else [],
        )
        hashed = None
        if change.password is not None:
            check_password(change.password)
            hashed = await self.passwords.hash(change.password)

        async def work(conn: AsyncConnection, unit: _Unit) -> tokens.IssuedToken | None:
            at = tokens.now()
            old = await conn.scalar(
                select(customers_t.c.email).where(customers_t.c.id == customer_pk)
            )
            if old is None:
                raise fail(Code.NOT_FOUND, "customer not found", "customer")
            if values:
                await change_customer(conn, customer_pk, values)
            await profile.ensure_account(conn, customer_pk, at)
            if "email" in values and values["email"] != old:
                await profile.set_account(conn, customer_pk, at, email_verified_at=None)
                await self._mail_token(conn, unit, customer_pk, values["email"], tokens.ACTIVATION)
            changed = list(values)
            for topic, granted, name in (
                ("EMAIL", change.accepts_marketing, "accepts_marketing"),
                ("SMS", change.accepts_sms_marketing, "accepts_sms_marketing"),
            ):
                if granted is not None:
                    await profile.record_consent(
                        conn, customer_pk, topic, granted, "storefront", at
                    )
                    changed.append(name)
            if changed:
                await emit_profile(conn, unit.outbox, customer_pk, UPDATED, changed, "storefront")
            if hashed is None:
                return None
            await profile.set_account(
                conn, customer_pk, at, password_hash=hashed, password_changed_at=at
            )
            await tokens.end_all_access(conn, unit.outbox, customer_pk)
            return await self._access(conn, customer_pk)

        issued: tokens.IssuedToken | None = await self._run(work)
        return issued


def _token_invalid(*path: str) -> DomainError:
    return fail(AccountCode.TOKEN_INVALID, "the token is invalid, used or expired", *path)


__all__ = ["CUSTOMER_TOKEN", "Accounts", "ProfileChange", "SignUp"]
