"""Orders: what checkout creates, how they read, and how payment events move them.

- ``records``: ``OrderRecord``, ``OrderLineRecord``, ``PaymentRecord``, order names
  (``#`` + (1000 + id)) and ``OrderCode``;
- ``writes``: the order row and lines of a priced cart, and writing them with the
  payment and the ``order.created`` event, in checkout's transaction;
- ``payments``: payment status that only moves forward, and provider webhooks applied
  once (``record_payment_event`` in the caller's transaction, ``apply_payment_event``
  in one of its own);
- ``reads``: orders by id, a customer's orders, lines and payments of several orders.
"""

from hub.domain.orders.payments import PAYMENT_STATUS, apply_payment_event, record_payment_event
from hub.domain.orders.reads import (
    lines_by_orders,
    order_by_status_token,
    orders_by_pks,
    orders_for_customer,
    orders_of_customers,
    payments_by_orders,
)
from hub.domain.orders.records import (
    NAME_OFFSET,
    OrderCode,
    OrderLineRecord,
    OrderRecord,
    PaymentRecord,
    order_name,
    status_token,
)
from hub.domain.orders.writes import insert_order, order_line_values, order_values

__all__ = [
    "NAME_OFFSET",
    "PAYMENT_STATUS",
    "OrderCode",
    "OrderLineRecord",
    "OrderRecord",
    "PaymentRecord",
    "apply_payment_event",
    "insert_order",
    "lines_by_orders",
    "order_by_status_token",
    "order_line_values",
    "order_name",
    "order_values",
    "orders_by_pks",
    "orders_for_customer",
    "orders_of_customers",
    "payments_by_orders",
    "record_payment_event",
    "status_token",
]
