"""Tills (issue 14 item 5): a store's registers, staff at a till, till sessions and
their cash, receipts.

- ``codes``: ``TillCode``;
- ``cash``: ``record_cash`` (the one way cash enters a till's books, for checkout,
  refunds and the offline sync) and ``expected_cash``;
"""

from hub.domain.till.cash import CashMovement, expected_cash, open_session_pk, record_cash
from hub.domain.till.codes import TillCode

__all__ = ["CashMovement", "TillCode", "expected_cash", "open_session_pk", "record_cash"]
