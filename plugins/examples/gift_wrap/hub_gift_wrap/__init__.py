"""Gift wrapping, a plugin for the commerce hub (the README's "Write a plugin").

- A cart line is wrapped when it carries the attribute ``giftWrap: "true"`` (set with
  the hub's own ``cartLinesAdd`` / ``cartLinesUpdate``); ``CartLine.giftWrapped`` says so.
- Each wrapped line costs a fee (``HUB_PLUGIN_GIFT_WRAP__FEE`` minor units, 300 by
  default): a fee hook adds it to the line, so it is in the cart's total, taxed with the
  line and charged at checkout; ``Cart.giftWrapTotal`` shows it.
- ``Order.giftWrapped`` / ``Order.giftWrapTotal`` read the fees the order kept.
- An ``order.created`` handler counts the wrapped orders this process saw, shown to
  staff by ``giftWrapStats`` (needs ``giftwrap:read``, the permission it declares).
- A partner key made for it (``hub apikey create --scope partner --plugin gift_wrap``)
  holds ``giftwrap:read`` and the hub's ``orders`` (its ``partner_permissions``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import strawberry
from pydantic import BaseModel, Field

from plugins import Event, Fee, Plugin, PricedCart
from plugins.graphql import Money, money, needs

ATTRIBUTE = "giftWrap"
FEE_CODE = "gift_wrap"


class Settings(BaseModel):
    """``HUB_PLUGIN_GIFT_WRAP__FEE`` and ``HUB_PLUGIN_GIFT_WRAP__LABEL``."""

    fee: int = Field(300, ge=0, le=1_000_000, description="Per wrapped line, in minor units.")
    label: str = Field("Gift wrapping", min_length=1, max_length=64)


def is_wrapped(attributes: Sequence[dict[str, str]]) -> bool:
    return any(
        a.get("key") == ATTRIBUTE and a.get("value", "").strip().lower() in ("true", "1", "yes")
        for a in attributes
    )


def wrap_fees(priced: PricedCart) -> list[Fee]:
    """The fee hook: one fee per wrapped line that can be sold."""
    cfg: Settings = plugin.config()
    return [
        Fee(FEE_CODE, cfg.label, cfg.fee, line_pk=ln.pk)
        for ln in priced.lines
        if ln.sellable and is_wrapped(ln.attributes)
    ]


def _fee_total(fees: Sequence[Fee] | Sequence[dict[str, Any]]) -> int:
    """The gift-wrap fees among ``fees`` (a priced cart's, or an order's as stored)."""
    total = 0
    for f in fees:
        fee = f if isinstance(f, Fee) else Fee(f["code"], f["label"], int(f["amount"]))
        total += fee.amount if fee.code == FEE_CODE else 0
    return total


# ---------------------------------------------------------------- the schema


@strawberry.type
class CartLineGiftWrap:
    @strawberry.field(description="Gift wrapped (the line's giftWrap attribute is true).")
    def gift_wrapped(self, root: strawberry.Parent[Any]) -> bool:
        return is_wrapped(root.attributes)


@strawberry.type
class CartGiftWrap:
    @strawberry.field(description="What gift wrapping adds to this cart (in its total).")
    def gift_wrap_total(self, root: strawberry.Parent[Any]) -> Money:
        return money(_fee_total(root.fees), root.currency)


@strawberry.type
class OrderGiftWrap:
    @strawberry.field(description="At least one line of the order was gift wrapped.")
    def gift_wrapped(self, root: strawberry.Parent[Any]) -> bool:
        return any(f.get("code") == FEE_CODE for f in root.fees)

    @strawberry.field(description="What gift wrapping cost on this order (in its total).")
    def gift_wrap_total(self, root: strawberry.Parent[Any]) -> Money:
        return money(_fee_total(root.fees), root.currency)


# ---------------------------------------------------------------- the events


@dataclass
class Stats:
    wrapped_orders: int = 0
    wrapped_lines: int = 0


STATS = Stats()


def count_wrapped(event: Event, hub: Any) -> None:
    """``order.created``: count the order if it was gift wrapped."""
    lines = [f for f in event.payload.get("fees") or () if f.get("code") == FEE_CODE]
    if lines:
        STATS.wrapped_orders += 1
        STATS.wrapped_lines += len(lines)


@strawberry.type(description="Gift wrapping seen by this process since it started.")
class GiftWrapStats:
    wrapped_orders: int
    wrapped_lines: int


@strawberry.type
class GiftWrapQuery:
    @strawberry.field(
        description="Gift-wrapped orders this process saw (order.created events).",
        permission_classes=needs("giftwrap:read"),
    )
    def gift_wrap_stats(self) -> GiftWrapStats:
        return GiftWrapStats(wrapped_orders=STATS.wrapped_orders, wrapped_lines=STATS.wrapped_lines)


plugin = Plugin(
    "gift_wrap",
    description="Gift wrapping: a line attribute, a fee per wrapped line, fields on Order.",
    query=(GiftWrapQuery,),
    type_extensions={"CartLine": CartLineGiftWrap, "Cart": CartGiftWrap, "Order": OrderGiftWrap},
    fees={"wrap": wrap_fees},
    on_events={"order.created": count_wrapped},
    permissions=("giftwrap:read",),
    # Its partner keys (hub apikey create --scope partner --plugin gift_wrap) read the
    # orders they report on, too.
    partner_permissions=("orders",),
    settings=Settings,
)
