"""Customers: who a shopper is, which group prices them, and which API key acts for them.

The record is minimal on purpose: identity, a customer group handle (price lists
target groups), segments and a loyalty tier (promotions look at them), an order count
(the orders service keeps it) and a VAT id for tax-exempt business buyers.
Emails are stored lowercased, so they are unique whatever their case.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import ids
from hub.auth import Principal
from hub.db.database import Database, Reader, fetch_all
from hub.db.models import Customer
from hub.domain.errors import Code, Errors, fail
from hub.emails import InvalidEmail, normalize_email

customers_t = Customer.__table__

PHONE_RE = re.compile(r"^\+?[0-9][0-9 ().-]{3,30}$")
GROUP_RE = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
# Two-letter country prefix and 2 to 13 letters or digits: the EU VAT id shape (and
# close enough for GB, CH, NO); the tax engine decides what it is worth.
VAT_ID_RE = re.compile(r"^[A-Z]{2}[0-9A-Z]{2,13}$")
MAX_SEGMENTS = 20


class CustomerRecord:
    __slots__ = (
        "created_at",
        "customer_group",
        "email",
        "first_name",
        "id",
        "last_name",
        "loyalty_tier",
        "orders_count",
        "phone",
        "pk",
        "segments",
        "tax_exempt_vat_id",
        "updated_at",
    )

    def __init__(self, row: Any) -> None:
        self.pk = row.id
        self.id = ids.encode("Customer", row.id)
        self.email = row.email
        self.phone = row.phone
        self.first_name = row.first_name
        self.last_name = row.last_name
        self.customer_group = row.customer_group
        self.segments = list(row.segments or ())
        self.loyalty_tier = row.loyalty_tier
        self.orders_count = row.orders_count
        self.tax_exempt_vat_id = row.tax_exempt_vat_id
        self.created_at = row.created_at
        self.updated_at = row.updated_at

    @property
    def display_name(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return name or self.email


# --------------------------------------------------------------------------- reads


async def customers_by_pks(
    conn: Reader | AsyncConnection, pks: Iterable[int]
) -> dict[int, CustomerRecord]:
    wanted = list(set(pks))
    if not wanted:
        return {}
    rows = await fetch_all(conn, select(customers_t).where(customers_t.c.id.in_(wanted)))
    return {r.id: CustomerRecord(r) for r in rows}


async def get_customer(conn: Reader | AsyncConnection, pk: int) -> CustomerRecord | None:
    return (await customers_by_pks(conn, [pk])).get(pk)


async def customer_by_email(conn: Reader | AsyncConnection, email: str) -> CustomerRecord | None:
    rows = await fetch_all(
        conn, select(customers_t).where(customers_t.c.email == email.strip().lower())
    )
    return CustomerRecord(rows[0]) if rows else None


async def customer_for_principal(
    conn: Reader | AsyncConnection, principal: Principal
) -> CustomerRecord | None:
    """The customer an API key acts for (a key with the customer scope), else None."""
    if principal.customer_id is None:
        return None
    return await get_customer(conn, principal.customer_id)


def can_see(principal: Principal, customer_pk: int) -> bool:
    """Staff see every customer; a customer key only its own."""
    return principal.is_staff or (
        principal.customer_id is not None and principal.customer_id == customer_pk
    )


# --------------------------------------------------------------------------- writes


@dataclass
class CustomerInput:
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    customer_group: str | None = None
    segments: list[str] | None = None
    loyalty_tier: str | None = None
    tax_exempt_vat_id: str | None = None


# Fields that may be cleared (set to null) by an update.
NULLABLE = frozenset({"phone", "customer_group", "loyalty_tier", "tax_exempt_vat_id"})
_CAMEL = {
    "email": "email",
    "phone": "phone",
    "first_name": "firstName",
    "last_name": "lastName",
    "customer_group": "customerGroup",
    "segments": "segments",
    "loyalty_tier": "loyaltyTier",
    "tax_exempt_vat_id": "taxExemptVatId",
}


def _clean(errs: Errors, data: CustomerInput) -> dict[str, Any]:
    """Validated, normalised column values for the fields given."""
    out: dict[str, Any] = {}
    for f in fields(data):
        value = getattr(data, f.name)
        if value is None:
            continue
        path = _CAMEL[f.name]
        if isinstance(value, str):
            value = value.strip()
            if "\x00" in value:
                errs.add(Code.INVALID, f"{path} contains a NUL character", path)
                continue
        if f.name == "email":
            if not value:
                errs.add(Code.BLANK, "email can't be blank", path)
            else:
                try:
                    value = normalize_email(value)
                except InvalidEmail as exc:
                    errs.add(Code(exc.code), str(exc), path)
        elif f.name == "phone":
            if value and not PHONE_RE.match(value):
                errs.add(Code.INVALID, "phone must be digits, optionally with a leading +", path)
            value = value or None
        elif f.name in ("first_name", "last_name"):
            if len(value) > 255:
                errs.add(Code.TOO_LONG, f"{path} is longer than 255 characters", path)
        elif f.name in ("customer_group", "loyalty_tier"):
            if not value:
                errs.add(Code.BLANK, f"{path} can't be blank (send null to clear it)", path)
            elif len(value) > 64:
                errs.add(Code.TOO_LONG, f"{path} is longer than 64 characters", path)
            elif f.name == "customer_group" and not GROUP_RE.match(value):
                errs.add(
                    Code.INVALID,
                    "customerGroup must be a handle: lowercase letters, digits, - and _",
                    path,
                )
        elif f.name == "tax_exempt_vat_id":
            value = re.sub(r"[\s.-]", "", value).upper()
            if not VAT_ID_RE.match(value):
                errs.add(
                    Code.INVALID,
                    "taxExemptVatId must be a country prefix and 2-13 letters or digits "
                    "(e.g. DE123456789)",
                    path,
                )
        elif f.name == "segments":
            segs: list[str] = []
            if len(value) > MAX_SEGMENTS:
                errs.add(Code.LIMIT_EXCEEDED, f"at most {MAX_SEGMENTS} segments", path)
            for i, s in enumerate(value):
                s = s.strip().lower()
                if not s or len(s) > 64 or not GROUP_RE.match(s):
                    errs.add(
                        Code.INVALID,
                        "a segment is a handle of at most 64 lowercase letters, digits, - or _",
                        path,
                        str(i),
                    )
                elif s not in segs:
                    segs.append(s)
            value = segs
        out[f.name] = value
    return out


def _integrity(exc: IntegrityError) -> Exception:
    msg = str(exc.orig).lower()
    if "unique" in msg or "duplicate" in msg:
        return fail(Code.TAKEN, "a customer with this email already exists", "email")
    return fail(Code.INVALID, "the customer is invalid", "email")


async def create_customer(db: Database, data: CustomerInput) -> int:
    errs = Errors()
    if data.email is None:
        errs.add(Code.BLANK, "email is required", "email")
    values = _clean(errs, data)
    errs.raise_if_any()
    now = datetime.now(UTC)
    values.setdefault("segments", [])
    values.setdefault("first_name", "")
    values.setdefault("last_name", "")
    async with db.transaction() as conn:
        try:
            res = await conn.execute(
                insert(customers_t)
                .values(**values, orders_count=0, created_at=now, updated_at=now)
                .returning(customers_t.c.id)
            )
        except IntegrityError as exc:
            raise _integrity(exc) from None
        return res.scalar_one()


async def update_customer(
    db: Database, pk: int, data: CustomerInput, *, clear: Iterable[str] = ()
) -> int:
    """Change the given fields; ``clear`` names nullable fields to set to null."""
    errs = Errors()
    values = _clean(errs, data)
    for name in clear:
        if name not in NULLABLE:
            path = _CAMEL.get(name, name)
            errs.add(Code.BLANK, f"{path} can't be null", path)
        else:
            values[name] = None
    errs.raise_if_any()
    async with db.transaction() as conn:
        stmt = update(customers_t).where(customers_t.c.id == pk)
        try:
            res = await conn.execute(stmt.values(**values, updated_at=datetime.now(UTC)))
        except IntegrityError as exc:
            raise _integrity(exc) from None
        if res.rowcount == 0:
            raise fail(Code.NOT_FOUND, "customer not found", "id")
    return pk
