"""Staff users and roles on the API (issue 12).

Admin fields (``needs("staff")``): ``staffUserCreate``, ``staffUserUpdate`` (roles
included), ``staffUserDeactivate``, ``staffUserRolesSet``, ``staffRoleCreate``,
``staffRoleUpdate``, ``staffRoleDelete``, and the pages ``staffUsers`` and
``staffRoles``. Sign-in: ``staffAccessTokenCreate(email, password)`` gives a token
(``hubst_``) sent as ``Authorization: Bearer``; ``staffAccessTokenDelete`` ends it (its
websockets close); ``staffMe`` is the signed-in staff user with its permissions. Sign-in
attempts count against the same limits as customers' (per account and per address,
:mod:`schema.accounts.guard`).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from hub import ids
from hub.domain import staff
from schema.accounts.guard import account_key, attempt, by_address
from schema.calls import after_cursor
from schema.errors import ApiCode, ApiError, UserError, decode_id, run_write
from schema.loaders import Loader
from schema.permissions import needs
from schema.relay import Connection, ConnectionValue, encode_cursor, page_request

STAFF = needs("staff")


@strawberry.type(name="StaffRole")
class StaffRoleType:
    id: strawberry.ID
    name: str
    permissions: list[str]
    channel_ids: list[strawberry.ID] | None = strawberry.field(
        description="The channels it is restricted to; null: all."
    )
    location_ids: list[strawberry.ID] | None = strawberry.field(
        description="The locations it is restricted to; null: all."
    )


def _role(r: staff.StaffRoleRecord) -> StaffRoleType:
    return StaffRoleType(
        id=strawberry.ID(ids.encode("StaffRole", r.pk)),
        name=r.name,
        permissions=list(r.permissions),
        channel_ids=None
        if r.channel_pks is None
        else [strawberry.ID(ids.encode("Channel", pk)) for pk in r.channel_pks],
        location_ids=None
        if r.location_pks is None
        else [strawberry.ID(ids.encode("Location", pk)) for pk in r.location_pks],
    )


class _Loaders:
    def __init__(self, ctx: Any) -> None:
        reader = ctx.reader

        async def roles(keys: Sequence[int]) -> dict[Hashable, Any]:
            got = await staff.roles_of_users(reader, keys)
            return {k: [_role(r) for r in v] for k, v in got.items()}

        self.roles_by_user = Loader(roles, default=list)


def _loaders(info: Info) -> _Loaders:
    ctx = info.context
    got: _Loaders = ctx.keyed(_Loaders, lambda: _Loaders(ctx))
    return got


@strawberry.type(name="StaffUser")
class StaffUserType:
    id: strawberry.ID
    email: str
    name: str
    active: bool
    created_at: datetime
    pk: strawberry.Private[int]

    @strawberry.field(description="Its roles (one query for a page of users).")
    async def roles(self, info: Info) -> list[StaffRoleType]:
        got: list[StaffRoleType] = await _loaders(info).roles_by_user.load(self.pk)
        return got


def _user(r: staff.StaffUserRecord) -> StaffUserType:
    return StaffUserType(
        id=strawberry.ID(ids.encode("StaffUser", r.pk)),
        email=r.email,
        name=r.name,
        active=r.active,
        created_at=r.created_at,
        pk=r.pk,
    )


@strawberry.type
class StaffMe:
    user: StaffUserType
    permissions: list[str] = strawberry.field(description="What its roles allow, together.")


@strawberry.input
class StaffUserCreateInput:
    email: str
    name: str
    password: str | None = strawberry.field(
        default=None, description="None: the user signs in with API keys bound to it only."
    )
    role_ids: list[strawberry.ID] = strawberry.field(default_factory=list)


@strawberry.input
class StaffUserUpdateInput:
    email: str | None = None
    name: str | None = None
    password: str | None = strawberry.field(
        default=None, description="Ends the user's staff access tokens."
    )
    role_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Replaces its roles."
    )


@strawberry.input
class StaffRoleInput:
    name: str
    permissions: list[str] = strawberry.field(description="Names from the permission list.")
    channel_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Restrict it to these channels (null: all)."
    )
    location_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Restrict it to these locations (null: all)."
    )


@strawberry.type
class StaffUserPayload:
    staff_user: StaffUserType | None
    user_errors: list[UserError]


@strawberry.type
class StaffRolePayload:
    staff_role: StaffRoleType | None
    user_errors: list[UserError]


@strawberry.type
class StaffRoleDeletePayload:
    deleted_id: strawberry.ID | None
    user_errors: list[UserError]


@strawberry.type
class StaffAccessToken:
    access_token: str
    expires_at: datetime


@strawberry.type
class StaffAccessTokenPayload:
    staff_access_token: StaffAccessToken | None
    user_errors: list[UserError]


@strawberry.type
class StaffAccessTokenDeletePayload:
    deleted_access_token: str | None
    user_errors: list[UserError]


async def _load_user(info: Info, pk: int | None) -> StaffUserType | None:
    if pk is None:
        return None
    got = (await staff.users_by_pks(info.context.reader, [pk])).get(pk)
    return None if got is None else _user(got)


async def _load_role(info: Info, pk: int | None) -> StaffRoleType | None:
    if pk is None:
        return None
    got = (await staff.roles_by_pks(info.context.reader, [pk])).get(pk)
    return None if got is None else _role(got)


def _pks(gids: Sequence[str] | None, kind: str, *path: str) -> list[int] | None:
    if gids is None:
        return None
    return [decode_id(g, kind, *path, str(i)) for i, g in enumerate(gids)]


def _role_input(input: StaffRoleInput) -> staff.RoleInput:
    return staff.RoleInput(
        name=input.name,
        permissions=list(input.permissions),
        channel_pks=_pks(input.channel_ids, "Channel", "input", "channelIds"),
        location_pks=_pks(input.location_ids, "Location", "input", "locationIds"),
    )


def _svc(info: Info) -> staff.Staff:
    svc: staff.Staff = info.context.hub.staff
    return svc


@strawberry.type
class StaffQuery:
    @strawberry.field(permission_classes=STAFF, description="Staff users, oldest first.")
    async def staff_users(
        self, info: Info, first: int = 50, after: str | None = None
    ) -> Connection[StaffUserType]:
        page_request(first, after, None, None, info.context.settings.max_page_size)
        got = after_cursor(after, "SU")
        rows = await staff.users_page(
            info.context.reader, first + 1, None if got is None else got[1]
        )
        window = [_user(r) for r in rows[:first]]
        cursors = [encode_cursor("SU", None, u.pk) for u in window]
        return ConnectionValue(window, cursors, len(rows) > first, after is not None)  # type: ignore[return-value]  # the connection value stands for the GraphQL connection

    @strawberry.field(permission_classes=STAFF, description="Roles, oldest first.")
    async def staff_roles(
        self, info: Info, first: int = 50, after: str | None = None
    ) -> Connection[StaffRoleType]:
        page_request(first, after, None, None, info.context.settings.max_page_size)
        got = after_cursor(after, "SR")
        rows = await staff.roles_page(
            info.context.reader, first + 1, None if got is None else got[1]
        )
        window = rows[:first]
        cursors = [encode_cursor("SR", None, r.pk) for r in window]
        return ConnectionValue(  # type: ignore[return-value]  # the connection value stands for the GraphQL connection
            [_role(r) for r in window], cursors, len(rows) > first, after is not None
        )

    @strawberry.field(
        description="The signed-in staff user (a staff access token or a key bound to a "
        "staff user); null for any other caller."
    )
    async def staff_me(self, info: Info) -> StaffMe | None:
        p = info.context.principal
        if p.staff_user_id is None:
            return None
        user = await _load_user(info, p.staff_user_id)
        if user is None:
            return None
        return StaffMe(user=user, permissions=sorted(p.permissions or ()))


@strawberry.type
class StaffMutation:
    @strawberry.mutation(permission_classes=STAFF)
    async def staff_user_create(self, info: Info, input: StaffUserCreateInput) -> StaffUserPayload:
        async def go() -> int:
            roles = _pks(input.role_ids, "StaffRole", "input", "roleIds") or []
            return await _svc(info).create_user(input.email, input.name, input.password, roles)

        pk, errs = await run_write(info, go)
        return StaffUserPayload(staff_user=await _load_user(info, pk), user_errors=errs)

    @strawberry.mutation(permission_classes=STAFF)
    async def staff_user_update(
        self, info: Info, id: strawberry.ID, input: StaffUserUpdateInput
    ) -> StaffUserPayload:
        async def go() -> int:
            return await _svc(info).update_user(
                decode_id(id, "StaffUser", "id"),
                email=input.email,
                name=input.name,
                password=input.password,
                role_pks=_pks(input.role_ids, "StaffRole", "input", "roleIds"),
            )

        pk, errs = await run_write(info, go)
        return StaffUserPayload(staff_user=await _load_user(info, pk), user_errors=errs)

    @strawberry.mutation(permission_classes=STAFF, description="Replace a user's roles.")
    async def staff_user_roles_set(
        self, info: Info, id: strawberry.ID, role_ids: list[strawberry.ID]
    ) -> StaffUserPayload:
        async def go() -> int:
            pk = decode_id(id, "StaffUser", "id")
            roles = _pks(role_ids, "StaffRole", "roleIds") or []
            return await _svc(info).set_user_roles(pk, roles)

        pk, errs = await run_write(info, go)
        return StaffUserPayload(staff_user=await _load_user(info, pk), user_errors=errs)

    @strawberry.mutation(
        permission_classes=STAFF,
        description="The user can't sign in any more: its tokens end and the API keys "
        "bound to it stop working (their websockets close).",
    )
    async def staff_user_deactivate(self, info: Info, id: strawberry.ID) -> StaffUserPayload:
        async def go() -> int:
            return await _svc(info).deactivate_user(decode_id(id, "StaffUser", "id"))

        pk, errs = await run_write(info, go)
        return StaffUserPayload(staff_user=await _load_user(info, pk), user_errors=errs)

    @strawberry.mutation(permission_classes=STAFF)
    async def staff_role_create(self, info: Info, input: StaffRoleInput) -> StaffRolePayload:
        pk, errs = await run_write(info, lambda: _svc(info).create_role(_role_input(input)))
        return StaffRolePayload(staff_role=await _load_role(info, pk), user_errors=errs)

    @strawberry.mutation(permission_classes=STAFF)
    async def staff_role_update(
        self, info: Info, id: strawberry.ID, input: StaffRoleInput
    ) -> StaffRolePayload:
        async def go() -> int:
            pk = decode_id(id, "StaffRole", "id")
            return await _svc(info).update_role(pk, _role_input(input))

        pk, errs = await run_write(info, go)
        return StaffRolePayload(staff_role=await _load_role(info, pk), user_errors=errs)

    @strawberry.mutation(permission_classes=STAFF, description="Its users lose it.")
    async def staff_role_delete(self, info: Info, id: strawberry.ID) -> StaffRoleDeletePayload:
        async def go() -> int:
            return await _svc(info).delete_role(decode_id(id, "StaffRole", "id"))

        pk, errs = await run_write(info, go)
        return StaffRoleDeletePayload(deleted_id=id if pk is not None else None, user_errors=errs)

    @strawberry.mutation(
        description="Staff sign-in: an access token, sent as Authorization: Bearer "
        "<accessToken>. Limited per account and per address as customers' sign-in."
    )
    async def staff_access_token_create(
        self, info: Info, email: str, password: str
    ) -> StaffAccessTokenPayload:
        s = info.context.settings
        refused = await attempt(
            info,
            "sign-in attempts",
            ("staff-sign-in", s.rate_limit_sign_in_account, account_key(email)),
            ("sign-in-address", s.rate_limit_sign_in_address, by_address(info)),
        )
        if refused:
            return StaffAccessTokenPayload(staff_access_token=None, user_errors=refused)
        issued, errs = await run_write(info, lambda: _svc(info).sign_in(email, password))
        token = (
            None
            if issued is None
            else StaffAccessToken(access_token=issued.token, expires_at=issued.expires_at)
        )
        return StaffAccessTokenPayload(staff_access_token=token, user_errors=errs)

    @strawberry.mutation(description="Staff sign-out: the token ends (its websockets close).")
    async def staff_access_token_delete(
        self, info: Info, staff_access_token: str
    ) -> StaffAccessTokenDeletePayload:
        s = info.context.settings
        refused = await attempt(
            info, "token checks", ("token", s.rate_limit_token_checks, by_address(info))
        )
        if refused:
            return StaffAccessTokenDeletePayload(deleted_access_token=None, user_errors=refused)
        _, errs = await run_write(info, lambda: _svc(info).sign_out(staff_access_token))
        return StaffAccessTokenDeletePayload(
            deleted_access_token=None if errs else staff_access_token.strip(), user_errors=errs
        )


__all__ = ["ApiCode", "ApiError", "StaffMutation", "StaffQuery"]
