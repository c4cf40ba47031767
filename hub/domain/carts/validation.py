"""A cart's inputs checked and normalized before anything is written. Each raises a
DomainError naming the input field (in the domain's terms: ``buyer_identity``,
``discount_codes``; an address keeps its stored keys) and returns column values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub.domain.carts.model import (
    COUNTRY_RE,
    MAX_ADDRESS_FIELD,
    MAX_ATTRIBUTE_KEY,
    MAX_ATTRIBUTE_VALUE,
    MAX_ATTRIBUTES,
    MAX_CODE_LENGTH,
    MAX_CODES,
    MAX_NOTE,
    Attribute,
    BuyerIdentity,
)
from hub.domain.customers import PHONE_RE
from hub.domain.errors import Code, fail
from hub.emails import InvalidEmail, normalize_email

# An address as stored (and as the API spells it).
ADDRESS_KEYS = (
    "firstName",
    "lastName",
    "company",
    "address1",
    "address2",
    "city",
    "region",
    "postalCode",
    "countryCode",
    "phone",
)


def clean_attributes(attrs: Sequence[Attribute] | None, *path: str) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for a in attrs or ():
        if not a.key.strip():
            raise fail(Code.BLANK, "an attribute needs a key", *path, "key")
        if len(a.key) > MAX_ATTRIBUTE_KEY or len(a.value) > MAX_ATTRIBUTE_VALUE:
            raise fail(
                Code.TOO_LONG,
                f"attribute keys are at most {MAX_ATTRIBUTE_KEY} characters, "
                f"values {MAX_ATTRIBUTE_VALUE}",
                *path,
            )
        out.append({"key": a.key.strip(), "value": a.value})
    if len(out) > MAX_ATTRIBUTES:
        raise fail(Code.LIMIT_EXCEEDED, f"at most {MAX_ATTRIBUTES} attributes", *path)
    return out


def attribute_key(attrs: Sequence[dict[str, str]] | None) -> str:
    """Lines with the same variant and the same attributes merge: their common key."""
    return "\x1f".join(
        f"{a['key']}\x1e{a['value']}" for a in sorted(attrs or (), key=lambda a: a["key"])
    )


def clean_codes(codes: Sequence[str]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for c in codes:
        c = c.strip()
        if not c:
            continue
        if len(c) > MAX_CODE_LENGTH:
            raise fail(
                Code.TOO_LONG,
                f"discount codes are at most {MAX_CODE_LENGTH} characters",
                "discount_codes",
            )
        if c.casefold() not in seen:
            seen.add(c.casefold())
            out.append(c)
    if len(out) > MAX_CODES:
        raise fail(Code.LIMIT_EXCEEDED, f"at most {MAX_CODES} discount codes", "discount_codes")
    return out


def clean_buyer(b: BuyerIdentity) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if b.email is not None:
        email = b.email.strip()
        if email:
            try:
                email = normalize_email(email)
            except InvalidEmail as exc:
                raise fail(Code(exc.code), str(exc), "buyer_identity", "email") from None
        values["email"] = email or None
    if b.phone is not None:
        phone = b.phone.strip()
        if phone and not PHONE_RE.match(phone):
            raise fail(Code.INVALID, "not a phone number", "buyer_identity", "phone")
        values["phone"] = phone or None
    if b.country_code is not None:
        cc = b.country_code.strip().upper()
        if cc and not COUNTRY_RE.match(cc):
            raise fail(
                Code.INVALID,
                "countryCode is an ISO 3166-1 alpha-2 code",
                "buyer_identity",
                "country_code",
            )
        values["country_code"] = cc or None
    if b.set_customer:
        values["customer_id"] = b.customer_pk
    return values


def clean_address(raw: dict[str, Any], *path: str) -> dict[str, Any]:
    out = {k: str(v).strip() for k, v in raw.items() if k in ADDRESS_KEYS and v is not None}
    cc = out.get("countryCode", "").upper()
    if not COUNTRY_RE.match(cc):
        raise fail(
            Code.INVALID, "an address needs an ISO 3166-1 alpha-2 countryCode", *path, "countryCode"
        )
    out["countryCode"] = cc
    for k, v in out.items():
        if len(v) > MAX_ADDRESS_FIELD:
            raise fail(Code.TOO_LONG, f"{k} is at most {MAX_ADDRESS_FIELD} characters", *path, k)
    return out


def clean_note(note: str | None) -> str | None:
    if note is not None and len(note) > MAX_NOTE:
        raise fail(Code.TOO_LONG, f"a note is at most {MAX_NOTE} characters", "note")
    return note
