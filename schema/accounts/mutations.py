"""Accounts on the API, in the hosted storefront vocabulary: sign-up
(``customerCreate``), sign-in and its token (``customerAccessTokenCreate``, ``Renew``,
``Delete``), recovery (``customerRecover``, ``customerReset``), activation of an
account made by staff (``customerActivate``; staff send the link with
``customerInvite``), and the signed-in customer's own profile and addresses.

The token goes in ``Authorization: Bearer <accessToken>`` (HTTP, and a websocket's
``connection_init`` payload). Brute force is limited by :mod:`schema.accounts.guard`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from hub.domain import accounts
from hub.domain import customers as cust
from schema.accounts.guard import account_key, attempt, by_address
from schema.accounts.profile import MailingAddressType
from schema.carts.inputs import MailingAddressInput
from schema.customers import CustomerType
from schema.errors import ApiCode, ApiError, UserError, decode_id, run_write
from schema.permissions import needs


@strawberry.input(description="Sign-up for storefronts and apps.")
class CustomerCreateInput:
    email: str
    password: str
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    accepts_marketing: bool | None = None


@strawberry.input
class CustomerAccessTokenCreateInput:
    email: str
    password: str


@strawberry.input
class CustomerResetInput:
    reset_token: str = strawberry.field(description="From the password reset message.")
    password: str


@strawberry.input
class CustomerActivateInput:
    activation_token: str = strawberry.field(description="From the activation message.")
    password: str | None = strawberry.field(
        default=None, description="Required when the account has no password yet."
    )


@strawberry.input(description="What the signed-in customer changes of itself.")
class CustomerUpdateInput:
    email: str | None = strawberry.field(
        default=None, description="A new email must be verified again (a link is sent)."
    )
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = strawberry.field(default=None, description='"" clears it.')
    password: str | None = strawberry.field(
        default=None, description="Ends every access token; the payload carries a new one."
    )
    accepts_marketing: bool | None = None
    accepts_sms_marketing: bool | None = None


@strawberry.type
class CustomerAccessToken:
    access_token: str
    expires_at: datetime


def _token(issued: accounts.IssuedToken | None) -> CustomerAccessToken | None:
    if issued is None:
        return None
    return CustomerAccessToken(access_token=issued.token, expires_at=issued.expires_at)


@strawberry.type
class CustomerCreatePayload:
    customer: CustomerType | None
    user_errors: list[UserError]


@strawberry.type
class CustomerAccessTokenPayload:
    customer_access_token: CustomerAccessToken | None
    user_errors: list[UserError]


@strawberry.type
class CustomerAccessTokenDeletePayload:
    deleted_access_token: str | None
    user_errors: list[UserError]


@strawberry.type
class CustomerRecoverPayload:
    user_errors: list[UserError]


@strawberry.type
class CustomerTokenPayload:
    """A customer, and a new access token when the change signed it in (again)."""

    customer: CustomerType | None
    customer_access_token: CustomerAccessToken | None
    user_errors: list[UserError]


@strawberry.type
class CustomerAddressPayload:
    customer_address: MailingAddressType | None
    user_errors: list[UserError]


@strawberry.type
class CustomerAddressDeletePayload:
    deleted_customer_address_id: strawberry.ID | None
    user_errors: list[UserError]


@strawberry.type
class CustomerInvitePayload:
    user_errors: list[UserError]


async def _customer(info: Info, pk: int | None) -> CustomerType | None:
    if pk is None:
        return None
    found: CustomerType | None = await cust.get_customer(info.context.reader, pk)  # type: ignore[assignment]  # a CustomerRecord stands for the type
    return found


def _signed_in(info: Info) -> int:
    """The customer the request acts for (a customer access token or customer key)."""
    pk = info.context.principal.customer_id
    if pk is None:
        raise ApiError(
            "sign in first: send Authorization: Bearer <customerAccessToken>",
            ApiCode.ACCESS_DENIED,
        )
    return int(pk)


def _settings(info: Info) -> Any:
    return info.context.settings


def _address_values(a: MailingAddressInput) -> dict[str, Any]:
    return {
        "firstName": a.first_name,
        "lastName": a.last_name,
        "company": a.company,
        "address1": a.address1,
        "address2": a.address2,
        "city": a.city,
        "region": a.region,
        "postalCode": a.postal_code,
        "countryCode": a.country_code,
        "phone": a.phone,
    }


async def _token_checked(info: Info, who: str | None = None) -> list[UserError]:
    s = _settings(info)
    return await attempt(
        info,
        "token checks",
        ("token", s.rate_limit_token_checks, by_address(info)),
        ("token-account", s.rate_limit_token_checks_account, who),
    )


@strawberry.type
class AccountMutation:
    @strawberry.mutation(description="Sign up: a customer with a password (storefronts, apps).")
    async def customer_create(
        self, info: Info, input: CustomerCreateInput
    ) -> CustomerCreatePayload:
        s = _settings(info)
        refused = await attempt(
            info, "sign-ups", ("sign-in-address", s.rate_limit_sign_in_address, by_address(info))
        )
        if refused:
            return CustomerCreatePayload(customer=None, user_errors=refused)
        data = accounts.SignUp(
            email=input.email,
            password=input.password,
            first_name=input.first_name,
            last_name=input.last_name,
            phone=input.phone,
            accepts_marketing=input.accepts_marketing,
        )
        pk, errs = await run_write(info, lambda: info.context.hub.accounts.sign_up(data))
        return CustomerCreatePayload(customer=await _customer(info, pk), user_errors=errs)

    @strawberry.mutation(
        description="Sign in: an access token, sent as Authorization: Bearer <accessToken>."
    )
    async def customer_access_token_create(
        self, info: Info, input: CustomerAccessTokenCreateInput
    ) -> CustomerAccessTokenPayload:
        s = _settings(info)
        refused = await attempt(
            info,
            "sign-in attempts",
            ("sign-in", s.rate_limit_sign_in_account, account_key(input.email)),
            ("sign-in-address", s.rate_limit_sign_in_address, by_address(info)),
        )
        if refused:
            return CustomerAccessTokenPayload(customer_access_token=None, user_errors=refused)
        issued, errs = await run_write(
            info, lambda: info.context.hub.accounts.sign_in(input.email, input.password)
        )
        return CustomerAccessTokenPayload(customer_access_token=_token(issued), user_errors=errs)

    @strawberry.mutation(description="A new access token for a valid one, which ends.")
    async def customer_access_token_renew(
        self, info: Info, customer_access_token: str
    ) -> CustomerAccessTokenPayload:
        refused = await _token_checked(info)
        if refused:
            return CustomerAccessTokenPayload(customer_access_token=None, user_errors=refused)
        issued, errs = await run_write(
            info, lambda: info.context.hub.accounts.renew(customer_access_token.strip())
        )
        return CustomerAccessTokenPayload(customer_access_token=_token(issued), user_errors=errs)

    @strawberry.mutation(description="Sign out: the token ends (its websockets close).")
    async def customer_access_token_delete(
        self, info: Info, customer_access_token: str
    ) -> CustomerAccessTokenDeletePayload:
        refused = await _token_checked(info)
        if refused:
            return CustomerAccessTokenDeletePayload(deleted_access_token=None, user_errors=refused)
        token = customer_access_token.strip()
        _, errs = await run_write(info, lambda: info.context.hub.accounts.sign_out(token))
        return CustomerAccessTokenDeletePayload(
            deleted_access_token=None if errs else token, user_errors=errs
        )

    @strawberry.mutation(
        description="Send a password reset link to the email (an activation link for an "
        "account without a password). Answers the same whether or not the email has one."
    )
    async def customer_recover(self, info: Info, email: str) -> CustomerRecoverPayload:
        s = _settings(info)
        refused = await attempt(
            info,
            "recovery requests",
            ("recover", s.rate_limit_recover_account, account_key(email)),
            ("recover-address", s.rate_limit_recover_address, by_address(info)),
        )
        if refused:
            return CustomerRecoverPayload(user_errors=refused)
        _, errs = await run_write(info, lambda: info.context.hub.accounts.recover(email))
        return CustomerRecoverPayload(user_errors=errs)

    @strawberry.mutation(description="A new password with the reset link's token.")
    async def customer_reset(
        self, info: Info, id: strawberry.ID, input: CustomerResetInput
    ) -> CustomerTokenPayload:
        return await _with_link_token(
            info,
            id,
            lambda pk: info.context.hub.accounts.reset(pk, input.reset_token, input.password),
        )

    @strawberry.mutation(
        description="Activate an account (made by staff, or verify a sign-up's email) with "
        "the activation link's token; signs the customer in."
    )
    async def customer_activate(
        self, info: Info, id: strawberry.ID, input: CustomerActivateInput
    ) -> CustomerTokenPayload:
        return await _with_link_token(
            info,
            id,
            lambda pk: info.context.hub.accounts.activate(
                pk, input.activation_token, input.password
            ),
        )

    @strawberry.mutation(
        permission_classes=needs("customers"),
        description="Staff: send a customer without a password an activation link.",
    )
    async def customer_invite(self, info: Info, id: strawberry.ID) -> CustomerInvitePayload:
        pk = decode_id(id, "Customer")
        _, errs = await run_write(info, lambda: info.context.hub.accounts.invite(pk))
        return CustomerInvitePayload(user_errors=errs)

    @strawberry.mutation(description="The signed-in customer changes its own profile.")
    async def customer_update(
        self, info: Info, customer: CustomerUpdateInput
    ) -> CustomerTokenPayload:
        pk = _signed_in(info)
        change = accounts.ProfileChange(
            email=customer.email,
            first_name=customer.first_name,
            last_name=customer.last_name,
            phone=customer.phone or None,
            clear_phone=customer.phone == "",
            password=customer.password,
            accepts_marketing=customer.accepts_marketing,
            accepts_sms_marketing=customer.accepts_sms_marketing,
        )
        issued, errs = await run_write(info, lambda: info.context.hub.accounts.update(pk, change))
        payload = await _token_payload(info, issued, errs)
        if not errs:
            payload.customer = await _customer(info, pk)
        return payload

    @strawberry.mutation(description="The signed-in customer saves an address.")
    async def customer_address_create(
        self, info: Info, address: MailingAddressInput
    ) -> CustomerAddressPayload:
        pk = _signed_in(info)
        got, errs = await run_write(
            info, lambda: accounts.create_address(info.context.db, pk, _address_values(address))
        )
        return CustomerAddressPayload(customer_address=await _address(info, got), user_errors=errs)

    @strawberry.mutation(description="The signed-in customer changes a saved address.")
    async def customer_address_update(
        self, info: Info, id: strawberry.ID, address: MailingAddressInput
    ) -> CustomerAddressPayload:
        pk = _signed_in(info)

        async def go() -> int:
            apk = decode_id(id, "MailingAddress", "id")
            return await accounts.update_address(info.context.db, pk, apk, _address_values(address))

        got, errs = await run_write(info, go)
        return CustomerAddressPayload(customer_address=await _address(info, got), user_errors=errs)

    @strawberry.mutation(description="The signed-in customer deletes a saved address.")
    async def customer_address_delete(
        self, info: Info, id: strawberry.ID
    ) -> CustomerAddressDeletePayload:
        pk = _signed_in(info)

        async def go() -> int:
            apk = decode_id(id, "MailingAddress", "id")
            return await accounts.delete_address(info.context.db, pk, apk)

        got, errs = await run_write(info, go)
        return CustomerAddressDeletePayload(
            deleted_customer_address_id=None if got is None else id, user_errors=errs
        )

    @strawberry.mutation(description="The signed-in customer's default address.")
    async def customer_default_address_update(
        self, info: Info, address_id: strawberry.ID
    ) -> CustomerCreatePayload:
        pk = _signed_in(info)

        async def go() -> int:
            apk = decode_id(address_id, "MailingAddress", "addressId")
            return await accounts.set_default_address(info.context.db, pk, apk)

        got, errs = await run_write(info, go)
        customer = await _customer(info, pk) if got is not None else None
        return CustomerCreatePayload(customer=customer, user_errors=errs)


async def _address(info: Info, pk: int | None) -> MailingAddressType | None:
    if pk is None:
        return None
    found = await accounts.addresses_by_pks(info.context.reader, [pk])
    got: MailingAddressType | None = found.get(pk)  # type: ignore[assignment]  # a record stands for the type
    return got


async def _with_link_token(
    info: Info, id: strawberry.ID, use: Callable[[int], Awaitable[Any]]
) -> CustomerTokenPayload:
    """Reset and activation: the customer's token checks are throttled first, then the
    link's token is used (``use(pk)``) and the customer signed in."""
    pk = decode_id(id, "Customer")
    refused = await _token_checked(info, account_key(f"customer:{pk}"))
    if refused:
        return CustomerTokenPayload(customer=None, customer_access_token=None, user_errors=refused)
    issued, errs = await run_write(info, lambda: use(pk))
    return await _token_payload(info, issued, errs)


async def _token_payload(
    info: Info, issued: accounts.IssuedToken | None, errs: list[UserError]
) -> CustomerTokenPayload:
    customer = await _customer(info, issued.customer_pk) if issued is not None else None
    return CustomerTokenPayload(
        customer=customer, customer_access_token=_token(issued), user_errors=errs
    )
