""":func:`price_cart`: the one place a cart's money is computed.

A pipeline of named stages over one :class:`PricedCart`, each reading the facts
:func:`load_facts` read first (the channel, the customer, the variants, their prices,
stock and collections):

1. :func:`price_lines`: unit prices (the channel's, or the customer's price list's),
   which lines can be sold, and stock shortfalls;
2. :func:`plan_delivery`: the delivery groups, pickup availability, shipping rates;
3. :func:`apply_promotions`: the pure engine (``hub.domain.promotions``) on the sellable
   lines and the shipping; then loyalty points redeemed as a discount
   (:mod:`hub.domain.carts.pricing_loyalty`);
   then the plugins' fees (:func:`hub.domain.carts.fees.add_fees`: gift wrapping...);
4. :func:`add_tax`: tax per destination through the configured ``TaxEngine``;
5. :func:`total_up`: subtotal, discounts, fees, shipping and tax into the total.

The storefront, the app, the point of sale and checkout all call it, so the same basket
costs the same everywhere; nothing a client sends about money is used. It runs a fixed
number of statements whatever the number of lines (one per delivery group for
shipping rates).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import TaxEngine, TaxLine, TaxRequest
from hub import ids
from hub.db import fast
from hub.db.tables import coll_products_t, orders_t
from hub.domain.carts.fees import add_fees
from hub.domain.carts.lookups import available, channel_of, counts_stock, customer_of, quote
from hub.domain.carts.lookups import variant_info as load_variants
from hub.domain.carts.model import PICKUP, SHIPPING, CartState, CartWarning, WarningCode
from hub.domain.carts.priced import (
    AllocationInfo,
    CodeInfo,
    DeliveryOption,
    PricedCart,
    PricedGroup,
    PricedLine,
)
from hub.domain.carts.pricing_loyalty import apply_loyalty
from hub.domain.catalog import ChannelRecord
from hub.domain.catalog.price_lists import PriceQuote
from hub.domain.customers import CustomerRecord
from hub.domain.promotions import Basket, BasketLine, Context, FirstOrder, Promotion, apply
from hub.domain.promotions.store import active_promotions
from hub.domain.shipping import shipping_options
from hub.domain.shipping.pickup import Shortage, pickup_locations, shortages
from hub.money import exponent

_COLLECTIONS_OF = fast.Prebuilt(
    select(coll_products_t.c.product_id, coll_products_t.c.collection_id).where(
        coll_products_t.c.product_id.in_(bindparam("pids", expanding=True))
    )
)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Facts:
    """What pricing reads about a cart before computing anything."""

    channel: ChannelRecord
    customer: CustomerRecord | None
    info: dict[int, Any]  # variant pk -> variant row (with its product's fields)
    quotes: dict[int, PriceQuote]  # variant pk -> unit price; absent: not sold here
    tracked: list[int]  # variants whose quantity stock bounds
    stock: dict[int, dict[int, int]]  # variant pk -> location pk -> sellable
    collections: dict[int, set[int]]  # product pk -> collection pks


async def price_cart(
    conn: AsyncConnection,
    state: CartState,
    *,
    tax_engine: TaxEngine | None,
    now: datetime | None = None,
    channel: ChannelRecord | None = None,
) -> PricedCart:
    """Price a cart: unit prices, delivery, promotions, tax, totals. The one
    implementation every channel and checkout uses; it trusts nothing but the database
    (``channel``: the cart's channel as this request read it, if it has)."""
    now = now or _now()
    facts = await load_facts(conn, state, now, channel)
    priced = price_lines(state, facts)
    await plan_delivery(conn, priced, facts)
    await apply_promotions(conn, priced, facts, now)
    await apply_loyalty(conn, priced)
    add_fees(priced)
    await add_tax(priced, facts, tax_engine)
    total_up(priced)
    return priced


async def load_facts(
    conn: AsyncConnection, state: CartState, now: datetime, channel: ChannelRecord | None
) -> Facts:
    cart = state.cart
    channel = await channel_of(conn, cart.channel_id, channel)
    customer = await customer_of(conn, cart.customer_id)
    exponent(cart.currency)  # a currency the hub knows, or an error now
    vpks = list({r.variant_id for r in state.lines})
    qty: dict[int, int] = defaultdict(int)
    for r in state.lines:
        qty[r.variant_id] += r.quantity
    group = customer.customer_group if customer is not None else None
    known = state.known
    if known is not None and group is None and known.quantities == qty:
        # The write that made these lines asked the same questions a moment ago.
        info = {v: known.info[v] for v in vpks if v in known.info}
        quotes = dict(known.quotes)
    else:
        known = None
        info = await load_variants(conn, vpks)
        quotes = await quote(conn, channel, dict(qty), customer_group=group, now=now)
    tracked = [v for v in vpks if v in info and counts_stock(info[v])]
    if known is not None and known.stock is not None:
        stock = {v: dict(locs) for v, locs in known.stock.items()}
    else:
        stock = await available(conn, cart.channel_id, tracked, info) if tracked else {}
    pids = list({info[v].product_id for v in vpks if v in info})
    collections: dict[int, set[int]] = defaultdict(set)
    if pids:
        for r in (await fast.execute(conn, _COLLECTIONS_OF, {"pids": pids})).all():
            collections[r.product_id].add(r.collection_id)
    return Facts(channel, customer, info, quotes, tracked, stock, collections)


# --------------------------------------------------------------------------- 1. lines


def price_lines(state: CartState, facts: Facts) -> PricedCart:
    """Stage 1: each line at its unit price, or not sellable (no longer published or
    priced here); a warning for each, and for each line stock can't cover."""
    currency = state.cart.currency
    priced = PricedCart(
        state=state,
        channel=facts.channel,
        customer=facts.customer,
        currency=currency,
        taxes_included=bool(facts.channel.tax_inclusive),
        lines=[],
        groups=[],
        stock=facts.stock,
    )
    left = {v: sum(facts.stock.get(v, {}).values()) for v in facts.tracked}
    for r in state.lines:
        v = facts.info.get(r.variant_id)
        q = facts.quotes.get(r.variant_id)
        ln = _line(r, v, facts.channel, currency, tracked=r.variant_id in left)
        if ln.published and q is not None and q.currency == currency:
            ln.sellable = True
            ln.unit_price, ln.compare_at, ln.price_source = q.unit_price, q.compare_at, q.source
            ln.subtotal = ln.total = q.unit_price * r.quantity
        else:
            priced.warnings.append(
                CartWarning(WarningCode.NOT_AVAILABLE, f"{ln.label} is no longer sold here", ln.id)
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
    return priced


def _line(r: Any, v: Any, channel: ChannelRecord, currency: str, *, tracked: bool) -> PricedLine:
    """A cart line row as a (not yet priced) line; ``v``: its variant, None when gone."""
    return PricedLine(
        pk=r.id,
        variant_pk=r.variant_id,
        product_pk=v.product_id if v else 0,
        sku=v.sku if v else "",
        title=_title(v),
        quantity=r.quantity,
        attributes=list(r.attributes or ()),
        group_key=r.delivery_group_id,
        sellable=False,
        requires_shipping=bool(v.requires_shipping) if v else False,
        tracked=tracked,
        currency=currency,
        channel=channel,
        is_bundle=bool(v.is_bundle) if v else False,
        published=v is not None and v.status == "ACTIVE",
    )


def _title(v: Any) -> str:
    if v is None:
        return ""
    return str(
        v.product_title
        if v.title in ("", "Default", "Default Title")
        else f"{v.product_title} - {v.title}"
    )


# ------------------------------------------------------------------------ 2. delivery


async def plan_delivery(conn: AsyncConnection, priced: PricedCart, facts: Facts) -> None:
    """Stage 2: the stored delivery groups, plus a default shipping group for the lines
    none holds; a pickup group's location, a shipping group's options and choice."""
    state = priced.state
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
                transfer_in=bool(getattr(g, "transfer_in", False)),
            )
        )
    if by_group.get(None):
        priced.groups.append(PricedGroup(None, SHIPPING, None, None, by_group[None]))
    option_handles = {g.id: g.option_handle for g in state.groups}
    pickup_locs: dict[int, Any] = {}
    if any(g.kind == PICKUP for g in priced.groups):
        chosen = [g.location_pk for g in priced.groups if g.kind == PICKUP and g.location_pk]
        pickup_locs = await pickup_locations(conn, state.cart.channel_id, chosen)
        priced.warnings += pickup_warnings(shortages(priced.groups, facts.stock, pickup_locs))
    for g in priced.groups:
        if g.kind == PICKUP:
            _pick_up(g, pickup_locs.get(g.location_pk or 0), priced.currency)
        else:
            wanted = option_handles.get(g.key) if g.key is not None else None
            await _ship(conn, priced, g, facts, wanted)


def _pick_up(g: PricedGroup, loc: Any, currency: str) -> None:
    """A pickup group: its location's address, and the one free option."""
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


async def _ship(
    conn: AsyncConnection, priced: PricedCart, g: PricedGroup, facts: Facts, wanted: str | None
) -> None:
    """A shipping group: its destination, the rates for what it ships, and the option
    chosen (``wanted``, or the cheapest when that is not offered)."""
    addr = g.address or {}
    country = addr.get("countryCode") or priced.cart.country_code or priced.channel.default_country
    g.country = country
    g.region = addr.get("region") or None
    g.postal_code = addr.get("postalCode") or None
    ship_lines = [ln for ln in g.lines if ln.sellable and ln.requires_shipping]
    if not ship_lines:
        return
    weight = sum((facts.info[ln.variant_pk].weight_grams or 0) * ln.quantity for ln in ship_lines)
    got = await shipping_options(
        conn,
        currency=priced.currency,
        country=country,
        region=g.region,
        weight_grams=weight,
        subtotal=sum(ln.subtotal for ln in ship_lines),
    )
    g.options = [o for o in got if o.currency == priced.currency]
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


def pickup_warnings(short: Sequence[Shortage]) -> list[CartWarning]:
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


# ---------------------------------------------------------------------- 3. promotions


async def apply_promotions(
    conn: AsyncConnection, priced: PricedCart, facts: Facts, now: datetime
) -> None:
    """Stage 3: the promotions that may apply (automatic ones and the cart's codes), run
    by the engine on the sellable lines and the total shipping; each line's discount
    and total, the allocations, and which codes applied."""
    cart, customer = priced.cart, priced.customer
    sellable = [ln for ln in priced.lines if ln.sellable]
    priced.shipping = sum(g.shipping for g in priced.groups)
    codes = list(cart.discount_codes or ())
    promotions = list(
        await active_promotions(
            conn,
            currency=priced.currency,
            codes=codes,
            customer_key=customer_key(cart, customer),
            now=now,
        )
    )
    priced.promotions = promotions
    basket = Basket(
        priced.currency,
        tuple(_basket_line(ln, facts) for ln in sellable),
        shipping=priced.shipping,
    )
    ctx = Context(
        channel=priced.channel.handle,
        country=(priced.groups[0].country if priced.groups else None)
        or cart.country_code
        or priced.channel.default_country,
        customer_id=customer.pk if customer is not None else None,
        segments=frozenset(customer.segments if customer is not None else ()),
        loyalty_tier=customer.loyalty_tier if customer is not None else None,
        first_order=await _first_order(conn, cart, customer, promotions),
        now=now,
        codes=tuple(codes),
    )
    result = apply(basket, ctx, promotions)
    priced.result = result
    by_pk = {str(ln.pk): ln for ln in sellable}
    gids = {lid: ln.id for lid, ln in by_pk.items()}  # encoded once, not per allocation
    for lid, lr in result.lines.items():
        by_pk[lid].discount, by_pk[lid].total = lr.discount, lr.total
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
                [(gids[lid], amount) for lid, amount in a.line_amounts],
            )
        )
    priced.codes = [
        CodeInfo(c.code, c.applicable, None if c.applicable else str(c.reason))
        for c in result.codes
    ]
    _spread_shipping_discount(priced.groups, result.shipping_discount)


def _basket_line(ln: PricedLine, facts: Facts) -> BasketLine:
    v = facts.info[ln.variant_pk]
    return BasketLine(
        line_id=str(ln.pk),
        variant_id=ln.variant_pk,
        product_id=ln.product_pk,
        quantity=ln.quantity,
        unit_price=ln.unit_price,
        collection_ids=frozenset(facts.collections.get(ln.product_pk, ())),
        tags=frozenset(v.tags or ()),
        product_type=v.product_type or "",
        compare_at=ln.compare_at,
    )


def customer_key(cart: Any, customer: CustomerRecord | None) -> str | None:
    """Who per-customer promotion limits count: the buyer's email (a customer's or a
    guest's), else the customer id."""
    email = cart.email or (customer.email if customer is not None else None)
    if email:
        return str(email).strip().lower()
    return str(customer.pk) if customer is not None else None


async def _first_order(
    conn: AsyncConnection,
    cart: Any,
    customer: CustomerRecord | None,
    promotions: Sequence[Promotion],
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
    email = str(cart.email).strip().lower()
    seen = await conn.execute(select(orders_t.c.id).where(orders_t.c.email == email).limit(1))
    return seen.first() is None


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


# ----------------------------------------------------------------------------- 4. tax


async def add_tax(priced: PricedCart, facts: Facts, tax_engine: TaxEngine | None) -> None:
    """Stage 4: tax per destination (each delivery group) through the configured
    engine, on the lines after discounts and the shipping after its discount."""
    if tax_engine is None:
        return
    vat_id = priced.customer.tax_exempt_vat_id if priced.customer is not None else None
    for g in priced.groups:
        taxed = [ln for ln in g.lines if ln.sellable]
        ship = g.shipping - g.shipping_discount
        if not g.country or (not taxed and ship <= 0):
            continue
        req = TaxRequest(
            currency=priced.currency,
            country=g.country,
            region=g.region,
            postal_code=g.postal_code,
            prices_include_tax=priced.taxes_included,
            lines=tuple(_tax_line(ln, facts.info[ln.variant_pk]) for ln in taxed),
            shipping=ship,
            customer_vat_id=vat_id,
        )
        res = await tax_engine.calculate(req)
        for ln in taxed:
            ln.tax = res.lines.get(str(ln.pk), 0)
        g.tax = res.total_tax


def _tax_line(ln: PricedLine, v: Any) -> TaxLine:
    return TaxLine(
        str(ln.pk), ln.total, ln.quantity, v.tax_class or "standard", v.product_type or ""
    )


# --------------------------------------------------------------------------- 5. totals


def total_up(priced: PricedCart) -> None:
    """Stage 5: subtotal - discounts + fees + shipping (+ tax when prices exclude it)."""
    result = priced.result
    assert result is not None  # stage 3 ran
    priced.subtotal = sum(ln.subtotal for ln in priced.lines if ln.sellable)
    priced.discount_total = (
        result.discount_total + result.shipping_discount + priced.loyalty_discount
    )
    priced.tax = sum(g.tax for g in priced.groups)
    priced.total = (
        priced.subtotal
        - priced.discount_total
        + priced.fee_total
        + priced.shipping
        + (0 if priced.taxes_included else priced.tax)
    )
