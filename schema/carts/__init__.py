"""Carts on the API: the cart query and the cart mutations.

- ``types``: the Cart type and its parts, read from the cart as
  :func:`hub.domain.carts.price_cart` priced it;
- ``inputs``: the mutations' inputs and their conversion to the domain's;
- ``mutations``: the cart mutations and their payloads;
- ``queries``: ``cart(id:)`` and carts through ``node``/``nodes``.
"""

from schema.carts.mutations import CartMutation, commerce
from schema.carts.queries import CartQuery
from schema.carts.types import CartType

__all__ = ["CartMutation", "CartQuery", "CartType", "commerce"]
