"""The hub side of a CRM sync: customer profiles a connector pulled, written through
the customers domain.

:func:`upsert_customers` matches each :class:`~connectors.base.CustomerRow` to one
profile the way a till or an imported order does (``hub.domain.customers.matching``:
the email first, then the phone; a merged duplicate answers the profile it was merged
into, an erased one is never matched), then

- changes the profile fields the row gives (checked and normalised by
  ``hub.domain.customers.writes``, like ``staffCustomerUpdate``), or creates the
  profile when nothing matches and the row has an email;
- records a change of e-mail marketing consent through the consent code
  (``hub.domain.accounts.profile.record_consent``, source ``import``), so the
  consent history, ``Customer.acceptsMarketing`` and the marketing events that check
  it all agree;
- queues ``customer.created`` / ``customer.updated`` outbox events
  (``hub.domain.customers.events``: the profile, the fields that changed and the
  source, so a connector can leave out the events its own sync caused).

One :class:`~connectors.base.RowResult` per row, in order: ``created``, ``updated``,
``unchanged`` or ``rejected`` with a code (``BLANK``, ``INVALID``, ``TAKEN``,
``TOO_LONG``, ...) and a message. A rejected row never fails the others. The rows go
in one transaction; if a write is refused there (a concurrent writer took an email),
the batch is rolled back and written again one row per transaction, so only the
refused row is rejected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import CustomerRow, Event, Publish, RowResult
from hub.db.database import Database
from hub.domain.accounts.profile import record_consent
from hub.domain.customers import (
    CustomerInput,
    CustomerRecord,
    change_customer,
    clean_customer,
    insert_customer,
    new_customer,
)
from hub.domain.customers.events import CREATED, UPDATED, emit_profile
from hub.domain.customers.matching import find_customer, phone_key
from hub.domain.errors import Code, DomainError, Errors
from hub.events.outbox import Outbox

# The profile fields a row's ``attributes`` may set (beyond the row's own fields).
ATTRIBUTE_FIELDS = ("customer_group", "segments", "tax_exempt_vat_id")
CONSENT_SOURCE = "import"


@dataclass(slots=True)
class _Row:
    index: int
    key: str
    data: CustomerInput
    values: dict[str, Any]  # cleaned profile columns (no consent)
    consent: bool | None


def row_key(row: CustomerRow, index: int) -> str:
    """How results and errors name a row: its external id, else email, else phone."""
    return row.external_id or row.email or row.phone or f"#{index + 1}"


def _prepare(index: int, row: CustomerRow) -> _Row:
    """The row checked and normalised (a DomainError names what is wrong)."""
    errs = Errors()
    extra: dict[str, Any] = {}
    for name, value in (row.attributes or {}).items():
        if name not in ATTRIBUTE_FIELDS:
            errs.add(
                Code.INVALID,
                f"unknown customer attribute {name!r}; known: {', '.join(ATTRIBUTE_FIELDS)}",
                "attributes",
                name,
            )
        elif value is not None:
            extra[name] = value
    if not row.email and not row.phone:
        errs.add(Code.BLANK, "a customer row needs an email or a phone to be matched", "email")
    errs.raise_if_any()
    data = CustomerInput(
        email=row.email or None,
        phone=row.phone or None,
        first_name=row.first_name,
        last_name=row.last_name,
        **extra,
    )
    values = clean_customer(errs, data)
    errs.raise_if_any()
    return _Row(index, row_key(row, index), data, values, row.accepts_marketing)


def _rejected(key: str, exc: DomainError) -> RowResult:
    first = exc.errors[0]
    where = ".".join(first.field) if first.field else None
    message = "; ".join(e.message for e in exc.errors)
    return RowResult(key, "rejected", str(first.code), f"{where}: {message}" if where else message)


async def upsert_customers(
    db: Database,
    rows: Sequence[CustomerRow],
    *,
    publish: Publish | None = None,
    source: str = "connector",
    at: datetime | None = None,
) -> list[RowResult]:
    """Create or update the profiles ``rows`` describe (see the module docstring);
    ``source`` goes into the events' payload (e.g. ``connector:7``); ``publish`` gets
    the committed events (the outbox table has them either way)."""
    results: list[RowResult | None] = [None] * len(rows)
    todo: list[_Row] = []
    for i, row in enumerate(rows):
        try:
            todo.append(_prepare(i, row))
        except DomainError as exc:
            results[i] = _rejected(row_key(row, i), exc)
    when = at or datetime.now(UTC)
    events: list[Event] = []
    try:
        async with db.transaction() as conn:
            outbox = Outbox()
            done = [await _write(conn, r, outbox, source, when) for r in todo]
            events = await outbox.flush(conn)
    except DomainError:
        done = []
        for r in todo:
            result, written = await _write_alone(db, r, source, when)
            done.append(result)
            events.extend(written)
    if publish is not None and events:
        await publish(events)
    for r, result in zip(todo, done, strict=True):
        results[r.index] = result
    return [r for r in results if r is not None]


async def _write_alone(
    db: Database, row: _Row, source: str, at: datetime
) -> tuple[RowResult, list[Event]]:
    try:
        async with db.transaction() as conn:
            outbox = Outbox()
            result = await _write(conn, row, outbox, source, at)
            events = await outbox.flush(conn)
        return result, events
    except DomainError as exc:
        return _rejected(row.key, exc), []


async def _write(
    conn: AsyncConnection, row: _Row, outbox: Outbox, source: str, at: datetime
) -> RowResult:
    found = await find_customer(conn, email=row.data.email, phone=row.data.phone)
    if found is None:
        return await _create(conn, row, outbox, source, at)
    changes = _changes(found, row.values)
    if changes:
        await change_customer(conn, found.pk, changes)
    changed = sorted(changes.keys() - {"phone_key"})
    if row.consent is not None and row.consent != found.accepts_marketing:
        await record_consent(conn, found.pk, "EMAIL", row.consent, CONSENT_SOURCE, at)
        changed.append("accepts_marketing")
    if not changed:
        return RowResult(row.key, "unchanged", id=found.pk)
    await emit_profile(conn, outbox, found.pk, UPDATED, changed, source)
    return RowResult(row.key, "updated", id=found.pk)


async def _create(
    conn: AsyncConnection, row: _Row, outbox: Outbox, source: str, at: datetime
) -> RowResult:
    if row.data.email is None:
        return RowResult(
            row.key,
            "rejected",
            str(Code.BLANK),
            "email: no customer has this phone, and a new customer needs an email",
        )
    pk = await insert_customer(conn, new_customer(row.data))
    changed = sorted(row.values)
    if row.consent is not None:
        await record_consent(conn, pk, "EMAIL", row.consent, CONSENT_SOURCE, at)
        changed.append("accepts_marketing")
    await emit_profile(conn, outbox, pk, CREATED, changed, source)
    return RowResult(row.key, "created", id=pk)


def _changes(found: CustomerRecord, values: Mapping[str, Any]) -> dict[str, Any]:
    """The columns whose value differs from the profile's."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name == "segments":
            if list(value) != list(found.segments):
                out[name] = value
        elif getattr(found, name) != value:
            out[name] = value
    if "phone" in out:
        out["phone_key"] = phone_key(out["phone"])
    return out
