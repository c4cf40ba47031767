"""Orders on the API.

- :mod:`.types`: ``Order``, its line items, payments and statuses;
- :mod:`.loaders`: the per-request loaders of orders, lines and payments;
- :mod:`.queries`: ``OrderQuery`` (``order``, ``orders`` with filters and sort keys)
  and the Order node;
- :mod:`.mutations`: ``OrderMutation`` (capture, cancel, refund, import).
"""

from schema.orders.loaders import order_loaders
from schema.orders.mutations import OrderMutation
from schema.orders.queries import OrderQuery
from schema.orders.scope import may_see
from schema.orders.types import (
    OrderLineItemType,
    OrderPayment,
    OrderPaymentStatus,
    OrderStatus,
    OrderType,
    PaymentStatus,
)

__all__ = [
    "OrderLineItemType",
    "OrderMutation",
    "OrderPayment",
    "OrderPaymentStatus",
    "OrderQuery",
    "OrderStatus",
    "OrderType",
    "PaymentStatus",
    "may_see",
    "order_loaders",
]
