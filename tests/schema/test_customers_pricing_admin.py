"""Customers, price lists and shipping zones over GraphQL: admin scope, userErrors with
stable codes and nothing written, customer keys that see only their own customer,
and no N+1 in the lists."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import pytest

from hub.auth import InvalidScope, UnknownCustomer, create_api_key
from tests.helpers.client import Hub


def _create(field: str, input_type: str, fields: str, prefix: str = "") -> str:
    """``<prefix><field>Create(input: $i)`` answering ``fields`` of the new ``field``."""
    name = f"{prefix}{field[:1].upper()}{field[1:]}" if prefix else field
    return f"""
mutation($i: {input_type}!) {{ {name}Create(input: $i) {{
  {field} {{ {fields} }} userErrors {{ field message code }} }} }}"""


def _update(field: str, input_type: str, fields: str, prefix: str = "") -> str:
    """``<prefix><field>Update(id: $id, input: $i)`` answering ``fields`` of the ``field``."""
    name = f"{prefix}{field[:1].upper()}{field[1:]}" if prefix else field
    return f"""
mutation($id: ID!, $i: {input_type}!) {{ {name}Update(id: $id, input: $i) {{
  {field} {{ {fields} }} userErrors {{ field message code }} }} }}"""


def _delete(field: str) -> str:
    """``<field>Delete(id: $id)`` answering the deleted id."""
    return f"""
mutation($id: ID!) {{ {field}Delete(id: $id) {{ deletedId userErrors {{ field code }} }} }}"""


CUSTOMER_FIELDS = (
    "id email phone firstName lastName displayName customerGroup segments "
    "loyalty { tier } ordersCount taxExemptVatId"
)
# Staff make and change customers (customerCreate/customerUpdate are the storefront's).
CUSTOMER_CREATE = _create("customer", "CustomerInput", CUSTOMER_FIELDS, "staff")
CUSTOMER_UPDATE = _update("customer", "CustomerInput", CUSTOMER_FIELDS, "staff")
CUSTOMER = f"query($id: ID) {{ customer(id: $id) {{ {CUSTOMER_FIELDS} }} }}"

LIST_FIELDS = (
    "id handle name channel { handle } customerGroup currencyCode priority active startsAt endsAt"
)
LIST_CREATE = _create("priceList", "PriceListInput", LIST_FIELDS)
LIST_UPDATE = _update("priceList", "PriceListInput", LIST_FIELDS)
LIST_DELETE = _delete("priceList")
ENTRIES_SET = """
mutation($id: ID!, $e: [PriceListEntryInput!]!, $r: Boolean) {
  priceListEntriesSet(priceListId: $id, entries: $e, replace: $r) {
    priceList { id entries(first: 250) { nodes { variantId minQuantity price { amount currencyCode }
                                                 variant { sku } } } }
    userErrors { field message code } } }"""

RATE_FIELDS = (
    "id handle title currencyCode kind minWeightGrams maxWeightGrams "
    "minSubtotal { amount } maxSubtotal { amount } amount { amount currencyCode } "
    "freeOverSubtotal { amount } minDays maxDays"
)
ZONE_FIELDS = f"id handle name countries regions rates {{ {RATE_FIELDS} }}"
ZONE_CREATE = _create("shippingZone", "ShippingZoneInput", ZONE_FIELDS)
ZONE_UPDATE = _update("shippingZone", "ShippingZoneInput", ZONE_FIELDS)
ZONE_DELETE = _delete("shippingZone")
RATE_CREATE = _create("shippingRate", "ShippingRateInput", RATE_FIELDS)
RATE_UPDATE = _update("shippingRate", "ShippingRateInput", RATE_FIELDS)
RATE_DELETE = _delete("shippingRate")
ZONES = f"{{ shippingZones {{ {ZONE_FIELDS} }} }}"


def _uid() -> str:
    return uuid.uuid4().hex[:8]


def _codes(payload: dict) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


async def _counts(hub: Hub) -> tuple[int, ...]:
    tables = (
        "customers",
        "price_lists",
        "price_list_entries",
        "shipping_zones",
        "shipping_rates",
        "api_keys",
    )
    return tuple([await hub.scalar(f"SELECT count(*) FROM {t}") for t in tables])


async def _customer(hub: Hub, **extra: object) -> dict:
    res = await hub.admin(CUSTOMER_CREATE, {"i": {"email": f"c-{_uid()}@example.com", **extra}})
    payload = res["data"]["staffCustomerCreate"]
    assert payload["userErrors"] == []
    return payload["customer"]


async def _customer_key(hub: Hub, email: str) -> str:
    _, token = await create_api_key(hub.db, "tests-customer", ["customer"], customer=email)
    return token


async def _web_variants(hub: Hub, n: int) -> list[str]:
    rows = await hub.rows(
        "SELECT p.variant_id FROM variant_prices p JOIN channels c "
        "ON c.id = p.channel_id WHERE c.handle = 'web' ORDER BY p.variant_id DESC "
        "LIMIT :n",
        n=n,
    )
    return [f"gid://hub/ProductVariant/{r[0]}" for r in rows]


# --------------------------------------------------------------------------- scopes


async def test_admin_mutations_need_the_admin_scope(hub: Hub) -> None:
    target = await _customer(hub)
    customer_token = await _customer_key(hub, target["email"])
    before = await _counts(hub)
    calls = [
        (CUSTOMER_CREATE, {"i": {"email": f"x-{_uid()}@example.com"}}),
        (CUSTOMER_UPDATE, {"id": target["id"], "i": {"firstName": "Mallory"}}),
        (LIST_CREATE, {"i": {"handle": f"x-{_uid()}", "name": "x", "channel": "web",
                             "customerGroup": "x"}}),
        (LIST_UPDATE, {"id": "gid://hub/PriceList/1", "i": {"name": "hijacked"}}),
        (LIST_DELETE, {"id": "gid://hub/PriceList/1"}),
        (ENTRIES_SET, {"id": "gid://hub/PriceList/1",
                       "e": [{"variantId": "gid://hub/ProductVariant/1", "amount": "0"}]}),
        (ZONE_CREATE, {"i": {"handle": f"x-{_uid()}", "name": "x", "countries": ["US"]}}),
        (ZONE_UPDATE, {"id": "gid://hub/ShippingZone/1", "i": {"name": "hijacked"}}),
        (ZONE_DELETE, {"id": "gid://hub/ShippingZone/1"}),
        (RATE_CREATE, {"i": {"zoneId": "gid://hub/ShippingZone/1", "handle": f"x-{_uid()}",
                             "title": "x", "currencyCode": "USD", "kind": "FLAT",
                             "amount": "0"}}),
        (RATE_UPDATE, {"id": "gid://hub/ShippingRate/1", "i": {"amount": "0"}}),
        (RATE_DELETE, {"id": "gid://hub/ShippingRate/1"}),
        ("{ shippingZones { id } }", {}),
        ("{ priceLists(first: 5) { nodes { id } } }", {}),
        ('{ priceList(id: "gid://hub/PriceList/1") { id } }', {}),
    ]  # fmt: skip
    for doc, variables in calls:
        for token in (None, hub.storefront_token, customer_token):
            res = await hub.gql(doc, variables, token=token)
            assert res["errors"][0]["extensions"]["code"] == "ACCESS_DENIED", (doc, token)
            assert res["data"] is None or set(res["data"].values()) == {None}
    assert await _counts(hub) == before
    res = await hub.admin('{ priceList(id: "gid://hub/PriceList/1") { handle name } }')
    assert res["data"]["priceList"] == {"handle": "wholesale-web", "name": "Wholesale (web)"}


# --------------------------------------------------------------------------- customers


async def test_customer_create_update_and_errors(hub: Hub) -> None:
    email = f"Mixed.Case-{_uid()}@Example.COM"
    res = await hub.admin(
        CUSTOMER_CREATE,
        {
            "i": {
                "email": f"  {email} ",
                "phone": "+1 555 0100",
                "firstName": "Ada",
                "lastName": "Byron",
                "customerGroup": "wholesale",
                "segments": ["VIP", "vip", "b2b"],
                "loyaltyTier": "gold",
                "taxExemptVatId": "de 123.456.789",
            }
        },
    )
    c = res["data"]["staffCustomerCreate"]
    assert c["userErrors"] == []
    c = c["customer"]
    assert c["email"] == email.lower()
    assert c["displayName"] == "Ada Byron" and c["ordersCount"] == 0
    assert c["segments"] == ["vip", "b2b"] and c["loyalty"] == {"tier": "gold"}
    assert (c["customerGroup"], c["taxExemptVatId"]) == ("wholesale", "DE123456789")

    before = await _counts(hub)
    bad = [
        ({"email": email.upper()}, "TAKEN", ["email"]),
        ({"email": "not-an-email"}, "INVALID", ["email"]),
        ({"email": f"z-{_uid()}@example.com", "customerGroup": "Whole Sale"}, "INVALID",
         ["customerGroup"]),
        ({"email": f"z-{_uid()}@example.com", "taxExemptVatId": "123"}, "INVALID",
         ["taxExemptVatId"]),
        ({"email": f"z-{_uid()}@example.com", "phone": "call me"}, "INVALID", ["phone"]),
        ({"firstName": "No email"}, "BLANK", ["email"]),
    ]  # fmt: skip
    for inp, code, field in bad:
        out = (await hub.admin(CUSTOMER_CREATE, {"i": inp}))["data"]["staffCustomerCreate"]
        assert out["customer"] is None
        assert [(e["code"], e["field"]) for e in out["userErrors"]] == [(code, field)], inp
    assert await _counts(hub) == before

    # Update: absent fields stay, explicit nulls clear, and the email stays unique.
    other = await _customer(hub)
    out = (
        await hub.admin(
            CUSTOMER_UPDATE,
            {"id": c["id"], "i": {"lastName": "Lovelace", "customerGroup": None, "phone": None}},
        )
    )["data"]["staffCustomerUpdate"]
    assert out["userErrors"] == []
    u = out["customer"]
    assert (u["firstName"], u["lastName"], u["customerGroup"], u["phone"]) == (
        "Ada",
        "Lovelace",
        None,
        None,
    )
    assert u["loyalty"] == {"tier": "gold"}
    for variables, code in (
        ({"id": c["id"], "i": {"email": other["email"].upper()}}, "TAKEN"),
        ({"id": c["id"], "i": {"email": None}}, "BLANK"),
        ({"id": "gid://hub/Customer/999999999", "i": {"firstName": "x"}}, "NOT_FOUND"),
        ({"id": "gid://hub/Product/1", "i": {"firstName": "x"}}, "INVALID"),
    ):
        out = (await hub.admin(CUSTOMER_UPDATE, variables))["data"]["staffCustomerUpdate"]
        assert _codes(out) == [code] and out["customer"] is None, variables
    res = await hub.admin(CUSTOMER, {"id": c["id"]})
    assert res["data"]["customer"]["email"] == email.lower()
    assert res["data"]["customer"]["lastName"] == "Lovelace"


async def test_customer_key_sees_only_its_own_customer(hub: Hub) -> None:
    me = await _customer(hub, firstName="Me", segments=["vip"])
    other = await _customer(hub, firstName="Other")
    token = await _customer_key(hub, me["email"].upper())
    res = await hub.gql(CUSTOMER, {}, token=token)
    assert res["data"]["customer"]["id"] == me["id"]
    assert res["data"]["customer"]["segments"] == ["vip"]
    res = await hub.gql(CUSTOMER, {"id": me["id"]}, token=token)
    assert res["data"]["customer"]["firstName"] == "Me"
    res = await hub.gql(CUSTOMER, {"id": other["id"]}, token=token)
    assert res["data"]["customer"] is None and "errors" not in res
    # Storefronts and anonymous requests: no customer of their own, no one else's.
    for t in (None, hub.storefront_token):
        assert (await hub.gql(CUSTOMER, {}, token=t))["data"]["customer"] is None
        res = await hub.gql(CUSTOMER, {"id": me["id"]}, token=t)
        assert res["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
    # Staff see anyone; without an id there is no "own" customer for an admin key.
    assert (await hub.admin(CUSTOMER, {"id": other["id"]}))["data"]["customer"]["id"] == other["id"]
    assert (await hub.admin(CUSTOMER, {}))["data"]["customer"] is None
    res = await hub.admin(CUSTOMER, {"id": "not-an-id"})
    assert res["errors"][0]["extensions"]["code"] == "INVALID_ID"


async def test_customer_keys_are_checked_when_created(hub: Hub) -> None:
    me = await _customer(hub)
    before = await _counts(hub)
    with pytest.raises(InvalidScope):
        await create_api_key(hub.db, "x", ["storefront"], customer=me["email"])
    with pytest.raises(UnknownCustomer):
        await create_api_key(hub.db, "x", ["customer"], customer=f"nobody-{_uid()}@example.com")
    assert await _counts(hub) == before


async def test_demo_customers(hub: Hub) -> None:
    emails = [
        "buying@northwind-outfitters.example",
        "ava.chen@example.com",
        "sam.ortiz@example.com",
        "first.timer@example.com",
    ]
    found = {}
    for email in emails:
        pk = await hub.scalar("SELECT id FROM customers WHERE email = :e", e=email)
        res = await hub.admin(CUSTOMER, {"id": f"gid://hub/Customer/{pk}"})
        found[email] = res["data"]["customer"]
    wholesale = found["buying@northwind-outfitters.example"]
    assert wholesale["customerGroup"] == "wholesale" and wholesale["taxExemptVatId"]
    vip = found["ava.chen@example.com"]
    assert vip["segments"] == ["vip"] and vip["loyalty"] == {"tier": "gold"}
    assert found["first.timer@example.com"]["ordersCount"] == 0
    assert found["sam.ortiz@example.com"]["ordersCount"] > 0
    assert found["sam.ortiz@example.com"]["customerGroup"] is None


# --------------------------------------------------------------------------- price lists


async def test_price_list_lifecycle(hub: Hub) -> None:
    handle = f"pl-{_uid()}"
    res = await hub.admin(
        LIST_CREATE,
        {
            "i": {
                "handle": handle,
                "name": "Trade",
                "channel": "web",
                "customerGroup": f"trade-{_uid()}",
                "priority": 3,
                "startsAt": "2026-01-01T00:00:00Z",
            }
        },
    )
    out = res["data"]["priceListCreate"]
    assert out["userErrors"] == []
    pl = out["priceList"]
    assert (pl["handle"], pl["channel"], pl["currencyCode"], pl["priority"], pl["active"]) == (
        handle,
        {"handle": "web"},
        "USD",
        3,
        True,
    )
    assert pl["startsAt"].startswith("2026-01-01T00:00:00") and pl["endsAt"] is None

    v1, v2, v3 = await _web_variants(hub, 3)
    res = await hub.admin(
        ENTRIES_SET,
        {
            "id": pl["id"],
            "e": [
                {"variantId": v1, "minQuantity": 1, "amount": "10.00"},
                {"variantId": v1, "minQuantity": 10, "amount": "9"},
                {"variantId": v2, "amount": "7.5"},
            ],
        },
    )
    out = res["data"]["priceListEntriesSet"]
    assert out["userErrors"] == []
    got = [
        (e["variantId"], e["minQuantity"], e["price"]["amount"], bool(e["variant"]["sku"]))
        for e in out["priceList"]["entries"]["nodes"]
    ]
    assert sorted(got) == sorted(
        [(v1, 1, "10.00", True), (v1, 10, "9.00", True), (v2, 1, "7.50", True)]
    )
    # Upsert: the same (variant, minQuantity) replaces the price; others stay.
    res = await hub.admin(ENTRIES_SET, {"id": pl["id"], "e": [{"variantId": v1, "amount": "11"}]})
    nodes = res["data"]["priceListEntriesSet"]["priceList"]["entries"]["nodes"]
    assert {(e["variantId"], e["minQuantity"]): e["price"]["amount"] for e in nodes} == {
        (v1, 1): "11.00",
        (v1, 10): "9.00",
        (v2, 1): "7.50",
    }

    # Bad entries: every error reported, nothing written (not even the good entry).
    before = await _counts(hub)
    res = await hub.admin(
        ENTRIES_SET,
        {
            "id": pl["id"],
            "e": [
                {"variantId": v3, "amount": "1"},
                {"variantId": "gid://hub/ProductVariant/999999999", "amount": "1"},
                {"variantId": v3, "minQuantity": 0, "amount": "1"},
                {"variantId": v3, "minQuantity": 5, "amount": "-1"},
                {"variantId": v3, "amount": "2"},
                {"variantId": v3, "minQuantity": 6, "amount": "100000000"},
            ],
        },
    )
    out = res["data"]["priceListEntriesSet"]
    assert out["priceList"] is None
    assert [(e["code"], e["field"]) for e in out["userErrors"]] == [
        ("NOT_FOUND", ["entries", "1", "variantId"]),
        ("INVALID", ["entries", "2", "minQuantity"]),
        ("INVALID", ["entries", "3", "amount"]),
        ("TAKEN", ["entries", "4", "minQuantity"]),
        ("INVALID", ["entries", "5", "amount"]),
    ]
    # Not a decimal string at all: the input guard answers on the field first.
    res = await hub.admin(ENTRIES_SET, {"id": pl["id"], "e": [{"variantId": v3, "amount": "1e12"}]})
    assert [(e["code"], e["field"]) for e in res["data"]["priceListEntriesSet"]["userErrors"]] == [
        ("INVALID", ["entries", "0", "amount"])
    ]
    res = await hub.admin(
        ENTRIES_SET,
        {"id": "gid://hub/PriceList/999999999", "e": [{"variantId": v3, "amount": "1"}]},
    )
    assert _codes(res["data"]["priceListEntriesSet"]) == ["NOT_FOUND"]
    assert await _counts(hub) == before

    # A list with USD entries can't move to the EUR channel; bad updates change nothing.
    for variables, code in (
        ({"id": pl["id"], "i": {"channel": "eu"}}, "CURRENCY_MISMATCH"),
        ({"id": pl["id"], "i": {"currencyCode": "EUR"}}, "CURRENCY_MISMATCH"),
        ({"id": pl["id"], "i": {"endsAt": "2025-01-01T00:00:00Z"}}, "INVALID"),
        ({"id": pl["id"], "i": {"handle": "wholesale-web"}}, "TAKEN"),
        ({"id": pl["id"], "i": {"name": " "}}, "BLANK"),
        ({"id": "gid://hub/PriceList/999999999", "i": {"name": "x"}}, "NOT_FOUND"),
    ):
        out = (await hub.admin(LIST_UPDATE, variables))["data"]["priceListUpdate"]
        assert _codes(out) == [code] and out["priceList"] is None, variables
    out = (
        await hub.admin(
            LIST_UPDATE, {"id": pl["id"], "i": {"startsAt": None, "active": False, "priority": 0}}
        )
    )["data"]["priceListUpdate"]
    assert out["userErrors"] == []
    assert (out["priceList"]["startsAt"], out["priceList"]["active"]) == (None, False)

    # replace: true keeps only what is sent; an empty list empties it.
    res = await hub.admin(
        ENTRIES_SET, {"id": pl["id"], "r": True, "e": [{"variantId": v3, "amount": "3"}]}
    )
    nodes = res["data"]["priceListEntriesSet"]["priceList"]["entries"]["nodes"]
    assert [(e["variantId"], e["price"]["amount"]) for e in nodes] == [(v3, "3.00")]
    res = await hub.admin(ENTRIES_SET, {"id": pl["id"], "r": True, "e": []})
    assert res["data"]["priceListEntriesSet"]["priceList"]["entries"]["nodes"] == []
    # With no entries left it may move to another currency's channel.
    out = (await hub.admin(LIST_UPDATE, {"id": pl["id"], "i": {"channel": "eu"}}))["data"][
        "priceListUpdate"
    ]
    assert out["priceList"]["currencyCode"] == "EUR"

    res = await hub.admin(LIST_DELETE, {"id": pl["id"]})
    assert res["data"]["priceListDelete"] == {"deletedId": pl["id"], "userErrors": []}
    res = await hub.admin(LIST_DELETE, {"id": pl["id"]})
    assert _codes(res["data"]["priceListDelete"]) == ["NOT_FOUND"]


async def test_price_list_create_errors_write_nothing(hub: Hub) -> None:
    before = await _counts(hub)
    base = {"name": "x", "channel": "web", "customerGroup": "grp"}
    for inp, code, field in (
        ({"currencyCode": "EUR"}, "CURRENCY_MISMATCH", ["currencyCode"]),
        ({"channel": "mars"}, "NOT_FOUND", ["channel"]),
        ({"handle": "wholesale-web"}, "TAKEN", ["handle"]),
        ({"handle": "Bad Handle"}, "INVALID", ["handle"]),
        ({"customerGroup": None}, "BLANK", ["customerGroup"]),
        ({"startsAt": "2026-02-01T00:00:00Z", "endsAt": "2026-01-01T00:00:00Z"}, "INVALID",
         ["endsAt"]),
    ):  # fmt: skip
        out = (await hub.admin(LIST_CREATE, {"i": {"handle": f"e-{_uid()}", **base, **inp}}))[
            "data"
        ]["priceListCreate"]
        assert out["priceList"] is None
        assert [(e["code"], e["field"]) for e in out["userErrors"]] == [(code, field)], inp
    assert await _counts(hub) == before


async def test_price_lists_and_entries_page_without_n_plus_1(hub: Hub) -> None:
    variants = await _web_variants(hub, 4)
    # Page after the lists other tests made, so both pages hold this test's lists only
    # (their variants, and so the statements the page needs, are the same).
    before = await hub.admin("{ priceLists(first: 250) { pageInfo { endCursor } } }")
    after = before["data"]["priceLists"]["pageInfo"]["endCursor"]
    for _ in range(3):
        pl = (
            await hub.admin(
                LIST_CREATE,
                {"i": {"handle": f"n1-{_uid()}", "name": "n", "channel": "web",
                       "customerGroup": f"n1-{_uid()}"}},
            )
        )["data"]["priceListCreate"]["priceList"]  # fmt: skip
        await hub.admin(
            ENTRIES_SET,
            {
                "id": pl["id"],
                "e": [{"variantId": v, "minQuantity": q, "amount": "5"} for v in variants
                      for q in (1, 5)],
            },
        )  # fmt: skip
    doc = """query($n: Int!, $after: String) { priceLists(first: $n, after: $after) {
      pageInfo { hasNextPage }
      nodes { handle channel { handle } entries(first: 3) {
        pageInfo { hasNextPage endCursor } nodes { minQuantity variant { sku } } } } } }"""
    counts = []
    for n in (1, 3):
        with hub.count_statements() as seen:
            res = await hub.admin(doc, {"n": n, "after": after})
        nodes = res["data"]["priceLists"]["nodes"]
        assert len(nodes) == n
        counts.append(len(seen))
    assert counts[0] == counts[1]

    # Paging through one list's entries with cursors visits each entry once.
    pl_id = pl["id"]
    page_doc = """query($id: ID!, $after: String) { priceList(id: $id) {
      entries(first: 3, after: $after) { pageInfo { hasNextPage endCursor }
                                         nodes { variantId minQuantity } } } }"""
    seen_entries, after = [], None
    while True:
        res = await hub.admin(page_doc, {"id": pl_id, "after": after})
        conn = res["data"]["priceList"]["entries"]
        seen_entries += [(e["variantId"], e["minQuantity"]) for e in conn["nodes"]]
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert len(seen_entries) == 8 == len(set(seen_entries))
    res = await hub.admin(page_doc, {"id": pl_id, "after": "garbage"})
    assert res["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"


# --------------------------------------------------------------------------- shipping


async def test_shipping_zone_and_rate_lifecycle(hub: Hub) -> None:
    handle = f"zone-{_uid()}"
    res = await hub.admin(
        ZONE_CREATE,
        {"i": {"handle": handle, "name": "Nordics", "countries": ["se", "NO", "DK"],
               "regions": []}},
    )  # fmt: skip
    out = res["data"]["shippingZoneCreate"]
    assert out["userErrors"] == []
    zone = out["shippingZone"]
    assert zone["countries"] == ["SE", "NO", "DK"] and zone["rates"] == []

    rate_in = {
        "zoneId": zone["id"],
        "handle": f"rate-{_uid()}",
        "title": "Parcel",
        "currencyCode": "SEK",
        "kind": "WEIGHT",
        "minWeightGrams": 0,
        "maxWeightGrams": 5000,
        "amount": "79",
        "freeOverSubtotal": "999.5",
        "minDays": 2,
        "maxDays": 4,
    }
    out = (await hub.admin(RATE_CREATE, {"i": rate_in}))["data"]["shippingRateCreate"]
    assert out["userErrors"] == []
    rate = out["shippingRate"]
    assert (rate["kind"], rate["amount"], rate["freeOverSubtotal"], rate["maxWeightGrams"]) == (
        "WEIGHT",
        {"amount": "79.00", "currencyCode": "SEK"},
        {"amount": "999.50"},
        5000,
    )

    before = await _counts(hub)
    for inp, code, field in (
        ({"handle": rate_in["handle"]}, "TAKEN", ["handle"]),
        ({"handle": f"r-{_uid()}", "kind": "FLAT"}, "INVALID", ["minWeightGrams"]),
        ({"handle": f"r-{_uid()}", "currencyCode": "SEKK"}, "INVALID", ["currencyCode"]),
        ({"handle": f"r-{_uid()}", "zoneId": "gid://hub/ShippingZone/999999999"}, "NOT_FOUND",
         ["zoneId"]),
        ({"handle": f"r-{_uid()}", "zoneId": "gid://hub/Product/1"}, "INVALID", ["zoneId"]),
        ({"handle": f"r-{_uid()}", "amount": "-5"}, "INVALID", ["amount"]),
        ({"handle": f"r-{_uid()}", "maxDays": 1}, "INVALID", ["maxDays"]),
    ):  # fmt: skip
        out = (await hub.admin(RATE_CREATE, {"i": {**rate_in, **inp}}))["data"][
            "shippingRateCreate"
        ]
        assert out["shippingRate"] is None
        assert [(e["code"], e["field"]) for e in out["userErrors"]] == [(code, field)], inp
    for inp, code in (
        ({"countries": ["SWE"]}, "INVALID"),
        ({"countries": []}, "BLANK"),
        ({"regions": ["US-CA"]}, "INVALID"),
        ({"handle": "us"}, "TAKEN"),
    ):
        out = (await hub.admin(ZONE_UPDATE, {"id": zone["id"], "i": inp}))["data"][
            "shippingZoneUpdate"
        ]
        assert _codes(out) == [code] and out["shippingZone"] is None, inp
    assert await _counts(hub) == before

    # Update: a SUBTOTAL rate needs its weight band cleared (null), amounts re-read.
    out = (
        await hub.admin(
            RATE_UPDATE,
            {"id": rate["id"], "i": {"kind": "SUBTOTAL", "minWeightGrams": None,
                                     "maxWeightGrams": None, "minSubtotal": "100",
                                     "freeOverSubtotal": None}},
        )
    )["data"]["shippingRateUpdate"]  # fmt: skip
    assert out["userErrors"] == []
    r = out["shippingRate"]
    assert (r["kind"], r["minWeightGrams"], r["minSubtotal"], r["freeOverSubtotal"]) == (
        "SUBTOTAL",
        None,
        {"amount": "100.00"},
        None,
    )
    assert r["amount"] == {"amount": "79.00", "currencyCode": "SEK"}
    out = (await hub.admin(RATE_UPDATE, {"id": rate["id"], "i": {"kind": "WEIGHT"}}))["data"][
        "shippingRateUpdate"
    ]
    assert _codes(out) == ["INVALID"]  # still has a subtotal band
    out = (
        await hub.admin(
            RATE_UPDATE, {"id": "gid://hub/ShippingRate/999999999", "i": {"title": "x"}}
        )
    )["data"]["shippingRateUpdate"]
    assert _codes(out) == ["NOT_FOUND"]

    out = (
        await hub.admin(
            ZONE_UPDATE, {"id": zone["id"], "i": {"regions": ["SE-AB"], "name": "Sthlm"}}
        )
    )["data"]["shippingZoneUpdate"]
    assert out["userErrors"] == []
    assert (out["shippingZone"]["name"], out["shippingZone"]["regions"]) == ("Sthlm", ["SE-AB"])
    assert [x["id"] for x in out["shippingZone"]["rates"]] == [rate["id"]]
    # Dropping SE from the countries would orphan the SE-AB region: refused.
    out = (await hub.admin(ZONE_UPDATE, {"id": zone["id"], "i": {"countries": ["NO"]}}))["data"][
        "shippingZoneUpdate"
    ]
    assert _codes(out) == ["INVALID"]

    res = await hub.admin(ZONES)
    mine = [z for z in res["data"]["shippingZones"] if z["handle"] == handle]
    assert len(mine) == 1 and mine[0]["rates"][0]["handle"] == rate_in["handle"]
    assert {"us", "us-remote", "eu"} <= {z["handle"] for z in res["data"]["shippingZones"]}

    res = await hub.admin(RATE_DELETE, {"id": rate["id"]})
    assert res["data"]["shippingRateDelete"] == {"deletedId": rate["id"], "userErrors": []}
    assert _codes(
        (await hub.admin(RATE_DELETE, {"id": rate["id"]}))["data"]["shippingRateDelete"]
    ) == ["NOT_FOUND"]
    await hub.admin(RATE_CREATE, {"i": {**rate_in, "handle": f"r-{_uid()}"}})
    res = await hub.admin(ZONE_DELETE, {"id": zone["id"]})
    assert res["data"]["shippingZoneDelete"]["userErrors"] == []
    assert (
        await hub.scalar(
            "SELECT count(*) FROM shipping_rates WHERE zone_id = :z",
            z=int(zone["id"].rsplit("/", 1)[1]),
        )
        == 0
    )
    res = await hub.admin(ZONE_DELETE, {"id": zone["id"]})
    assert _codes(res["data"]["shippingZoneDelete"]) == ["NOT_FOUND"]


async def test_shipping_zones_query_is_two_statements(hub: Hub) -> None:
    with hub.count_statements() as seen:
        res = await hub.admin(ZONES)
    assert len(res["data"]["shippingZones"]) >= 3
    # Authentication, zones, rates: whatever the number of zones.
    assert len(seen) <= 3


def _cli(hub: Hub, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HUB_DATABASE_URL": hub.db.settings.database_url}
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", "apikey", "create", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_cli_creates_a_key_for_a_customer(hub: Hub) -> None:
    email = "Ava.Chen@example.com"
    out = await asyncio.to_thread(_cli, hub, "--scope", "customer", "--customer", email)
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    assert "for customer ava.chen@example.com" in out.stderr
    res = await hub.gql(CUSTOMER, {}, token=token)
    assert res["data"]["customer"]["email"] == "ava.chen@example.com"
    before = await _counts(hub)
    missing = await asyncio.to_thread(
        _cli, hub, "--scope", "customer", "--customer", "nobody@example.com"
    )
    assert missing.returncode == 1 and "no customer" in missing.stderr
    wrong = await asyncio.to_thread(_cli, hub, "--scope", "storefront", "--customer", email)
    assert wrong.returncode == 2 and "--scope customer" in wrong.stderr
    assert await _counts(hub) == before
