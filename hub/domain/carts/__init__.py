"""Carts: server-side baskets, and the one function that prices them.

A cart lives in the database, found by an unguessable token (its public id is
``gid://hub/Cart/<token>``), and expires after ``HUB_CART_TTL_SECONDS`` without a
change. Every change bumps its ``version``, so a checkout can lock exactly the cart it
priced.

What this package owns, module by module:

- ``model``: ids, limits, ``CartCode`` (its userError codes) and ``WarningCode``, the
  inputs of its operations, ``CartState`` (a cart's rows as loaded);
- ``access``: who may touch a cart (a guest cart: anyone holding its id; a customer's:
  that customer's key and staff), loading it, and signing a buyer in with a customer
  token;
- ``validation``: inputs checked and normalized before anything is written;
- ``operations``, ``lines``, ``delivery``: the writes (create, lock-and-change, lines,
  delivery groups), each in the caller's open transaction;
- ``pricing`` (with ``priced``, its result): :func:`price_cart` as named stages,
  lines -> delivery -> promotions -> tax -> totals;
- ``lookups``: what carts read of the catalog, stock, prices and customers;
- ``service``: the ``Carts`` facade and the read helpers, which open and commit the
  transaction (or read connection) an operation runs in;
- ``expiry``: deleting abandoned carts.

Errors name input fields in the domain's terms (``buyer_identity``,
``discount_codes``, ``lines.0.merchandise_id``); the API maps them to its own paths.
"""

from hub.db.tables import carts_t, groups_t, lines_t
from hub.domain.carts.access import (
    check_binding,
    check_readable,
    load_cart,
    may_use,
    scan_loyalty_card,
    sign_in_buyer,
    usable_by,
)
from hub.domain.carts.delivery import delivery_kind
from hub.domain.carts.expiry import delete_expired, delete_expired_carts
from hub.domain.carts.model import (
    CART_GID,
    MAX_ATTRIBUTE_KEY,
    MAX_ATTRIBUTE_VALUE,
    MAX_ATTRIBUTES,
    MAX_CODES,
    MAX_LINES,
    MAX_NOTE,
    MAX_QUANTITY,
    PICKUP,
    SHIPPING,
    Attribute,
    BuyerIdentity,
    CartCode,
    CartState,
    CartWarning,
    DeliveryGroupInput,
    LineInput,
    LineUpdate,
    WarningCode,
    cart_gid,
    parse_cart_id,
    refuse,
)
from hub.domain.carts.priced import (
    AllocationInfo,
    CodeInfo,
    DeliveryOption,
    PricedCart,
    PricedGroup,
    PricedLine,
)
from hub.domain.carts.pricing import customer_key, price_cart
from hub.domain.carts.service import (
    Carts,
    change_warnings,
    price,
    read_cart,
    view_cart,
    view_carts,
    view_state,
)

# The name checkout imported before this package existed (kept until it moves).
_customer_key = customer_key

__all__ = [
    "CART_GID",
    "MAX_ATTRIBUTES",
    "MAX_ATTRIBUTE_KEY",
    "MAX_ATTRIBUTE_VALUE",
    "MAX_CODES",
    "MAX_LINES",
    "MAX_NOTE",
    "MAX_QUANTITY",
    "PICKUP",
    "SHIPPING",
    "AllocationInfo",
    "Attribute",
    "BuyerIdentity",
    "CartCode",
    "CartState",
    "CartWarning",
    "Carts",
    "CodeInfo",
    "DeliveryGroupInput",
    "DeliveryOption",
    "LineInput",
    "LineUpdate",
    "PricedCart",
    "PricedGroup",
    "PricedLine",
    "WarningCode",
    "cart_gid",
    "carts_t",
    "change_warnings",
    "check_binding",
    "check_readable",
    "customer_key",
    "delete_expired",
    "delete_expired_carts",
    "delivery_kind",
    "groups_t",
    "lines_t",
    "load_cart",
    "may_use",
    "parse_cart_id",
    "price",
    "price_cart",
    "read_cart",
    "refuse",
    "scan_loyalty_card",
    "sign_in_buyer",
    "usable_by",
    "view_cart",
    "view_carts",
    "view_state",
]
