"""Tills (issue 14 item 5): a store's registers, staff at a till, till sessions and
their cash, receipts.

- ``codes``: ``TillCode``;
- ``cash``: ``record_cash`` (the one way cash enters a till's books, for checkout,
  refunds and the offline sync), ``expected_cash``;
- ``tills``: tills and sessions (open with a float, cash in/out, close with the count);
- ``pins``: staff PINs (argon2id, 4-8 digits, bound to locations, lockout);
- ``sales``: the till a checkout or a refund happened at (its cash in the session);
- ``receipts``: the structured receipt of an order;
- ``records``: reads; ``service``: ``Tills``, the thin service.
"""

from hub.domain.till.cash import CashMovement, expected_cash, open_session_pk, record_cash
from hub.domain.till.codes import TillCode

__all__ = ["CashMovement", "TillCode", "expected_cash", "open_session_pk", "record_cash"]
