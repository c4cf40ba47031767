"""Where a checkout's stock comes from, and its reservations.

Stock location rule: the channel's routing strategy (``hub.domain.orders.routing``).
A pickup group takes every line from its pickup location. Under the DEFAULT strategy
a shipping group ships from locations that are active, ship, and sell to the cart's
channel, in fulfilment priority order (then id): first the one location that can send
every line of the group in full; else, per line, the first location that has the
whole line; else the line is split over locations in that order. Available means
sellable online (safety stock is kept back). Untracked variants reserve nothing.

Reservations are made inside the checkout's claiming transaction (all lines or none)
and live for the attempt's lease: the attempt renews them while it runs, so those of
an attempt whose process died are released by the expiry job within seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.domain.backorders import BackorderTake, plan_backorders
from hub.domain.carts import PricedCart, PricedLine
from hub.domain.checkout.codes import CheckoutCode
from hub.domain.errors import Code, DomainError, UserError
from hub.domain.inventory import ReserveRequest, refuse
from hub.domain.inventory import reserve as reserve_stock
from hub.domain.orders.routing import Routed, load_sites, route_cart
from hub.events.bus import Event
from hub.money import MAX_MINOR, format_minor

INSUFFICIENT_STOCK = CheckoutCode.INSUFFICIENT_STOCK


@dataclass(slots=True)
class Short:
    """A line the plan can't cover: ``location`` is its pickup location (pk, name)."""

    line: PricedLine
    location: tuple[int, str] | None = None


@dataclass(slots=True)
class Plan:
    """Where each line's units come from: line pk -> [(location pk, quantity)]."""

    takes: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    short: list[Short] = field(default_factory=list)
    routing: Routed | None = None  # the decision and its reasons, stored on the order
    # Units sold beyond stock (variants that allow backorders or pre-orders).
    backorders: list[BackorderTake] = field(default_factory=list)


def short_of(s: Short) -> UserError:
    """INSUFFICIENT_STOCK for one line, naming its pickup location when it has one."""
    ln = s.line
    if s.location is not None:
        pk, name = s.location
        where = f"at the pickup location {name} (gid://hub/Location/{pk})"
        return UserError(
            ["lines", ln.id],
            f"not enough {ln.label} {where} for {ln.quantity}; choose another "
            "pickup location or ship the line",
            INSUFFICIENT_STOCK,
        )
    return UserError(
        ["lines", ln.id], f"not enough {ln.label} in stock for {ln.quantity}", INSUFFICIENT_STOCK
    )


def check_storable(priced: PricedCart) -> None:
    """Every amount of the order fits its 32-bit column (hub.money.MAX_MINOR): a cart
    of 10,000 units at a large price can add up past it. Refused before anything is
    reserved or paid."""
    over = [
        ln
        for ln in priced.lines
        if max(ln.unit_price, ln.compare_at or 0, ln.subtotal, ln.total, ln.tax) > MAX_MINOR
    ]
    totals = (priced.subtotal, priced.discount_total, priced.shipping, priced.tax, priced.total)
    if over or max(totals) > MAX_MINOR:
        largest = f"{format_minor(MAX_MINOR, priced.currency)} {priced.currency}"
        raise DomainError(
            [
                UserError(
                    ["lines", ln.id], f"the line comes to over {largest}", Code.LIMIT_EXCEEDED
                )
                for ln in over
            ]
            or [UserError(["cart_id"], f"the order's total is over {largest}", Code.LIMIT_EXCEEDED)]
        )


def check_payable(priced: PricedCart, plan: Plan) -> None:
    if not priced.lines:
        raise refuse(CheckoutCode.EMPTY_CART, "the cart has no lines", "cart_id")
    check_storable(priced)
    gone = [ln for ln in priced.lines if not ln.sellable]
    if gone:
        raise DomainError(
            [
                UserError(
                    ["lines", ln.id],
                    f"{ln.label} is no longer sold here; remove the line",
                    Code.INVALID,
                )
                for ln in gone
            ]
        )
    if plan.short:
        raise DomainError([short_of(s) for s in plan.short])


async def plan_stock(conn: AsyncConnection, priced: PricedCart) -> Plan:
    """Choose each line's stock locations: the channel's routing strategy decides
    (:mod:`hub.domain.orders.routing`; DEFAULT is the rule in the module docstring)."""
    routed = await route_cart(conn, priced)
    short = routed.short
    backorders: list[BackorderTake] = []
    if short:  # only then: an ordinary cart's checkout reads nothing more
        _, sites = await load_sites(conn, priced.cart.channel_id)
        backorders, short = await plan_backorders(conn, priced, short, routed.takes, sites)
    return Plan(
        takes=routed.takes,
        short=[Short(ln, where) for ln, where in short],
        routing=routed,
        backorders=backorders,
    )


async def reserve(
    conn: AsyncConnection, priced: PricedCart, plan: Plan, ttl: timedelta, reference: str
) -> tuple[dict[int, list[tuple[int, int, str]]], list[Event]]:
    """Reserve every planned take inside the caller's transaction, each for ``ttl`` and
    under ``reference`` (the attempt's: its lease renews them by it); a line whose
    stock went meanwhile raises INSUFFICIENT_STOCK for it (and the transaction rolls
    back)."""
    tokens: dict[int, list[tuple[int, int, str]]] = {}
    events: list[Event] = []
    by_pk = {ln.pk: ln for ln in priced.lines}
    where = {
        ln.pk: (g.location_pk, g.location_name or "")
        for g in priced.groups
        if g.kind == "PICKUP" and g.location_pk
        for ln in g.lines
    }
    for line_pk, takes in plan.takes.items():
        ln = by_pk[line_pk]
        for loc, qty in takes:
            try:
                req = ReserveRequest(ln.variant_pk, loc, qty, ttl, reference)
                out = await reserve_stock(conn, req)
            except DomainError as exc:
                if any(e.code == INSUFFICIENT_STOCK for e in exc.errors):
                    raise DomainError([short_of(Short(ln, where.get(ln.pk)))]) from None
                raise
            tokens.setdefault(line_pk, []).append((loc, qty, out.result["reservation"]))
            events += out.events
    return tokens, events
