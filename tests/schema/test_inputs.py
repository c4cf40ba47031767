"""Clean errors for every input, on SQLite and PostgreSQL, over GraphQL.

Each finding of the outside probe (issue 7, points 8 and 10) and of the schemathesis
runs has its case here: NUL and control characters, over-long text and emails,
decimals outside what a column holds or with more decimals than the currency,
exponents, NaN, integers that would take a stock level past 32 bits, non-ASCII digits
in ids and cursors. Each is refused with a stable code (userErrors in mutations that
have them, ``extensions.code`` otherwise), never ``Internal error``, and writes nothing.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from hub.bounds import INT32_MAX
from hub.demo import NEWARK
from tests.helpers.carts import create, stocked_variant, uid
from tests.helpers.checkout import CHECKOUT, level
from tests.helpers.client import Hub
from tests.helpers.inventory import make_variant, op

PRICES_SET = """mutation($p: [VariantPriceInput!]!) { productVariantPricesSet(prices: $p) {
  variants { id price { amount currencyCode } } userErrors { field code message } } }"""
NOTE = """mutation($c: ID!, $n: String) { cartNoteUpdate(cartId: $c, note: $n) {
  cart { note } userErrors { field code message } } }"""
CODES = """mutation($c: ID!, $d: [String!]!) { cartDiscountCodesUpdate(cartId: $c,
  discountCodes: $d) { cart { discountCodes { code } } userErrors { field code message } } }"""
BUYER = """mutation($c: ID!, $b: CartBuyerIdentityInput!) { cartBuyerIdentityUpdate(cartId: $c,
  buyerIdentity: $b) { cart { buyerIdentity { email } } userErrors { field code message } } }"""
PRODUCT_CREATE = """mutation($i: ProductInput!) { productCreate(input: $i) {
  product { id title description } userErrors { field code message } } }"""
LISTING = """query($f: ProductFilterInput, $q: String, $a: String) {
  products(first: 5, filter: $f, query: $q, after: $a) { nodes { id } } }"""


def _no_internal(res: dict[str, Any]) -> None:
    for err in res.get("errors") or []:
        assert not err["message"].startswith("Internal error"), res


def _error_code(res: dict[str, Any]) -> str:
    _no_internal(res)
    assert res.get("errors"), res
    return res["errors"][0]["extensions"]["code"]


def _user_errors(res: dict[str, Any], name: str) -> list[tuple[str, list[str]]]:
    _no_internal(res)
    assert "errors" not in res, res
    return [(e["code"], e["field"]) for e in res["data"][name]["userErrors"]]


async def _cart(hub: Hub) -> str:
    return (await create(hub, {"lines": [{"merchandiseId": "gid://hub/ProductVariant/1"}]}))[
        "cart"
    ]["id"]


# --------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("query($h: String) { product(handle: $h) { id } }", {"h": "tee\x00"}),
        (LISTING, {"q": "tee\x00shirt"}),
        (LISTING, {"f": {"vendor": "a\x00"}}),
        ("query($c: String) @inContext(channel: $c) { currentChannel { handle } }", {"c": "w\x00"}),
        ("query($c: String!) { giftCardBalance(code: $c) { expiresAt } }", {"c": "DEMO\x00"}),
        ("query($h: String) { collection(handle: $h) { id } }", {"h": "x\x1b[31m"}),
    ],
)
async def test_nul_and_control_characters_in_queries_are_bad_user_input(
    hub: Hub, query: str, variables: dict[str, Any]
) -> None:
    assert _error_code(await hub.gql(query, variables)) == "BAD_USER_INPUT"


async def test_nul_in_a_literal_is_refused_too(hub: Hub) -> None:
    res = await hub.gql('{ product(handle: "tee\\u0000") { id } }')
    assert _error_code(res) == "BAD_USER_INPUT"
    assert "U+0000" in res["errors"][0]["message"]


async def test_cart_note_and_codes_with_nul_are_user_errors_and_change_nothing(hub: Hub) -> None:
    cid = await _cart(hub)
    ok = await hub.gql(NOTE, {"c": cid, "n": "ring twice\n\tthen wait"})
    assert _user_errors(ok, "cartNoteUpdate") == []  # free text: tab and newline are fine
    assert ok["data"]["cartNoteUpdate"]["cart"]["note"] == "ring twice\n\tthen wait"
    with hub.count_statements() as seen:
        res = await hub.gql(NOTE, {"c": cid, "n": "a\x00b"})
    assert _user_errors(res, "cartNoteUpdate") == [("INVALID", ["note"])]
    assert seen == []  # refused before the resolver: not a single statement
    for bad in ("DEMO10\x00", "DEMO\n10", "x" * 65):
        res = await hub.gql(CODES, {"c": cid, "d": ["DEMO10", bad]})
        code = "TOO_LONG" if len(bad) > 64 else "INVALID"
        assert _user_errors(res, "cartDiscountCodesUpdate") == [(code, ["discountCodes", "1"])]
    cart = await hub.gql(
        "query($c: ID!) { cart(id: $c) { note discountCodes { code } } }", {"c": cid}
    )
    assert cart["data"]["cart"] == {"note": "ring twice\n\tthen wait", "discountCodes": []}


async def test_single_line_fields_refuse_line_breaks_free_text_takes_them(hub: Hub) -> None:
    h = f"in-{uid()}"
    bad = await hub.admin(PRODUCT_CREATE, {"i": {"handle": h, "title": "Two\nlines"}})
    assert _user_errors(bad, "productCreate") == [("INVALID", ["title"])]
    nul = await hub.admin(PRODUCT_CREATE, {"i": {"handle": h, "title": "T", "description": "\x00"}})
    assert _user_errors(nul, "productCreate") == [("INVALID", ["description"])]
    assert await hub.scalar("SELECT count(*) FROM products WHERE handle = :h", h=h) == 0
    good = await hub.admin(
        PRODUCT_CREATE, {"i": {"handle": h, "title": "T", "description": "One\n\n\tTwo"}}
    )
    assert _user_errors(good, "productCreate") == []
    assert good["data"]["productCreate"]["product"]["description"] == "One\n\n\tTwo"


async def test_over_long_text_is_too_long_for_its_column(hub: Hub) -> None:
    channel = """mutation($i: ChannelInput!) { channelCreate(input: $i) {
      channel { id } userErrors { field code } } }"""
    res = await hub.admin(
        channel,
        {"i": {"handle": "c" * 65, "name": "X", "currencyCode": "USD", "defaultCountry": "US"}},
    )
    assert _user_errors(res, "channelCreate") == [("TOO_LONG", ["handle"])]
    vid = await make_variant(hub)
    res = await hub.gql(
        """mutation($i: InventoryAdjustInput!) { inventoryAdjust(input: $i) {
        userErrors { field code } } }""",
        {
            "i": {
                "variantId": vid,
                "locationId": f"gid://hub/Location/{NEWARK}",
                "delta": 1,
                "reason": "received",
                "idempotencyKey": "k" * 256,
            }
        },
        token=hub.admin_token,
    )
    assert _user_errors(res, "inventoryAdjust") == [("TOO_LONG", ["idempotencyKey"])]
    res = await hub.gql(LISTING, {"q": "x" * 256})
    assert _error_code(res) == "BAD_USER_INPUT"


async def test_emails_are_checked_for_shape_and_length(hub: Hub) -> None:
    cid = await _cart(hub)
    long = "x" * 250 + "@example.com"  # 262 characters: the column holds 255
    res = await hub.gql(BUYER, {"c": cid, "b": {"email": long}})
    assert _user_errors(res, "cartBuyerIdentityUpdate") == [
        ("TOO_LONG", ["buyerIdentity", "email"])
    ]
    for bad in ("nope", "a@b@c.com", "a b@example.com", "a@localhost"):
        res = await hub.gql(BUYER, {"c": cid, "b": {"email": bad}})
        assert _user_errors(res, "cartBuyerIdentityUpdate") == [
            ("INVALID", ["buyerIdentity", "email"])
        ], bad
    res = await hub.gql(BUYER, {"c": cid, "b": {"email": " Ada@Example.COM "}})
    assert res["data"]["cartBuyerIdentityUpdate"]["cart"]["buyerIdentity"]["email"] == (
        "ada@example.com"
    )
    customer = """mutation($i: CustomerInput!) { staffCustomerCreate(input: $i) {
      customer { id } userErrors { field code } } }"""
    res = await hub.admin(customer, {"i": {"email": "a" * 64 + "@" + "b" * 190 + ".com"}})
    assert _user_errors(res, "staffCustomerCreate") == [("TOO_LONG", ["email"])]
    res = await hub.admin(customer, {"i": {"email": "not-an-email"}})
    assert _user_errors(res, "staffCustomerCreate") == [("INVALID", ["email"])]


async def test_scope_is_checked_before_input(hub: Hub) -> None:
    res = await hub.gql(PRODUCT_CREATE, {"i": {"handle": "x", "title": "a\x00"}})
    assert _error_code(res) == "ACCESS_DENIED"


# --------------------------------------------------------------------------- money


async def test_prices_beyond_the_column_or_the_currency_are_refused(hub: Hub) -> None:
    vid = await make_variant(hub)  # priced 10 in web
    for amount, message in (
        ("1e30", "decimal string"),
        ("1E+2", "decimal string"),
        ("NaN", "decimal string"),
        ("-Infinity", "decimal string"),
        ("١٢", "decimal string"),
        ("100000000000", "largest"),
        ("21474836.48", "largest"),
        ("0.001", "at most 2 decimals"),
        ("-1", "negative"),
    ):
        res = await hub.admin(
            PRICES_SET, {"p": [{"variantId": vid, "channel": "web", "amount": amount}]}
        )
        assert _user_errors(res, "productVariantPricesSet") == [
            ("INVALID", ["prices", "0", "amount"])
        ], amount
        assert message in res["data"]["productVariantPricesSet"]["userErrors"][0]["message"]
    # The same through a literal rather than a variable.
    literal = f'[{{variantId: "{vid}", channel: "web", amount: "1e30"}}]'
    res = await hub.admin(
        f"mutation {{ productVariantPricesSet(prices: {literal}) "
        "{ userErrors { field code } } }"
    )
    assert _user_errors(res, "productVariantPricesSet") == [("INVALID", ["prices", "0", "amount"])]
    vpk = int(vid.rsplit("/", 1)[1])
    assert (
        await hub.scalar("SELECT amount FROM variant_prices WHERE variant_id = :v", v=vpk) == 1000
    )
    res = await hub.admin(
        PRICES_SET, {"p": [{"variantId": vid, "channel": "web", "amount": "21474836.47"}]}
    )
    assert res["data"]["productVariantPricesSet"]["variants"][0]["price"]["amount"] == (
        "21474836.47"
    )


async def test_price_filters_take_any_decimal_and_refuse_exponents(hub: Hub) -> None:
    for bound in ("10000000000", "100000000000000000000000000000", "21474836.48"):
        res = await hub.gql(LISTING, {"f": {"price": {"min": bound}}})
        _no_internal(res)
        assert res["data"]["products"]["nodes"] == [], bound
    res = await hub.gql(LISTING, {"f": {"price": {"max": "-100000000000"}}})
    assert res["data"]["products"]["nodes"] == []
    everything = await hub.gql(LISTING, {"f": {"price": {"min": "-1"}}})
    assert len(everything["data"]["products"]["nodes"]) == 5
    exact = await hub.gql(LISTING, {"f": {"price": {"min": "0.001", "max": "99999999999"}}})
    assert len(exact["data"]["products"]["nodes"]) == 5
    for bad in ("1e30", "NaN", "Infinity", " 1"):
        res = await hub.gql(LISTING, {"f": {"price": {"min": bad}}})
        assert _error_code(res) == "BAD_USER_INPUT", bad
    res = await hub.gql('{ products(first: 1, filter: {price: {min: "1e30"}}) { nodes { id } } }')
    assert _error_code(res) == "BAD_USER_INPUT"


async def test_gift_card_amounts_and_times(hub: Hub) -> None:
    issue = """mutation($i: GiftCardIssueInput!) { giftCardIssue(input: $i) {
      code userErrors { field code message } } }"""
    before = await hub.scalar("SELECT count(*) FROM gift_cards")
    for amount in ("0.001", "1000000000", "1e3"):
        res = await hub.admin(issue, {"i": {"amount": amount, "currencyCode": "USD"}})
        assert _user_errors(res, "giftCardIssue") == [("INVALID", ["amount"])], amount
    res = await hub.admin(
        issue,
        {
            "i": {
                "amount": "10",
                "currencyCode": "USD",
                "expiresAt": "9999-12-31T23:00:00-05:00",  # after year 9999 in UTC
            }
        },
    )
    assert _user_errors(res, "giftCardIssue") == [("INVALID", ["expiresAt"])]
    assert await hub.scalar("SELECT count(*) FROM gift_cards") == before


async def test_promotion_json_with_nul_is_refused(hub: Hub) -> None:
    create = """mutation($i: PromotionInput!) { promotionCreate(input: $i) {
      promotion { id } userErrors { field code } } }"""
    definition = {
        "conditions": [{"type": "channel", "channels": ["web\x00"]}],
        "action": {"type": "percent_off", "percent": "10"},
    }
    res = await hub.admin(create, {"i": {"title": "Nul", "definition": definition}})
    assert _user_errors(res, "promotionCreate") == [("INVALID", ["definition"])]


async def test_an_order_too_large_for_its_columns_is_refused_before_anything_is_taken(
    hub: Hub,
) -> None:
    vid = await stocked_variant(hub, {NEWARK: 5}, price="21474836.47")
    cid = (await create(hub, {"lines": [{"merchandiseId": vid, "quantity": 2}]}))["cart"]["id"]
    before = await level(hub, vid)
    res = await hub.admin(
        CHECKOUT, {"c": cid, "k": uid(), "p": {"provider": "cash", "reference": "till"}}
    )
    errors = _user_errors(res, "checkoutComplete")
    assert [code for code, _ in errors] == ["LIMIT_EXCEEDED"], res
    assert res["data"]["checkoutComplete"]["order"] is None
    assert await level(hub, vid) == before  # nothing reserved or committed


# --------------------------------------------------------------------------- integers


async def test_stock_never_leaves_32_bits(hub: Hub) -> None:
    vid = await make_variant(hub)
    loc = f"gid://hub/Location/{NEWARK}"
    first = await op(
        hub,
        "inventoryAdjust",
        {"variantId": vid, "locationId": loc, "delta": 100, "reason": "received"},
    )
    assert first["userErrors"] == []
    moves = await hub.scalar("SELECT count(*) FROM inventory_movements")
    for _ in range(2):  # a retry is refused the same way, and adds nothing
        out = await op(
            hub,
            "inventoryAdjust",
            {"variantId": vid, "locationId": loc, "delta": INT32_MAX, "reason": "received"},
        )
        assert [(e["code"], e["field"]) for e in out["userErrors"]] == [("INVALID", ["delta"])]
    assert await hub.scalar("SELECT count(*) FROM inventory_movements") == moves
    assert (await level(hub, vid))[0] == 100
    # Up to the largest value exactly is fine, and the level stays readable.
    top = await op(
        hub,
        "inventoryAdjust",
        {"variantId": vid, "locationId": loc, "delta": INT32_MAX - 100, "reason": "received"},
    )
    assert top["userErrors"] == [] and top["level"]["onHand"] == INT32_MAX
    out = await op(hub, "inventoryReceive", {"variantId": vid, "locationId": loc, "quantity": 1})
    assert [(e["code"], e["field"]) for e in out["userErrors"]] == [("INVALID", ["quantity"])]
    read = await hub.admin(
        """query($v: ID!) { node(id: $v) { ... on ProductVariant { quantityAvailable
        inventoryLevels(first: 10) { nodes { onHand available } } } } }""",
        {"v": vid},
    )
    _no_internal(read)
    assert "errors" not in read, read
    assert {"onHand": INT32_MAX, "available": INT32_MAX} in (
        read["data"]["node"]["inventoryLevels"]["nodes"]
    )


# --------------------------------------------------------------------------- ids, cursors


@pytest.mark.parametrize(
    "gid",
    [
        "gid://hub/ProductVariant/١٢",
        "gid://hub/ProductVariant/²",
        "gid://hub/ProductVariant/１",
        "gid://hub/ProductVariant/9999999999999999999",
        "gid://hub/ProductVariant/1\x00",
    ],
)
async def test_ids_with_non_ascii_digits_or_too_large_are_invalid(hub: Hub, gid: str) -> None:
    res = await hub.gql("query($i: ID!) { node(id: $i) { id } }", {"i": gid})
    assert _error_code(res) in ("INVALID_ID", "BAD_USER_INPUT")
    res = await hub.gql("query($i: [ID!]!) { nodes(ids: $i) { id } }", {"i": [gid]})
    assert _error_code(res) in ("INVALID_ID", "BAD_USER_INPUT")
    if "\x00" not in gid:
        assert _error_code(await hub.gql("query($i: ID!) { node(id: $i) { id } }", {"i": gid})) == (
            "INVALID_ID"
        )
    cid = await _cart(hub)
    res = await hub.gql(
        """mutation($c: ID!, $l: [CartLineInput!]!) { cartLinesAdd(cartId: $c, lines: $l) {
        cart { totalQuantity } userErrors { field code } } }""",
        {"c": cid, "l": [{"merchandiseId": gid}]},
    )
    _no_internal(res)
    assert res["data"]["cartLinesAdd"]["userErrors"][0]["code"] == "INVALID"


def _cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("sort", "cursor"),
    [
        ("ID", _cursor("P:ID:0", 1, 10**30)),
        ("ID", _cursor("P:ID:0", 1, 2**63)),
        ("ID", _cursor("P:ID:0", 1, True)),
        ("ID", _cursor("P:ID:0", 1, -1)),
        ("PRICE", _cursor("P:PRICE:0", 10**12, 5)),
        ("PRICE", _cursor("P:PRICE:0", "cheap", 5)),
        ("TITLE", _cursor("P:TITLE:0", "a\x00b", 5)),
        ("TITLE", _cursor("P:TITLE:0", 12, 5)),
        ("CREATED_AT", _cursor("P:CREATED_AT:0", "yesterday", 5)),
        ("BEST_SELLING", _cursor("P:BEST_SELLING:1", 2**40, 5)),
        ("ID", "١٢"),
    ],
)
async def test_forged_cursors_are_invalid_cursor(hub: Hub, sort: str, cursor: str) -> None:
    res = await hub.gql(
        "query($a: String, $s: ProductSortKeys!) { products(first: 3, after: $a, sortKey: $s) "
        "{ nodes { id } } }",
        {"a": cursor, "s": sort},
    )
    assert _error_code(res) == "INVALID_CURSOR"


async def test_real_cursors_still_page(hub: Hub) -> None:
    for sort in ("ID", "PRICE", "TITLE", "CREATED_AT", "BEST_SELLING"):
        q = (
            "query($a: String, $s: ProductSortKeys!) { products(first: 3, after: $a, "
            "sortKey: $s) { nodes { id } pageInfo { endCursor } } }"
        )
        first = await hub.gql(q, {"a": None, "s": sort})
        after = first["data"]["products"]["pageInfo"]["endCursor"]
        second = await hub.gql(q, {"a": after, "s": sort})
        assert "errors" not in second, (sort, second)
        ids = {n["id"] for n in first["data"]["products"]["nodes"]}
        assert ids.isdisjoint(n["id"] for n in second["data"]["products"]["nodes"])


# --------------------------------------------------------------------------- the guard


def test_every_bound_names_an_input_of_the_schema_and_every_mutation_answers_user_errors() -> None:
    """The bounds table can't go stale (a renamed field would silently fall back to the
    default), and every mutation with ``userErrors`` can answer the guard's refusals
    there rather than as a request error."""
    from graphql import GraphQLInputObjectType, GraphQLObjectType

    from hub.settings import load_settings
    from schema import build_schema
    from schema.inputs import TEXT_BOUNDS, _payload_builder

    gql = build_schema(load_settings())._schema
    coordinates = set()
    for t in gql.type_map.values():
        if isinstance(t, GraphQLInputObjectType):
            coordinates.update(f"{t.name}.{f}" for f in t.fields)
        elif isinstance(t, GraphQLObjectType):
            for fname, f in t.fields.items():
                coordinates.update(f"{t.name}.{fname}({a}:)" for a in f.args)
                coordinates.update(f"*({a}:)" for a in f.args)
    assert sorted(set(TEXT_BOUNDS) - coordinates) == []
    assert gql.mutation_type is not None
    without = [
        name
        for name, f in gql.mutation_type.fields.items()
        if "userErrors" in getattr(f.type, "of_type", f.type).fields and not _payload_builder(f)
    ]
    assert without == []
