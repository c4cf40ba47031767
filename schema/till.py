"""Tills on the API (issue 14 item 5).

- Admin (``needs("settings")``): ``tillCreate``, ``tillUpdate``, ``tills(locationId)``.
- Staff PINs: ``staffPinSet(pin, locationIds, staffUserId)``: one's own PIN (any staff
  user), or another user's with the ``staff`` permission.
- ``tillSignIn(tillId, pin, staffEmail | staffUserId)``: a staff access token (``hubst_``)
  bound to the till: it reaches the till's location only, with the till permissions of
  the user's roles (``hub.auth.TILL_PERMISSIONS``), and stops working when the till is
  deactivated. Limited per till, per user and per address (the sign-in limits); the PIN
  locks after five wrong attempts in a row (``PIN_LOCKED``).
- Sessions (``needs("orders")``, at the till's location): ``tillSessionOpen``,
  ``tillCashMovement``, ``tillSessionClose``, ``tillSession(id)``, ``tillSessions``.
- Receipts: ``Order.receipt`` (schema.orders.types) and ``orderReceiptSend``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from hub import ids
from hub.domain.errors import Code, fail
from hub.domain.orders import OrderRecord
from hub.domain.till import receipts
from hub.domain.till import records as reads
from hub.domain.till.service import Tills
from schema.accounts.guard import account_key, attempt, by_address
from schema.calls import after_cursor
from schema.errors import ApiCode, ApiError, UserError, decode_id, run_write
from schema.loaders import Loader
from schema.orders.scope import may_see, require_order
from schema.permissions import denied, needs, require_location
from schema.relay import Connection, ConnectionValue, encode_cursor, page_request
from schema.staff import StaffAccessToken

SETTINGS = needs("settings")
ORDERS = needs("orders")


def _svc(info: Info) -> Tills:
    svc: Tills = info.context.hub.tills
    return svc


@strawberry.type(name="Till")
class TillType:
    id: strawberry.ID
    location_id: strawberry.ID
    code: str
    name: str
    active: bool
    created_at: datetime


def _till(r: reads.TillRecord) -> TillType:
    return TillType(
        id=strawberry.ID(ids.encode("Till", r.pk)),
        location_id=strawberry.ID(ids.encode("Location", r.location_pk)),
        code=r.code,
        name=r.name,
        active=r.active,
        created_at=r.created_at,
    )


@strawberry.enum(description="A kind of cash movement in a till's drawer.")
class TillCashKind(Enum):
    FLOAT = "FLOAT"
    SALE_CASH = "SALE_CASH"
    CHANGE = "CHANGE"
    REFUND_CASH = "REFUND_CASH"
    CASH_IN = "CASH_IN"
    CASH_OUT = "CASH_OUT"


@strawberry.enum(description="Cash staff put in or take out of a drawer.")
class TillCashMovementKind(Enum):
    CASH_IN = "CASH_IN"
    CASH_OUT = "CASH_OUT"


@strawberry.type
class TillCashTotal:
    kind: TillCashKind
    amount: int


class _Loaders:
    def __init__(self, ctx: Any) -> None:
        reader = ctx.reader

        async def totals(keys: Sequence[int]) -> dict[Hashable, Any]:
            return {k: v for k, v in (await reads.totals_of_sessions(reader, keys)).items()}

        async def balances(keys: Sequence[int]) -> dict[Hashable, Any]:
            return {k: v for k, v in (await reads.balances_of_sessions(reader, keys)).items()}

        async def tills(keys: Sequence[int]) -> dict[Hashable, Any]:
            return {k: v for k, v in (await reads.tills_by_pks(reader, keys)).items()}

        async def receipt(keys: Sequence[int]) -> dict[Hashable, Any]:
            return {k: v for k, v in (await receipts.receipts_of(reader, keys)).items()}

        self.totals = Loader(totals, default=dict)
        self.balances = Loader(balances, default=int)
        self.tills = Loader(tills)
        self.receipts = Loader(receipt)


def _loaders(info: Info) -> _Loaders:
    ctx = info.context
    got: _Loaders = ctx.keyed(_Loaders, lambda: _Loaders(ctx))
    return got


@strawberry.type(name="TillSession")
class TillSessionType:
    id: strawberry.ID
    till_id: strawberry.ID
    status: str = strawberry.field(description="OPEN or CLOSED.")
    opening_float: int
    counted_cash: int | None
    over_short: int | None = strawberry.field(
        description="Counted minus expected cash, once closed: positive over, negative short."
    )
    opened_at: datetime
    closed_at: datetime | None
    opened_by_id: strawberry.ID | None
    closed_by_id: strawberry.ID | None
    rec: strawberry.Private[reads.SessionRecord]

    @strawberry.field(
        description="What the drawer should hold: float + cash sales - change - cash "
        "refunds + cash in - cash out (live while open, as computed at the close after)."
    )
    async def expected_cash(self, info: Info) -> int:
        if self.rec.expected_cash is not None:
            return self.rec.expected_cash
        got: int = await _loaders(info).balances.load(self.rec.pk)
        return got

    @strawberry.field(description="The total of each kind of cash movement.")
    async def totals(self, info: Info) -> list[TillCashTotal]:
        got: dict[str, int] = await _loaders(info).totals.load(self.rec.pk)
        return [TillCashTotal(kind=TillCashKind(k), amount=v) for k, v in sorted(got.items())]


def _staff_id(pk: int | None) -> strawberry.ID | None:
    return None if pk is None else strawberry.ID(ids.encode("StaffUser", pk))


def _session(r: reads.SessionRecord) -> TillSessionType:
    return TillSessionType(
        id=strawberry.ID(ids.encode("TillSession", r.pk)),
        till_id=strawberry.ID(ids.encode("Till", r.till_pk)),
        status=r.status,
        opening_float=r.opening_float,
        counted_cash=r.counted_cash,
        over_short=r.over_short,
        opened_at=r.opened_at,
        closed_at=r.closed_at,
        opened_by_id=_staff_id(r.opened_by),
        closed_by_id=_staff_id(r.closed_by),
        rec=r,
    )


@strawberry.type
class TillPayload:
    till: TillType | None
    user_errors: list[UserError]


@strawberry.type
class TillSessionPayload:
    till_session: TillSessionType | None
    user_errors: list[UserError]


@strawberry.type
class StaffPinSetPayload:
    staff_user_id: strawberry.ID | None
    user_errors: list[UserError]


@strawberry.type
class TillSignInPayload:
    staff_access_token: StaffAccessToken | None
    till: TillType | None
    user_errors: list[UserError]


@strawberry.type
class OrderReceiptSendPayload:
    order_id: strawberry.ID | None
    user_errors: list[UserError]


@strawberry.input
class TillCreateInput:
    location_id: strawberry.ID
    code: str = strawberry.field(description="Unique at the location, e.g. TILL-1.")
    name: str


@strawberry.input
class TillUpdateInput:
    code: str | None = None
    name: str | None = None
    active: bool | None = strawberry.field(
        default=None, description="false ends the staff tokens signed in at it."
    )


async def _load_till(info: Info, pk: int | None) -> reads.TillRecord | None:
    if pk is None:
        return None
    got: reads.TillRecord | None = await _loaders(info).tills.load(pk)
    return got


async def _reload_session(info: Info, pk: int | None) -> TillSessionType | None:
    if pk is None:
        return None
    got = (await reads.sessions_by_pks(info.context.reader, [pk])).get(pk)
    return None if got is None else _session(got)


async def _till_in_scope(info: Info, till_gid: str, path: str) -> int:
    """The till's pk, ACCESS_DENIED unless the orders permission reaches its location
    (a till token: its own till's location only)."""
    pk = decode_id(till_gid, "Till", path)
    till = await _load_till(info, pk)
    if till is None:
        raise fail(Code.NOT_FOUND, "no till with that id", path)
    require_location(info, till.location_pk, "orders")
    return pk


async def _session_in_scope(info: Info, session_gid: str) -> int:
    pk = decode_id(session_gid, "TillSession", "sessionId")
    got = (await reads.sessions_by_pks(info.context.reader, [pk])).get(pk)
    if got is None:
        raise fail(Code.NOT_FOUND, "no till session with that id", "session_id")
    till = await _load_till(info, got.till_pk)
    require_location(info, till.location_pk if till else None, "orders")
    return pk


async def order_receipt(root: strawberry.Parent[OrderRecord], info: Info) -> JSON | None:
    """The receipt a till prints (see hub.domain.till.receipts for its shape): the
    order's customer, or staff whose orders permission reaches it."""
    if not await may_see(info, root):
        return None
    got: JSON | None = await _loaders(info).receipts.load(root.pk)
    return got


@strawberry.type
class TillQuery:
    @strawberry.field(permission_classes=SETTINGS, description="The location's tills, by code.")
    async def tills(self, info: Info, location_id: strawberry.ID) -> list[TillType]:
        pk = decode_id(location_id, "Location")
        limit = info.context.settings.max_page_size
        return [_till(r) for r in await reads.tills_of_location(info.context.reader, pk, limit)]

    @strawberry.field(permission_classes=ORDERS)
    async def till_session(self, info: Info, id: strawberry.ID) -> TillSessionType | None:
        pk = decode_id(id, "TillSession")
        got = (await reads.sessions_by_pks(info.context.reader, [pk])).get(pk)
        if got is None:
            return None
        till = await _load_till(info, got.till_pk)
        require_location(info, till.location_pk if till else None, "orders")
        return _session(got)

    @strawberry.field(permission_classes=ORDERS, description="The till's sessions, newest first.")
    async def till_sessions(
        self, info: Info, till_id: strawberry.ID, first: int = 20, after: str | None = None
    ) -> Connection[TillSessionType]:
        page_request(first, after, None, None, info.context.settings.max_page_size)
        pk = decode_id(till_id, "Till")
        till = await _load_till(info, pk)
        if till is None:
            raise ApiError("no till with that id", ApiCode.INVALID_ID)
        require_location(info, till.location_pk, "orders")
        got = after_cursor(after, "TS")
        rows, more = await reads.sessions_page(
            info.context.reader, pk, first, None if got is None else got[1]
        )
        cursors = [encode_cursor("TS", None, r.pk) for r in rows]
        return ConnectionValue(  # type: ignore[return-value]  # stands for the GraphQL connection
            [_session(r) for r in rows], cursors, more, after is not None
        )


@strawberry.type
class TillMutation:
    @strawberry.mutation(permission_classes=SETTINGS)
    async def till_create(self, info: Info, input: TillCreateInput) -> TillPayload:
        async def go() -> int:
            loc = decode_id(input.location_id, "Location", "locationId")
            return await _svc(info).create_till(loc, input.code, input.name)

        pk, errs = await run_write(info, go)
        till = await _load_till(info, pk)
        return TillPayload(till=None if till is None else _till(till), user_errors=errs)

    @strawberry.mutation(permission_classes=SETTINGS)
    async def till_update(
        self, info: Info, id: strawberry.ID, input: TillUpdateInput
    ) -> TillPayload:
        async def go() -> int:
            pk = decode_id(id, "Till", "id")
            return await _svc(info).update_till(
                pk, code=input.code, name=input.name, active=input.active
            )

        pk, errs = await run_write(info, go)
        till = None if pk is None else (await reads.tills_by_pks(info.context.reader, [pk]))[pk]
        return TillPayload(till=None if till is None else _till(till), user_errors=errs)

    @strawberry.mutation(
        description="Set a till PIN (4 to 8 digits) valid at these locations: one's own "
        "(a signed-in staff user), or another's with the staff permission (staffUserId)."
    )
    async def staff_pin_set(
        self,
        info: Info,
        pin: str,
        location_ids: list[strawberry.ID],
        staff_user_id: strawberry.ID | None = None,
    ) -> StaffPinSetPayload:
        p = info.context.principal
        if staff_user_id is None:
            if p.staff_user_id is None or p.till_id is not None:
                raise denied("a PIN is set by a signed-in staff user (not at a till)")
        elif not p.can("staff"):
            raise denied("this needs the staff permission")

        async def go() -> int:
            user = (
                p.staff_user_id
                if staff_user_id is None
                else decode_id(staff_user_id, "StaffUser", "staffUserId")
            )
            assert user is not None
            locs = [
                decode_id(g, "Location", "locationIds", str(i))
                for i, g in enumerate(location_ids[:100])
            ]
            return await _svc(info).set_pin(user, pin, locs)

        pk, errs = await run_write(info, go)
        return StaffPinSetPayload(
            staff_user_id=None if pk is None else strawberry.ID(ids.encode("StaffUser", pk)),
            user_errors=errs,
        )

    @strawberry.mutation(
        description="Staff sign-in at a till with a PIN: a staff access token that reaches "
        "the till's location only. Limited per till, per user and per address; five wrong "
        "PINs in a row lock the PIN for 15 minutes."
    )
    async def till_sign_in(
        self,
        info: Info,
        till_id: strawberry.ID,
        pin: str,
        staff_email: str | None = None,
        staff_user_id: strawberry.ID | None = None,
    ) -> TillSignInPayload:
        s = info.context.settings
        who = staff_email if staff_email is not None else str(staff_user_id or "")
        refused = await attempt(
            info,
            "till sign-in attempts",
            ("till-sign-in", s.rate_limit_sign_in_account, account_key(f"till:{till_id}")),
            ("till-sign-in-user", s.rate_limit_sign_in_account, account_key(who)),
            ("sign-in-address", s.rate_limit_sign_in_address, by_address(info)),
        )
        if refused:
            return TillSignInPayload(staff_access_token=None, till=None, user_errors=refused)

        async def go() -> Any:
            till_pk = decode_id(till_id, "Till", "tillId")
            user_pk = (
                None
                if staff_user_id is None
                else decode_id(staff_user_id, "StaffUser", "staffUserId")
            )
            if staff_email is None and user_pk is None:
                raise fail(Code.BLANK, "pass staffEmail or staffUserId", "staff_email")
            issued = await _svc(info).sign_in(till_pk, pin, email=staff_email, user_pk=user_pk)
            return issued, till_pk

        got, errs = await run_write(info, go)
        if got is None:
            return TillSignInPayload(staff_access_token=None, till=None, user_errors=errs)
        issued, till_pk = got
        till = await _load_till(info, till_pk)
        return TillSignInPayload(
            staff_access_token=StaffAccessToken(
                access_token=issued.token, expires_at=issued.expires_at
            ),
            till=None if till is None else _till(till),
            user_errors=[],
        )

    @strawberry.mutation(
        permission_classes=ORDERS,
        description="Open a session at the till with its float (minor units); one open "
        "session per till.",
    )
    async def till_session_open(
        self, info: Info, till_id: strawberry.ID, float: int
    ) -> TillSessionPayload:
        opening = float

        async def go() -> int:
            pk = await _till_in_scope(info, till_id, "tillId")
            return await _svc(info).open_session(pk, opening, info.context.principal.staff_user_id)

        pk, errs = await run_write(info, go)
        return TillSessionPayload(till_session=await _reload_session(info, pk), user_errors=errs)

    @strawberry.mutation(permission_classes=ORDERS, description="Cash put in or taken out.")
    async def till_cash_movement(
        self,
        info: Info,
        session_id: strawberry.ID,
        kind: TillCashMovementKind,
        amount: int,
        reason: str | None = None,
    ) -> TillSessionPayload:
        async def go() -> int:
            pk = await _session_in_scope(info, session_id)
            staff_pk = info.context.principal.staff_user_id
            return await _svc(info).cash_movement(pk, kind.value, amount, reason, staff_pk)

        pk, errs = await run_write(info, go)
        return TillSessionPayload(till_session=await _reload_session(info, pk), user_errors=errs)

    @strawberry.mutation(
        permission_classes=ORDERS,
        description="Close the session with the counted cash: expected cash and "
        "over/short are recorded.",
    )
    async def till_session_close(
        self, info: Info, session_id: strawberry.ID, counted_cash: int
    ) -> TillSessionPayload:
        async def go() -> int:
            pk = await _session_in_scope(info, session_id)
            staff_pk = info.context.principal.staff_user_id
            return await _svc(info).close_session(pk, counted_cash, staff_pk)

        pk, errs = await run_write(info, go)
        return TillSessionPayload(till_session=await _reload_session(info, pk), user_errors=errs)

    @strawberry.mutation(
        permission_classes=ORDERS,
        description="E-mail the order's receipt: an order.receipt_requested event, and the "
        "receipt handed to the mailer (template order.receipt).",
    )
    async def order_receipt_send(
        self, info: Info, order_id: strawberry.ID, email: str
    ) -> OrderReceiptSendPayload:
        await require_order(info, order_id)

        async def go() -> int:
            pk = decode_id(order_id, "Order", "orderId")
            return await _svc(info).send_receipt(pk, email)

        pk, errs = await run_write(info, go)
        return OrderReceiptSendPayload(order_id=None if pk is None else order_id, user_errors=errs)


__all__ = ["TillMutation", "TillQuery", "order_receipt"]
