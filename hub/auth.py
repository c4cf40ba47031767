"""API keys and scopes.

A key carries scopes; a request without a key is an anonymous storefront. Only the
SHA-256 of a token is stored, so a leaked database does not leak working keys.

A :class:`Principal` names its credential (``kind`` and ``key_pk``), so whatever holds
one for long (an open websocket) can ask whether it still stands: each kind registers
a checker in :data:`CREDENTIAL_CHECKS` that answers, in one query, which of a set of
ids are still valid (not revoked, not expired). API keys are the kind ``"api_key"``;
customer access tokens (``customerAccessTokenCreate``, prefix ``hubca_``, rows of
``customer_tokens``) are the kind ``"customer_token"``. Revoking writes an
``auth.revoked`` event (outbox, then the bus) so every process closes the
credential's sockets at once; the periodic check of :mod:`hub.sessions` catches it
within ``HUB_AUTH_CACHE_SECONDS`` even if the event is lost.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, or_, select, update

from hub.db.database import Database, Reader, fetch_all
from hub.db.tables import customer_tokens_t, customers_t, keys_t

# storefront: read the public catalog; customer: a shopper's own data; admin: staff,
# everything; connector: ERP/marketplace sync (catalog and stock writes); partner:
# plugins and apps acting for a merchant.
SCOPES = ("storefront", "customer", "admin", "connector", "partner")
# What staff roles are built from (issue 12): a field names what it needs with
# ``schema.permissions.needs``. "settings" covers channels, shipping, locations and the
# hub's own configuration.
PERMISSIONS = (
    "catalog:read",
    "catalog:write",
    "inventory",
    "orders",
    "refunds",
    "customers",
    "promotions",
    "settings",
    "webhooks",
    "connectors",
    "audit",
    "staff",
)
TOKEN_PREFIX = "hub_"
API_KEY = "api_key"
# Customer access tokens: what a storefront gets when its shopper signs in.
CUSTOMER_TOKEN_PREFIX = "hubca_"
CUSTOMER_TOKEN = "customer_token"
CUSTOMER_SCOPES = frozenset({"storefront", "customer"})
REVOKED_TOPIC = "auth.revoked"


@dataclass(frozen=True, slots=True)
class Principal:
    scopes: frozenset[str]
    # The credential's id (an API key's id; a customer token's, to come).
    key_pk: int | None = None
    name: str = "anonymous"
    # The customer a key with the "customer" scope acts for.
    customer_id: int | None = None
    # What kind of credential ``key_pk`` is (a key of CREDENTIAL_CHECKS), and when it
    # stops being valid.
    kind: str = API_KEY
    expires_at: datetime | None = None

    def has(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes

    @property
    def is_staff(self) -> bool:
        return "admin" in self.scopes

    @property
    def credential(self) -> tuple[str, int] | None:
        """(kind, id) of the credential behind this principal; None when anonymous."""
        return None if self.key_pk is None else (self.kind, self.key_pk)

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or datetime.now(UTC))

    @property
    def client(self) -> str:
        """Whose budgets and limits this principal's requests count against: the API
        key, or the customer (whichever of its tokens it uses)."""
        if self.kind == CUSTOMER_TOKEN:
            return f"customer:{self.customer_id}"
        return f"key:{self.key_pk}"


ANONYMOUS = Principal(frozenset({"storefront"}))


class InvalidScope(ValueError):
    pass


class UnknownCustomer(ValueError):
    pass


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_digest(token: str) -> str:
    """What the hub stores of a token (API key, customer token): its SHA-256."""
    return _hash(token)


def _bearer_shape(token: str) -> bool:
    return len(token) <= 200 and token.startswith((TOKEN_PREFIX, CUSTOMER_TOKEN_PREFIX))


async def create_api_key(
    db: Database,
    name: str,
    scopes: Iterable[str],
    *,
    customer: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[int, str]:
    """Create a key; returns (id, token). The token is shown only this once.

    ``customer`` (an email) ties a key with the "customer" scope to that customer;
    ``expires_at`` ends its validity."""
    wanted = sorted(set(scopes))
    bad = [s for s in wanted if s not in SCOPES]
    if not wanted or bad:
        raise InvalidScope(
            f"unknown scope(s) {', '.join(bad) or '(none given)'}; choose from {', '.join(SCOPES)}"
        )
    if customer is not None and "customer" not in wanted:
        raise InvalidScope("a key for a customer needs the customer scope (--scope customer)")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with db.transaction() as conn:
        customer_pk = None
        if customer is not None:
            customer_pk = await conn.scalar(
                select(customers_t.c.id).where(customers_t.c.email == customer.strip().lower())
            )
            if customer_pk is None:
                raise UnknownCustomer(f"no customer with email {customer!r}")
        res = await conn.execute(
            insert(keys_t)
            .values(
                name=name,
                prefix=token[:12],
                token_hash=_hash(token),
                scopes=wanted,
                created_at=datetime.now(UTC),
                customer_id=customer_pk,
                expires_at=expires_at,
            )
            .returning(keys_t.c.id)
        )
        return res.scalar_one(), token


async def revoke_api_key(db: Database, pk: int, *, bus: Any = None) -> bool:
    """Revoke a key: refused from now on, its websockets closed with 4403 in every process.

    The ``auth.revoked`` event is written with the change; it is published on ``bus``
    (a :class:`hub.events.bus.EventBus`) right after the commit when one is given, else
    by the outbox sweeper of a running hub."""
    from hub.events.outbox import Outbox, publish_committed

    outbox = Outbox()
    async with db.transaction() as conn:
        res = await conn.execute(
            update(keys_t)
            .where(keys_t.c.id == pk, keys_t.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
        if res.rowcount == 1:
            outbox.add(REVOKED_TOPIC, {"kind": API_KEY, "id": pk})
            events = await outbox.flush(conn)
        else:
            events = []
    credential_revoked(API_KEY, pk)
    if bus is not None and events:
        await publish_committed(db, bus, events)
    return res.rowcount == 1


# Closers told of a revocation in this process (hub.sessions.OpenSockets registers).
_REVOCATION_LISTENERS: weakref.WeakSet[Any] = weakref.WeakSet()


def credential_revoked(kind: str, pk: int) -> None:
    """This process learnt that a credential was revoked: forget cached principals and
    close its sockets."""
    for cache in list(_CACHES):
        cache.clear()
    for listener in list(_REVOCATION_LISTENERS):
        listener.revoked(kind, pk)


def on_revocation(listener: Any) -> None:
    """Call ``listener.revoked(kind, id)`` whenever this process revokes a credential."""
    _REVOCATION_LISTENERS.add(listener)


async def _valid_api_keys(conn: Reader | Any, pks: list[int]) -> set[int]:
    rows = await fetch_all(
        conn,
        select(keys_t.c.id).where(
            keys_t.c.id.in_(pks),
            keys_t.c.revoked_at.is_(None),
            or_(keys_t.c.expires_at.is_(None), keys_t.c.expires_at > datetime.now(UTC)),
        ),
    )
    return {r.id for r in rows}


async def _valid_customer_tokens(conn: Reader | Any, pks: list[int]) -> set[int]:
    rows = await fetch_all(
        conn,
        select(customer_tokens_t.c.id).where(
            customer_tokens_t.c.id.in_(pks),
            customer_tokens_t.c.kind == "access",
            customer_tokens_t.c.ended_at.is_(None),
            customer_tokens_t.c.expires_at > datetime.now(UTC),
        ),
    )
    return {r.id for r in rows}


# kind -> which of these ids are still valid (one query); see the module doc.
CREDENTIAL_CHECKS: dict[str, Callable[[Any, list[int]], Awaitable[set[int]]]] = {
    API_KEY: _valid_api_keys,
    CUSTOMER_TOKEN: _valid_customer_tokens,
}


async def list_api_keys(db: Database) -> list[dict]:
    """Every key, oldest first: id, name, token prefix, scopes, customer email, created
    and revoked times (never the token or its hash)."""
    stmt = (
        select(
            keys_t.c.id,
            keys_t.c.name,
            keys_t.c.prefix,
            keys_t.c.scopes,
            customers_t.c.email.label("customer"),
            keys_t.c.created_at.label("created"),
            keys_t.c.revoked_at.label("revoked"),
        )
        .select_from(keys_t.outerjoin(customers_t, customers_t.c.id == keys_t.c.customer_id))
        .order_by(keys_t.c.id)
    )
    async with db.read() as conn:
        return [dict(r._mapping) for r in (await conn.execute(stmt)).all()]


class PrincipalCache:
    """Principals of recently seen API keys, for ``ttl`` seconds (per process).

    Every authenticated request would otherwise spend a database round trip on its key.
    A key revoked in this process is dropped at once (:func:`revoke_api_key` clears the
    caches); other processes stop accepting it within ``ttl`` seconds. Only known keys
    are kept: an unknown token always goes to the database.
    """

    def __init__(self, ttl: float, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: dict[str, tuple[float, Principal]] = {}
        _CACHES.add(self)

    def get(self, digest: str) -> Principal | None:
        hit = self._entries.get(digest)
        if hit is None:
            return None
        if hit[0] < time.monotonic() or hit[1].expired():
            del self._entries[digest]
            return None
        return hit[1]

    def get_token(self, token: str) -> Principal | None:
        """The cached principal of ``token`` (no database), or None."""
        if self.ttl <= 0 or not _bearer_shape(token):
            return None
        return self.get(_hash(token))

    def put(self, digest: str, principal: Principal) -> None:
        if len(self._entries) >= self.size:
            self._entries.clear()  # rare; simpler and cheaper than LRU bookkeeping
        self._entries[digest] = (time.monotonic() + self.ttl, principal)

    def clear(self) -> None:
        self._entries.clear()


_CACHES: weakref.WeakSet[PrincipalCache] = weakref.WeakSet()


async def authenticate(
    reader: Reader, token: str, cache: PrincipalCache | None = None
) -> Principal | None:
    """The principal of a bearer token (an API key or a customer access token), or None
    for an unknown, revoked or expired token."""
    if not _bearer_shape(token):
        return None
    digest = _hash(token)
    if cache is not None and cache.ttl > 0:
        hit = cache.get(digest)
        if hit is not None:
            return hit
    principal = await _lookup(reader, token)
    if principal is not None and cache is not None and cache.ttl > 0:
        cache.put(digest, principal)
    return principal


async def _lookup(reader: Reader, token: str) -> Principal | None:
    if token.startswith(CUSTOMER_TOKEN_PREFIX):
        return await _lookup_customer_token(reader, token)
    row = await reader.first(
        select(
            keys_t.c.id, keys_t.c.name, keys_t.c.scopes, keys_t.c.customer_id, keys_t.c.expires_at
        ).where(keys_t.c.token_hash == _hash(token), keys_t.c.revoked_at.is_(None))
    )
    if row is None:
        return None
    principal = Principal(
        frozenset(row.scopes), row.id, row.name, row.customer_id, expires_at=row.expires_at
    )
    return None if principal.expired() else principal


async def _lookup_customer_token(reader: Reader, token: str) -> Principal | None:
    t = customer_tokens_t
    row = await reader.first(
        select(t.c.id, t.c.customer_id, t.c.expires_at).where(
            t.c.token_hash == _hash(token), t.c.kind == "access", t.c.ended_at.is_(None)
        )
    )
    if row is None:
        return None
    principal = Principal(
        CUSTOMER_SCOPES,
        row.id,
        "customer",
        row.customer_id,
        kind=CUSTOMER_TOKEN,
        expires_at=row.expires_at,
    )
    return None if principal.expired() else principal
