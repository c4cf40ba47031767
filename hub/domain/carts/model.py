"""What a cart is made of: its ids, limits, error and warning codes, the inputs its
operations take, and its rows as loaded (:class:`CartState`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hub.domain.errors import fail

CART_GID = "gid://hub/Cart/"
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
MAX_LINES = 250
MAX_QUANTITY = 10_000
MAX_CODES = 10
MAX_CODE_LENGTH = 64
MAX_ATTRIBUTES = 50
MAX_NOTE = 5000
MAX_ATTRIBUTE_KEY = 255
MAX_ATTRIBUTE_VALUE = 2000
MAX_ADDRESS_FIELD = 255
SHIPPING = "SHIPPING"
PICKUP = "PICKUP"


class CartCode(StrEnum):
    """userErrors codes of carts beyond the common ones (``hub.domain.errors.Code``)."""

    INSUFFICIENT_STOCK = "INSUFFICIENT_STOCK"
    CART_EXPIRED = "CART_EXPIRED"
    ALREADY_COMPLETED = "ALREADY_COMPLETED"
    CHECKOUT_IN_PROGRESS = "CHECKOUT_IN_PROGRESS"


refuse = fail
"""The DomainError of a refusal with a cart code: ``hub.domain.errors.fail``, which
takes any domain's code."""


class WarningCode(StrEnum):
    """Cart warnings: what a write changed, or what the cart can't honour as it is."""

    QUANTITY_REDUCED = "MERCHANDISE_NOT_ENOUGH_STOCK"
    OUT_OF_STOCK = "MERCHANDISE_OUT_OF_STOCK"
    NOT_AVAILABLE = "MERCHANDISE_NOT_AVAILABLE"
    NOT_AT_PICKUP_LOCATION = "MERCHANDISE_NOT_AVAILABLE_AT_PICKUP_LOCATION"
    DELIVERY_OPTION_UNAVAILABLE = "DELIVERY_OPTION_UNAVAILABLE"
    LOYALTY_POINTS_REDUCED = "LOYALTY_POINTS_REDUCED"


def cart_gid(token: str) -> str:
    return CART_GID + token


def parse_cart_id(gid: str) -> str | None:
    """The token of a cart id, or None when it is not one."""
    if not isinstance(gid, str) or not gid.startswith(CART_GID):
        return None
    token = gid[len(CART_GID) :]
    return token if TOKEN_RE.match(token) else None


@dataclass(frozen=True, slots=True)
class Attribute:
    key: str
    value: str


@dataclass(slots=True)
class CartWarning:
    code: str
    message: str
    target: str | None = None  # the line's global id
    # Locations that could serve the line instead (pks, nearest first): for
    # MERCHANDISE_NOT_AVAILABLE_AT_PICKUP_LOCATION, pickup locations that have it.
    locations: list[int] = field(default_factory=list)


@dataclass(slots=True)
class LineInput:
    variant_pk: int
    quantity: int = 1
    attributes: list[Attribute] | None = None


@dataclass(slots=True)
class LineUpdate:
    line_pk: int
    quantity: int | None = None
    attributes: list[Attribute] | None = None


@dataclass(slots=True)
class BuyerIdentity:
    email: str | None = None
    phone: str | None = None
    country_code: str | None = None
    customer_pk: int | None = None  # resolved from the customer token (access.py)
    set_customer: bool = False


@dataclass(slots=True)
class DeliveryGroupInput:
    kind: str  # SHIPPING | PICKUP
    line_pks: list[int] | None = None  # None: every line not named by another group
    address: dict[str, Any] | None = None
    location_pk: int | None = None
    option_handle: str | None = None
    # Endless aisle: lines the pickup store lacks come from another location.
    transfer_in: bool = False


@dataclass(slots=True)
class Known:
    """What a write read about the variants of the lines it wrote, so that pricing the
    cart it answers with does not read them again: the variants, their quotes for
    ``quantities`` (without a customer group) and, once read, the sellable stock of the
    tracked ones. Pricing uses them only when it would ask the same questions."""

    info: dict[int, Any] = field(default_factory=dict)
    quantities: dict[int, int] = field(default_factory=dict)
    quotes: dict[int, Any] = field(default_factory=dict)
    stock: dict[int, dict[int, int]] | None = None


@dataclass(slots=True)
class CartState:
    """A cart's rows as loaded: the cart, its lines (in order) and delivery groups
    (``known``: what the write that made it read, see :class:`Known`)."""

    cart: Any
    lines: list[Any]
    groups: list[Any]
    known: Known | None = field(default=None, compare=False, repr=False)

    @property
    def token(self) -> str:
        return str(self.cart.token)
