"""Carts: server-side baskets, and the ONE function that prices them.

A cart lives in the database, found by an unguessable token (its public id is
``gid://hub/Cart/<token>``), and expires after ``HUB_CART_TTL_SECONDS`` without a
change. Every change bumps its ``version``, so a checkout can lock exactly the cart it
priced.

:func:`price_cart` is the only place a cart's money is computed: the channel's (or
the customer's price list's) unit prices, then promotions (the pure engine in
``hub.domain.promotions``), then shipping per delivery group, then tax per
destination through the configured ``TaxEngine``. The storefront, the app, the point
of sale and checkout all call it, so the same basket costs the same everywhere;
nothing a client sends about money is used. It runs a fixed number of statements
whatever the number of lines (one per delivery group for shipping rates).

Who may touch a cart: a guest cart (bound to no customer), anyone holding its id; a
cart bound to a customer, that customer's key and staff only. The check is part of
every write's conditional UPDATE (:meth:`Carts._touch`), so it holds before anything
is written: a key that may not use the cart changes nothing, not even its version.
Binding a cart to a customer (``customerAccessToken``) needs that customer's token and
a cart that is a guest cart or already that customer's (or staff).
"""

from __future__ import annotations

import re
import secrets
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import TaxEngine, TaxLine, TaxRequest
from hub import ids
from hub.auth import Principal
from hub.db.database import Database
from hub.db.models import (
    Cart,
    CartDeliveryGroup,
    CartLine,
    Channel,
    CollectionProduct,
    Location,
    LocationChannel,
    Product,
    Variant,
    VariantPrice,
)
from hub.domain.errors import Code, DomainError, UserError, fail
from hub.domain.inventory import stock_by_location
from hub.domain.pickup import Shortage, pickup_locations, shortages
from hub.domain.promotions import Basket, BasketLine, Context, FirstOrder, Result, apply
from hub.emails import InvalidEmail, normalize_email
from hub.money import exponent

carts_t = Cart.__table__
lines_t = CartLine.__table__
groups_t = CartDeliveryGroup.__table__
channels_t = Channel.__table__
variants_t = Variant.__table__
products_t = Product.__table__
prices_t = VariantPrice.__table__
coll_products_t = CollectionProduct.__table__
locations_t = Location.__table__
loc_channels_t = LocationChannel.__table__

CART_GID = "gid://hub/Cart/"
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
MAX_LINES = 250
MAX_QUANTITY = 10_000
MAX_CODES = 10
MAX_ATTRIBUTES = 50
MAX_NOTE = 5000
MAX_ATTRIBUTE_KEY = 255
MAX_ATTRIBUTE_VALUE = 2000


class CartCode:
    """userErrors codes beyond the common ones (``hub.domain.errors.Code``)."""

    INSUFFICIENT_STOCK = "INSUFFICIENT_STOCK"
    CART_EXPIRED = "CART_EXPIRED"
    ALREADY_COMPLETED = "ALREADY_COMPLETED"
    CHECKOUT_IN_PROGRESS = "CHECKOUT_IN_PROGRESS"


class WarningCode:
    QUANTITY_REDUCED = "MERCHANDISE_NOT_ENOUGH_STOCK"
    OUT_OF_STOCK = "MERCHANDISE_OUT_OF_STOCK"
    NOT_AVAILABLE = "MERCHANDISE_NOT_AVAILABLE"
    NOT_AT_PICKUP_LOCATION = "MERCHANDISE_NOT_AVAILABLE_AT_PICKUP_LOCATION"
    DELIVERY_OPTION_UNAVAILABLE = "DELIVERY_OPTION_UNAVAILABLE"


def _now() -> datetime:
    return datetime.now(UTC)


def cart_gid(token: str) -> str:
    return CART_GID + token


def parse_cart_id(gid: str) -> str | None:
    """The token of a cart id, or None when it is not one."""
    if not isinstance(gid, str) or not gid.startswith(CART_GID):
        return None
    token = gid[len(CART_GID) :]
    return token if TOKEN_RE.match(token) else None


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Attribute:
    key: str
    value: str


@dataclass(slots=True)
class CartWarning:
    code: str
    message: str
    target: str | None = None  # the line's global id
    # Locations that could serve the line instead (pks, nearest first): for
    # MERCHANDISE_NOT_AVAILABLE_AT_PICKUP_LOCATION, pickup locations that have it.
    locations: list[int] = field(default_factory=list)


@dataclass(slots=True)
class LineInput:
    variant_pk: int
    quantity: int = 1
    attributes: list[Attribute] | None = None


@dataclass(slots=True)
class LineUpdate:
    line_pk: int
    quantity: int | None = None
    attributes: list[Attribute] | None = None


@dataclass(slots=True)
class BuyerIdentity:
    email: str | None = None
    phone: str | None = None
    country_code: str | None = None
    customer_pk: int | None = None  # resolved from the customer token by the caller
    set_customer: bool = False


@dataclass(slots=True)
class DeliveryGroupInput:
    kind: str  # SHIPPING | PICKUP
    line_pks: list[int] | None = None  # None: every line not named by another group
    address: dict[str, Any] | None = None
    location_pk: int | None = None
    option_handle: str | None = None


@dataclass(slots=True)
class CartState:
    """A cart's rows as loaded: the cart, its lines (in order) and delivery groups."""

    cart: Any
    lines: list[Any]
    groups: list[Any]

    @property
    def token(self) -> str:
        return self.cart.token


# The hot read statements, built once: SQLAlchemy then neither constructs them nor
# computes their cache key again on each call (about 0.1 ms each on this stack).
_CART_BY_TOKEN = select(carts_t).where(carts_t.c.token == bindparam("token"))
_LINES_OF = select(lines_t).where(lines_t.c.cart_id == bindparam("cart")).order_by(lines_t.c.id)
_GROUPS_OF = (
    select(groups_t)
    .where(groups_t.c.cart_id == bindparam("cart"))
    .order_by(groups_t.c.position, groups_t.c.id)
)


async def load_cart(conn: AsyncConnection, token: str) -> CartState | None:
    row = (await conn.execute(_CART_BY_TOKEN, {"token": token})).first()
    if row is None:
        return None
    return await _state_of(conn, row)


async def _state_of(conn: AsyncConnection, row: Any) -> CartState:
    lines = (await conn.execute(_LINES_OF, {"cart": row.id})).all()
    groups = (await conn.execute(_GROUPS_OF, {"cart": row.id})).all()
    return CartState(row, list(lines), list(groups))


def may_use(cart: Any, principal: Principal) -> bool:
    """Staff may; anyone holding the id of a guest cart may; a cart bound to a customer
    only with that customer's key."""
    if principal.is_staff or cart.customer_id is None:
        return True
    return principal.customer_id is not None and cart.customer_id == principal.customer_id


def _usable_by(principal: Principal) -> Any:
    """:func:`may_use` as a condition on the carts table (for conditional UPDATEs)."""
    if principal.is_staff:
        return true()
    if principal.customer_id is None:
        return carts_t.c.customer_id.is_(None)
    return or_(carts_t.c.customer_id.is_(None), carts_t.c.customer_id == principal.customer_id)


def check_binding(principal: Principal, customer_pk: int | None) -> None:
    """A cart may be bound only to the acting customer (staff: to anyone)."""
    if principal.is_staff or customer_pk is None or customer_pk == principal.customer_id:
        return
    raise fail(
        Code.INVALID,
        "a customer can only put its own token on a cart",
        "buyerIdentity",
        "customerAccessToken",
    )


def check_readable(state: CartState | None, principal: Principal, now: datetime) -> CartState:
    if state is None or not may_use(state.cart, principal):
        raise fail(Code.NOT_FOUND, "no cart with that id", "cartId")
    if state.cart.status != "COMPLETED" and state.cart.expires_at <= now:
        raise fail(CartCode.CART_EXPIRED, "the cart expired; create a new one", "cartId")  # type: ignore[arg-type]
    return state


async def read_cart(db: Database, token: str, principal: Principal) -> CartState | None:
    """The cart if this principal may see it and it has not expired, else None."""
    async with db.read() as conn:
        state = await load_cart(conn, token)
    try:
        return check_readable(state, principal, _now())
    except DomainError:
        return None


# --------------------------------------------------------------------------- validation


def _clean_attributes(attrs: Sequence[Attribute] | None, *path: str) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for a in attrs or ():
        if not a.key.strip():
            raise fail(Code.BLANK, "an attribute needs a key", *path, "key")
        if len(a.key) > MAX_ATTRIBUTE_KEY or len(a.value) > MAX_ATTRIBUTE_VALUE:
            raise fail(
                Code.TOO_LONG,
                f"attribute keys are at most {MAX_ATTRIBUTE_KEY} characters, "
                f"values {MAX_ATTRIBUTE_VALUE}",
                *path,
            )
        out.append({"key": a.key.strip(), "value": a.value})
    if len(out) > MAX_ATTRIBUTES:
        raise fail(Code.LIMIT_EXCEEDED, f"at most {MAX_ATTRIBUTES} attributes", *path)
    return out


def _clean_codes(codes: Sequence[str]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for c in codes:
        c = c.strip()
        if not c:
            continue
        if len(c) > 64:
            raise fail(Code.TOO_LONG, "discount codes are at most 64 characters", "discountCodes")
        if c.casefold() not in seen:
            seen.add(c.casefold())
            out.append(c)
    if len(out) > MAX_CODES:
        raise fail(Code.LIMIT_EXCEEDED, f"at most {MAX_CODES} discount codes", "discountCodes")
    return out


def _clean_buyer(b: BuyerIdentity) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if b.email is not None:
        email = b.email.strip()
        if email:
            try:
                email = normalize_email(email)
            except InvalidEmail as exc:
                raise fail(Code(exc.code), str(exc), "buyerIdentity", "email") from None
        values["email"] = email or None
    if b.phone is not None:
        phone = b.phone.strip()
        if phone and not re.match(r"^\+?[0-9][0-9 ().-]{3,30}$", phone):
            raise fail(Code.INVALID, "not a phone number", "buyerIdentity", "phone")
        values["phone"] = phone or None
    if b.country_code is not None:
        cc = b.country_code.strip().upper()
        if cc and not COUNTRY_RE.match(cc):
            raise fail(
                Code.INVALID,
                "countryCode is an ISO 3166-1 alpha-2 code",
                "buyerIdentity",
                "countryCode",
            )
        values["country_code"] = cc or None
    if b.set_customer:
        values["customer_id"] = b.customer_pk
    return values


def _clean_address(raw: dict[str, Any], *path: str) -> dict[str, Any]:
    allowed = (
        "firstName",
        "lastName",
        "company",
        "address1",
        "address2",
        "city",
        "region",
        "postalCode",
        "countryCode",
        "phone",
    )
    out = {k: str(v).strip() for k, v in raw.items() if k in allowed and v is not None}
    cc = out.get("countryCode", "").upper()
    if not COUNTRY_RE.match(cc):
        raise fail(
            Code.INVALID, "an address needs an ISO 3166-1 alpha-2 countryCode", *path, "countryCode"
        )
    out["countryCode"] = cc
    for k, v in out.items():
        if len(v) > 255:
            raise fail(Code.TOO_LONG, f"{k} is at most 255 characters", *path, k)
    return out


# --------------------------------------------------------------------------- stock & catalog


class _ConnReader:
    """Lets read helpers written for a request's ``Reader`` run on a connection."""

    __slots__ = ("conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def all(self, stmt: Any, params: dict[str, Any] | None = None) -> Sequence[Any]:
        return (await self.conn.execute(stmt, params)).all()

    async def first(self, stmt: Any) -> Any:
        rows = await self.all(stmt)
        return rows[0] if rows else None


_VARIANT_INFO = (
    select(
        variants_t.c.id,
        variants_t.c.sku,
        variants_t.c.title,
        variants_t.c.weight_grams,
        variants_t.c.requires_shipping,
        variants_t.c.tracked,
        variants_t.c.is_bundle,
        variants_t.c.product_id,
        products_t.c.title.label("product_title"),
        products_t.c.product_type,
        products_t.c.tax_class,
        products_t.c.status,
        products_t.c.tags,
    )
    .join(products_t, products_t.c.id == variants_t.c.product_id)
    .where(variants_t.c.id.in_(bindparam("vpks", expanding=True)))
)


async def _variant_info(conn: AsyncConnection, vpks: Sequence[int]) -> dict[int, Any]:
    if not vpks:
        return {}
    rows = (await conn.execute(_VARIANT_INFO, {"vpks": list(set(vpks))})).all()
    return {r.id: r for r in rows}


async def _available(
    conn: AsyncConnection, channel_pk: int, vpks: Sequence[int], info: Mapping[int, Any]
) -> dict[int, dict[int, int]]:
    wanted = list(set(vpks))
    bundles = {v for v in wanted if v in info and info[v].is_bundle}
    return await stock_by_location(_ConnReader(conn), wanted, channel_pk, bundles=bundles)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class _Quote:
    unit_price: int
    compare_at: int | None
    currency: str
    source: str


async def quote(
    conn: AsyncConnection,
    channel: Any,
    lines: Mapping[int, int],
    *,
    customer_group: str | None,
    now: datetime,
) -> dict[int, Any]:
    """Unit prices per variant (absent: not sold in the channel), through the pricing
    service (price lists with volume breaks), or the plain channel price without it."""
    if not lines:
        return {}
    try:
        from hub.domain.catalog import quote_prices
    except ImportError:  # pragma: no cover - before the pricing service exists
        rows = (
            await conn.execute(
                select(
                    prices_t.c.variant_id, prices_t.c.amount, prices_t.c.compare_at_amount
                ).where(prices_t.c.channel_id == channel.pk, prices_t.c.variant_id.in_(list(lines)))
            )
        ).all()
        return {
            r.variant_id: _Quote(r.amount, r.compare_at_amount, channel.currency, "channel")
            for r in rows
        }
    return dict(await quote_prices(conn, channel, lines, customer_group=customer_group, now=now))


class ChannelInfo:
    __slots__ = ("currency", "default_country", "handle", "id", "pk", "tax_inclusive")

    def __init__(self, row: Any) -> None:
        self.pk = row.id
        self.id = ids.encode("Channel", row.id)
        self.handle = row.handle
        self.currency = row.currency
        self.default_country = row.default_country
        self.tax_inclusive = row.tax_inclusive


_CHANNEL_BY_PK = select(channels_t).where(channels_t.c.id == bindparam("pk"))


async def _channel(conn: AsyncConnection, pk: int) -> Any:
    from hub.domain.catalog import ChannelRecord

    row = (await conn.execute(_CHANNEL_BY_PK, {"pk": pk})).first()
    return ChannelRecord(row)


async def _customer(conn: AsyncConnection, pk: int | None) -> Any:
    if pk is None:
        return None
    from hub.domain.customers import get_customer

    return await get_customer(conn, pk)


# --------------------------------------------------------------------------- writes


_INSERT_CART = insert(carts_t).returning(carts_t)  # values as parameters: built once
# Lines changed in bulk (executemany: one statement whatever the number of lines).
_SET_QUANTITY = (
    update(lines_t).where(lines_t.c.id == bindparam("line")).values(quantity=bindparam("q"))
)
_SET_ATTRIBUTES = (
    update(lines_t).where(lines_t.c.id == bindparam("line")).values(attributes=bindparam("attrs"))
)


class Carts:
    """Cart writes. Each is one transaction; a failure writes nothing."""

    def __init__(self, db: Database, *, ttl: timedelta) -> None:
        self.db = db
        self.ttl = ttl

    async def create(
        self,
        channel: Any,
        principal: Principal,
        *,
        lines: Sequence[LineInput] = (),
        codes: Sequence[str] = (),
        buyer: BuyerIdentity | None = None,
        attributes: Sequence[Attribute] | None = None,
        note: str | None = None,
    ) -> tuple[str, list[CartWarning]]:
        state, warnings = await self.create_state(
            channel,
            principal,
            lines=lines,
            codes=codes,
            buyer=buyer,
            attributes=attributes,
            note=note,
        )
        return state.token, warnings

    async def create_state(
        self,
        channel: Any,
        principal: Principal,
        *,
        lines: Sequence[LineInput] = (),
        codes: Sequence[str] = (),
        buyer: BuyerIdentity | None = None,
        attributes: Sequence[Attribute] | None = None,
        note: str | None = None,
    ) -> tuple[CartState, list[CartWarning]]:
        """``create``, answering with the new cart as written (its row and lines, as
        ``load_cart`` would read them after the commit: nobody else knows its token
        yet), so the caller can price it without reading it back."""
        now = _now()
        values: dict[str, Any] = {
            "token": secrets.token_urlsafe(24),
            "channel_id": channel.pk,
            "currency": channel.currency,
            "status": "ACTIVE",
            "version": 1,
            "discount_codes": _clean_codes(codes),
            "attributes": _clean_attributes(attributes, "attributes"),
            "note": _clean_note(note),
            "created_at": now,
            "updated_at": now,
            "expires_at": now + self.ttl,
        }
        if principal.customer_id is not None and not principal.is_staff:
            values["customer_id"] = principal.customer_id
        if buyer is not None:
            values.update(_clean_buyer(buyer))
            if buyer.set_customer:
                check_binding(principal, buyer.customer_pk)
        async with self.db.transaction() as conn:
            if values.get("customer_id") is not None and not values.get("email"):
                customer = await _customer(conn, values["customer_id"])
                if customer is not None:
                    values["email"] = customer.email
            row = (await conn.execute(_INSERT_CART, values)).one()
            state = CartState(row, [], [])
            inserted: list[Any] = []
            warnings = (
                await self._add(conn, state, lines, channel=channel, inserted=inserted)
                if lines
                else []
            )
        return CartState(row, sorted(inserted, key=lambda r: r.id), []), warnings

    async def _touch(
        self, conn: AsyncConnection, token: str, principal: Principal, **values: Any
    ) -> CartState:
        """Lock the cart for this change (row lock on PostgreSQL), bump its version and
        idle expiry; refuse it if unknown, not this principal's, expired, completed or
        in checkout. Whether this principal may use the cart is a condition of the
        UPDATE itself, on the row as it stands: a refused principal writes nothing."""
        now = _now()
        row = (
            await conn.execute(
                update(carts_t)
                .where(
                    carts_t.c.token == token,
                    _usable_by(principal),
                    carts_t.c.expires_at > now,
                    or_(
                        carts_t.c.status == "ACTIVE",
                        and_(carts_t.c.status == "COMPLETING", carts_t.c.locked_until < now),
                    ),
                )
                .values(
                    version=carts_t.c.version + 1,
                    status="ACTIVE",
                    locked_until=None,
                    updated_at=now,
                    expires_at=now + self.ttl,
                    **values,
                )
                .returning(carts_t)
            )
        ).first()
        if row is None:
            existing = (await conn.execute(select(carts_t).where(carts_t.c.token == token))).first()
            state = None if existing is None else CartState(existing, [], [])
            check_readable(state, principal, now)
            assert existing is not None
            if existing.status == "COMPLETED":
                raise fail(CartCode.ALREADY_COMPLETED, "the cart was checked out already", "cartId")  # type: ignore[arg-type]
            raise fail(
                CartCode.CHECKOUT_IN_PROGRESS,  # type: ignore[arg-type]
                "the cart is being checked out; wait for the result",
                "cartId",
            )
        return await _state_of(conn, row)

    async def add_lines(
        self, token: str, principal: Principal, lines: Sequence[LineInput]
    ) -> list[CartWarning]:
        if not lines:
            raise fail(Code.BLANK, "give at least one line", "lines")
        async with self.db.transaction() as conn:
            state = await self._touch(conn, token, principal)
            return await self._add(conn, state, lines)

    async def _add(
        self,
        conn: AsyncConnection,
        state: CartState,
        lines: Sequence[LineInput],
        *,
        channel: Any = None,
        inserted: list[Any] | None = None,
    ) -> list[CartWarning]:
        """Add lines (merged into equal ones). ``channel``: the cart's channel when
        the caller has it; ``inserted`` collects the new line rows as written."""
        for i, ln in enumerate(lines):
            if ln.quantity < 1 or ln.quantity > MAX_QUANTITY:
                raise fail(
                    Code.INVALID,
                    f"quantity must be 1 to {MAX_QUANTITY}",
                    "lines",
                    str(i),
                    "quantity",
                )
        info = await _variant_info(conn, [ln.variant_pk for ln in lines])
        if channel is None or channel.pk != state.cart.channel_id:
            channel = await _channel(conn, state.cart.channel_id)
        priced = await quote(
            conn,
            channel,
            {ln.variant_pk: ln.quantity for ln in lines},
            customer_group=None,
            now=_now(),
        )
        for i, ln in enumerate(lines):
            v = info.get(ln.variant_pk)
            if v is None:
                raise fail(
                    Code.NOT_FOUND, "no such product variant", "lines", str(i), "merchandiseId"
                )
            if v.status != "ACTIVE" or ln.variant_pk not in priced:
                # Name the merchandise as the client sent it: an unpublished
                # product's SKU is internal.
                raise fail(
                    Code.INVALID,
                    f"lines[{i}]: merchandise {ids.encode('ProductVariant', ln.variant_pk)} "
                    f"is not sold in the {channel.handle} channel",
                    "lines",
                    str(i),
                    "merchandiseId",
                )
        # Merge into an existing line with the same variant and attributes.
        existing = {(r.variant_id, _attr_key(r.attributes)): r for r in state.lines}
        wanted: dict[tuple[int, str], int] = defaultdict(int)
        attrs_of: dict[tuple[int, str], list[dict[str, str]]] = {}
        for i, ln in enumerate(lines):
            attrs = _clean_attributes(ln.attributes, "lines", str(i), "attributes")
            k = (ln.variant_pk, _attr_key(attrs))
            wanted[k] += ln.quantity
            attrs_of[k] = attrs
        new_keys = [k for k in wanted if k not in existing]
        if len(state.lines) + len(new_keys) > MAX_LINES:
            raise fail(Code.LIMIT_EXCEEDED, f"a cart holds at most {MAX_LINES} lines", "lines")
        targets = {k: (existing[k].quantity if k in existing else 0) + q for k, q in wanted.items()}
        totals: dict[int, int] = defaultdict(int)  # other lines of the same variants
        for k, r in existing.items():
            if k not in targets:
                totals[r.variant_id] += r.quantity
        warnings, fitted = await _fit_to_stock(conn, state, info, targets, totals)
        new_rows = []
        resized = []
        for k, q in fitted.items():
            if k in existing:
                resized.append({"line": existing[k].id, "q": q})
            else:
                new_rows.append(
                    {
                        "cart_id": state.cart.id,
                        "variant_id": k[0],
                        "quantity": q,
                        "attributes": attrs_of[k],
                        "created_at": _now(),
                    }
                )
        if resized:  # one executemany for every merged line, whatever their number
            await conn.execute(_SET_QUANTITY, resized)
        if new_rows:  # one INSERT of every new line, in the order asked
            # executemany, not .values(list): SQLAlchemy batches it into one INSERT
            # ("insertmanyvalues") from a cached compilation, where a multi-VALUES
            # construct is compiled again on every call.
            stmt = insert(lines_t)
            if inserted is None:
                await conn.execute(stmt, new_rows)
            else:
                stmt = stmt.returning(*lines_t.c, sort_by_parameter_order=True)
                inserted += (await conn.execute(stmt, new_rows)).all()
        return warnings

    async def update_lines(
        self, token: str, principal: Principal, updates: Sequence[LineUpdate]
    ) -> list[CartWarning]:
        if not updates:
            raise fail(Code.BLANK, "give at least one line", "lines")
        async with self.db.transaction() as conn:
            state = await self._touch(conn, token, principal)
            by_pk = {r.id: r for r in state.lines}
            for i, u in enumerate(updates):
                if u.line_pk not in by_pk:
                    raise fail(Code.NOT_FOUND, "no such line in this cart", "lines", str(i), "id")
                if u.quantity is not None and (u.quantity < 0 or u.quantity > MAX_QUANTITY):
                    raise fail(
                        Code.INVALID,
                        f"quantity must be 0 to {MAX_QUANTITY}",
                        "lines",
                        str(i),
                        "quantity",
                    )
            info = await _variant_info(conn, [r.variant_id for r in state.lines])
            changed: dict[tuple[int, str], int] = {}
            key_of: dict[tuple[int, str], int] = {}
            attributes: list[dict[str, Any]] = []
            gone: list[int] = []
            for i, u in enumerate(updates):
                row = by_pk[u.line_pk]
                if u.attributes is not None:
                    attrs = _clean_attributes(u.attributes, "lines", str(i), "attributes")
                    attributes.append({"line": row.id, "attrs": attrs})
                if u.quantity == 0:
                    gone.append(row.id)
                    continue
                if u.quantity is not None:
                    k = (row.variant_id, f"line:{row.id}")
                    changed[k] = u.quantity
                    key_of[k] = row.id
            # A fixed number of statements whatever the number of lines: one
            # executemany per kind of change, one DELETE.
            if attributes:
                await conn.execute(_SET_ATTRIBUTES, attributes)
            if gone:
                await conn.execute(delete(lines_t).where(lines_t.c.id.in_(gone)))
            # Other lines of the same variants count against the stock too.
            removed = {u.line_pk for u in updates if u.quantity == 0}
            resized = set(key_of.values())
            totals: dict[int, int] = defaultdict(int)
            for r in state.lines:
                if r.id not in removed and r.id not in resized:
                    totals[r.variant_id] += r.quantity
            warnings, fitted = await _fit_to_stock(conn, state, info, changed, totals)
            if fitted:
                await conn.execute(
                    _SET_QUANTITY, [{"line": key_of[k], "q": q} for k, q in fitted.items()]
                )
            return warnings

    async def remove_lines(self, token: str, principal: Principal, line_pks: Sequence[int]) -> None:
        if not line_pks:
            raise fail(Code.BLANK, "give at least one line id", "lineIds")
        async with self.db.transaction() as conn:
            state = await self._touch(conn, token, principal)
            mine = {r.id for r in state.lines}
            for i, pk in enumerate(line_pks):
                if pk not in mine:
                    raise fail(Code.NOT_FOUND, "no such line in this cart", "lineIds", str(i))
            await conn.execute(delete(lines_t).where(lines_t.c.id.in_(list(line_pks))))

    async def set_discount_codes(
        self, token: str, principal: Principal, codes: Sequence[str]
    ) -> None:
        async with self.db.transaction() as conn:
            await self._touch(conn, token, principal, discount_codes=_clean_codes(codes))

    async def set_buyer_identity(
        self, token: str, principal: Principal, buyer: BuyerIdentity
    ) -> None:
        """Change the buyer. Binding the cart to a customer (``buyer.set_customer``)
        needs that customer to be the acting principal (or staff), and a cart this
        principal may use as it stands (a guest cart, or its own): checked in the
        conditional UPDATE, before anything is written."""
        values = _clean_buyer(buyer)
        if buyer.set_customer:
            check_binding(principal, buyer.customer_pk)
        async with self.db.transaction() as conn:
            if values.get("customer_id") is not None and "email" not in values:
                customer = await _customer(conn, values["customer_id"])
                if customer is not None:
                    values["email"] = customer.email
            await self._touch(conn, token, principal, **values)

    async def set_attributes(
        self, token: str, principal: Principal, attrs: Sequence[Attribute]
    ) -> None:
        async with self.db.transaction() as conn:
            await self._touch(
                conn, token, principal, attributes=_clean_attributes(attrs, "attributes")
            )

    async def set_note(self, token: str, principal: Principal, note: str | None) -> None:
        async with self.db.transaction() as conn:
            await self._touch(conn, token, principal, note=_clean_note(note))

    async def set_delivery(
        self, token: str, principal: Principal, groups: Sequence[DeliveryGroupInput]
    ) -> None:
        """Replace the cart's delivery groups. Each names its lines (or takes every
        line no other group names), and ships to an address or is picked up at a
        location that offers pickup and sells to the cart's channel."""
        async with self.db.transaction() as conn:
            state = await self._touch(conn, token, principal)
            mine = {r.id for r in state.lines}
            named: set[int] = set()
            catch_all = 0
            for i, g in enumerate(groups):
                path = ("deliveryGroups", str(i))
                if g.kind not in ("SHIPPING", "PICKUP"):
                    raise fail(Code.INVALID, "kind is SHIPPING or PICKUP", *path, "kind")
                if g.kind == "PICKUP":
                    if g.location_pk is None or g.address is not None:
                        raise fail(
                            Code.INVALID,
                            "a pickup group names a pickupLocationId and no address",
                            *path,
                            "pickupLocationId",
                        )
                    loc = (
                        await conn.execute(
                            select(locations_t.c.id)
                            .join(
                                loc_channels_t,
                                and_(
                                    loc_channels_t.c.location_id == locations_t.c.id,
                                    loc_channels_t.c.channel_id == state.cart.channel_id,
                                ),
                            )
                            .where(
                                locations_t.c.id == g.location_pk,
                                locations_t.c.active.is_(True),
                                locations_t.c.pickup_enabled.is_(True),
                            )
                        )
                    ).first()
                    if loc is None:
                        raise fail(
                            Code.INVALID,
                            "that location offers no pickup for this cart's channel",
                            *path,
                            "pickupLocationId",
                        )
                elif g.location_pk is not None:
                    raise fail(
                        Code.INVALID,
                        "a shipping group has no pickup location",
                        *path,
                        "pickupLocationId",
                    )
                if g.address is not None:
                    g.address = _clean_address(g.address, *path, "address")
                if g.line_pks is None:
                    catch_all += 1
                    continue
                for j, pk in enumerate(g.line_pks):
                    if pk not in mine:
                        raise fail(
                            Code.NOT_FOUND, "no such line in this cart", *path, "lineIds", str(j)
                        )
                    if pk in named:
                        raise fail(
                            Code.INVALID,
                            "a line belongs to one delivery group",
                            *path,
                            "lineIds",
                            str(j),
                        )
                    named.add(pk)
            if catch_all > 1:
                raise fail(Code.INVALID, "only one group may leave lineIds out", "deliveryGroups")
            await conn.execute(
                update(lines_t)
                .where(lines_t.c.cart_id == state.cart.id)
                .values(delivery_group_id=None)
            )
            await conn.execute(delete(groups_t).where(groups_t.c.cart_id == state.cart.id))
            for pos, g in enumerate(groups):
                gid = (
                    await conn.execute(
                        insert(groups_t)
                        .values(
                            cart_id=state.cart.id,
                            position=pos,
                            kind=g.kind,
                            address=g.address,
                            location_id=g.location_pk,
                            option_handle=g.option_handle,
                        )
                        .returning(groups_t.c.id)
                    )
                ).scalar_one()
                members = list(mine - named) if g.line_pks is None else g.line_pks
                if members:
                    await conn.execute(
                        update(lines_t)
                        .where(lines_t.c.id.in_(members))
                        .values(delivery_group_id=gid)
                    )


def _clean_note(note: str | None) -> str | None:
    if note is not None and len(note) > MAX_NOTE:
        raise fail(Code.TOO_LONG, f"a note is at most {MAX_NOTE} characters", "note")
    return note


def _attr_key(attrs: Sequence[dict[str, str]] | None) -> str:
    return "\x1f".join(
        f"{a['key']}\x1e{a['value']}" for a in sorted(attrs or (), key=lambda a: a["key"])
    )


def _label(v: Any, vpk: int) -> str:
    """A variant as messages name it (:attr:`PricedLine.label`)."""
    if v is not None and v.status == "ACTIVE" and v.sku:
        return str(v.sku)
    return f"merchandise {ids.encode('ProductVariant', vpk)}"


async def _fit_to_stock(
    conn: AsyncConnection,
    state: CartState,
    info: Mapping[int, Any],
    targets: Mapping[tuple[int, str], int],
    others: Mapping[int, int],
) -> tuple[list[CartWarning], dict[tuple[int, str], int]]:
    """Quantities asked, cut to what the channel can sell (other lines of the same
    variant count against it). Nothing at all left is INSUFFICIENT_STOCK."""
    tracked = [k[0] for k in targets if info[k[0]].tracked or info[k[0]].is_bundle]
    stock = await _available(conn, state.cart.channel_id, tracked, info) if tracked else {}
    left = {v: sum(stock.get(v, {}).values()) - others.get(v, 0) for v in set(tracked)}
    warnings: list[CartWarning] = []
    out: dict[tuple[int, str], int] = {}
    for k, q in targets.items():
        vpk = k[0]
        if vpk not in left:
            out[k] = q
            continue
        can = max(left[vpk], 0)
        if can <= 0:
            raise DomainError(
                [
                    UserError(
                        ["lines", "merchandiseId"],
                        f"{_label(info[vpk], vpk)} is out of stock",
                        CartCode.INSUFFICIENT_STOCK,
                    )
                ]
            )
        take = min(q, can)
        if take < q:
            warnings.append(
                CartWarning(
                    WarningCode.QUANTITY_REDUCED,
                    f"only {take} of {_label(info[vpk], vpk)} available; "
                    f"the quantity was reduced to {take}",
                    ids.encode("ProductVariant", vpk),
                )
            )
        left[vpk] -= take
        out[k] = take
    return warnings, out


# --------------------------------------------------------------------------- pricing


@dataclass(slots=True)
class PricedLine:
    pk: int
    variant_pk: int
    product_pk: int
    sku: str
    title: str
    quantity: int
    attributes: list[dict[str, str]]
    group_key: int | None
    sellable: bool
    requires_shipping: bool
    tracked: bool
    unit_price: int = 0
    compare_at: int | None = None
    price_source: str = "channel"
    subtotal: int = 0
    discount: int = 0
    total: int = 0
    tax: int = 0
    # [(promotion id, title, code, amount)]
    allocations: list[tuple[int, str, str | None, int]] = field(default_factory=list)
    currency: str = ""
    channel: Any = None  # the cart's channel (a ChannelRecord): merchandise shows in it
    is_bundle: bool = False
    published: bool = True  # the product is ACTIVE: its SKU and title are public

    @property
    def id(self) -> str:
        return ids.encode("CartLine", self.pk)

    @property
    def label(self) -> str:
        """How messages name the line's merchandise: its SKU while the product is
        published, else the merchandise id (an unpublished product's SKU is internal)."""
        if self.published and self.sku:
            return self.sku
        return f"merchandise {ids.encode('ProductVariant', self.variant_pk)}"


@dataclass(slots=True)
class DeliveryOption:
    handle: str
    title: str
    amount: int
    currency: str
    min_days: int | None
    max_days: int | None


@dataclass(slots=True)
class PricedGroup:
    key: int | None  # the group's pk; None for the default shipping group
    kind: str
    address: dict[str, Any] | None
    location_pk: int | None
    lines: list[PricedLine]
    options: list[DeliveryOption] = field(default_factory=list)
    selected: DeliveryOption | None = None
    shipping: int = 0
    shipping_discount: int = 0
    tax: int = 0
    country: str | None = None
    region: str | None = None
    postal_code: str | None = None
    location_name: str | None = None  # the pickup location's

    @property
    def id(self) -> str:
        return ids.encode("CartDeliveryGroup", self.key or 0)


@dataclass(slots=True)
class CodeInfo:
    code: str
    applicable: bool
    reason: str | None


@dataclass(slots=True)
class AllocationInfo:
    promotion_id: int
    title: str
    code: str | None
    klass: str
    amount: int
    shipping_amount: int
    lines: list[tuple[str, int]]  # (line gid, amount)


@dataclass(slots=True)
class PricedCart:
    """Everything a cart costs, in minor units of ``currency``."""

    state: CartState
    channel: Any
    customer: Any
    currency: str
    taxes_included: bool
    lines: list[PricedLine]
    groups: list[PricedGroup]
    subtotal: int = 0
    discount_total: int = 0  # merchandise + shipping discounts
    shipping: int = 0  # before shipping discounts
    tax: int = 0
    total: int = 0
    codes: list[CodeInfo] = field(default_factory=list)
    allocations: list[AllocationInfo] = field(default_factory=list)
    warnings: list[CartWarning] = field(default_factory=list)
    promotions: list[Any] = field(default_factory=list)
    result: Result | None = None
    stock: dict[int, dict[int, int]] = field(default_factory=dict)

    @property
    def cart(self) -> Any:
        return self.state.cart

    @property
    def id(self) -> str:
        return cart_gid(self.state.cart.token)

    @property
    def total_quantity(self) -> int:
        return sum(ln.quantity for ln in self.lines)


_COLLECTIONS_OF = select(coll_products_t.c.product_id, coll_products_t.c.collection_id).where(
    coll_products_t.c.product_id.in_(bindparam("pids", expanding=True))
)


async def price_cart(
    conn: AsyncConnection,
    state: CartState,
    *,
    tax_engine: TaxEngine | None,
    now: datetime | None = None,
    channel: Any = None,
) -> PricedCart:
    """Price a cart: unit prices, promotions, shipping, tax. The one implementation
    every channel and checkout uses; it trusts nothing but the database (``channel``:
    the cart's channel row as this request read it, if it has)."""
    now = now or _now()
    cart = state.cart
    if channel is None or channel.pk != cart.channel_id:
        channel = await _channel(conn, cart.channel_id)
    customer = await _customer(conn, cart.customer_id)
    currency = cart.currency
    exponent(currency)
    vpks = list({r.variant_id for r in state.lines})
    info = await _variant_info(conn, vpks)
    qty: dict[int, int] = defaultdict(int)
    for r in state.lines:
        qty[r.variant_id] += r.quantity
    quotes = await quote(
        conn,
        channel,
        dict(qty),
        customer_group=getattr(customer, "customer_group", None),
        now=now,
    )
    tracked = [v for v in vpks if v in info and (info[v].tracked or info[v].is_bundle)]
    stock = await _available(conn, cart.channel_id, tracked, info) if tracked else {}
    pids = list({info[v].product_id for v in vpks if v in info})
    colls: dict[int, set[int]] = defaultdict(set)
    if pids:
        for r in (await conn.execute(_COLLECTIONS_OF, {"pids": pids})).all():
            colls[r.product_id].add(r.collection_id)

    priced = PricedCart(
        state=state,
        channel=channel,
        customer=customer,
        currency=currency,
        taxes_included=bool(channel.tax_inclusive),
        lines=[],
        groups=[],
        stock=stock,
    )
    left = {v: sum(stock.get(v, {}).values()) for v in tracked}
    for r in state.lines:
        v = info.get(r.variant_id)
        q = quotes.get(r.variant_id)
        sellable = (
            v is not None and v.status == "ACTIVE" and q is not None and q.currency == currency
        )
        ln = PricedLine(
            pk=r.id,
            variant_pk=r.variant_id,
            product_pk=v.product_id if v else 0,
            sku=v.sku if v else "",
            title=_title(v),
            quantity=r.quantity,
            attributes=list(r.attributes or ()),
            group_key=r.delivery_group_id,
            sellable=sellable,
            requires_shipping=bool(v.requires_shipping) if v else False,
            tracked=r.variant_id in left,
            currency=currency,
            channel=channel,
            is_bundle=bool(v.is_bundle) if v else False,
            published=v is not None and v.status == "ACTIVE",
        )
        if sellable:
            assert q is not None
            ln.unit_price, ln.compare_at, ln.price_source = q.unit_price, q.compare_at, q.source
            ln.subtotal = ln.total = q.unit_price * r.quantity
        else:
            priced.warnings.append(
                CartWarning(
                    WarningCode.NOT_AVAILABLE,
                    f"{ln.label} is no longer sold here",
                    ln.id,
                )
            )
        if ln.tracked:
            if left[r.variant_id] < r.quantity:
                have = max(left[r.variant_id], 0)
                code = WarningCode.OUT_OF_STOCK if have == 0 else WarningCode.QUANTITY_REDUCED
                priced.warnings.append(
                    CartWarning(
                        code,
                        f"only {have} of {ln.label} available, {r.quantity} in the cart",
                        ln.id,
                    )
                )
            left[r.variant_id] -= r.quantity
        priced.lines.append(ln)

    # Delivery groups: the stored ones, plus a default shipping group for the rest.
    by_group: dict[int | None, list[PricedLine]] = defaultdict(list)
    known = {g.id for g in state.groups}
    for ln in priced.lines:
        by_group[ln.group_key if ln.group_key in known else None].append(ln)
    for g in state.groups:
        priced.groups.append(
            PricedGroup(
                g.id,
                g.kind,
                g.address,
                g.location_id,
                by_group.get(g.id, []),
            )
        )
    if by_group.get(None):
        priced.groups.append(PricedGroup(None, "SHIPPING", None, None, by_group[None]))
    option_handles = {g.id: g.option_handle for g in state.groups}
    pickup_pks = [g.location_pk for g in priced.groups if g.kind == "PICKUP" and g.location_pk]
    pickup_locs: dict[int, Any] = {}
    if any(g.kind == "PICKUP" for g in priced.groups):
        pickup_locs = await pickup_locations(conn, cart.channel_id, pickup_pks)
        priced.warnings += _pickup_warnings(shortages(priced.groups, stock, pickup_locs))
    for g in priced.groups:
        if g.kind == "PICKUP":
            loc = pickup_locs.get(g.location_pk or 0)
            if loc is not None:
                g.location_name = loc.name
                g.country, g.region, g.postal_code = (
                    loc.country_code,
                    loc.region or None,
                    loc.postal_code or None,
                )
            g.selected = DeliveryOption(
                "pickup", f"Pickup at {loc.name if loc else 'the store'}", 0, currency, 0, 0
            )
            g.options = [g.selected]
            continue
        addr = g.address or {}
        g.country = addr.get("countryCode") or cart.country_code or channel.default_country
        g.region = addr.get("region") or None
        g.postal_code = addr.get("postalCode") or None
        ship_lines = [ln for ln in g.lines if ln.sellable and ln.requires_shipping]
        if not ship_lines:
            continue
        weight = sum((info[ln.variant_pk].weight_grams or 0) * ln.quantity for ln in ship_lines)
        subtotal = sum(ln.subtotal for ln in ship_lines)
        g.options = await _shipping_options(conn, currency, g.country, g.region, weight, subtotal)
        wanted = option_handles.get(g.key) if g.key is not None else None
        chosen = next((o for o in g.options if o.handle == wanted), None)
        if wanted and chosen is None:
            priced.warnings.append(
                CartWarning(
                    WarningCode.DELIVERY_OPTION_UNAVAILABLE,
                    f"delivery option {wanted!r} is not offered here; the cheapest was chosen",
                    g.id,
                )
            )
        if chosen is None and g.options:
            chosen = min(g.options, key=lambda o: (o.amount, o.handle))
        g.selected = chosen
        g.shipping = chosen.amount if chosen else 0

    # Promotions, on the sellable lines and the total shipping.
    sellable = [ln for ln in priced.lines if ln.sellable]
    priced.shipping = sum(g.shipping for g in priced.groups)
    codes = list(cart.discount_codes or ())
    customer_key = _customer_key(cart, customer)
    promotions = await _promotions(conn, currency, codes, customer_key, now)
    priced.promotions = promotions
    basket = Basket(
        currency,
        tuple(
            BasketLine(
                line_id=str(ln.pk),
                variant_id=ln.variant_pk,
                product_id=ln.product_pk,
                quantity=ln.quantity,
                unit_price=ln.unit_price,
                collection_ids=frozenset(colls.get(ln.product_pk, ())),
                tags=frozenset(info[ln.variant_pk].tags or ()),
                product_type=info[ln.variant_pk].product_type or "",
                compare_at=ln.compare_at,
            )
            for ln in sellable
        ),
        shipping=priced.shipping,
    )
    ctx = Context(
        channel=channel.handle,
        country=(priced.groups[0].country if priced.groups else None)
        or cart.country_code
        or channel.default_country,
        customer_id=customer.pk if customer is not None else None,
        segments=frozenset(getattr(customer, "segments", None) or ()),
        loyalty_tier=getattr(customer, "loyalty_tier", None),
        first_order=await _first_order(conn, cart, customer, promotions),
        now=now,
        codes=tuple(codes),
    )
    result = apply(basket, ctx, promotions)
    priced.result = result
    by_pk = {str(ln.pk): ln for ln in sellable}
    for lid, lr in result.lines.items():
        ln = by_pk[lid]
        ln.discount, ln.total = lr.discount, lr.total
    for a in result.allocations:
        for lid, amount in a.line_amounts:
            by_pk[lid].allocations.append((a.promotion_id, a.title, a.code, amount))
        priced.allocations.append(
            AllocationInfo(
                a.promotion_id,
                a.title,
                a.code,
                str(a.klass),
                a.amount,
                a.shipping_amount,
                [(by_pk[lid].id, amount) for lid, amount in a.line_amounts],
            )
        )
    priced.codes = [
        CodeInfo(c.code, c.applicable, None if c.applicable else str(c.reason))
        for c in result.codes
    ]
    _spread_shipping_discount(priced.groups, result.shipping_discount)

    # Tax per destination (each delivery group), through the configured engine.
    vat_id = getattr(customer, "tax_exempt_vat_id", None)
    for g in priced.groups:
        taxed = [ln for ln in g.lines if ln.sellable]
        ship = g.shipping - g.shipping_discount
        if tax_engine is None or not g.country or (not taxed and ship <= 0):
            continue
        req = TaxRequest(
            currency=currency,
            country=g.country,
            region=g.region,
            postal_code=g.postal_code,
            prices_include_tax=priced.taxes_included,
            lines=tuple(
                TaxLine(
                    str(ln.pk),
                    ln.total,
                    ln.quantity,
                    info[ln.variant_pk].tax_class or "standard",
                    info[ln.variant_pk].product_type or "",
                )
                for ln in taxed
            ),
            shipping=ship,
            customer_vat_id=vat_id,
        )
        res = await tax_engine.calculate(req)
        for ln in taxed:
            ln.tax = res.lines.get(str(ln.pk), 0)
        g.tax = res.total_tax

    priced.subtotal = sum(ln.subtotal for ln in sellable)
    priced.discount_total = result.discount_total + result.shipping_discount
    priced.tax = sum(g.tax for g in priced.groups)
    priced.total = (
        priced.subtotal
        - priced.discount_total
        + priced.shipping
        + (0 if priced.taxes_included else priced.tax)
    )
    return priced


async def _first_order(
    conn: AsyncConnection, cart: Any, customer: Any, promotions: Sequence[Any]
) -> bool:
    """Whether this would be the buyer's first order: a customer's ``orders_count``; a
    guest's email (stored lowercased, as orders keep it) never ordered before. A guest
    without an email is not a first order. Looked up only when a promotion asks."""
    if customer is not None:
        return bool(customer.orders_count == 0)
    if not cart.email or not any(
        isinstance(c, FirstOrder) for p in promotions for c in getattr(p, "conditions", ())
    ):
        return False
    from hub.db.models import Order

    orders_t = Order.__table__
    email = str(cart.email).strip().lower()
    seen = await conn.execute(select(orders_t.c.id).where(orders_t.c.email == email).limit(1))
    return seen.first() is None


def _pickup_warnings(short: Sequence[Shortage]) -> list[CartWarning]:
    """MERCHANDISE_NOT_AVAILABLE_AT_PICKUP_LOCATION for each pickup line its location
    can't cover, naming the line, the location and the nearest that can."""
    out = []
    for s in short:
        ln = s.line
        where = s.location.name if s.location is not None else "the chosen location"
        if s.nearest:
            instead = "; in stock for pickup at " + ", ".join(
                f"{r.name} ({ids.encode('Location', r.id)}"
                + (f", {km:.1f} km away)" if km is not None else ")")
                for r, km in s.nearest
            )
        else:
            instead = "; no other pickup location has it: ship it instead"
        out.append(
            CartWarning(
                WarningCode.NOT_AT_PICKUP_LOCATION,
                f"only {s.have} of {ln.label} at {where} for pickup, {ln.quantity} in "
                f"the cart{instead}",
                ln.id,
                [r.id for r, _ in s.nearest],
            )
        )
    return out


def _title(v: Any) -> str:
    if v is None:
        return ""
    return (
        v.product_title
        if v.title in ("", "Default", "Default Title")
        else f"{v.product_title} - {v.title}"
    )


def _spread_shipping_discount(groups: Sequence[PricedGroup], amount: int) -> None:
    """Share a shipping discount over the groups in proportion to their shipping."""
    paid = [g for g in groups if g.shipping > 0]
    total = sum(g.shipping for g in paid)
    if amount <= 0 or total <= 0:
        return
    given = 0
    for i, g in enumerate(paid):
        share = amount - given if i == len(paid) - 1 else amount * g.shipping // total
        share = min(share, g.shipping)
        g.shipping_discount = share
        given += share


async def _shipping_options(
    conn: AsyncConnection,
    currency: str,
    country: str,
    region: str | None,
    weight: int,
    subtotal: int,
) -> list[DeliveryOption]:
    try:
        from hub.domain.shipping import shipping_options
    except ImportError:  # pragma: no cover - before the shipping service exists
        return []
    got = await shipping_options(
        conn,
        currency=currency,
        country=country,
        region=region,
        weight_grams=weight,
        subtotal=subtotal,
    )
    return [
        DeliveryOption(o.handle, o.title, o.amount, o.currency, o.min_days, o.max_days)
        for o in got
        if o.currency == currency
    ]


async def _promotions(
    conn: AsyncConnection,
    currency: str,
    codes: Sequence[str],
    customer_key: str | None,
    now: datetime,
) -> list[Any]:
    try:
        from hub.domain.promotions import active_promotions
    except ImportError:  # pragma: no cover - before the promotion store exists
        return []
    return list(
        await active_promotions(
            conn, currency=currency, codes=codes, customer_key=customer_key, now=now
        )
    )


async def price(db: Database, state: CartState, *, tax_engine: TaxEngine | None) -> PricedCart:
    """Price a cart on a read connection of its own."""
    async with db.read() as conn:
        return await price_cart(conn, state, tax_engine=tax_engine)


async def delete_expired(
    db: Database, *, older_than: timedelta = timedelta(days=7), limit: int = 1000
) -> int:
    """Delete abandoned carts that expired more than ``older_than`` ago, at most
    ``limit`` per call (one statement); returns how many went.

    What is deleted: an ACTIVE cart (or a COMPLETING one whose checkout lock ran
    out) with its lines, delivery groups and unfinished checkout attempts (by
    cascade). Such a cart holds no money and no stock (checkout's reservations are
    released or expire on their own) and can't come back: every write and checkout
    needs an unexpired cart. What is never deleted, as the audit trail of a sale: a
    COMPLETED cart, a cart an order points at, a cart with a finished (DONE) attempt,
    and a cart whose checkout is still running (lock or attempt not yet timed out).
    The order keeps its own copy of everything it was sold with.
    """
    now = _now()
    cutoff = now - older_than
    from hub.db.models import CheckoutAttempt, Order

    attempts_t = CheckoutAttempt.__table__
    orders_t = Order.__table__
    doomed = (
        select(carts_t.c.id)
        .where(
            carts_t.c.expires_at < cutoff,
            carts_t.c.order_id.is_(None),
            or_(
                carts_t.c.status == "ACTIVE",
                and_(
                    carts_t.c.status == "COMPLETING",
                    or_(carts_t.c.locked_until.is_(None), carts_t.c.locked_until < now),
                ),
            ),
            ~select(orders_t.c.id).where(orders_t.c.cart_id == carts_t.c.id).exists(),
            ~select(attempts_t.c.key)
            .where(
                attempts_t.c.cart_id == carts_t.c.id,
                or_(attempts_t.c.status == "DONE", attempts_t.c.locked_until >= now),
            )
            .exists(),
        )
        .order_by(carts_t.c.expires_at)
        .limit(limit)
    )
    async with db.transaction() as conn:
        # One statement; the row conditions are repeated outside the subquery so that
        # PostgreSQL checks them again on a row another transaction just changed.
        res = await conn.execute(
            delete(carts_t).where(
                carts_t.c.id.in_(doomed.scalar_subquery()),
                carts_t.c.expires_at < cutoff,
                carts_t.c.order_id.is_(None),
                carts_t.c.status != "COMPLETED",
                or_(
                    carts_t.c.status == "ACTIVE",
                    carts_t.c.locked_until.is_(None),
                    carts_t.c.locked_until < now,
                ),
            )
        )
    return res.rowcount or 0


async def view_cart(
    db: Database,
    token: str,
    principal: Principal,
    *,
    tax_engine: TaxEngine | None,
    expired_error: bool = False,
) -> PricedCart | None:
    """A cart priced for display, if this principal may see it and it has not expired
    (a completed cart stays visible). One read connection. ``expired_error``: an
    expired cart this principal may see raises CART_EXPIRED instead of answering None
    (an unknown one, or another customer's, is None either way)."""
    async with db.read() as conn:
        state = await load_cart(conn, token)
        try:
            check_readable(state, principal, _now())
        except DomainError as exc:
            if expired_error and exc.errors[0].code == CartCode.CART_EXPIRED:
                raise
            return None
        assert state is not None
        return await price_cart(conn, state, tax_engine=tax_engine)


async def view_state(
    db: Database,
    state: CartState,
    principal: Principal,
    *,
    tax_engine: TaxEngine | None,
    channel: Any = None,
) -> PricedCart | None:
    """``view_cart`` of a cart the caller holds as written (``Carts.create_state``)."""
    try:
        check_readable(state, principal, _now())
    except DomainError:
        return None
    async with db.read() as conn:
        return await price_cart(conn, state, tax_engine=tax_engine, channel=channel)


async def view_carts(
    db: Database, tokens: Sequence[str], principal: Principal, *, tax_engine: TaxEngine | None
) -> dict[str, PricedCart]:
    """Several carts priced for display (``view_cart``'s rules: those this principal
    may see and that have not expired), by token. The rows load in three statements
    whatever the number of carts; each cart is then priced on its own."""
    if not tokens:
        return {}
    now = _now()
    async with db.read() as conn:
        rows = (await conn.execute(select(carts_t).where(carts_t.c.token.in_(list(tokens))))).all()
        states: list[CartState] = []
        for row in rows:
            try:
                states.append(check_readable(CartState(row, [], []), principal, now))
            except DomainError:
                continue
        if not states:
            return {}
        by_pk = {s.cart.id: s for s in states}
        for r in (
            await conn.execute(
                select(lines_t).where(lines_t.c.cart_id.in_(list(by_pk))).order_by(lines_t.c.id)
            )
        ).all():
            by_pk[r.cart_id].lines.append(r)
        for r in (
            await conn.execute(
                select(groups_t)
                .where(groups_t.c.cart_id.in_(list(by_pk)))
                .order_by(groups_t.c.position, groups_t.c.id)
            )
        ).all():
            by_pk[r.cart_id].groups.append(r)
        return {s.token: await price_cart(conn, s, tax_engine=tax_engine, now=now) for s in states}


def _customer_key(cart: Any, customer: Any) -> str | None:
    """Who per-customer promotion limits count: the buyer's email (a customer's or a
    guest's), else the customer id."""
    email = cart.email or getattr(customer, "email", None)
    if email:
        return str(email).strip().lower()
    return str(customer.pk) if customer is not None else None
