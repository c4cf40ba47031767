"""Loyalty on a customer: ``Customer.loyalty { tier points cardId history }``.

The account of every customer on a page loads in one statement (a per-request
loader), and ``history`` of every customer on a page in one more per page shape
(``first``, ``after``): a list of customers costs the same statements whatever its
size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Any, cast

import strawberry
from strawberry.types import Info

from hub import ids
from hub.domain import loyalty
from hub.domain.paging import encode_cursor
from hub.money import Money
from schema.calls import after_cursor
from schema.catalog import MoneyType
from schema.loaders import Loader
from schema.relay import Connection, ConnectionValue, page_request

HISTORY_DEFAULT = 20


@strawberry.enum
class LoyaltyTransactionKind(Enum):
    EARN = "EARN"
    REDEEM = "REDEEM"
    EXPIRE = "EXPIRE"
    ADJUST = "ADJUST"
    REVERSE = "REVERSE"


@strawberry.type(name="LoyaltyTransaction")
class LoyaltyTransactionType:
    id: strawberry.ID
    kind: LoyaltyTransactionKind = strawberry.field(
        resolver=lambda root: LoyaltyTransactionKind(root.kind)
    )
    points: int = strawberry.field(description="The change of balance; a spend is negative.")
    balance_after: int
    note: str | None
    created_at: datetime

    @strawberry.field(description="The order it was earned, redeemed or reversed for.")
    def order_id(self, root: strawberry.Parent[loyalty.TransactionRecord]) -> strawberry.ID | None:
        pk = root.order_pk
        return strawberry.ID(ids.encode("Order", pk)) if pk else None

    @strawberry.field(
        description="EARN: the amount paid; REVERSE: the amount refunded; REDEEM: the "
        "discount the points paid for."
    )
    def amount(self, root: strawberry.Parent[loyalty.TransactionRecord]) -> MoneyType | None:
        if root.amount is None or root.currency is None:
            return None
        return cast(MoneyType, Money(root.amount, root.currency))


class _Loaders:
    def __init__(self, ctx: Any) -> None:
        reader = ctx.reader

        async def accounts(keys: Sequence[int]) -> Mapping[Any, Any]:
            return await loyalty.accounts_by_customers(reader, keys)

        self.account_by_customer = Loader(accounts)
        self._history: dict[tuple[int, int | None], Loader] = {}

    def history(self, ctx: Any, size: int, before: int | None) -> Loader:
        key = (size, before)
        loader = self._history.get(key)
        if loader is None:
            reader = ctx.reader

            async def fetch(keys: Sequence[int]) -> Mapping[Any, Any]:
                # One row more than asked: whether there is a next page.
                return await loyalty.history_pages(reader, keys, size + 1, before)

            loader = self._history[key] = Loader(fetch, default=list)
        return loader


def loyalty_loaders(info: Info) -> _Loaders:
    ctx = info.context
    got: _Loaders = ctx.keyed(_Loaders, lambda: _Loaders(ctx))
    return got


class LoyaltyView:
    """What ``Customer.loyalty`` resolves from: the customer's account, if any."""

    __slots__ = ("account", "customer_pk", "mirrored_tier")

    def __init__(
        self, customer_pk: int, account: loyalty.AccountRecord | None, mirrored_tier: str | None
    ) -> None:
        self.customer_pk = customer_pk
        self.account = account
        self.mirrored_tier = mirrored_tier


@strawberry.type(name="CustomerLoyalty")
class CustomerLoyalty:
    @strawberry.field(description='The loyalty tier, e.g. "gold" (promotions look at it).')
    def tier(self, root: strawberry.Parent[LoyaltyView]) -> str | None:
        return root.account.tier if root.account is not None else root.mirrored_tier

    @strawberry.field(description="The points balance.")
    def points(self, root: strawberry.Parent[LoyaltyView]) -> int:
        return root.account.points if root.account is not None else 0

    @strawberry.field(description="The loyalty card number (scanned at a till).")
    def card_id(self, root: strawberry.Parent[LoyaltyView]) -> str | None:
        return root.account.card_id if root.account is not None else None

    @strawberry.field(
        description="Every earn, redeem, expiry, adjustment and reversal, newest first."
    )
    async def history(
        self,
        info: Info,
        root: strawberry.Parent[LoyaltyView],
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[LoyaltyTransactionType]:
        page = page_request(first, after, None, None, info.context.settings.max_page_size)
        size = page.size(HISTORY_DEFAULT)
        got = after_cursor(after, "LoyaltyTransaction")
        if root.account is None or size == 0:
            return cast(Connection[LoyaltyTransactionType], ConnectionValue([], [], False, False))
        loader = loyalty_loaders(info).history(info.context, size, None if got is None else got[1])
        rows: list[loyalty.TransactionRecord] = await loader.load(root.account.pk)
        more = len(rows) > size
        rows = rows[:size]
        return cast(
            Connection[LoyaltyTransactionType],
            ConnectionValue(
                rows,
                [encode_cursor("LoyaltyTransaction", None, r.pk) for r in rows],
                more,
                after is not None,
            ),
        )


async def loyalty_of(info: Info, customer_pk: int, mirrored_tier: str | None) -> CustomerLoyalty:
    account = await loyalty_loaders(info).account_by_customer.load(customer_pk)
    return cast(CustomerLoyalty, LoyaltyView(customer_pk, account, mirrored_tier))
