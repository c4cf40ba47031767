"""Creating and changing customers: every field checked and normalized, emails
lowercased (so they are unique whatever their case). Errors name the field as the
domain does (``customer_group``); messages name it as clients write it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import Publish
from hub.db.database import Database
from hub.db.tables import customers_t
from hub.domain.customers.events import CREATED, UPDATED, emit_profile
from hub.domain.customers.matching import phone_key
from hub.domain.errors import Code, DomainError, Errors, fail, refused_write
from hub.domain.loyalty.tiers import set_tier_override
from hub.emails import InvalidEmail, normalize_email
from hub.events.outbox import Outbox

PHONE_RE = re.compile(r"^\+?[0-9][0-9 ().-]{3,30}$")
GROUP_RE = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
# Two-letter country prefix and 2 to 13 letters or digits: the EU VAT id shape (and
# close enough for GB, CH, NO); the tax engine decides what it is worth.
VAT_ID_RE = re.compile(r"^[A-Z]{2}[0-9A-Z]{2,13}$")
MAX_SEGMENTS = 20


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
    accepts_marketing: bool | None = None


# Fields that may be cleared (set to null) by an update.
NULLABLE = frozenset({"phone", "customer_group", "loyalty_tier", "tax_exempt_vat_id"})


def _label(name: str) -> str:
    """A field as messages name it: as clients write it (``customerGroup``)."""
    head, *rest = name.split("_")
    return head + "".join(w.capitalize() for w in rest)


def _email(errs: Errors, name: str, value: str) -> Any:
    if not value:
        errs.add(Code.BLANK, "email can't be blank", name)
        return value
    try:
        return normalize_email(value)
    except InvalidEmail as exc:
        errs.add(Code(exc.code), str(exc), name)
        return value


def _phone(errs: Errors, name: str, value: str) -> Any:
    if value and not PHONE_RE.match(value):
        errs.add(Code.INVALID, "phone must be digits, optionally with a leading +", name)
    return value or None


def _person_name(errs: Errors, name: str, value: str) -> Any:
    if len(value) > 255:
        errs.add(Code.TOO_LONG, f"{_label(name)} is longer than 255 characters", name)
    return value


def _handle(errs: Errors, name: str, value: str) -> Any:
    label = _label(name)
    if not value:
        errs.add(Code.BLANK, f"{label} can't be blank (send null to clear it)", name)
    elif len(value) > 64:
        errs.add(Code.TOO_LONG, f"{label} is longer than 64 characters", name)
    elif name == "customer_group" and not GROUP_RE.match(value):
        errs.add(
            Code.INVALID, "customerGroup must be a handle: lowercase letters, digits, - and _", name
        )
    return value


def _vat_id(errs: Errors, name: str, value: str) -> Any:
    value = re.sub(r"[\s.-]", "", value).upper()
    if not VAT_ID_RE.match(value):
        errs.add(
            Code.INVALID,
            "taxExemptVatId must be a country prefix and 2-13 letters or digits (e.g. DE123456789)",
            name,
        )
    return value


def _segments(errs: Errors, name: str, value: list[str]) -> Any:
    segs: list[str] = []
    if len(value) > MAX_SEGMENTS:
        errs.add(Code.LIMIT_EXCEEDED, f"at most {MAX_SEGMENTS} segments", name)
    for i, s in enumerate(value):
        s = s.strip().lower()
        if not s or len(s) > 64 or not GROUP_RE.match(s):
            errs.add(
                Code.INVALID,
                "a segment is a handle of at most 64 lowercase letters, digits, - or _",
                name,
                str(i),
            )
        elif s not in segs:
            segs.append(s)
    return segs


_CLEANERS: dict[str, Callable[[Errors, str, Any], Any]] = {
    "email": _email,
    "phone": _phone,
    "first_name": _person_name,
    "last_name": _person_name,
    "customer_group": _handle,
    "loyalty_tier": _handle,
    "tax_exempt_vat_id": _vat_id,
    "segments": _segments,
    "accepts_marketing": lambda errs, name, value: bool(value),
}


def clean_customer(errs: Errors, data: CustomerInput) -> dict[str, Any]:
    """Validated, normalised column values for the fields given."""
    out: dict[str, Any] = {}
    for f in fields(data):
        value = getattr(data, f.name)
        if value is None:
            continue
        if isinstance(value, str):
            value = value.strip()
            if "\x00" in value:
                errs.add(Code.INVALID, f"{_label(f.name)} contains a NUL character", f.name)
                continue
        out[f.name] = _CLEANERS[f.name](errs, f.name, value)
    return out


def _integrity(exc: IntegrityError) -> DomainError:
    return refused_write(
        exc, "email", "a customer with this email already exists", "the customer is invalid"
    )


def new_customer(data: CustomerInput) -> dict[str, Any]:
    """The row of a new customer, its input checked."""
    errs = Errors()
    if data.email is None:
        errs.add(Code.BLANK, "email is required", "email")
    values = clean_customer(errs, data)
    errs.raise_if_any()
    now = datetime.now(UTC)
    values.setdefault("segments", [])
    values.setdefault("first_name", "")
    values.setdefault("last_name", "")
    values["phone_key"] = phone_key(values.get("phone"))
    return {**values, "orders_count": 0, "created_at": now, "updated_at": now}


def customer_changes(data: CustomerInput, clear: Iterable[str]) -> dict[str, Any]:
    """The columns an update sets; ``clear`` names nullable fields to set to null."""
    errs = Errors()
    values = clean_customer(errs, data)
    for name in clear:
        if name not in NULLABLE:
            errs.add(Code.BLANK, f"{_label(name)} can't be null", name)
        else:
            values[name] = None
    errs.raise_if_any()
    if "phone" in values:
        values["phone_key"] = phone_key(values["phone"])
    return values


async def insert_customer(conn: AsyncConnection, values: dict[str, Any]) -> int:
    """Insert a customer; a ``loyalty_tier`` given is a tier set by hand
    (:func:`hub.domain.loyalty.tiers.set_tier_override`)."""
    values = dict(values)
    tier = values.pop("loyalty_tier", None)
    try:
        res = await conn.execute(insert(customers_t).values(**values).returning(customers_t.c.id))
    except IntegrityError as exc:
        raise _integrity(exc) from None
    pk = int(res.scalar_one())
    if tier is not None:
        await set_tier_override(conn, pk, tier)
    return pk


async def change_customer(conn: AsyncConnection, pk: int, values: dict[str, Any]) -> None:
    values = dict(values)
    override = "loyalty_tier" in values
    tier = values.pop("loyalty_tier", None)
    stmt = update(customers_t).where(customers_t.c.id == pk)
    try:
        res = await conn.execute(stmt.values(**values, updated_at=datetime.now(UTC)))
    except IntegrityError as exc:
        raise _integrity(exc) from None
    if res.rowcount == 0:
        raise fail(Code.NOT_FOUND, "customer not found", "id")
    if override:
        await set_tier_override(conn, pk, tier)


async def create_customer(
    db: Database, data: CustomerInput, *, source: str = "staff", publish: Publish | None = None
) -> int:
    """A new customer, and its ``customer.created`` event (handed to ``publish`` after
    the commit)."""
    values = new_customer(data)
    outbox = Outbox()
    async with db.transaction() as conn:
        pk = await insert_customer(conn, values)
        await emit_profile(conn, outbox, pk, CREATED, data_fields(data), source)
        events = await outbox.flush(conn)
    if publish is not None:
        await publish(events)
    return pk


async def update_customer(
    db: Database,
    pk: int,
    data: CustomerInput,
    *,
    clear: Iterable[str] = (),
    publish: Publish | None = None,
) -> int:
    """Change the given fields; ``clear`` names nullable fields to set to null. Its
    ``customer.updated`` event goes to ``publish`` after the commit."""
    values = customer_changes(data, clear)
    outbox = Outbox()
    async with db.transaction() as conn:
        await change_customer(conn, pk, values)
        await emit_profile(conn, outbox, pk, UPDATED, values, "staff")
        events = await outbox.flush(conn)
    if publish is not None:
        await publish(events)
    return pk


def data_fields(data: CustomerInput) -> list[str]:
    """The fields an input gives."""
    return [f.name for f in fields(data) if getattr(data, f.name) is not None]
