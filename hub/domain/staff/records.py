"""Reads of staff users and roles (several at once, for loaders and pages)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select

from hub.db.database import Reader
from hub.db.tables import staff_roles_t, staff_user_roles_t, staff_users_t


@dataclass(frozen=True, slots=True)
class StaffUserRecord:
    pk: int
    email: str
    name: str
    active: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StaffRoleRecord:
    pk: int
    name: str
    permissions: tuple[str, ...]
    channel_pks: tuple[int, ...] | None
    location_pks: tuple[int, ...] | None


_USER_COLS = (
    staff_users_t.c.id,
    staff_users_t.c.email,
    staff_users_t.c.name,
    staff_users_t.c.active,
    staff_users_t.c.created_at,
)


def _user(r: Row[Any]) -> StaffUserRecord:
    return StaffUserRecord(r.id, r.email, r.name, bool(r.active), r.created_at)


def _role(r: Row[Any]) -> StaffRoleRecord:
    ch, loc = r.channel_ids, r.location_ids
    return StaffRoleRecord(
        r.id,
        r.name,
        tuple(r.permissions),
        None if ch is None else tuple(ch),
        None if loc is None else tuple(loc),
    )


async def users_page(reader: Reader, limit: int, after_pk: int | None) -> list[StaffUserRecord]:
    """Users by id, after ``after_pk``; ``limit`` rows."""
    q = select(*_USER_COLS).order_by(staff_users_t.c.id).limit(limit)
    if after_pk is not None:
        q = q.where(staff_users_t.c.id > after_pk)
    return [_user(r) for r in await reader.all(q)]


async def users_by_pks(reader: Reader, pks: Sequence[int]) -> dict[int, StaffUserRecord]:
    if not pks:
        return {}
    q = select(*_USER_COLS).where(staff_users_t.c.id.in_(sorted(set(pks))))
    return {r.id: _user(r) for r in await reader.all(q)}


async def roles_page(reader: Reader, limit: int, after_pk: int | None) -> list[StaffRoleRecord]:
    q = select(staff_roles_t).order_by(staff_roles_t.c.id).limit(limit)
    if after_pk is not None:
        q = q.where(staff_roles_t.c.id > after_pk)
    return [_role(r) for r in await reader.all(q)]


async def roles_by_pks(reader: Reader, pks: Sequence[int]) -> dict[int, StaffRoleRecord]:
    if not pks:
        return {}
    q = select(staff_roles_t).where(staff_roles_t.c.id.in_(sorted(set(pks))))
    return {r.id: _role(r) for r in await reader.all(q)}


async def roles_of_users(
    reader: Reader, user_pks: Sequence[int]
) -> dict[int, list[StaffRoleRecord]]:
    """The roles of several users (one query), by role id."""
    if not user_pks:
        return {}
    q = (
        select(staff_user_roles_t.c.user_id, staff_roles_t)
        .select_from(
            staff_roles_t.join(
                staff_user_roles_t, staff_user_roles_t.c.role_id == staff_roles_t.c.id
            )
        )
        .where(staff_user_roles_t.c.user_id.in_(sorted(set(user_pks))))
        .order_by(staff_roles_t.c.id)
    )
    out: dict[int, list[StaffRoleRecord]] = {}
    for r in await reader.all(q):
        out.setdefault(r.user_id, []).append(_role(r))
    return out
