"""The signed-in customer's side of ``Customer``: saved addresses, marketing consents,
the account's state and its orders across every channel.

Every relation loads through a per-request loader over all the customers of the
response (one statement each), so a list of customers costs the same few statements
whatever its size; ``orders`` takes each customer's page in one windowed statement.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from hub.domain import accounts
from hub.domain import orders as ordersvc
from hub.domain.customers import CustomerRecord
from hub.domain.paging import encode_cursor
from schema.calls import after_cursor
from schema.loaders import Loader
from schema.relay import Connection, ConnectionValue, Node, is_record, page_request, register_node

if TYPE_CHECKING:
    from schema.orders import OrderType


class _AccountLoaders:
    def __init__(self, ctx: Any) -> None:
        reader = ctx.reader

        async def account(keys: Sequence[int]) -> dict[Hashable, Any]:
            got = await accounts.accounts_by_customers(reader, keys)
            return {k: v for k, v in got.items()}

        async def addresses(keys: Sequence[int]) -> dict[Hashable, Any]:
            got = await accounts.addresses_by_customers(reader, keys)
            return {k: v for k, v in got.items()}

        async def consents(keys: Sequence[int]) -> dict[Hashable, Any]:
            got = await accounts.consents_by_customers(reader, keys)
            return {k: v for k, v in got.items()}

        self.account = Loader(account)
        self.addresses = Loader(addresses, default=list)
        self.consents = Loader(consents, default=list)


def loaders(info: Info) -> _AccountLoaders:
    ctx = info.context
    got: _AccountLoaders = ctx.keyed(_AccountLoaders, lambda: _AccountLoaders(ctx))
    return got


def orders_loader(info: Info, size: int, before_pk: int | None) -> Loader:
    ctx = info.context

    def make() -> Loader:
        async def fetch(keys: Sequence[int]) -> dict[Hashable, Any]:
            got = await ordersvc.orders_of_customers(
                ctx.reader, keys, limit=size + 1, before_pk=before_pk
            )
            return {k: v for k, v in got.items()}

        return Loader(fetch, default=list)

    got: Loader = ctx.keyed(("customer_orders", size, before_pk), make)
    return got


@strawberry.type(name="MailingAddress")
class MailingAddressType(Node):
    id: strawberry.ID
    is_default: bool = strawberry.field(description="The customer's default address.")

    is_type_of = is_record(accounts.AddressRecord)

    @strawberry.field
    def first_name(self, root: strawberry.Parent[accounts.AddressRecord]) -> str | None:
        return root.get("firstName")

    @strawberry.field
    def last_name(self, root: strawberry.Parent[accounts.AddressRecord]) -> str | None:
        return root.get("lastName")

    @strawberry.field
    def company(self, root: strawberry.Parent[accounts.AddressRecord]) -> str | None:
        return root.get("company")

    @strawberry.field
    def address1(self, root: strawberry.Parent[accounts.AddressRecord]) -> str | None:
        return root.get("address1")

    @strawberry.field
    def address2(self, root: strawberry.Parent[accounts.AddressRecord]) -> str | None:
        return root.get("address2")

    @strawberry.field
    def city(self, root: strawberry.Parent[accounts.AddressRecord]) -> str | None:
        return root.get("city")

    @strawberry.field(description="State or province code.")
    def region(self, root: strawberry.Parent[accounts.AddressRecord]) -> str | None:
        return root.get("region")

    @strawberry.field
    def postal_code(self, root: strawberry.Parent[accounts.AddressRecord]) -> str | None:
        return root.get("postalCode")

    @strawberry.field(description="ISO 3166-1 alpha-2.")
    def country_code(self, root: strawberry.Parent[accounts.AddressRecord]) -> str:
        return root.get("countryCode") or ""

    @strawberry.field
    def phone(self, root: strawberry.Parent[accounts.AddressRecord]) -> str | None:
        return root.get("phone")


@strawberry.enum
class MarketingTopic(Enum):
    EMAIL = "EMAIL"
    SMS = "SMS"


@strawberry.type(description="A marketing consent in force: given or withdrawn, when, where.")
class MarketingConsent:
    topic: MarketingTopic = strawberry.field(resolver=lambda root: MarketingTopic(root.topic))
    granted: bool
    source: str = strawberry.field(description='"storefront", "staff", "checkout" or "import".')
    recorded_at: datetime


@strawberry.enum(description="Whether a customer can sign in.")
class CustomerAccountState(Enum):
    NONE = "NONE"  # a customer made by staff or an import, never invited
    INVITED = "INVITED"  # an activation link was sent; no password yet
    ENABLED = "ENABLED"
    DISABLED = "DISABLED"


@strawberry.type
class CustomerAccountFields:
    """Fields of ``Customer`` from its account (``schema.customers`` mixes them in)."""

    @strawberry.field(description="Consents to e-mail marketing (the latest consent).")
    async def accepts_marketing(self, root: strawberry.Parent[CustomerRecord], info: Info) -> bool:
        found = await loaders(info).consents.load(root.pk)
        return any(c.topic == "EMAIL" and c.granted for c in found)

    @strawberry.field(description="Each marketing consent in force, with when and from where.")
    async def marketing_consents(
        self, root: strawberry.Parent[CustomerRecord], info: Info
    ) -> list[MarketingConsent]:
        found: list[MarketingConsent] = await loaders(info).consents.load(root.pk)
        return found

    @strawberry.field
    async def account_state(
        self, root: strawberry.Parent[CustomerRecord], info: Info
    ) -> CustomerAccountState:
        acct = await loaders(info).account.load(root.pk)
        return CustomerAccountState(acct.state) if acct else CustomerAccountState.NONE

    @strawberry.field(description="The email was verified (activation or a reset link).")
    async def email_verified(self, root: strawberry.Parent[CustomerRecord], info: Info) -> bool:
        acct = await loaders(info).account.load(root.pk)
        return acct is not None and acct.email_verified_at is not None

    @strawberry.field(
        description=f"Saved addresses, oldest first (at most {accounts.MAX_ADDRESSES})."
    )
    async def addresses(
        self, root: strawberry.Parent[CustomerRecord], info: Info
    ) -> list[MailingAddressType]:
        found: list[MailingAddressType] = await loaders(info).addresses.load(root.pk)
        return found

    @strawberry.field
    async def default_address(
        self, root: strawberry.Parent[CustomerRecord], info: Info
    ) -> MailingAddressType | None:
        found = await loaders(info).addresses.load(root.pk)
        return next((a for a in found if a.is_default), None)

    @strawberry.field(
        description="The customer's orders from every channel (web, store, marketplace), "
        "newest first; guest orders with its email once the email is verified."
    )
    async def orders(
        self,
        root: strawberry.Parent[CustomerRecord],
        info: Info,
        first: int = 10,
        after: str | None = None,
    ) -> Connection[Annotated[OrderType, strawberry.lazy("schema.orders")]]:
        page = page_request(first, after, None, None, info.context.settings.max_page_size)
        got = after_cursor(after, "Order")
        size = page.size(10)
        rows = await orders_loader(info, size, None if got is None else got[1]).load(root.pk)
        has_next = len(rows) > size
        rows = rows[:size]
        # The connection of records stands for the GraphQL connection (resolved by name).
        return ConnectionValue(  # type: ignore[return-value]
            rows, [encode_cursor("Order", None, o.pk) for o in rows], has_next, after is not None
        )


async def _address_nodes(info: Info, pks: list[int]) -> dict[int, accounts.AddressRecord]:
    """node(id:): staff see any address, a customer its own, others none."""
    p = info.context.principal
    if not p.can("customers") and p.customer_id is None:
        return {}
    got = await accounts.addresses_by_pks(info.context.reader, pks)
    return {pk: a for pk, a in got.items() if p.can("customers") or a.customer_pk == p.customer_id}


register_node("MailingAddress", _address_nodes)
