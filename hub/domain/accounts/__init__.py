"""Customer accounts: sign-up, sign-in and its tokens, password recovery and reset,
activation of accounts made by staff, the signed-in customer's own profile (its
addresses and marketing consents), and guest orders joining an account once its email
is verified.

- ``codes``: ``AccountCode``;
- ``passwords``: the rules of a password, argon2id hashing (``Passwords``);
- ``tokens``: access, reset and activation tokens (random, stored hashed, expiring,
  revocable; reset and activation used once);
- ``profile``: the account row, consents and guest orders, on the caller's transaction;
- ``addresses``: saved addresses;
- ``records``: the reads (several customers at once);
- ``service``: ``Accounts``, the thin service that opens the transactions, publishes
  revocations and hands messages to the mailer (:mod:`hub.emails`).
"""

from hub.domain.accounts.addresses import (
    MAX_ADDRESSES,
    create_address,
    delete_address,
    set_default_address,
    update_address,
)
from hub.domain.accounts.codes import AccountCode
from hub.domain.accounts.passwords import MAX_PASSWORD, MIN_PASSWORD, Passwords, check_password
from hub.domain.accounts.records import (
    AccountRecord,
    AddressRecord,
    ConsentRecord,
    accounts_by_customers,
    addresses_by_customers,
    addresses_by_pks,
    consents_by_customers,
)
from hub.domain.accounts.service import (
    ACTIVATION_MAIL,
    RESET_MAIL,
    Accounts,
    ProfileChange,
    SignUp,
    account_email,
)
from hub.domain.accounts.tokens import IssuedToken

__all__ = [
    "ACTIVATION_MAIL",
    "MAX_ADDRESSES",
    "MAX_PASSWORD",
    "MIN_PASSWORD",
    "RESET_MAIL",
    "AccountCode",
    "AccountRecord",
    "Accounts",
    "AddressRecord",
    "ConsentRecord",
    "IssuedToken",
    "Passwords",
    "ProfileChange",
    "SignUp",
    "account_email",
    "accounts_by_customers",
    "addresses_by_customers",
    "addresses_by_pks",
    "check_password",
    "consents_by_customers",
    "create_address",
    "delete_address",
    "set_default_address",
    "update_address",
]
