"""Promotions admin over GraphQL, on SQLite and PostgreSQL: scopes, the create/query
round trip, validation errors with their paths (and nothing written), codes one by one
and by the thousand, delete vs archive, and the demo's DEMO10.

Automatic promotions made here are in SEK, a currency no channel uses, so they never
touch the carts other tests price."""

from __future__ import annotations

import math
import uuid
from typing import Any

from hub.domain.promotions import CODE_ALPHABET
from tests.helpers.client import Hub

FIELDS = """
  id title status method priority definition currencyCode startsAt endsAt
  usageLimit perCustomerLimit timesUsed codesCount createdAt updatedAt
  budget { amount currencyCode } budgetSpent { amount currencyCode }
"""
CREATE = f"""
mutation($input: PromotionInput!) {{
  promotionCreate(input: $input) {{
    promotion {{ {FIELDS} }}
    userErrors {{ field message code }}
  }}
}}
"""
UPDATE = f"""
mutation($id: ID!, $input: PromotionInput!) {{
  promotionUpdate(id: $id, input: $input) {{
    promotion {{ {FIELDS} }}
    userErrors {{ field message code }}
  }}
}}
"""
GET = f"query($id: ID!) {{ promotion(id: $id) {{ {FIELDS} }} }}"
LIST = """
query($q: String, $first: Int, $after: String) {
  promotions(first: $first, after: $after, query: $q) {
    pageInfo { hasNextPage endCursor }
    nodes { id title method codesCount codes(first: 2) { nodes { code } pageInfo { hasNextPage } } }
  }
}
"""
CODE_CREATE = """
mutation($p: ID!, $code: String!, $limit: Int) {
  discountCodeCreate(promotionId: $p, code: $code, usageLimit: $limit) {
    discountCode { id code usageLimit timesUsed }
    userErrors { field message code }
  }
}
"""
GENERATE = """
mutation($p: ID!, $count: Int!, $prefix: String, $length: Int) {
  discountCodesGenerate(promotionId: $p, count: $count, prefix: $prefix, length: $length) {
    promotion { id codesCount }
    codes
    userErrors { field message code }
  }
}
"""
DELETE = """
mutation($id: ID!) { promotionDelete(id: $id) { deletedId userErrors { field message code } } }
"""

PERCENT_10 = {
    "conditions": [{"type": "min_subtotal", "amount": 5000}],
    "action": {"type": "percent_off", "percent": "10"},
    "combination": {"class": "ORDER", "combines_with": ["PRODUCT", "SHIPPING"]},
}


def _uid() -> str:
    return uuid.uuid4().hex[:8]


def _input(**extra: Any) -> dict[str, Any]:
    return {
        "title": f"Spring {_uid()}",
        "definition": PERCENT_10,
        "currencyCode": "SEK",
        **extra,
    }


async def _count(hub: Hub, table: str) -> int:
    return await hub.scalar(f"SELECT count(*) FROM {table}")


async def _create(hub: Hub, **extra: Any) -> dict[str, Any]:
    res = await hub.admin(CREATE, {"input": _input(**extra)})
    payload = res["data"]["promotionCreate"]
    assert payload["userErrors"] == [], payload
    return payload["promotion"]


async def test_needs_the_admin_scope_and_writes_nothing(hub: Hub) -> None:
    before = await _count(hub, "promotions")
    for token in (None, hub.storefront_token):
        res = await hub.gql(CREATE, {"input": _input()}, token=token)
        assert res["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
        res = await hub.gql("{ promotions(first: 5) { nodes { id } } }", token=token)
        assert res["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
    assert await _count(hub, "promotions") == before


async def test_create_and_read_back(hub: Hub) -> None:
    p = await _create(
        hub,
        priority=7,
        startsAt="2026-03-01T00:00:00Z",
        endsAt="2026-04-01T00:00:00+02:00",
        usageLimit=100,
        perCustomerLimit=1,
        budget="2500.50",
    )
    assert p["id"].startswith("gid://hub/Promotion/")
    assert (p["status"], p["method"], p["priority"]) == ("ACTIVE", "AUTOMATIC", 7)
    assert p["definition"] == PERCENT_10
    assert p["budget"] == {"amount": "2500.50", "currencyCode": "SEK"}
    assert p["budgetSpent"] == {"amount": "0.00", "currencyCode": "SEK"}
    assert (p["usageLimit"], p["perCustomerLimit"], p["timesUsed"], p["codesCount"]) == (
        100,
        1,
        0,
        0,
    )
    assert p["startsAt"].startswith("2026-03-01T00:00:00")
    assert p["endsAt"].startswith("2026-03-31T22:00:00")  # stored in UTC
    got = (await hub.admin(GET, {"id": p["id"]}))["data"]["promotion"]
    assert got == p
    listed = await hub.admin(LIST, {"q": p["title"].split()[1], "first": 5})
    assert [n["id"] for n in listed["data"]["promotions"]["nodes"]] == [p["id"]]


async def test_validation_errors_name_the_path_and_write_nothing(hub: Hub) -> None:
    before = await _count(hub, "promotions")
    cases = [
        (
            {"definition": {**PERCENT_10, "action": {"type": "percent_off", "percent": "150"}}},
            ["definition", "action", "percent"],
            "INVALID",
        ),
        (
            {"definition": {**PERCENT_10, "action": {"type": "percent_off", "percent": 12.5}}},
            ["definition", "action", "percent"],
            "INVALID",
        ),
        (
            {"definition": {**PERCENT_10, "conditions": [{"type": "min_subtotal"}]}},
            ["definition", "conditions", "0", "amount"],
            "INVALID",
        ),
        (
            {"definition": {**PERCENT_10, "action": {"type": "percnt_off", "percent": "5"}}},
            ["definition", "action", "type"],
            "INVALID",
        ),
        (
            {
                "definition": {
                    **PERCENT_10,
                    "conditions": [{"type": "coupon_code", "codes": ["X"]}],
                }
            },
            ["definition", "conditions", "0"],
            "INVALID",
        ),
        ({"definition": {**PERCENT_10, "title": "x"}}, ["definition"], "INVALID"),
        (
            {
                "currencyCode": None,
                "definition": {**PERCENT_10, "action": {"type": "fixed_off", "amount": 500}},
            },
            ["currencyCode"],
            "BLANK",
        ),
        ({"title": "  "}, ["title"], "BLANK"),
        ({"currencyCode": "XYZ"}, ["currencyCode"], "INVALID"),
        ({"usageLimit": 0}, ["usageLimit"], "INVALID"),
        (
            {"startsAt": "2026-05-01T00:00:00Z", "endsAt": "2026-04-01T00:00:00Z"},
            ["endsAt"],
            "INVALID",
        ),
        ({"budget": "10", "currencyCode": None}, ["currencyCode"], "BLANK"),
        ({"budget": "1e30"}, ["budget"], "INVALID"),
        ({"startsAt": "2026-05-01T00:00:00"}, ["startsAt"], "INVALID"),
    ]
    for extra, field, code in cases:
        res = await hub.admin(CREATE, {"input": _input(**extra)})
        payload = res["data"]["promotionCreate"]
        assert payload["promotion"] is None, extra
        errors = payload["userErrors"]
        assert [(e["field"], e["code"]) for e in errors][:1] == [(field, code)], (extra, errors)
        assert errors[0]["message"]
    # The engine's message, with the full path, reaches the client.
    res = await hub.admin(CREATE, {"input": _input(**cases[0][0])})
    message = res["data"]["promotionCreate"]["userErrors"][0]["message"]
    assert message.startswith("definition.action.percent:") and "100" in message
    assert await _count(hub, "promotions") == before


async def test_update_and_its_guards(hub: Hub) -> None:
    p = await _create(hub, usageLimit=10)
    new_definition = {**PERCENT_10, "action": {"type": "percent_off", "percent": "12.5"}}
    res = await hub.admin(
        UPDATE, {"id": p["id"], "input": {"definition": new_definition, "status": "PAUSED"}}
    )
    out = res["data"]["promotionUpdate"]
    assert out["userErrors"] == []
    q = out["promotion"]
    assert q["definition"]["action"]["percent"] == "12.5" and q["status"] == "PAUSED"
    assert q["updatedAt"] > p["updatedAt"] and q["usageLimit"] == 10 and q["title"] == p["title"]
    # null clears a limit; a field left out stays.
    res = await hub.admin(UPDATE, {"id": p["id"], "input": {"usageLimit": None}})
    assert res["data"]["promotionUpdate"]["promotion"]["usageLimit"] is None
    pk = int(p["id"].rsplit("/", 1)[1])
    async with hub.db.transaction() as conn:
        from sqlalchemy import text

        await conn.execute(text("UPDATE promotions SET times_used = 5 WHERE id = :id"), {"id": pk})
    for inp, field in (
        ({"usageLimit": 4}, ["usageLimit"]),
        ({"method": "CODE"}, ["method"]),
        ({"title": None}, ["title"]),
    ):
        res = await hub.admin(UPDATE, {"id": p["id"], "input": inp})
        out = res["data"]["promotionUpdate"]
        assert out["promotion"] is None and out["userErrors"][0]["field"] == field, out
    got = (await hub.admin(GET, {"id": p["id"]}))["data"]["promotion"]
    assert got["usageLimit"] is None and got["method"] == "AUTOMATIC"
    res = await hub.admin(UPDATE, {"id": "gid://hub/Promotion/999999999", "input": {"priority": 1}})
    assert res["data"]["promotionUpdate"]["userErrors"][0]["code"] == "NOT_FOUND"


async def test_codes_one_by_one(hub: Hub) -> None:
    auto = await _create(hub)
    coded = await _create(hub, method="CODE")
    code = f"Summer-{_uid()}"
    res = await hub.admin(CODE_CREATE, {"p": coded["id"], "code": code, "limit": 50})
    out = res["data"]["discountCodeCreate"]
    assert out["userErrors"] == []
    assert out["discountCode"]["code"] == code and out["discountCode"]["usageLimit"] == 50
    before = await _count(hub, "discount_codes")
    for p, c, field, err in (
        (coded["id"], f"  {code.upper()} ", ["code"], "TAKEN"),  # same once normalized
        (coded["id"], "two words", ["code"], "INVALID"),
        (coded["id"], "", ["code"], "BLANK"),
        (auto["id"], f"A{_uid()}", ["promotionId"], "INVALID"),
        ("gid://hub/Promotion/999999999", f"A{_uid()}", ["promotionId"], "NOT_FOUND"),
        ("gid://hub/Product/1", f"A{_uid()}", ["promotionId"], "INVALID"),
    ):
        res = await hub.admin(CODE_CREATE, {"p": p, "code": c})
        out = res["data"]["discountCodeCreate"]
        assert out["discountCode"] is None
        assert (out["userErrors"][0]["field"], out["userErrors"][0]["code"]) == (field, err)
    assert await _count(hub, "discount_codes") == before


async def test_bulk_generation(hub: Hub) -> None:
    p = await _create(hub, method="CODE")
    with hub.count_statements() as seen:
        res = await hub.admin(GENERATE, {"p": p["id"], "count": 1000, "prefix": "VIP-"})
    out = res["data"]["discountCodesGenerate"]
    assert out["userErrors"] == []
    codes = out["codes"]
    assert len(codes) == len(set(codes)) == 1000
    assert out["promotion"]["codesCount"] == 1000
    for code in codes:
        assert code.startswith("VIP-") and len(code) == 4 + 12
        assert set(code[4:]) <= set(CODE_ALPHABET)
    assert math.log2(len(CODE_ALPHABET)) * 12 >= 60  # bits of the random part
    # Drawn at random: every symbol shows up, none dominates (12,000 draws of 32).
    counts = {ch: sum(c[4:].count(ch) for c in codes) for ch in CODE_ALPHABET}
    assert min(counts.values()) > 200 and max(counts.values()) < 600
    inserts = [s for s in seen if s.lstrip().upper().startswith("INSERT INTO DISCOUNT_CODES")]
    assert len(inserts) == 1
    before = await _count(hub, "discount_codes")
    for args, field, err in (
        ({"count": 10001}, ["count"], "LIMIT_EXCEEDED"),
        ({"count": 0}, ["count"], "INVALID"),
        ({"count": 5, "length": 4}, ["length"], "INVALID"),
        ({"count": 5, "prefix": "no spaces"}, ["prefix"], "INVALID"),
    ):
        res = await hub.admin(GENERATE, {"p": p["id"], **args})
        out = res["data"]["discountCodesGenerate"]
        assert out["codes"] == [] and out["promotion"] is None
        assert (out["userErrors"][0]["field"], out["userErrors"][0]["code"]) == (field, err)
    assert await _count(hub, "discount_codes") == before
    # The maximum in one go.
    res = await hub.admin(GENERATE, {"p": p["id"], "count": 10000, "length": 8})
    out = res["data"]["discountCodesGenerate"]
    assert out["userErrors"] == [] and len(set(out["codes"])) == 10000
    assert out["promotion"]["codesCount"] == 11000
    # A generated code finds its promotion in the admin search.
    res = await hub.admin(LIST, {"q": codes[0].lower(), "first": 5})
    assert [n["id"] for n in res["data"]["promotions"]["nodes"]] == [p["id"]]


async def test_listing_with_codes_is_a_constant_number_of_statements(hub: Hub) -> None:
    async def statements(first: int) -> int:
        with hub.count_statements() as seen:
            res = await hub.admin(LIST, {"first": first})
        assert "errors" not in res
        assert len(res["data"]["promotions"]["nodes"]) == first
        return len(seen)

    assert await statements(3) == await statements(15)


async def test_delete_unused_archive_used(hub: Hub) -> None:
    unused = await _create(hub, method="CODE")
    await hub.admin(CODE_CREATE, {"p": unused["id"], "code": f"D{_uid()}"})
    res = await hub.admin(DELETE, {"id": unused["id"]})
    assert res["data"]["promotionDelete"] == {"deletedId": unused["id"], "userErrors": []}
    assert (await hub.admin(GET, {"id": unused["id"]}))["data"]["promotion"] is None
    used = await _create(hub)
    pk = int(used["id"].rsplit("/", 1)[1])
    async with hub.db.transaction() as conn:
        from sqlalchemy import text

        await conn.execute(
            text(
                "INSERT INTO promotion_redemptions (promotion_id, order_ref, amount, currency, "
                "created_at) VALUES (:p, 'o-1', 100, 'SEK', CURRENT_TIMESTAMP)"
            ),
            {"p": pk},
        )
    res = await hub.admin(DELETE, {"id": used["id"]})
    out = res["data"]["promotionDelete"]
    assert out["deletedId"] is None and out["userErrors"][0]["code"] == "IN_USE"
    res = await hub.admin(UPDATE, {"id": used["id"], "input": {"status": "ARCHIVED"}})
    assert res["data"]["promotionUpdate"]["promotion"]["status"] == "ARCHIVED"
    res = await hub.admin(DELETE, {"id": "gid://hub/Promotion/999999999"})
    assert res["data"]["promotionDelete"]["userErrors"][0]["code"] == "NOT_FOUND"


async def test_demo_promotions(hub: Hub) -> None:
    res = await hub.admin(LIST, {"q": "DEMO10", "first": 5})
    [demo] = res["data"]["promotions"]["nodes"]
    assert demo["method"] == "CODE" and demo["codes"]["nodes"] == [{"code": "DEMO10"}]
    got = (await hub.admin(GET, {"id": demo["id"]}))["data"]["promotion"]
    assert got["definition"]["action"] == {"type": "percent_off", "percent": "10", "target": None}
    assert got["definition"]["combination"]["class"] == "ORDER"
    assert "PRODUCT" in got["definition"]["combination"]["combines_with"]
    kinds = set()
    conditions = set()
    after = None
    while True:
        res = await hub.admin(
            "query($after: String) { promotions(first: 50, after: $after) { "
            "pageInfo { hasNextPage endCursor } nodes { title definition } } }",
            {"after": after},
        )
        page = res["data"]["promotions"]
        for node in page["nodes"]:
            if node["title"].startswith(("Spring", "test", "bulk")):
                continue
            kinds.add(node["definition"]["action"]["type"])
            conditions.update(c["type"] for c in node["definition"]["conditions"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert kinds >= {
        "percent_off",
        "fixed_off",
        "buy_x_get_y",
        "tiered_spend",
        "volume_tiers",
        "mix_and_match",
        "bundle_price",
        "free_shipping",
    }
    assert conditions >= {"first_order", "customer_segment", "channel", "min_subtotal"}
