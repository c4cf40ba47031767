"""Gift cards on the API.

Staff (admin scope) issue and disable cards and read them with their ledger; the code
is answered once, by `giftCardIssue`, and never again. Anyone holding a code (a
storefront, a till) may ask `giftCardBalance(code:)`, which answers the balance and
expiry of an active card and null for any other code, whatever the reason. Paying
with a card is `checkoutComplete(payment: {provider: "gift_card", giftCardCode: ...})`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, cast

import strawberry
from strawberry.types import Info

from hub import ids
from hub.domain import giftcards as gc
from hub.domain.paging import PageRequest
from schema.catalog import MoneyType
from schema.errors import ApiError, UserError, field_pk, run_write
from schema.permissions import needs
from schema.relay import (
    Connection,
    Node,
    connection_from_list,
    is_record,
    paged,
    register_node,
    staff_only,
)
from schema.throttle import take

# Where the domain's names for an issue's input differ from the API's.
_ISSUE_FIELDS = {"reference": "note"}


@strawberry.enum
class GiftCardStatus(Enum):
    ACTIVE = "ACTIVE"
    DISABLED = "DISABLED"


@strawberry.enum
class GiftCardTransactionKind(Enum):
    ISSUE = "ISSUE"
    DEBIT = "DEBIT"
    REFUND = "REFUND"
    VOID = "VOID"


@strawberry.type(name="GiftCardTransaction")
class GiftCardTransactionType:
    id: strawberry.ID
    kind: GiftCardTransactionKind = strawberry.field(
        resolver=lambda root: GiftCardTransactionKind(root.kind)
    )
    amount: MoneyType = strawberry.field(description="The change of balance; a debit is negative.")
    reference: str | None = strawberry.field(description="The checkout, order or payment.")
    created_at: datetime


@strawberry.type(name="GiftCard")
class GiftCardType(Node):
    id: strawberry.ID
    last4: str = strawberry.field(description="The code's last four characters.")
    currency_code: str = strawberry.field(resolver=lambda root: root.currency)
    initial_value: MoneyType
    balance: MoneyType
    status: GiftCardStatus = strawberry.field(resolver=lambda root: GiftCardStatus(root.status))
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime

    is_type_of = is_record(gc.GiftCardRecord)

    @strawberry.field
    def customer_id(self, root: strawberry.Parent[gc.GiftCardRecord]) -> strawberry.ID | None:
        pk = root.customer_pk
        return strawberry.ID(ids.encode("Customer", pk)) if pk else None

    @strawberry.field(description="The ledger, oldest first.")
    @paged
    async def transactions(
        self,
        info: Info,
        root: strawberry.Parent[gc.GiftCardRecord],
        page: PageRequest,
    ) -> Connection[GiftCardTransactionType]:
        rows = await gc.transactions(info.context.reader, root)
        got = connection_from_list(rows, page, "GiftCardTransaction", key=lambda t: t.pk)
        return cast(Connection[GiftCardTransactionType], got)


@strawberry.type(name="GiftCardBalance")
class GiftCardBalanceType:
    balance: MoneyType
    expires_at: datetime | None


@strawberry.input
class GiftCardIssueInput:
    amount: Decimal = strawberry.field(description="The value, in the currency's units.")
    currency_code: str
    code: str | None = strawberry.field(
        default=None,
        description="A code of your own (8 to 64 letters and digits; spaces and dashes are "
        "ignored). Without it the hub generates an unguessable one.",
    )
    expires_at: datetime | None = None
    customer_id: strawberry.ID | None = None
    note: str | None = strawberry.field(
        default=None, description="Kept on the ledger's ISSUE row, e.g. the order it was sold in."
    )


@strawberry.type
class GiftCardIssuePayload:
    gift_card: GiftCardType | None
    code: str | None = strawberry.field(
        description="The card's code: shown this once, the hub keeps only a hash of it."
    )
    user_errors: list[UserError]


@strawberry.type
class GiftCardPayload:
    gift_card: GiftCardType | None
    user_errors: list[UserError]


@strawberry.type
class GiftCardQuery:
    @strawberry.field(
        permission_classes=needs("customers"), description="A gift card by id (staff)."
    )
    async def gift_card(self, info: Info, id: strawberry.ID) -> GiftCardType | None:
        try:
            pk = ids.decode_pk(id, "GiftCard")
        except ids.InvalidId as exc:
            raise ApiError(str(exc), "INVALID_ID") from None
        return _shown(await gc.get_gift_card(info.context.reader, pk))

    @strawberry.field(
        description="The balance and expiry of the active gift card with this code; null "
        "for any other code (unknown or disabled alike)."
    )
    async def gift_card_balance(self, info: Info, code: str) -> GiftCardBalanceType | None:
        limit = info.context.settings.rate_limit_gift_card_balance
        await take(info, "giftcard", limit, what="gift card look-ups")
        got = await gc.balance_for_code(info.context.reader, code)
        return cast(GiftCardBalanceType | None, got)


@strawberry.type
class GiftCardMutation:
    @strawberry.mutation(
        permission_classes=needs("customers"),
        description="Issue a gift card; the payload's `code` is the only time it is shown.",
    )
    async def gift_card_issue(self, info: Info, input: GiftCardIssueInput) -> GiftCardIssuePayload:
        async def go() -> Any:
            customer = None
            if input.customer_id is not None:
                customer = field_pk(input.customer_id, "Customer", "customerId")
            return await gc.issue(
                info.context.db,
                amount=input.amount,
                currency=input.currency_code,
                code=input.code,
                expires_at=input.expires_at,
                customer_pk=customer,
                reference=input.note,
            )

        got, errs = await run_write(info, go, renames=_ISSUE_FIELDS)
        card, code = got if got is not None else (None, None)
        return GiftCardIssuePayload(gift_card=_shown(card), code=code, user_errors=errs)

    @strawberry.mutation(
        permission_classes=needs("customers"),
        description="Stop a gift card from paying; its balance and ledger stay.",
    )
    async def gift_card_disable(self, info: Info, id: strawberry.ID) -> GiftCardPayload:
        card, errs = await run_write(
            info, lambda: gc.disable(info.context.db, field_pk(id, "GiftCard", "id"))
        )
        return GiftCardPayload(gift_card=_shown(card), user_errors=errs)


def _shown(card: gc.GiftCardRecord | None) -> GiftCardType | None:
    """A card as the API returns it (GiftCardType resolves from a ``GiftCardRecord``)."""
    return cast(GiftCardType | None, card)


# node(id:): as giftCard(id:), staff only; null for any other key.
register_node("GiftCard", staff_only(gc.gift_cards_by_pks, "customers"))
