"""Orders: what checkout creates, how they read, and how payment events move them.

- ``records``: ``OrderRecord``, ``OrderLineRecord``, ``PaymentRecord``, order names
  (``#`` + (1000 + id)) and ``OrderCode``;
- ``writes``: the order row and lines of a priced cart, and writing them with the
  payment and the ``order.created`` event, in checkout's transaction;
- ``payments``: payment status that only moves forward, and provider webhooks applied
  once (``record_payment_event`` in the caller's transaction, ``apply_payment_event``
  in one of its own);
- ``reads``: orders by id, a customer's orders, staff search (filters, sort keys,
  keyset pages), lines, payments, timelines, transactions and refunds of several
  orders (one statement each);
- ``state`` / ``transitions``: the statuses, their derivations, the order's lock and
  the preconditions every transition checks;
- ``money`` / ``refunds``: captures, voids and refunds recorded PENDING before the
  provider is called, settled after; ``importer``: orders placed elsewhere;
- ``service``: :class:`Orders` (the container's ``hub.orders``): capture, cancel,
  refund, capture on fulfillment, import, reconciliation;
- ``returns`` / ``return_receive`` / ``fraud`` / ``return_records``: returns opened
  anywhere or requested by the customer, their item checks, receipts (restock,
  quarantine, dispose through the ledger) and fraud flags; ``substitutions``: a
  substitute proposed for units that can't be picked, approved or declined;
  ``after_sale``: :class:`~hub.domain.orders.after_sale.AfterSale` (the container's
  ``hub.after_sale``), which resolves a return's money (refund, store credit,
  exchange through carts and checkout) and a substitution's difference.
"""

from hub.domain.orders.importer import ImportLine, ImportRequest
from hub.domain.orders.payments import PAYMENT_STATUS, apply_payment_event, record_payment_event
from hub.domain.orders.reads import (
    SORT_KEYS,
    OrderFilter,
    events_by_orders,
    lines_by_orders,
    order_by_status_token,
    orders_by_pks,
    orders_for_customer,
    orders_of_customers,
    payments_by_orders,
    refunds_by_orders,
    search_orders,
    transactions_by_orders,
)
from hub.domain.orders.records import (
    NAME_OFFSET,
    EventRecord,
    OrderCode,
    OrderLineRecord,
    OrderRecord,
    PaymentRecord,
    RefundLineRecord,
    RefundRecord,
    TransactionRecord,
    order_name,
    status_token,
)
from hub.domain.orders.service import CancelResult, CaptureResult, Orders
from hub.domain.orders.writes import (
    PaidWith,
    insert_order,
    order_line_values,
    order_values,
)

__all__ = [
    "NAME_OFFSET",
    "PAYMENT_STATUS",
    "SORT_KEYS",
    "CancelResult",
    "CaptureResult",
    "EventRecord",
    "ImportLine",
    "ImportRequest",
    "OrderCode",
    "OrderFilter",
    "OrderLineRecord",
    "OrderRecord",
    "Orders",
    "PaidWith",
    "PaymentRecord",
    "RefundLineRecord",
    "RefundRecord",
    "TransactionRecord",
    "apply_payment_event",
    "events_by_orders",
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
    "refunds_by_orders",
    "search_orders",
    "status_token",
    "transactions_by_orders",
]
