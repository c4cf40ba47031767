"""Staff, the thin service: users (email, name, argon2id password shared with customer
accounts' :class:`~hub.domain.accounts.Passwords`), roles (permissions with optional
channel and location restrictions), the users' roles, and staff access tokens
(``hubst_``, stored hashed, expiring, revocable).

Ending a token, or deactivating a user (its tokens end and its bound API keys stop
working), writes ``auth.revoked`` events so every process closes the credentials'
websockets; a change of roles drops this process's cached principals (other processes
follow within ``HUB_AUTH_CACHE_SECONDS``). Rate limits are the caller's (the API knows
the client's address), as for customer sign-in.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import Event
from hub.auth import (
    API_KEY,
    PERMISSIONS,
    REVOKED_TOPIC,
    STAFF_TOKEN,
    STAFF_TOKEN_PREFIX,
    credential_revoked,
    forget_principals,
    known_permission,
    permission_names,
    token_digest,
)
from hub.db.database import Database
from hub.db.tables import (
    keys_t,
    staff_roles_t,
    staff_tokens_t,
    staff_user_roles_t,
    staff_users_t,
)
from hub.domain.accounts.passwords import Passwords, check_password
from hub.domain.errors import Code, DomainError, fail
from hub.domain.staff.codes import StaffCode
from hub.emails import InvalidEmail, normalize_email
from hub.events.outbox import Outbox

MAX_NAME = 255
OWNER = "owner"  # the role of `hub staff create --owner`: every permission
MAX_TOKEN = 200


@dataclass(frozen=True, slots=True)
class StaffToken:
    user_pk: int
    token: str
    expires_at: datetime
    pk: int


@dataclass
class RoleInput:
    name: str
    permissions: list[str]
    channel_pks: list[int] | None = None
    location_pks: list[int] | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def _email(raw: str, *path: str) -> str:
    try:
        return normalize_email(raw)
    except InvalidEmail as exc:
        raise fail(Code.INVALID, str(exc), *(path or ("email",))) from None


def _name(raw: str, *path: str) -> str:
    name = raw.strip()
    where = path or ("name",)
    if not name:
        raise fail(Code.BLANK, "a name can't be blank", *where)
    if len(name) > MAX_NAME:
        raise fail(Code.TOO_LONG, f"a name is at most {MAX_NAME} characters", *where)
    return name


def check_permissions(names: Iterable[str], *path: str) -> list[str]:
    wanted = sorted(set(names))
    unknown = [p for p in wanted if not known_permission(p)]
    if unknown:
        raise fail(
            StaffCode.UNKNOWN_PERMISSION,
            f"unknown permission(s) {', '.join(unknown)}; "
            f"choose from {', '.join(permission_names())}",
            *(path or ("permissions",)),
        )
    return wanted


def unidentified() -> DomainError:
    return fail(StaffCode.UNIDENTIFIED_STAFF, "unidentified staff user", "email")


class Staff:
    def __init__(
        self,
        db: Database,
        passwords: Passwords,
        token_life: timedelta,
        publish: Callable[[Sequence[Event]], Awaitable[None]] | None = None,
    ) -> None:
        self.db = db
        self.passwords = passwords
        self.token_life = token_life
        self._publish = publish

    async def _run(self, work: Callable[[AsyncConnection, Outbox], Awaitable[Any]]) -> Any:
        outbox = Outbox()
        async with self.db.transaction() as conn:
            result = await work(conn, outbox)
            events = await outbox.flush(conn)
        forget_principals()
        for event in events:
            if event.topic == REVOKED_TOPIC:
                credential_revoked(str(event.payload["kind"]), int(event.payload["id"]))
        if events and self._publish is not None:
            await self._publish(events)
        return result

    # ---------------------------------------------------------------------- users

    async def create_user(
        self, email: str, name: str, password: str | None = None, role_pks: Sequence[int] = ()
    ) -> int:
        values = {"email": _email(email), "name": _name(name)}
        hashed = await self.passwords.hash(check_password(password)) if password else None

        async def work(conn: AsyncConnection, outbox: Outbox) -> int:
            at = _now()
            try:
                async with conn.begin_nested():
                    pk = (
                        await conn.execute(
                            insert(staff_users_t)
                            .values(
                                **values,
                                password_hash=hashed,
                                active=True,
                                created_at=at,
                                updated_at=at,
                            )
                            .returning(staff_users_t.c.id)
                        )
                    ).scalar_one()
            except IntegrityError:
                raise fail(Code.TAKEN, "a staff user with this email exists", "email") from None
            await _set_roles(conn, pk, role_pks)
            return int(pk)

        pk: int = await self._run(work)
        return pk

    async def update_user(
        self,
        pk: int,
        *,
        email: str | None = None,
        name: str | None = None,
        password: str | None = None,
        role_pks: Sequence[int] | None = None,
    ) -> int:
        values: dict[str, Any] = {}
        if email is not None:
            values["email"] = _email(email)
        if name is not None:
            values["name"] = _name(name)
        if password is not None:
            values["password_hash"] = await self.passwords.hash(check_password(password))

        async def work(conn: AsyncConnection, outbox: Outbox) -> int:
            row = (
                await conn.execute(select(staff_users_t.c.active).where(staff_users_t.c.id == pk))
            ).first()
            if row is None:
                raise fail(Code.NOT_FOUND, "no staff user with that id", "id")
            if values:
                try:
                    async with conn.begin_nested():
                        await conn.execute(
                            update(staff_users_t)
                            .where(staff_users_t.c.id == pk)
                            .values(**values, updated_at=_now())
                        )
                except IntegrityError:
                    raise fail(Code.TAKEN, "a staff user with this email exists", "email") from None
            if "password_hash" in values:  # a new password ends the user's sessions
                await _end_tokens(conn, outbox, pk)
            if role_pks is not None:
                await _set_roles(conn, pk, role_pks)
            return pk

        done: int = await self._run(work)
        return done

    async def deactivate_user(self, pk: int) -> int:
        """The user can't sign in; its tokens end and its bound API keys stop working
        (their websockets close)."""

        async def work(conn: AsyncConnection, outbox: Outbox) -> int:
            res = await conn.execute(
                update(staff_users_t)
                .where(staff_users_t.c.id == pk)
                .values(active=False, updated_at=_now())
            )
            if res.rowcount != 1:
                raise fail(Code.NOT_FOUND, "no staff user with that id", "id")
            await _end_tokens(conn, outbox, pk)
            keys = await conn.execute(
                select(keys_t.c.id).where(
                    keys_t.c.staff_user_id == pk, keys_t.c.revoked_at.is_(None)
                )
            )
            for k in keys:
                outbox.add(REVOKED_TOPIC, {"kind": API_KEY, "id": k.id})
            return pk

        done: int = await self._run(work)
        return done

    # ---------------------------------------------------------------------- roles

    async def create_role(self, data: RoleInput) -> int:
        values = _role_values(data)

        async def work(conn: AsyncConnection, outbox: Outbox) -> int:
            try:
                async with conn.begin_nested():
                    res = await conn.execute(
                        insert(staff_roles_t)
                        .values(**values, created_at=_now())
                        .returning(staff_roles_t.c.id)
                    )
            except IntegrityError:
                raise fail(Code.TAKEN, "a role with this name exists", "name") from None
            return int(res.scalar_one())

        pk: int = await self._run(work)
        return pk

    async def update_role(self, pk: int, data: RoleInput) -> int:
        values = _role_values(data)

        async def work(conn: AsyncConnection, outbox: Outbox) -> int:
            try:
                async with conn.begin_nested():
                    res = await conn.execute(
                        update(staff_roles_t).where(staff_roles_t.c.id == pk).values(**values)
                    )
            except IntegrityError:
                raise fail(Code.TAKEN, "a role with this name exists", "name") from None
            if res.rowcount != 1:
                raise fail(Code.NOT_FOUND, "no role with that id", "id")
            return pk

        done: int = await self._run(work)
        return done

    async def delete_role(self, pk: int) -> int:
        async def work(conn: AsyncConnection, outbox: Outbox) -> int:
            await conn.execute(delete(staff_user_roles_t).where(staff_user_roles_t.c.role_id == pk))
            res = await conn.execute(delete(staff_roles_t).where(staff_roles_t.c.id == pk))
            if res.rowcount != 1:
                raise fail(Code.NOT_FOUND, "no role with that id", "id")
            return pk

        done: int = await self._run(work)
        return done

    async def owner_role(self) -> int:
        """The ``owner`` role (every permission, no restriction): made if missing."""
        async with self.db.read() as conn:
            found = await conn.scalar(
                select(staff_roles_t.c.id).where(staff_roles_t.c.name == OWNER)
            )
        if found is not None:
            return int(found)
        return await self.create_role(RoleInput(OWNER, list(PERMISSIONS)))

    async def set_user_roles(self, pk: int, role_pks: Sequence[int]) -> int:
        return await self.update_user(pk, role_pks=role_pks)

    # ------------------------------------------------------------------- sign-in

    async def sign_in(self, email: str, password: str) -> StaffToken:
        """A staff access token for the email and password, else UNIDENTIFIED_STAFF (the
        same answer, in the same time, for an unknown email, a wrong password or a
        deactivated user)."""
        try:
            normalized: str | None = normalize_email(email)
        except InvalidEmail:
            normalized = None
        row = None
        if normalized is not None and len(password) <= 1024:
            async with self.db.read() as conn:
                row = (
                    await conn.execute(
                        select(
                            staff_users_t.c.id,
                            staff_users_t.c.password_hash,
                            staff_users_t.c.active,
                        ).where(staff_users_t.c.email == normalized)
                    )
                ).first()
        stored = row.password_hash if row is not None else None
        if not await self.passwords.verify(stored, password[:1024]) or row is None:
            raise unidentified()
        if not row.active:
            raise unidentified()
        rehash = (
            await self.passwords.hash(password)
            if self.passwords.needs_rehash(stored or "")
            else None
        )

        async def work(conn: AsyncConnection, outbox: Outbox) -> StaffToken:
            at = _now()
            if rehash is not None:
                await conn.execute(
                    update(staff_users_t)
                    .where(staff_users_t.c.id == row.id)
                    .values(password_hash=rehash, updated_at=at)
                )
            raw = STAFF_TOKEN_PREFIX + secrets.token_urlsafe(32)
            expires = at + self.token_life
            pk = (
                await conn.execute(
                    insert(staff_tokens_t)
                    .values(
                        user_id=row.id,
                        token_hash=token_digest(raw),
                        created_at=at,
                        expires_at=expires,
                    )
                    .returning(staff_tokens_t.c.id)
                )
            ).scalar_one()
            return StaffToken(row.id, raw, expires, pk)

        issued: StaffToken = await self._run(work)
        return issued

    async def sign_out(self, raw: str) -> int:
        """End a valid staff access token: its id (its websockets close), else
        TOKEN_INVALID."""
        raw = raw.strip()

        async def work(conn: AsyncConnection, outbox: Outbox) -> int:
            if not raw.startswith(STAFF_TOKEN_PREFIX) or len(raw) > MAX_TOKEN:
                raise _invalid_token()
            at = _now()
            row = (
                await conn.execute(
                    update(staff_tokens_t)
                    .where(
                        staff_tokens_t.c.token_hash == token_digest(raw),
                        staff_tokens_t.c.ended_at.is_(None),
                        staff_tokens_t.c.expires_at > at,
                    )
                    .values(ended_at=at)
                    .returning(staff_tokens_t.c.id)
                )
            ).first()
            if row is None:
                raise _invalid_token()
            outbox.add(REVOKED_TOPIC, {"kind": STAFF_TOKEN, "id": row.id})
            return int(row.id)

        pk: int = await self._run(work)
        return pk


def _invalid_token() -> DomainError:
    return fail(Code.INVALID, "not a valid staff access token", "staff_access_token")


def _role_values(data: RoleInput) -> dict[str, Any]:
    return {
        "name": _name(data.name),
        "permissions": check_permissions(data.permissions),
        "channel_ids": None if data.channel_pks is None else sorted(set(data.channel_pks)),
        "location_ids": None if data.location_pks is None else sorted(set(data.location_pks)),
    }


async def _set_roles(conn: AsyncConnection, user_pk: int, role_pks: Sequence[int]) -> None:
    wanted = sorted(set(role_pks))
    if wanted:
        found = {
            r.id
            for r in await conn.execute(
                select(staff_roles_t.c.id).where(staff_roles_t.c.id.in_(wanted))
            )
        }
        missing = [pk for pk in wanted if pk not in found]
        if missing:
            raise fail(Code.NOT_FOUND, "no role with that id", "role_ids")
    await conn.execute(delete(staff_user_roles_t).where(staff_user_roles_t.c.user_id == user_pk))
    if wanted:
        await conn.execute(
            insert(staff_user_roles_t), [{"user_id": user_pk, "role_id": pk} for pk in wanted]
        )


async def _end_tokens(conn: AsyncConnection, outbox: Outbox, user_pk: int) -> None:
    rows = await conn.execute(
        update(staff_tokens_t)
        .where(staff_tokens_t.c.user_id == user_pk, staff_tokens_t.c.ended_at.is_(None))
        .values(ended_at=_now())
        .returning(staff_tokens_t.c.id)
    )
    for r in rows.all():
        outbox.add(REVOKED_TOPIC, {"kind": STAFF_TOKEN, "id": r.id})
