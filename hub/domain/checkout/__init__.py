"""Checkout: a cart becomes an order, all or nothing, whatever crashes.

What the package owns:

- :mod:`.service`: :class:`Checkout`, ``checkoutComplete`` step by step (its module
  docstring says what undoes each step); it opens the transactions, and composes
  inventory, payments and orders inside them;
- :mod:`.plan`: where each line's stock comes from, and reserving it;
- :mod:`.lease`: the attempt and its lease (the heartbeat that renews it);
- :mod:`.payments`: payments recorded before they are taken, used once, released when
  orphaned (:func:`reconcile`); its writes are operations on the caller's transaction
  (``settle``, ``claim``, ``unclaim``, ``release_failed``, ``mark_released``), and
  ``release`` is the service that runs each in a transaction of its own around the
  provider's calls (none stays open across one);
- :mod:`.order`: the order, written in the caller's transaction, fenced by the lease;
- :mod:`.codes`: :class:`CheckoutCode`, the request and the result.

Error fields are named in the domain's terms (``cart_id``, ``idempotency_key``);
``schema/`` maps them to GraphQL paths.
"""

from hub.domain.checkout.codes import (
    OFFLINE_PROVIDERS,
    TEST_PROVIDER,
    CheckoutCode,
    CheckoutResult,
    PaymentRequest,
    Tender,
)
from hub.domain.checkout.payments import reconcile
from hub.domain.checkout.service import Checkout

__all__ = [
    "OFFLINE_PROVIDERS",
    "TEST_PROVIDER",
    "Checkout",
    "CheckoutCode",
    "CheckoutResult",
    "PaymentRequest",
    "Tender",
    "reconcile",
]
