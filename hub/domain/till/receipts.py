"""Receipts: the structured payload a till prints for an order (and the e-mailed
receipt carries), built for several orders at once in a fixed number of queries.

The payload (JSON-ready, amounts in minor units with the order's currency)::

    {"orderNumber", "orderId", "createdAt", "printedAt", "currency", "taxesIncluded",
     "store": {"channel", "location": {"id", "name"} | None},
     "till": {"id", "code", "name"} | None, "staff": {"id", "name"} | None,
     "lines": [{"sku", "title", "quantity", "unitPrice", "subtotal", "discount", "tax",
                "total"}],
     "discounts": [...the order's discount applications...],
     "totals": {"subtotal", "discount", "shipping", "tax", "total"},
     "payments": [{"provider", "amount", "reference"}],
     "cash": {"tendered", "changeDue"},
     "barcode": {"format": "CODE128", "content"}, "qr": {"content"}}

``cash`` sums the till's cash movements of the order (SALE_CASH tendered, CHANGE
given); the barcode and QR content is the order number, which a till scans back to
find the order for a return.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import ids
from hub.db.database import Reader, fetch_all
from hub.db.tables import (
    channels_t,
    locations_t,
    order_lines_t,
    orders_t,
    payments_t,
    staff_users_t,
    till_cash_t,
    till_orders_t,
    tills_t,
)


async def receipts_of(
    conn: Reader | AsyncConnection, order_pks: Sequence[int]
) -> dict[int, dict[str, Any]]:
    """The receipt of each of ``order_pks`` that exists (five queries in all)."""
    pks = sorted(set(order_pks))
    if not pks:
        return {}
    o = orders_t
    orders = await fetch_all(
        conn,
        select(
            o,
            channels_t.c.name.label("channel_name"),
            locations_t.c.name.label("location_name"),
            locations_t.c.id.label("loc_pk"),
            tills_t.c.id.label("till_pk"),
            tills_t.c.code.label("till_code"),
            tills_t.c.name.label("till_name"),
            staff_users_t.c.id.label("staff_pk"),
            staff_users_t.c.name.label("staff_name"),
        )
        .select_from(
            o.join(channels_t, channels_t.c.id == o.c.channel_id)
            .outerjoin(till_orders_t, till_orders_t.c.order_id == o.c.id)
            .outerjoin(tills_t, tills_t.c.id == till_orders_t.c.till_id)
            .outerjoin(staff_users_t, staff_users_t.c.id == till_orders_t.c.staff_user_id)
            .outerjoin(
                locations_t,
                locations_t.c.id == func.coalesce(tills_t.c.location_id, o.c.location_id),
            )
        )
        .where(o.c.id.in_(pks)),
    )
    lines: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for ln in await fetch_all(
        conn,
        select(order_lines_t)
        .where(order_lines_t.c.order_id.in_(pks))
        .order_by(order_lines_t.c.order_id, order_lines_t.c.id),
    ):
        lines[ln.order_id].append(
            {
                "sku": ln.sku,
                "title": ln.title,
                "quantity": ln.quantity,
                "unitPrice": ln.unit_price,
                "subtotal": ln.subtotal,
                "discount": ln.discount,
                "tax": ln.tax,
                "total": ln.total,
            }
        )
    pays: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for p in await fetch_all(
        conn,
        select(payments_t)
        .where(payments_t.c.order_id.in_(pks))
        .order_by(payments_t.c.order_id, payments_t.c.id),
    ):
        pays[p.order_id].append(
            {
                "provider": p.provider,
                "amount": p.amount_captured or p.amount,
                "reference": p.reference,
            }
        )
    cash: dict[int, dict[str, int]] = defaultdict(lambda: {"tendered": 0, "changeDue": 0})
    for c in await fetch_all(
        conn,
        select(
            till_cash_t.c.order_id,
            till_cash_t.c.kind,
            func.sum(till_cash_t.c.amount).label("total"),
        )
        .where(till_cash_t.c.order_id.in_(pks), till_cash_t.c.kind.in_(("SALE_CASH", "CHANGE")))
        .group_by(till_cash_t.c.order_id, till_cash_t.c.kind),
    ):
        cash[c.order_id]["tendered" if c.kind == "SALE_CASH" else "changeDue"] = int(c.total)
    printed = datetime.now(UTC).isoformat()
    out: dict[int, dict[str, Any]] = {}
    for r in orders:
        number = r.name or ids.encode("Order", r.id)
        out[r.id] = {
            "orderNumber": number,
            "orderId": ids.encode("Order", r.id),
            "createdAt": r.created_at.isoformat(),
            "printedAt": printed,
            "currency": r.currency,
            "taxesIncluded": bool(r.taxes_included),
            "store": {
                "channel": r.channel_name,
                "location": None
                if r.loc_pk is None
                else {"id": ids.encode("Location", r.loc_pk), "name": r.location_name},
            },
            "till": None
            if r.till_pk is None
            else {"id": ids.encode("Till", r.till_pk), "code": r.till_code, "name": r.till_name},
            "staff": None
            if r.staff_pk is None
            else {"id": ids.encode("StaffUser", r.staff_pk), "name": r.staff_name},
            "lines": lines[r.id],
            "discounts": list(r.discounts or []),
            "totals": {
                "subtotal": r.subtotal,
                "discount": r.discount_total,
                "shipping": r.shipping_total,
                "tax": r.tax_total,
                "total": r.total,
            },
            "payments": pays[r.id],
            "cash": dict(cash[r.id]),
            "barcode": {"format": "CODE128", "content": number},
            "qr": {"content": number},
        }
    return out
