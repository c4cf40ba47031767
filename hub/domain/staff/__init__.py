"""Staff users and scoped roles (issue 12): who works on the hub and what each may do.

- ``codes``: ``StaffCode``;
- ``service``: ``Staff``, the thin service (users, roles, the users' roles, staff
  access tokens ``hubst_``); passwords are hashed as customer accounts' are
  (:class:`hub.domain.accounts.Passwords`, argon2id);
- ``records``: the reads (pages, several users or roles at once, roles of users).

What a principal holding these roles may do is :class:`hub.auth.Principal`'s
(``can``, ``may_location``, ``may_channel``); the credential checks of staff tokens
are in :mod:`hub.auth`.
"""

from hub.domain.staff.codes import StaffCode
from hub.domain.staff.records import (
    StaffRoleRecord,
    StaffUserRecord,
    roles_by_pks,
    roles_of_users,
    roles_page,
    users_by_pks,
    users_page,
)
from hub.domain.staff.service import RoleInput, Staff, StaffToken, check_permissions

__all__ = [
    "RoleInput",
    "Staff",
    "StaffCode",
    "StaffRoleRecord",
    "StaffToken",
    "StaffUserRecord",
    "check_permissions",
    "roles_by_pks",
    "roles_of_users",
    "roles_page",
    "users_by_pks",
    "users_page",
]
