"""Demo orders in every state after checkout, so a newcomer can explore the order book
with ``hub serve --demo``: paid and shipped, split across two locations, ready for
pickup, picked up, partially returned (in a store, refunded), refunded, cancelled.

Built through the domain services a running hub uses (carts, checkout, the order
money service, fulfilment, returns), never with raw inserts, so every stock level
still adds up to its ledger (``hub inventory verify`` is clean) and every order has
its timeline, transactions and events. Paid with the ``test`` provider (Stripe's test
PaymentMethods, no money moves) outside production, else with ``cash`` at a till.
Their events are in the outbox (the event log) like any others.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, select

from hub.auth import Principal
from hub.composition import build_hub
from hub.container import Hub
from hub.db.database import Database
from hub.db.tables import (
    fulfillment_orders_t,
    levels_t,
    loc_channels_t,
    order_lines_t,
    orders_t,
    return_lines_t,
    serials_t,
    variants_t,
)
from hub.demo.data import WEB
from hub.demo.locations import BROOKLYN, CHICAGO, NEWARK, SOHO
from hub.domain import carts as cartsvc
from hub.domain.carts.lookups import channel_of
from hub.domain.checkout import PaymentRequest
from hub.domain.errors import DomainError
from hub.domain.inventory.records import available_sql
from hub.domain.orders.return_receive import ReceiveLineInput
from hub.domain.orders.return_records import Disposition, Resolution, ReturnReason
from hub.domain.orders.returns import NewReturn, ReturnLineInput
from hub.settings import Settings

log = logging.getLogger("hub.demo")
CLERK = Principal(frozenset({"admin"}), name="demo")
ACTOR = "demo"
STATES = (
    "paid_and_shipped",
    "split",
    "ready_for_pickup",
    "picked_up",
    "partially_returned",
    "refunded",
    "cancelled",
)


def _payment(settings: Settings) -> PaymentRequest:
    if settings.env == "production":
        return PaymentRequest("cash", None, "demo-till")
    return PaymentRequest("test", "pm_card_visa", "demo")


async def _stocked(db: Database, location: int, need: int, skip: set[int]) -> int:
    """A demo variant of the web channel with ``need`` units available at ``location``
    (the lowest id, not in ``skip``, not tracked by serial number: its fulfilment
    would have to name the serials)."""
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(levels_t.c.variant_id)
                .join(variants_t, variants_t.c.id == levels_t.c.variant_id)
                .where(
                    levels_t.c.location_id == location,
                    available_sql() >= need,
                    variants_t.c.id.not_in(skip or {0}),
                    variants_t.c.id.not_in(select(serials_t.c.variant_id)),
                )
                .order_by(levels_t.c.variant_id)
                .limit(1)
            )
        ).first()
    if row is None:
        raise LookupError(f"no demo variant with {need} units at location {location}")
    skip.add(int(row[0]))
    return int(row[0])


async def _split_variant(db: Database, skip: set[int]) -> tuple[int, int]:
    """A variant and a quantity no single web location holds, but two together do."""
    per_loc = (
        select(
            levels_t.c.variant_id,
            func.max(available_sql()).label("most"),
            func.sum(available_sql()).label("total"),
        )
        .join(loc_channels_t, loc_channels_t.c.location_id == levels_t.c.location_id)
        .where(loc_channels_t.c.channel_id == WEB, levels_t.c.location_id.in_([NEWARK, CHICAGO]))
        .group_by(levels_t.c.variant_id)
        .subquery()
    )
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(per_loc.c.variant_id, per_loc.c.most)
                .where(per_loc.c.total > per_loc.c.most, per_loc.c.most >= 1)
                .where(per_loc.c.variant_id.not_in(skip or {0}))
                .where(per_loc.c.variant_id.not_in(select(serials_t.c.variant_id)))
                .order_by(per_loc.c.variant_id)
                .limit(1)
            )
        ).first()
    if row is None:
        raise LookupError("no demo variant stocked at two warehouses")
    skip.add(int(row[0]))
    return int(row[0]), int(row[1]) + 1


class _Builder:
    def __init__(self, hub: Hub, settings: Settings) -> None:
        self.hub = hub
        self.pay = _payment(settings)
        self.n = 0

    async def place(
        self, items: list[tuple[int, int]], *, pickup: int | None = None, email: str
    ) -> int:
        async with self.hub.db.read() as conn:
            channel = await channel_of(conn, WEB, None)
        state, _ = await self.hub.carts.create_state(
            channel,
            CLERK,
            lines=[cartsvc.LineInput(v, q) for v, q in items],
            buyer=cartsvc.BuyerIdentity(email=email),
            note="demo order",
        )
        token = state.cart.token
        if pickup is not None:
            await self.hub.carts.set_delivery(
                token, CLERK, [cartsvc.DeliveryGroupInput(kind="PICKUP", location_pk=pickup)]
            )
        self.n += 1
        done = await self.hub.checkout.complete(token, f"demo-{self.n}", self.pay, CLERK)
        return done.order_pk

    async def fos(self, order_pk: int) -> list[Any]:
        async with self.hub.db.read() as conn:
            return list(
                (
                    await conn.execute(
                        select(fulfillment_orders_t)
                        .where(fulfillment_orders_t.c.order_id == order_pk)
                        .order_by(fulfillment_orders_t.c.id)
                    )
                ).all()
            )

    async def capture(self, order_pk: int) -> None:
        await self.hub.orders.capture(order_pk, None, idempotency_key="demo", actor=ACTOR)

    async def ship(self, order_pk: int) -> list[int]:
        """Every fulfillment order shipped; their locations."""
        out = []
        for fo in await self.fos(order_pk):
            await self.hub.fulfillments.create(fo.id, None, None, ACTOR)
            out.append(int(fo.location_id))
        return out


async def seed_demo_orders(db: Database, settings: Settings) -> dict[str, int]:
    """One demo order in each state (``STATES``): their ids by state."""
    if settings.env != "production" and not settings.test_payments:
        settings = settings.model_copy(update={"test_payments": True})
    # The hub's services, not started: events are published to the bus once (a
    # process not yet following it loses nothing: they stay in the outbox, the log).
    hub = build_hub(settings, db)
    try:
        return await _build(_Builder(hub, settings), db)
    finally:
        for provider in hub.payments.values():
            close = getattr(provider, "aclose", None)
            if close is not None:
                await close()
        await hub.bus.close()


async def _build(b: _Builder, db: Database) -> dict[str, int]:
    """Each state in turn; one a small catalog has no stock for is left out (logged)."""
    skip: set[int] = set()
    made: dict[str, int] = {}
    for state in STATES:
        try:
            await _STEPS[state](b, db, skip, made)
        except (LookupError, DomainError) as exc:
            log.warning("demo: no %s order: %s", state.replace("_", " "), exc)
    return made


async def _shipped(b: _Builder, db: Database, skip: set[int], made: dict[str, int]) -> None:
    a = await _stocked(db, NEWARK, 3, skip)
    made["paid_and_shipped"] = await b.place([(a, 1)], email="ava.chen@example.com")
    await b.capture(made["paid_and_shipped"])
    await b.ship(made["paid_and_shipped"])


async def _split(b: _Builder, db: Database, skip: set[int], made: dict[str, int]) -> None:
    variant, quantity = await _split_variant(db, skip)
    made["split"] = await b.place([(variant, quantity)], email="sam.ortiz@example.com")
    await b.capture(made["split"])
    await b.ship(made["split"])


async def _ready(b: _Builder, db: Database, skip: set[int], made: dict[str, int]) -> None:
    p = await _stocked(db, SOHO, 2, skip)
    made["ready_for_pickup"] = await b.place([(p, 1)], pickup=SOHO, email="ava.chen@example.com")
    for fo in await b.fos(made["ready_for_pickup"]):
        await b.hub.fulfillments.ready_for_pickup(fo.id, ACTOR)


async def _picked_up(b: _Builder, db: Database, skip: set[int], made: dict[str, int]) -> None:
    q = await _stocked(db, BROOKLYN, 2, skip)
    made["picked_up"] = await b.place([(q, 1)], pickup=BROOKLYN, email="first.timer@example.com")
    await b.capture(made["picked_up"])
    for fo in await b.fos(made["picked_up"]):
        await b.hub.fulfillments.ready_for_pickup(fo.id, ACTOR)
        await b.hub.fulfillments.picked_up(fo.id, ACTOR)


async def _returned(b: _Builder, db: Database, skip: set[int], made: dict[str, int]) -> None:
    r = await _stocked(db, NEWARK, 3, skip)
    order = made["partially_returned"] = await b.place([(r, 2)], email="sam.ortiz@example.com")
    await b.capture(order)
    await b.ship(order)
    await _return_one(b, order)


async def _refunded(b: _Builder, db: Database, skip: set[int], made: dict[str, int]) -> None:
    f = await _stocked(db, NEWARK, 3, skip)
    made["refunded"] = await b.place([(f, 1)], email="first.timer@example.com")
    await b.capture(made["refunded"])
    await b.ship(made["refunded"])
    async with db.read() as conn:
        lines = await _order_lines(conn, made["refunded"])
        shipping = (
            await conn.execute(
                select(orders_t.c.shipping_total).where(orders_t.c.id == made["refunded"])
            )
        ).scalar_one()
    await b.hub.orders.refund(
        made["refunded"],
        lines=lines,
        shipping=int(shipping),
        note="demo: refunded in full",
        idempotency_key="demo-refund",
        actor=ACTOR,
    )


async def _cancelled(b: _Builder, db: Database, skip: set[int], made: dict[str, int]) -> None:
    c = await _stocked(db, NEWARK, 3, skip)
    made["cancelled"] = await b.place([(c, 1)], email="ava.chen@example.com")
    await b.hub.orders.cancel(
        made["cancelled"], reason="customer changed their mind", restock=True, actor=ACTOR
    )


_STEPS = {
    "paid_and_shipped": _shipped,
    "split": _split,
    "ready_for_pickup": _ready,
    "picked_up": _picked_up,
    "partially_returned": _returned,
    "refunded": _refunded,
    "cancelled": _cancelled,
}


async def _order_lines(conn: Any, order_pk: int) -> list[tuple[int, int]]:
    rows = (
        await conn.execute(
            select(order_lines_t.c.id, order_lines_t.c.quantity).where(
                order_lines_t.c.order_id == order_pk
            )
        )
    ).all()
    return [(int(r.id), int(r.quantity)) for r in rows]


async def _return_one(b: _Builder, order_pk: int) -> None:
    """One of the order's units returned in the SoHo store, restocked, refunded."""
    async with b.hub.db.read() as conn:
        (line_pk, _), *_ = await _order_lines(conn, order_pk)
    ret = await b.hub.after_sale.open_return(
        NewReturn(
            order_pk=order_pk,
            lines=[ReturnLineInput(line_pk, 1, ReturnReason.SIZE_TOO_SMALL, "demo")],
            resolution=Resolution.REFUND,
            location_pk=SOHO,
            actor=ACTOR,
        )
    )
    async with b.hub.db.read() as conn:
        rl = (
            await conn.execute(select(return_lines_t.c.id).where(return_lines_t.c.return_id == ret))
        ).scalar_one()
    await b.hub.after_sale.receive(
        ret,
        SOHO,
        [ReceiveLineInput(int(rl), 1, Disposition.RESTOCK)],
        principal=CLERK,
        actor=ACTOR,
    )
