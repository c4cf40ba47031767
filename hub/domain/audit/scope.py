"""Who is writing now: the audit scope of the running task (a context variable).

The GraphQL layer opens one around each mutation of an audited principal (an admin,
staff, connector or partner key: :func:`actor_of`); a job or connector opens its own
with ``with audit_scope(Actor(...), "erp.pull"):``. While a scope is open, the writes
on the database are captured (:mod:`hub.domain.audit.capture`); without one, nothing
is captured and no statement is added (the storefront's path).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from hub.auth import Principal

# The scopes whose writes are audited, strongest first (the actor's role is the first
# one the principal holds). Customers and the storefront are not audited.
AUDITED_SCOPES = ("admin", "connector", "partner")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who writes: ``kind`` says what ``id`` is ("api_key", "staff_user", "connector",
    "job"), ``role`` the power it writes with ("admin", "staff", "connector",
    "partner", "system")."""

    kind: str
    id: int | None
    name: str
    role: str


@dataclass(frozen=True, slots=True)
class AuditScope:
    actor: Actor
    operation: str
    request_id: str | None = None
    client_address: str | None = None
    # False: count the rows written per table and operation, without reading them
    # (for bulk syncs, where reading every row before and after would cost too much).
    detail: bool = True


_current: ContextVar[AuditScope | None] = ContextVar("hub_audit_scope", default=None)


def actor_of(principal: Principal) -> Actor | None:
    """The actor of ``principal``'s writes, or None when they are not audited
    (anonymous, storefront and customer credentials).

    The one place that maps credentials to actors: a principal that carries a staff
    user (``staff_user_id``, from staff roles) is that user."""
    if principal.key_pk is None:
        return None
    staff_user = getattr(principal, "staff_user_id", None)
    if staff_user is not None:
        return Actor("staff_user", staff_user, principal.name, "staff")
    role = next((s for s in AUDITED_SCOPES if s in principal.scopes), None)
    if role is None:
        return None
    return Actor(principal.kind, principal.key_pk, principal.name, role)


def current_scope() -> AuditScope | None:
    """The audit scope open in this task, if any."""
    return _current.get()


@contextmanager
def audit_scope(
    actor: Actor,
    operation: str,
    *,
    request_id: str | None = None,
    client_address: str | None = None,
    detail: bool = True,
) -> Iterator[AuditScope]:
    """Audit the writes made inside the block as ``operation`` by ``actor``; a scope
    opened inside another replaces it until the block ends. ``detail=False`` logs
    how many rows of each table were inserted, updated and deleted, not the rows."""
    scope = AuditScope(actor, operation[:128], request_id, client_address, detail)
    token = _current.set(scope)
    try:
        yield scope
    finally:
        _current.reset(token)
