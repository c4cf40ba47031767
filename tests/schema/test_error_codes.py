"""userErrors codes: one GraphQL enum, ``UserErrorCode``, the union of the domain
packages' code enums, with the same strings as ever."""

from __future__ import annotations

import importlib
import pkgutil
from enum import StrEnum

import hub.domain
from hub.domain.errors import Code
from hub.settings import load_settings
from schema import build_schema
from schema.errors import CODE_ENUMS, UserErrorCode

# Enums named *Code in the domain that are not userError codes (cart warnings).
NOT_USER_ERROR_CODES = frozenset({"WarningCode", "DiscountCode", "CouponCode"})


def _domain_code_enums() -> list[type[StrEnum]]:
    found: list[type[StrEnum]] = []
    for info in pkgutil.walk_packages(hub.domain.__path__, "hub.domain."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, StrEnum)
                and value.__name__.endswith("Code")
                and value.__name__ not in NOT_USER_ERROR_CODES
                and value not in found
            ):
                found.append(value)
    return found


def test_every_domain_code_is_a_user_error_code() -> None:
    values = {m.value for m in UserErrorCode}
    enums = [*CODE_ENUMS, *_domain_code_enums()]
    assert Code in enums
    for enum in enums:
        missing = sorted(str(m.value) for m in enum if m.value not in values)
        assert not missing, (
            f"{enum.__module__}.{enum.__qualname__} has codes UserErrorCode lacks: {missing}; "
            "add the enum to schema.errors.CODE_ENUMS"
        )


def test_codes_read_as_they_always_did() -> None:
    for member in UserErrorCode:
        assert member.name == member.value  # the GraphQL name is the string clients see
    schema = build_schema(load_settings())
    printed = schema.as_str()
    assert "enum UserErrorCode {" in printed
    assert "code: UserErrorCode!" in printed
