"""Routing: which location fulfils each line of an order, by the channel's strategy.

Checkout calls :func:`route_cart` where it used to choose its stock locations, so the
reservations are taken where routing decided; the order then stores the decision
(``orders.routing``, one entry per fulfillment order) and each fulfillment order its
reason (``fulfillment_orders.routing_reason``).

The candidates of a shipping group are the locations that are active, ship, and sell
to the order's channel (``location_channels``); a pickup group takes every line from
its pickup store (or the line is short). Available stock is what the cart priced
(sellable online: safety stock kept back). Strategies (``channels.routing_strategy``):

- ``DEFAULT``: checkout's allocation of old: fulfilment priority (then id); first the
  one location that can send every line; else, per line, the first location with the
  whole line; else the line is split over locations in that order.
- ``NEAREST``: as DEFAULT, ranked by distance to the destination
  (:mod:`hub.domain.orders.geo` says how an address becomes a point); locations without
  coordinates come last; an address it can't place ranks as DEFAULT.
- ``LOWEST_COST``: the set of locations whose shipments cost least in total
  (``cost_per_shipment`` each) and that together hold every line; ties: fewer
  shipments, then priority.
- ``FEWEST_SHIPMENTS``: the smallest set of locations that together hold every line;
  ties: lower cost, then priority.
- ``BALANCE_STOCK``: each line from the location with the most of its variant
  available (the most cover), split deepest-first when none has it all.

Daily capacity (``daily_capacity``): a location's load today is the count of its
SHIPPING fulfillment orders created since 00:00 UTC that were not cancelled; a
location at its capacity is not a candidate. When only locations at capacity hold the
stock for a line, the line still goes to them (DEFAULT order) and the reason says so:
capacity never refuses a sale the stock could make. Pickups don't count against it.
When more than one location ships a group (or a line is split), the decision is a
split and every reason says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from itertools import combinations
from typing import Any

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db import fast
from hub.db.tables import channels_t, fulfillment_orders_t, loc_channels_t, locations_t
from hub.domain.orders.geo import Point, distance_km, geocode
from hub.domain.orders.state import FulfillmentOrderStatus

# Combination search over at most this many candidate locations (2^10 sets).
MAX_SEARCH = 10


class Strategy(StrEnum):
    DEFAULT = "DEFAULT"
    NEAREST = "NEAREST"
    LOWEST_COST = "LOWEST_COST"
    FEWEST_SHIPMENTS = "FEWEST_SHIPMENTS"
    BALANCE_STOCK = "BALANCE_STOCK"


@dataclass(slots=True)
class Site:
    """A candidate location and its load today."""

    pk: int
    name: str
    ships: bool
    priority: int
    cost: int
    lat: float | None
    lng: float | None
    country: str
    postal_code: str
    capacity: int | None
    used: int
    distance: float | None = None

    @property
    def full(self) -> bool:
        return self.capacity is not None and self.used >= self.capacity


@dataclass(slots=True)
class Routed:
    """What routing decided for a cart: ``takes`` line pk -> [(location pk, quantity)],
    ``short`` the lines no location can fill (with their pickup location), and the
    reason of each (location, delivery kind)."""

    strategy: str = Strategy.DEFAULT.value
    takes: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    short: list[tuple[Any, tuple[int, str] | None]] = field(default_factory=list)
    reasons: dict[tuple[int, str], str] = field(default_factory=dict)
    split: bool = False
    destination: str | None = None
    # Endless aisle: source location -> the pickup store its PICKUP units go to.
    transfers: dict[int, int] = field(default_factory=dict)


Left = dict[int, dict[int, int]]  # variant pk -> location pk -> units still available


def _today() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def load_query() -> Any:
    """The channel's locations with their load today and the channel's strategy, in
    one statement (parameters ``channel`` and ``today``)."""
    used = (
        select(func.count())
        .select_from(fulfillment_orders_t)
        .where(
            fulfillment_orders_t.c.location_id == locations_t.c.id,
            fulfillment_orders_t.c.delivery_kind == "SHIPPING",
            fulfillment_orders_t.c.created_at >= bindparam("today"),
            fulfillment_orders_t.c.status != FulfillmentOrderStatus.CANCELLED.value,
        )
        .scalar_subquery()
    )
    return (
        select(
            locations_t.c.id,
            locations_t.c.name,
            locations_t.c.ships,
            locations_t.c.fulfillment_priority,
            locations_t.c.cost_per_shipment,
            locations_t.c.latitude,
            locations_t.c.longitude,
            locations_t.c.country_code,
            locations_t.c.postal_code,
            locations_t.c.daily_capacity,
            channels_t.c.routing_strategy,
            used.label("used"),
        )
        .select_from(channels_t)
        .outerjoin(loc_channels_t, loc_channels_t.c.channel_id == channels_t.c.id)
        .outerjoin(
            locations_t,
            and_(locations_t.c.id == loc_channels_t.c.location_id, locations_t.c.active.is_(True)),
        )
        .where(channels_t.c.id == bindparam("channel"))
    )


_LOAD = fast.Prebuilt(load_query())  # every checkout's: hub.db.fast


def site_of(r: Any) -> Site:
    return Site(
        r.id,
        r.name,
        bool(r.ships),
        r.fulfillment_priority,
        r.cost_per_shipment,
        r.latitude,
        r.longitude,
        r.country_code,
        r.postal_code or "",
        r.daily_capacity,
        int(r.used or 0),
    )


async def load_sites(conn: AsyncConnection, channel_pk: int) -> tuple[str, list[Site]]:
    """The channel's strategy and its active locations (with today's load)."""
    rows = (await fast.execute(conn, _LOAD, {"channel": channel_pk, "today": _today()})).all()
    strategy = rows[0].routing_strategy if rows else Strategy.DEFAULT.value
    return strategy or Strategy.DEFAULT.value, [site_of(r) for r in rows if r.id is not None]


async def route_cart(conn: AsyncConnection, priced: Any) -> Routed:
    """Route a priced cart's tracked, sellable lines (one statement)."""
    strategy, sites = await load_sites(conn, priced.cart.channel_id)
    return route_groups(strategy, sites, priced.groups, priced.stock)


def route_groups(
    strategy: str, sites: Sequence[Site], groups: Iterable[Any], stock: Left
) -> Routed:
    """Route every delivery group (pure: no I/O)."""
    try:
        strat = Strategy(strategy)
    except ValueError:
        strat = Strategy.DEFAULT
    out = Routed(strategy=strat.value)
    selling = {s.pk: s for s in sites}
    left: Left = {v: dict(locs) for v, locs in stock.items()}
    for g in groups:
        lines = [ln for ln in g.lines if ln.sellable and ln.tracked]
        if not lines:
            continue
        if g.kind == "PICKUP":
            _pickup(out, g, lines, selling, left)
            continue
        _ship(out, strat, g, lines, sites, left)
    return out


def _pickup(
    out: Routed, g: Any, lines: Sequence[Any], selling: dict[int, Site], left: Left
) -> None:
    loc = g.location_pk if g.location_pk in selling else None
    for ln in lines:
        have = left.get(ln.variant_pk, {}).get(loc, 0) if loc else 0
        if loc is not None and have >= ln.quantity:
            out.takes[ln.pk] = [(loc, ln.quantity)]
            left[ln.variant_pk][loc] = have - ln.quantity
            out.reasons[(loc, "PICKUP")] = "PICKUP: the customer's chosen pickup store"
        elif (
            loc is not None
            and getattr(g, "transfer_in", False)
            and _aisle(out, g, ln, loc, selling, left)
        ):
            continue
        else:
            where = (g.location_pk, g.location_name or "") if g.location_pk else None
            out.short.append((ln, where))


def _aisle(out: Routed, g: Any, ln: Any, store: int, selling: dict[int, Site], left: Left) -> bool:
    """Endless aisle: the first other location (fulfilment priority, then id) holding
    the whole line sends it to the pickup store by transfer. False when none does."""
    for s in sorted(selling.values(), key=_by_priority):
        if s.pk == store or out.transfers.get(s.pk, store) != store:
            continue
        if _can(left, ln.variant_pk, s.pk, ln.quantity):
            out.takes[ln.pk] = [(s.pk, ln.quantity)]
            left[ln.variant_pk][s.pk] -= ln.quantity
            out.transfers[s.pk] = store
            out.reasons[(s.pk, "PICKUP")] = (
                f"ENDLESS_AISLE: the pickup store {g.location_name or store} lacks it; "
                f"{s.name} transfers it there for pickup"
            )
            return True
    return False


def _ship(
    out: Routed, strat: Strategy, g: Any, lines: Sequence[Any], sites: Sequence[Site], left: Left
) -> None:
    shippers = [s for s in sites if s.ships]
    dest = geocode(g.address, shippers) if strat is Strategy.NEAREST else None
    if dest is not None:
        out.destination = dest[1]
        for s in shippers:
            known = s.lat is not None and s.lng is not None
            s.distance = distance_km(dest[0], (s.lat, s.lng)) if known else None  # type: ignore[arg-type]
    open_ = [s for s in shippers if not s.full]
    takes, short, why = _STRATEGIES[strat](lines, open_, left, dest[0] if dest else None)
    over: set[int] = set()
    if short:
        full = sorted((s for s in shippers if s.full), key=_by_priority)
        more, short, _ = _consolidate(short, full, left)
        takes.update(more)
        over = {loc for t in more.values() for loc, _ in t}
    out.short += [(ln, None) for ln in short]
    used = {loc for t in takes.values() for loc, _ in t}
    split = len(used) > 1 or any(len(t) > 1 for t in takes.values())
    out.split = out.split or split
    out.takes.update(takes)
    by_pk = {s.pk: s for s in shippers}
    for loc in used:
        s = by_pk[loc]
        reason = (
            why(s)
            if loc not in over
            else (
                f"{strat.value}: no location under its daily capacity had the stock; "
                f"{s.name} ships it over capacity ({s.used}/{s.capacity})"
            )
        )
        if split:
            reason += f" — split: no single location could fill the order ({len(used)} locations)"
        if (loc, "SHIPPING") not in out.reasons:
            s.used += 1  # one more fulfillment order for the next group's capacity
        out.reasons[(loc, "SHIPPING")] = reason


Assign = tuple[dict[int, list[tuple[int, int]]], list[Any], Callable[[Site], str]]


def _by_priority(s: Site) -> tuple[int, int]:
    return (s.priority, s.pk)


def _can(left: Left, variant: int, loc: int, qty: int) -> bool:
    return left.get(variant, {}).get(loc, 0) >= qty


def _needs(lines: Sequence[Any]) -> dict[int, int]:
    need: dict[int, int] = {}
    for ln in lines:
        need[ln.variant_pk] = need.get(ln.variant_pk, 0) + ln.quantity
    return need


def _consolidate(
    lines: Sequence[Any], ranked: Sequence[Site], left: Left
) -> tuple[dict[int, list[tuple[int, int]]], list[Any], Site | None]:
    """Checkout's allocation over ``ranked``: the first location that can send every
    line; else per line the first with the whole line; else split in that order.
    Takes what it allocates from ``left``; returns (takes, short lines, whole site)."""
    need = _needs(lines)
    whole = next((s for s in ranked if all(_can(left, v, s.pk, q) for v, q in need.items())), None)
    takes: dict[int, list[tuple[int, int]]] = {}
    short: list[Any] = []
    for ln in lines:
        v = ln.variant_pk
        site = whole or next((s for s in ranked if _can(left, v, s.pk, ln.quantity)), None)
        if site is not None:
            takes[ln.pk] = [(site.pk, ln.quantity)]
            left[v][site.pk] -= ln.quantity
            continue
        got, want = [], ln.quantity
        for s in ranked:
            have = left.get(v, {}).get(s.pk, 0)
            if have > 0 and want > 0:
                q = min(have, want)
                got.append((s.pk, q))
                want -= q
        if want > 0:
            short.append(ln)
            continue
        for loc, q in got:
            left[v][loc] -= q
        takes[ln.pk] = got
    return takes, short, whole


def _default(lines: Sequence[Any], sites: Sequence[Site], left: Left, dest: Point | None) -> Assign:
    takes, short, _ = _consolidate(lines, sorted(sites, key=_by_priority), left)
    return (
        takes,
        short,
        lambda s: (
            f"DEFAULT: fulfilment priority {s.priority}, the first location holding the stock"
        ),
    )


def _nearest(lines: Sequence[Any], sites: Sequence[Site], left: Left, dest: Point | None) -> Assign:
    if dest is None:
        takes, short, _ = _consolidate(lines, sorted(sites, key=_by_priority), left)
        return (
            takes,
            short,
            lambda s: (
                "NEAREST: the destination could not be placed; fulfilment priority "
                f"{s.priority} decided"
            ),
        )

    def key(s: Site) -> tuple[float, int, int]:
        return (s.distance if s.distance is not None else float("inf"), s.priority, s.pk)

    takes, short, _ = _consolidate(lines, sorted(sites, key=key), left)
    return (
        takes,
        short,
        lambda s: (
            f"NEAREST: {s.distance:.0f} km from the destination"
            if s.distance is not None
            else "NEAREST: the nearer locations lacked the stock (this one has no coordinates)"
        ),
    )


def _cover(
    lines: Sequence[Any], sites: Sequence[Site], left: Left, key: Callable[[tuple[Site, ...]], Any]
) -> tuple[dict[int, list[tuple[int, int]]], list[Any], tuple[Site, ...]]:
    """The best (by ``key``) set of locations that together hold every line, then the
    allocation over it (priority order inside the set)."""
    need = _needs(lines)
    holding = [
        s
        for s in sorted(sites, key=_by_priority)
        if any(left.get(v, {}).get(s.pk, 0) > 0 for v in need)
    ]
    pool = holding[:MAX_SEARCH]
    best: tuple[Site, ...] | None = None
    for k in range(1, len(pool) + 1):
        for combo in combinations(pool, k):
            if all(sum(left.get(v, {}).get(s.pk, 0) for s in combo) >= q for v, q in need.items()):
                if best is None or key(combo) < key(best):
                    best = combo
    if best is None:
        takes, short, _ = _consolidate(lines, holding, left)
        return takes, short, tuple(holding)
    takes, short, _ = _consolidate(lines, sorted(best, key=_by_priority), left)
    return takes, short, best


def _lowest_cost(
    lines: Sequence[Any], sites: Sequence[Site], left: Left, dest: Point | None
) -> Assign:
    def key(c: tuple[Site, ...]) -> tuple[int, int, list[int]]:
        return (sum(s.cost for s in c), len(c), sorted(s.priority for s in c))

    takes, short, best = _cover(lines, sites, left, key)
    used = {loc for t in takes.values() for loc, _ in t}
    total = sum(s.cost for s in best if s.pk in used)
    return (
        takes,
        short,
        lambda s: (
            f"LOWEST_COST: {s.cost} per shipment; {total} for the order's {len(used)} "
            "shipment(s), the cheapest set of locations holding the stock"
        ),
    )


def _fewest(lines: Sequence[Any], sites: Sequence[Site], left: Left, dest: Point | None) -> Assign:
    def key(c: tuple[Site, ...]) -> tuple[int, int, list[int]]:
        return (len(c), sum(s.cost for s in c), sorted(s.priority for s in c))

    takes, short, _ = _cover(lines, sites, left, key)
    used = {loc for t in takes.values() for loc, _ in t}
    return (
        takes,
        short,
        lambda s: (
            f"FEWEST_SHIPMENTS: {len(used)} shipment(s), the fewest locations that hold every line"
        ),
    )


def _balance(lines: Sequence[Any], sites: Sequence[Site], left: Left, dest: Point | None) -> Assign:
    takes: dict[int, list[tuple[int, int]]] = {}
    short: list[Any] = []
    cover: dict[int, int] = {}
    for ln in lines:
        v = ln.variant_pk

        def key(s: Site, v: int = v) -> tuple[int, int, int]:
            return (-left.get(v, {}).get(s.pk, 0), s.priority, s.pk)

        ranked = sorted(sites, key=key)
        for s in ranked:
            cover.setdefault(s.pk, left.get(v, {}).get(s.pk, 0))
        got, short_ln, _ = _consolidate([ln], ranked, left)
        takes.update(got)
        short += short_ln
    return (
        takes,
        short,
        lambda s: (
            f"BALANCE_STOCK: the location with the most cover ({cover.get(s.pk, 0)} available "
            "before this order)"
        ),
    )


_STRATEGIES: dict[
    Strategy, Callable[[Sequence[Any], Sequence[Site], Left, Point | None], Assign]
] = {
    Strategy.DEFAULT: _default,
    Strategy.NEAREST: _nearest,
    Strategy.LOWEST_COST: _lowest_cost,
    Strategy.FEWEST_SHIPMENTS: _fewest,
    Strategy.BALANCE_STOCK: _balance,
}
