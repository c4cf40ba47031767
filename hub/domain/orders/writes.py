"""Writing an order: what checkout creates, in checkout's transaction.

An order is written in one transaction with its lines, its payment, the promotion
redemptions, the stock commitments and an ``order.created`` event in the outbox (the
last three are checkout's); these functions write the order's own rows and event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    bindparam,
    insert,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import PaymentIntentResult
from hub import ids
from hub.db.tables import order_events_t, order_lines_t, order_txns_t, orders_t, payments_t
from hub.domain.carts.priced import PricedCart
from hub.domain.orders.fulfillment_orders import (
    insert_fulfillment_orders,
    plan_fulfillment_orders,
    routed_event,
    routing_entries,
)
from hub.domain.orders.payments import PAYMENT_STATUS
from hub.domain.orders.records import order_name, status_token, status_token_hash
from hub.domain.orders.routing import Routed
from hub.events.outbox import Outbox


def _now() -> datetime:
    return datetime.now(UTC)


def order_values(priced: PricedCart) -> dict[str, Any]:
    """The order row of a priced cart."""
    cart = priced.cart
    order = {
        "cart_id": cart.id,
        "channel_id": cart.channel_id,
        "customer_id": cart.customer_id,
        "email": cart.email,
        "phone": cart.phone,
        "status": "OPEN",
        "fulfillment_status": "UNFULFILLED",
        "currency": priced.currency,
        "taxes_included": priced.taxes_included,
        "subtotal": priced.subtotal,
        "discount_total": priced.discount_total,
        "shipping_total": priced.shipping,
        "tax_total": priced.tax,
        "total": priced.total,
        "discount_codes": [c.code for c in priced.codes if c.applicable],
        "fees": [f.to_json() for f in priced.fees],
        "discounts": [
            {
                "promotionId": a.promotion_id,
                "title": a.title,
                "code": a.code,
                "amount": a.amount,
                "shipping": a.shipping_amount,
            }
            for a in priced.allocations
        ],
        "delivery": [
            {
                "kind": g.kind,
                "address": g.address,
                "locationId": g.location_pk,
                "option": g.selected.handle if g.selected else None,
                "shipping": g.shipping,
                "shippingDiscount": g.shipping_discount,
                "tax": g.tax,
                "lineIds": [ln.pk for ln in g.lines],
            }
            for g in priced.groups
        ],
        "attributes": list(cart.attributes or ()),
        "note": cart.note,
    }
    return order


def order_line_values(
    priced: PricedCart,
    takes: Mapping[int, list[tuple[int, int]]],
    tokens: Mapping[int, list[tuple[int, int, str]]],
) -> list[dict[str, Any]]:
    """The order lines: what was sold, at what price, from where."""
    sellable = [ln for ln in priced.lines if ln.sellable]
    group_kind = {ln.pk: g.kind for g in priced.groups for ln in g.lines}
    lines: list[dict[str, Any]] = [
        {
            "variant_id": ln.variant_pk,
            "sku": ln.sku,
            "title": ln.title[:512],
            "quantity": ln.quantity,
            "unit_price": ln.unit_price,
            "compare_at": ln.compare_at,
            "price_source": ln.price_source[:64],
            "subtotal": ln.subtotal,
            "discount": ln.discount,
            "tax": ln.tax,
            "total": ln.total,
            "discount_allocations": [
                {"promotionId": p, "title": t, "code": c, "amount": a}
                for p, t, c, a in ln.allocations
            ],
            "allocations": [
                {"locationId": loc, "quantity": q, "reservation": tok}
                for loc, q, tok in tokens.get(ln.pk, [])
            ]
            or [{"locationId": loc, "quantity": q} for loc, q in takes.get(ln.pk, [])],
            "delivery_kind": group_kind.get(ln.pk, "SHIPPING"),
        }
        for ln in sellable
    ]
    return lines


_INSERT_ORDER = insert(orders_t).returning(orders_t.c.id)
_NAME_ORDER = (
    update(orders_t)
    .where(orders_t.c.id == bindparam("pk"))
    .values(
        name=bindparam("name"),
        routing=bindparam("routing", type_=orders_t.c.routing.type),
        status_token_hash=bindparam("status_hash_"),
    )
)
# One multi-row INSERT (insertmanyvalues) on both databases: ids are handed out in the
# VALUES order, so the sorted ids are the lines' ids in the order given. (Asking
# SQLAlchemy to sort by parameter order makes SQLite insert row by row.)
_INSERT_LINES = insert(order_lines_t).returning(order_lines_t.c.id)
_INSERT_PAYMENT = insert(payments_t)
_INSERT_TXN = insert(order_txns_t)
_INSERT_EVENT = insert(order_events_t)


async def insert_order(
    conn: AsyncConnection,
    outbox: Outbox,
    *,
    order: dict[str, Any],
    lines: Sequence[dict[str, Any]],
    payment: PaymentIntentResult | None,
    payment_reference: str | None,
    routing: Routed | None = None,
    status_secret: str | None = None,
    split: Sequence[PaidWith] = (),
) -> int:
    """Write an order, its lines and its payment, and queue ``order.created``. An order
    paid with a test payment is a test order (``test``, also in its event). With
    ``status_secret`` (a guest's cart token) the order keeps the hash of its status
    token (:func:`hub.domain.orders.records.status_token`)."""
    now = _now()
    status = PAYMENT_STATUS.get(payment.status, "PENDING") if payment is not None else "PAID"
    test = payment is not None and payment.test
    if split:
        status = split_status([p.result for p in split])
        test = any(p.result.test for p in split)
    # Statements built once, the values passed as parameters: no construction or
    # cache key per call (the compiled form is cached per set of columns given).
    pk = (
        await conn.execute(
            _INSERT_ORDER,
            {
                **order,
                "payment_status": status,
                "test": test,
                "created_at": now,
                "updated_at": now,
            },
        )
    ).scalar_one()
    name = order_name(pk)
    status_hash = (
        status_token_hash(status_token(status_secret, pk)) if status_secret is not None else None
    )
    line_pks = sorted(
        r[0] for r in (await conn.execute(_INSERT_LINES, [{**ln, "order_id": pk} for ln in lines]))
    )
    groups = plan_fulfillment_orders(lines, line_pks)
    reasons = routing.reasons if routing is not None else None
    fo_pks = await insert_fulfillment_orders(
        conn,
        pk,
        groups,
        reasons=reasons,
        now=now,
        transfers=routing.transfers if routing is not None else None,
    )
    decision = routing_entries(routing, groups, fo_pks)
    await conn.execute(
        _NAME_ORDER, {"pk": pk, "name": name, "routing": decision, "status_hash_": status_hash}
    )
    if payment is not None:
        await conn.execute(
            _INSERT_PAYMENT,
            {
                "order_id": pk,
                "provider": payment.provider,
                "intent_id": payment.id,
                "status": payment.status,
                "amount": payment.amount,
                "currency": payment.currency,
                "amount_captured": payment.amount_captured,
                "amount_refunded": payment.amount_refunded,
                "reference": payment_reference,
                "test": payment.test,
                "created_at": now,
                "updated_at": now,
            },
        )
    if split:
        await _insert_split(conn, pk, split, now)
    await _first_entries(conn, pk, name, order, payment, status, now, decision)
    outbox.add(
        "order.created",
        {
            "orderId": pk,
            "id": ids.encode("Order", pk),
            "name": name,
            "channelId": order["channel_id"],
            "customerId": order.get("customer_id"),
            "currency": order["currency"],
            "total": order["total"],
            "fees": order.get("fees") or [],
            "paymentStatus": status,
            "test": test,
            "lines": [
                {"variantId": ln["variant_id"], "sku": ln["sku"], "quantity": ln["quantity"]}
                for ln in lines
            ],
            "occurredAt": now.isoformat(),
        },
    )
    if decision:
        outbox.add(
            "fulfillment_order.routed",
            {"orderId": ids.encode("Order", pk), **routed_event(decision)[1]},
        )
    return pk


@dataclass(frozen=True, slots=True)
class PaidWith:
    """One payment of a split-tender order: the provider's result, the till's (or
    cart's) reference and, for cash, what was handed over."""

    result: PaymentIntentResult
    reference: str | None
    tendered: int | None = None


def split_status(results: Sequence[PaymentIntentResult]) -> str:
    """The order's payment status from several payments: PAID when all took the money,
    AUTHORIZED when some still only hold it, PENDING while any is unconfirmed."""
    each = [PAYMENT_STATUS.get(r.status, "PENDING") for r in results]
    if "PENDING" in each:
        return "PENDING"
    return "AUTHORIZED" if "AUTHORIZED" in each else "PAID"


async def _insert_split(
    conn: AsyncConnection, pk: int, split: Sequence[PaidWith], now: datetime
) -> None:
    """A split-tender order's payments, in the order they were taken (refunds go back
    in that order), and each one's first money movement; two INSERTs."""
    await conn.execute(
        _INSERT_PAYMENT,
        [
            {
                "order_id": pk,
                "provider": p.result.provider,
                "intent_id": p.result.id,
                "status": p.result.status,
                "amount": p.result.amount,
                "currency": p.result.currency,
                "amount_captured": p.result.amount_captured,
                "amount_refunded": p.result.amount_refunded,
                "reference": p.reference,
                "test": p.result.test,
                "tendered": p.tendered,
                "created_at": now,
                "updated_at": now,
            }
            for p in split
        ],
    )
    await conn.execute(
        _INSERT_TXN,
        [
            {
                "order_id": pk,
                "kind": "AUTHORIZATION" if p.result.status == "authorized" else "SALE",
                "provider": p.result.provider,
                "status": "SUCCESS",
                "amount": p.result.amount,
                "currency": p.result.currency,
                "reference": p.result.id or None,
                "actor": "checkout",
                "idempotency_key": f"checkout:{pk}:{i}",
                "created_at": now,
                "updated_at": now,
            }
            for i, p in enumerate(split)
        ],
    )


async def _first_entries(
    conn: AsyncConnection,
    pk: int,
    name: str,
    order: dict[str, Any],
    payment: PaymentIntentResult | None,
    status: str,
    now: datetime,
    decision: list[dict[str, Any]] | None = None,
) -> None:
    """The order's first money movement (the authorization; a SALE when the provider
    took the money at once: cash, terminal, gift card) and ``order.created`` on its
    timeline, with the routing ``decision`` beside it (one INSERT)."""
    if payment is not None:
        await conn.execute(
            _INSERT_TXN,
            {
                "order_id": pk,
                "kind": "AUTHORIZATION" if payment.status == "authorized" else "SALE",
                "provider": payment.provider,
                "status": "SUCCESS",
                "amount": payment.amount,
                "currency": payment.currency,
                "reference": payment.id or None,
                "actor": "checkout",
                "idempotency_key": f"checkout:{pk}",
                "created_at": now,
                "updated_at": now,
            },
        )
    events = [
        {
            "order_id": pk,
            "kind": "order.created",
            "actor": "checkout" if order.get("cart_id") else "import",
            "message": f"order {name} placed",
            "data": {"total": order["total"], "paymentStatus": status},
            "created_at": now,
        }
    ]
    if decision:
        # The routing decision joins the timeline in the same INSERT.
        message, data = routed_event(decision)
        events.append(
            {
                "order_id": pk,
                "kind": "fulfillment_order.routed",
                "actor": "checkout" if order.get("cart_id") else "import",
                "message": message,
                "data": data,
                "created_at": now,
            }
        )
    await conn.execute(_INSERT_EVENT, events)
