"""Domain error fields (the domain's snake_case names) become the API's input paths."""

from __future__ import annotations

from schema.errors import api_name as camel
from schema.errors import api_path as graphql_path


def test_camel_leaves_api_names_and_indexes_alone() -> None:
    assert camel("compare_at_amount") == "compareAtAmount"
    assert camel("variantId") == "variantId"
    assert camel("0") == "0"
    assert camel("components.0.variantId") == "components.0.variantId"


def test_paths_are_renamed_then_camelcased() -> None:
    renames = {"currency": "currency_code"}
    assert graphql_path(("prices", "2", "currency"), renames, None) == [
        "prices",
        "2",
        "currencyCode",
    ]
    assert graphql_path(("entries", "0", "min_quantity"), {}, None) == [
        "entries",
        "0",
        "minQuantity",
    ]


def test_depth_keeps_data_keys_as_they_are() -> None:
    field = ("definition", "action", "max_uses")
    assert graphql_path(field, {}, 1) == ["definition", "action", "max_uses"]
    assert graphql_path(("usage_limit",), {}, 1) == ["usageLimit"]
