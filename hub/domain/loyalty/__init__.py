"""Loyalty: a points account per customer (balance, tier, card number), its ledger
(every earn, redeem, expire, adjust and reversal, each with the balance after it),
the tiers, and each channel's earning rule.

- ``records``: ``LoyaltyCode``, the records, :func:`points_for` (a channel's rate and
  rounding), the batched reads (accounts of many customers, a page of history of
  many accounts: one statement each);
- ``accounts``: opening an account, and :func:`move`, the one way a balance moves
  (a debit is one conditional UPDATE: never below zero under concurrent redemptions);
- ``ledger``: :func:`earn_for_payment` and :func:`reverse_for_refund` (what checkout,
  captures and refunds call, in their transaction), :func:`redeem_for_order`
  (checkout), :func:`adjust`, :func:`expire_inactive`;
- ``tiers``: the tier from the rules (points or spend over a window), a tier set by
  hand, and the mirror in ``customers.loyalty_tier`` that promotions read;
- ``admin``: the staff operations, each in its own transaction.
"""

from hub.domain.loyalty.accounts import Moved, account_of, ensure_account, move
from hub.domain.loyalty.ledger import (
    adjust,
    earn_for_payment,
    expire_inactive,
    merge_accounts,
    redeem_for_order,
    reverse_for_refund,
)
from hub.domain.loyalty.records import (
    KINDS,
    ROUNDINGS,
    AccountRecord,
    LoyaltyCode,
    TierRecord,
    TransactionRecord,
    accounts_by_customers,
    history_pages,
    list_tiers,
    points_for,
)
from hub.domain.loyalty.tiers import recompute_tier, set_tier_override

__all__ = [
    "KINDS",
    "ROUNDINGS",
    "AccountRecord",
    "LoyaltyCode",
    "Moved",
    "TierRecord",
    "TransactionRecord",
    "account_of",
    "accounts_by_customers",
    "adjust",
    "earn_for_payment",
    "ensure_account",
    "expire_inactive",
    "history_pages",
    "list_tiers",
    "merge_accounts",
    "move",
    "points_for",
    "recompute_tier",
    "redeem_for_order",
    "reverse_for_refund",
    "set_tier_override",
]
