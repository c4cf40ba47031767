"""Customers: who a shopper is, which group prices them, and which API key acts for them.

The record is minimal on purpose: identity, a customer group handle (price lists
target groups), segments and a loyalty tier (promotions look at them), an order count
(the orders service keeps it) and a VAT id for tax-exempt business buyers.

- ``records``: ``CustomerRecord``, the reads, who may see a customer, and
  ``CustomerCode``;
- ``writes``: input checks and normalization (emails lowercased, so they are unique
  whatever their case), and create/update, each in the caller's transaction
  (``insert_customer``, ``change_customer``) or in one of its own
  (``create_customer``, ``update_customer``).
"""

from hub.domain.customers.records import (
    CustomerCode,
    CustomerRecord,
    can_see,
    customer_by_email,
    customer_for_principal,
    customers_by_pks,
    get_customer,
    may_look_up,
)
from hub.domain.customers.writes import (
    GROUP_RE,
    MAX_SEGMENTS,
    NULLABLE,
    PHONE_RE,
    VAT_ID_RE,
    CustomerInput,
    change_customer,
    clean_customer,
    create_customer,
    customer_changes,
    insert_customer,
    new_customer,
    update_customer,
)

__all__ = [
    "GROUP_RE",
    "MAX_SEGMENTS",
    "NULLABLE",
    "PHONE_RE",
    "VAT_ID_RE",
    "CustomerCode",
    "CustomerInput",
    "CustomerRecord",
    "can_see",
    "change_customer",
    "clean_customer",
    "create_customer",
    "customer_by_email",
    "customer_changes",
    "customer_for_principal",
    "customers_by_pks",
    "get_customer",
    "insert_customer",
    "may_look_up",
    "new_customer",
    "update_customer",
]
