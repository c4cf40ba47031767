"""Gift cards: issue, check, debit and re-credit a stored balance.

A code is a secret: the hub keeps only the SHA-256 of its normalized form (upper case,
without spaces and dashes) and its last four characters, and shows a generated code
exactly once, when the card is issued. Codes the hub generates are 16 characters of
Crockford's base 32 (80 random bits), shown as ``XXXX-XXXX-XXXX-XXXX``. Money never
goes missing or negative, the way stock doesn't.

- ``records``: codes and their hash, the records, ``GiftCardCode`` (the codes a
  refused gift card payment answers) and ``GiftCardDeclined``;
- ``reads``: cards by id, their ledger, a code's balance, the ledger check;
- ``admin``: issuing and disabling cards (staff);
- ``ledger``: debits and re-credits, each in the caller's transaction
  (``debit_card``, ``recredit_debit``) or in one of its own (``debit``, ``recredit``);
- ``provider``: ``GiftCardProvider``, the gift card behind the payment provider
  protocol.
"""

from hub.db.tables import cards_t, txns_t
from hub.domain.giftcards.admin import NewCard, disable, disable_card, issue, issue_card, new_card
from hub.domain.giftcards.ledger import debit, debit_card, debit_state, recredit, recredit_debit
from hub.domain.giftcards.provider import GiftCardProvider, StoreCreditProvider
from hub.domain.giftcards.reads import (
    balance_for_code,
    get_gift_card,
    gift_cards_by_pks,
    ledger_drift,
    transactions,
    verify,
)
from hub.domain.giftcards.records import (
    DECLINE_CODES,
    MAX_AMOUNT,
    PROVIDER,
    DebitState,
    GiftCardBalance,
    GiftCardCode,
    GiftCardDeclined,
    GiftCardRecord,
    GiftCardTransactionRecord,
    code_hash,
    generate_code,
    normalize_code,
)

__all__ = [
    "DECLINE_CODES",
    "MAX_AMOUNT",
    "PROVIDER",
    "DebitState",
    "GiftCardBalance",
    "GiftCardCode",
    "GiftCardDeclined",
    "GiftCardProvider",
    "GiftCardRecord",
    "GiftCardTransactionRecord",
    "NewCard",
    "StoreCreditProvider",
    "balance_for_code",
    "cards_t",
    "code_hash",
    "debit",
    "debit_card",
    "debit_state",
    "disable",
    "disable_card",
    "generate_code",
    "get_gift_card",
    "gift_cards_by_pks",
    "issue",
    "issue_card",
    "ledger_drift",
    "new_card",
    "normalize_code",
    "recredit",
    "recredit_debit",
    "transactions",
    "txns_t",
    "verify",
]
