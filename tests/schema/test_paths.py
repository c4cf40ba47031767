"""The domain names the input a failure is about in its own terms; the API answers
GraphQL input paths."""

from __future__ import annotations

from hub.domain.errors import Code, DomainError, fail
from schema.errors import api_errors, api_name, api_path


def test_snake_case_names_become_camel_case_and_the_rest_stays() -> None:
    assert api_name("buyer_identity") == "buyerIdentity"
    assert api_name("customer_access_token") == "customerAccessToken"
    assert api_name("tax_exempt_vat_id") == "taxExemptVatId"
    assert api_name("lines") == "lines"
    assert api_name("0") == "0"
    assert api_name("postalCode") == "postalCode"  # an address key, as stored
    assert api_name("address1") == "address1"


def test_renames_win_and_paths_keep_their_order() -> None:
    assert api_name("reference", {"reference": "note"}) == "note"
    assert api_path(["delivery_groups", "1", "line_ids", "0"]) == [
        "deliveryGroups",
        "1",
        "lineIds",
        "0",
    ]
    assert api_path(None) is None
    assert api_path([]) is None


def test_api_errors_keep_codes_and_messages() -> None:
    exc = DomainError(
        [
            *fail(Code.INVALID, "not a phone number", "buyer_identity", "phone").errors,
            *fail(Code.BLANK, "give at least one line").errors,
        ]
    )
    got = api_errors(exc).errors
    assert [(e.field, e.message, e.code) for e in got] == [
        (["buyerIdentity", "phone"], "not a phone number", Code.INVALID),
        (None, "give at least one line", Code.BLANK),
    ]
