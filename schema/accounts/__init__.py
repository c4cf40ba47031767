"""Customer accounts on the API (see :mod:`schema.accounts.mutations`), the signed-in
customer's fields of ``Customer`` (:mod:`schema.accounts.profile`) and a guest's
``orderByToken`` (:mod:`schema.accounts.queries`)."""

from schema.accounts.mutations import AccountMutation
from schema.accounts.queries import AccountQuery

__all__ = ["AccountMutation", "AccountQuery"]
