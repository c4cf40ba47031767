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

Permissions (issue 12): a principal holds a set of :data:`PERMISSIONS` (``None``: all
of them, the admin scope). A staff user (signed in with a staff access token, prefix
``hubst_``, kind ``"staff_token"``, or through an API key bound to it) holds the
permissions of its roles; each role may restrict them to some channels and locations
(``Principal.may_location(pk, perm)``, ``may_channel``). A ``connector`` key holds
:data:`CONNECTOR_PERMISSIONS`; a ``partner`` key the permissions stored on it (what its
plugin declares). A partner key bound to a plugin (``api_keys.plugin``, made by
``hub apikey create --scope partner --plugin NAME``) holds, at each request, the stored
permissions that plugin still declares in the serving process
(:data:`PLUGIN_PARTNER_PERMISSIONS`): nothing at all while the plugin is not installed or
FAILED, and less when a new version declares less; never more than was stored.
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
from hub.db.tables import (
    customer_tokens_t,
    customers_t,
    keys_t,
    staff_roles_t,
    staff_tokens_t,
    staff_user_roles_t,
    staff_users_t,
    tills_t,
)

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
# Permissions the installed plugins declare ("area:action", e.g. "giftwrap:read"),
# registered by the plugin host as it loads them (plugins.host): a role or a partner key
# may hold them like the hub's own.
PLUGIN_PERMISSIONS: set[str] = set()
# What a partner key bound to a plugin may hold, by plugin name: the plugin's own
# permissions and the hub's ones it requires (``Plugin.partner_permissions``), for the
# plugins ACTIVE in this process (registered by plugins.host, removed when it fails).
PLUGIN_PARTNER_PERMISSIONS: dict[str, frozenset[str]] = {}


def known_permission(name: str) -> bool:
    """One of the hub's :data:`PERMISSIONS` or one a loaded plugin declared."""
    return name in PERMISSIONS or name in PLUGIN_PERMISSIONS


def permission_names() -> list[str]:
    return [*PERMISSIONS, *sorted(PLUGIN_PERMISSIONS)]


TOKEN_PREFIX = "hub_"
API_KEY = "api_key"
# Customer access tokens: what a storefront gets when its shopper signs in.
CUSTOMER_TOKEN_PREFIX = "hubca_"
CUSTOMER_TOKEN = "customer_token"
CUSTOMER_SCOPES = frozenset({"storefront", "customer"})
# Staff access tokens (``staffAccessTokenCreate``): a staff user signed in.
STAFF_TOKEN_PREFIX = "hubst_"
STAFF_TOKEN = "staff_token"
STAFF_SCOPES = frozenset({"storefront"})
REVOKED_TOPIC = "auth.revoked"
# What a ``connector`` key may do: sync the catalog and stock, import orders.
CONNECTOR_PERMISSIONS = frozenset({"catalog:read", "catalog:write", "inventory", "orders"})
# What a staff token from a till's PIN sign-in may do, and only at the till's location.
TILL_PERMISSIONS = frozenset({"catalog:read", "customers", "inventory", "orders", "refunds"})


@dataclass(frozen=True, slots=True)
class Grant:
    """Permissions of one role and where they apply (None: every channel/location)."""

    permissions: frozenset[str]
    channels: frozenset[int] | None = None
    locations: frozenset[int] | None = None


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
    # The permissions held: None is all of them (the admin scope); the roles' grants
    # say where each applies (no grant for a held permission: everywhere).
    permissions: frozenset[str] | None = frozenset()
    grants: tuple[Grant, ...] = ()
    staff_user_id: int | None = None
    # A staff token from a PIN sign-in at a till (issue 14): the till; its grants reach
    # that till's location only (:data:`TILL_PERMISSIONS`).
    till_id: int | None = None

    def __post_init__(self) -> None:
        if "admin" in self.scopes and self.staff_user_id is None and not self.permissions:
            object.__setattr__(self, "permissions", None)

    def has(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes

    @property
    def is_staff(self) -> bool:
        """A first-party staff credential: the admin scope, a staff user (whatever its
        roles) or a connector key; a partner's key is not (the persisted-query
        allow-list binds it). What it may do is :meth:`can`'s."""
        return (
            self.permissions is None
            or self.staff_user_id is not None
            or "connector" in self.scopes
        )

    def can(self, permission: str) -> bool:
        return self.permissions is None or permission in self.permissions

    def _where(self, permission: str, attr: str) -> frozenset[int] | None:
        if self.permissions is None:
            return None
        if permission not in self.permissions:
            return frozenset()
        found: set[int] = set()
        relevant = [g for g in self.grants if permission in g.permissions]
        if not relevant:
            return None
        for grant in relevant:
            ids: frozenset[int] | None = getattr(grant, attr)
            if ids is None:
                return None
            found |= ids
        return frozenset(found)

    def locations(self, permission: str) -> frozenset[int] | None:
        """The locations where ``permission`` applies (None: all)."""
        return self._where(permission, "locations")

    def channels(self, permission: str) -> frozenset[int] | None:
        """The channels where ``permission`` applies (None: all)."""
        return self._where(permission, "channels")

    def may_location(self, pk: int | None, permission: str) -> bool:
        where = self.locations(permission)
        return where is None or (pk is not None and pk in where)

    def may_channel(self, pk: int | None, permission: str) -> bool:
        where = self.channels(permission)
        return where is None or (pk is not None and pk in where)

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
        if self.kind == STAFF_TOKEN:
            return f"staff:{self.staff_user_id}"
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
    return len(token) <= 200 and token.startswith(
        (TOKEN_PREFIX, CUSTOMER_TOKEN_PREFIX, STAFF_TOKEN_PREFIX)
    )


async def create_api_key(
    db: Database,
    name: str,
    scopes: Iterable[str],
    *,
    customer: str | None = None,
    expires_at: datetime | None = None,
    staff_user: str | None = None,
    permissions: Iterable[str] | None = None,
    plugin: str | None = None,
) -> tuple[int, str]:
    """Create a key; returns (id, token). The token is shown only this once.

    ``customer`` (an email) ties a key with the "customer" scope to that customer;
    ``staff_user`` (an email) binds the key to a staff user, whose roles it acts with;
    ``permissions`` are a partner key's (required with the partner scope);
    ``plugin`` binds a partner key to an ACTIVE plugin of this process: the key holds
    what the plugin declares for its partner keys, or ``permissions`` if given (a subset
    of that, never more); ``expires_at`` ends its validity."""
    wanted = sorted(set(scopes))
    bad = [s for s in wanted if s not in SCOPES]
    if not wanted or bad:
        raise InvalidScope(
            f"unknown scope(s) {', '.join(bad) or '(none given)'}; choose from {', '.join(SCOPES)}"
        )
    if customer is not None and "customer" not in wanted:
        raise InvalidScope("a key for a customer needs the customer scope (--scope customer)")
    perms = None if permissions is None else sorted(set(permissions))
    if plugin is not None:
        perms = _plugin_key_permissions(plugin, wanted, perms)
    if perms is not None:
        unknown = [p for p in perms if not known_permission(p)]
        if unknown or "partner" not in wanted:
            raise InvalidScope(
                f"permissions are for partner keys, from {', '.join(permission_names())}"
                + (f" (unknown: {', '.join(unknown)})" if unknown else "")
            )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with db.transaction() as conn:
        customer_pk = None
        if customer is not None:
            customer_pk = await conn.scalar(
                select(customers_t.c.id).where(customers_t.c.email == customer.strip().lower())
            )
            if customer_pk is None:
                raise UnknownCustomer(f"no customer with email {customer!r}")
        staff_pk = None
        if staff_user is not None:
            staff_pk = await conn.scalar(
                select(staff_users_t.c.id).where(
                    staff_users_t.c.email == staff_user.strip().lower()
                )
            )
            if staff_pk is None:
                raise UnknownCustomer(f"no staff user with email {staff_user!r}")
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
                staff_user_id=staff_pk,
                permissions=perms,
                plugin=plugin,
            )
            .returning(keys_t.c.id)
        )
        return res.scalar_one(), token


def _plugin_key_permissions(plugin: str, scopes: list[str], given: list[str] | None) -> list[str]:
    """The permissions of a partner key for ``plugin``: its declaration, or ``given``
    when that narrows it (InvalidScope when it would widen it)."""
    if scopes != ["partner"]:
        raise InvalidScope("a key for a plugin has the partner scope alone (--scope partner)")
    declared = PLUGIN_PARTNER_PERMISSIONS.get(plugin)
    if declared is None:
        raise InvalidScope(f"plugin {plugin!r} is not installed and ACTIVE")
    if not declared:
        raise InvalidScope(f"plugin {plugin!r} declares no permissions for its partner keys")
    if given is None:
        return sorted(declared)
    wider = sorted(set(given) - declared)
    if wider:
        raise InvalidScope(
            f"plugin {plugin!r} declares {', '.join(sorted(declared))} for its partner keys; "
            f"--permission may only narrow that (not declared: {', '.join(wider)})"
        )
    if not given:
        raise InvalidScope("a partner key needs at least one permission")
    return given


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


def forget_principals() -> None:
    """Drop this process's cached principals (a role or a user changed); other
    processes follow within ``HUB_AUTH_CACHE_SECONDS``."""
    for cache in list(_CACHES):
        cache.clear()


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
        select(keys_t.c.id)
        .select_from(keys_t.outerjoin(staff_users_t, staff_users_t.c.id == keys_t.c.staff_user_id))
        .where(
            keys_t.c.id.in_(pks),
            keys_t.c.revoked_at.is_(None),
            or_(keys_t.c.expires_at.is_(None), keys_t.c.expires_at > datetime.now(UTC)),
            or_(keys_t.c.staff_user_id.is_(None), staff_users_t.c.active.is_(True)),
        ),
    )
    return {r.id for r in rows}


async def _valid_staff_tokens(conn: Reader | Any, pks: list[int]) -> set[int]:
    t = staff_tokens_t
    rows = await fetch_all(
        conn,
        select(t.c.id)
        .select_from(
            t.join(staff_users_t, staff_users_t.c.id == t.c.user_id).outerjoin(
                tills_t, tills_t.c.id == t.c.till_id
            )
        )
        .where(
            t.c.id.in_(pks),
            t.c.ended_at.is_(None),
            t.c.expires_at > datetime.now(UTC),
            staff_users_t.c.active.is_(True),
            or_(t.c.till_id.is_(None), tills_t.c.active.is_(True)),
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
    STAFF_TOKEN: _valid_staff_tokens,
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


async def staff_grants(reader: Reader, user_pk: int) -> tuple[Grant, ...]:
    """The grants of the staff user's roles (one query)."""
    r = staff_roles_t
    rows = await reader.all(
        select(r.c.permissions, r.c.channel_ids, r.c.location_ids)
        .select_from(r.join(staff_user_roles_t, staff_user_roles_t.c.role_id == r.c.id))
        .where(staff_user_roles_t.c.user_id == user_pk)
        .order_by(r.c.id)
    )
    return tuple(
        Grant(
            frozenset(row.permissions),
            None if row.channel_ids is None else frozenset(row.channel_ids),
            None if row.location_ids is None else frozenset(row.location_ids),
        )
        for row in rows
    )


def till_grants(grants: tuple[Grant, ...], location_pk: int) -> tuple[Grant, ...]:
    """The grants of a till's staff token: :data:`TILL_PERMISSIONS` of the user's
    roles, each at the till's location only (nowhere if the role doesn't reach it)."""
    out = []
    for g in grants:
        perms = g.permissions & TILL_PERMISSIONS
        if not perms:
            continue
        reach = g.locations is None or location_pk in g.locations
        out.append(Grant(perms, g.channels, frozenset({location_pk}) if reach else frozenset()))
    return tuple(out)


def _permissions(grants: tuple[Grant, ...]) -> frozenset[str]:
    return frozenset(p for g in grants for p in g.permissions)


def key_permissions(
    scopes: Iterable[str], declared: Iterable[str] | None, plugin: str | None = None
) -> frozenset[str]:
    """What a key not bound to a staff user may do (the admin scope aside): a connector
    key :data:`CONNECTOR_PERMISSIONS`, a partner key what it declares that is known in
    this process (the hub's and the loaded plugins'); a partner key bound to ``plugin``
    only what that plugin, ACTIVE here, still declares for its partner keys."""
    scopes = set(scopes)
    held: set[str] = set()
    if "connector" in scopes:
        held |= CONNECTOR_PERMISSIONS
    if "partner" in scopes and declared:
        allowed = {p for p in declared if known_permission(p)}
        if plugin is not None:
            allowed &= PLUGIN_PARTNER_PERMISSIONS.get(plugin, frozenset())
        held |= allowed
    return frozenset(held)


async def _lookup(reader: Reader, token: str) -> Principal | None:
    if token.startswith(CUSTOMER_TOKEN_PREFIX):
        return await _lookup_customer_token(reader, token)
    if token.startswith(STAFF_TOKEN_PREFIX):
        return await _lookup_staff_token(reader, token)
    row = await reader.first(
        select(
            keys_t.c.id,
            keys_t.c.name,
            keys_t.c.scopes,
            keys_t.c.customer_id,
            keys_t.c.expires_at,
            keys_t.c.staff_user_id,
            keys_t.c.permissions,
            keys_t.c.plugin,
            staff_users_t.c.active,
        )
        .select_from(keys_t.outerjoin(staff_users_t, staff_users_t.c.id == keys_t.c.staff_user_id))
        .where(keys_t.c.token_hash == _hash(token), keys_t.c.revoked_at.is_(None))
    )
    if row is None:
        return None
    if row.staff_user_id is not None:
        if not row.active:
            return None
        grants = await staff_grants(reader, row.staff_user_id)
        # A bound key acts with its user's roles, whatever its scopes said of staff work.
        principal = Principal(
            frozenset(row.scopes) - {"admin"},
            row.id,
            row.name,
            row.customer_id,
            expires_at=row.expires_at,
            permissions=_permissions(grants),
            grants=grants,
            staff_user_id=row.staff_user_id,
        )
    else:
        principal = Principal(
            frozenset(row.scopes),
            row.id,
            row.name,
            row.customer_id,
            expires_at=row.expires_at,
            permissions=key_permissions(row.scopes, row.permissions, row.plugin),
        )
    return None if principal.expired() else principal


async def _lookup_staff_token(reader: Reader, token: str) -> Principal | None:
    t = staff_tokens_t
    row = await reader.first(
        select(
            t.c.id,
            t.c.user_id,
            t.c.expires_at,
            t.c.till_id,
            staff_users_t.c.email,
            tills_t.c.location_id,
            tills_t.c.active.label("till_active"),
        )
        .select_from(
            t.join(staff_users_t, staff_users_t.c.id == t.c.user_id).outerjoin(
                tills_t, tills_t.c.id == t.c.till_id
            )
        )
        .where(
            t.c.token_hash == _hash(token),
            t.c.ended_at.is_(None),
            staff_users_t.c.active.is_(True),
        )
    )
    if row is None or (row.till_id is not None and not row.till_active):
        return None
    grants = await staff_grants(reader, row.user_id)
    if row.till_id is not None:
        grants = till_grants(grants, row.location_id)
    principal = Principal(
        STAFF_SCOPES,
        row.id,
        f"staff:{row.email}",
        kind=STAFF_TOKEN,
        expires_at=row.expires_at,
        permissions=_permissions(grants),
        grants=grants,
        staff_user_id=row.user_id,
        till_id=row.till_id,
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
