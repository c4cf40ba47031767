"""The contract operations answer the same bytes, with the same SQL statement counts,
as the recorded golden file (``golden.json``), on a freshly seeded demo catalog.

This pins the public surface across restructurings: a change that alters a byte of a
contract answer, or the number of statements one costs, fails here. Volatile values
(the ids of carts and orders made during the run, timestamps, the per-client budget
left) are masked before comparing. Re-record deliberately with
``HUB_RECORD_GOLDEN=1 pytest tests/contract/test_golden.py`` and say why in the commit.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from hub.domain.orders import status_token
from tests.helpers.client import CONTRACT, Hub, _pg_server_url, _start

GOLDEN = Path(__file__).resolve().parent / "golden.json"
RECORD = bool(os.environ.get("HUB_RECORD_GOLDEN"))

NEAR = {"latitude": 40.72, "longitude": -74.0}
VID = "gid://hub/ProductVariant/1"
CHECKOUT: tuple[str, str, str | None, dict[str, Any]] = (
    "CartCheckout",
    "CheckoutComplete",
    "storefront",
    {
        "cartId": "<cart>",
        "idempotencyKey": "golden-1",
        "payment": {"provider": "test", "paymentMethodId": "pm_card_visa"},
    },
)
ACCOUNT = {"email": "golden-account@example.com", "password": "golden password 1"}
# (operation file, operation name, who, variables); run in this order on one fresh hub.
# "<cart>", "<token>" (the latest access token) and "<status>" (the guest order's status
# token) stand for values made during the run; who "customer" sends "<token>".
STEPS: list[tuple[str, str, str | None, dict[str, Any]]] = [
    ("ProductListing", "ProductListing", "storefront", {"first": 24, "channel": "web"}),
    ("ProductListing", "ProductListing", None, {"first": 7, "channel": "eu"}),
    ("ProductListing", "ProductListing", "storefront", {"first": 3, "after": "not-a-cursor"}),
    ("ProductListing", "ProductListing", "admin", {"first": 250, "channel": "nowhere"}),
    (
        "ProductDetail",
        "ProductDetail",
        "storefront",
        {"handle": "slub-crew-tee-0001", "near": NEAR},
    ),
    ("ProductDetail", "ProductDetail", None, {"handle": "pima-crew-tee-0002", "channel": "eu"}),
    ("ProductDetail", "ProductDetail", "storefront", {"handle": "no-such-product"}),
    ("PickupLocations", "PickupLocations", "storefront", {"near": NEAR}),
    ("PickupLocations", "PickupLocations", None, {"near": NEAR, "first": 1}),
    ("PickupLocations", "PickupLocations", "storefront", {"near": NEAR, "first": 900}),
    ("AdminInventory", "InventoryLevels", "admin", {"variantId": VID}),
    ("AdminInventory", "InventoryLevels", "storefront", {"variantId": VID}),
    ("AdminInventory", "InventoryLevels", "admin", {"variantId": "not-an-id"}),
    (
        "AdminInventory",
        "InventoryAdjust",
        "admin",
        {
            "input": {
                "variantId": VID,
                "locationId": "gid://hub/Location/1",
                "delta": 3,
                "reason": "correction",
            }
        },
    ),
    ("AdminInventory", "InventoryLevels", "admin", {"variantId": VID}),
    (
        "CartCheckout",
        "CartCreate",
        "storefront",
        {"input": {"lines": [{"merchandiseId": VID, "quantity": 2}]}},
    ),
    (
        "CartCheckout",
        "CartLinesAdd",
        "storefront",
        {"cartId": "<cart>", "lines": [{"merchandiseId": "gid://hub/ProductVariant/5"}]},
    ),
    (
        "CartCheckout",
        "CartDiscountCodesUpdate",
        "storefront",
        {"cartId": "<cart>", "codes": ["DEMO10", "NOPE"]},
    ),
    (
        "CartCheckout",
        "CartBuyerIdentityUpdate",
        "storefront",
        {"cartId": "<cart>", "buyerIdentity": {"email": "golden@example.com", "countryCode": "US"}},
    ),
    ("CartCheckout", "CartTotals", "storefront", {"cartId": "<cart>"}),
    ("CartCheckout", "CartTotals", None, {"cartId": "gid://hub/Cart/unknown"}),
    CHECKOUT,
    CHECKOUT,  # the same idempotency key again: the replay
    (
        "CustomerAccount",
        "CustomerSignUp",
        "storefront",
        {"input": {**ACCOUNT, "firstName": "Gold", "lastName": "En", "acceptsMarketing": True}},
    ),
    ("CustomerAccount", "CustomerSignUp", None, {"input": ACCOUNT}),  # TAKEN
    ("CustomerAccount", "CustomerSignIn", "storefront", {"input": ACCOUNT}),
    ("CustomerAccount", "CustomerTokenRenew", None, {"customerAccessToken": "<token>"}),
    ("CustomerAccount", "CustomerSignOut", None, {"customerAccessToken": "<token>"}),
    ("CustomerAccount", "CustomerSignOut", None, {"customerAccessToken": "<token>"}),
    (
        "CustomerAccount",
        "CustomerSignIn",
        None,
        {"input": {"email": ACCOUNT["email"], "password": "wrong password"}},
    ),
    ("CustomerAccount", "CustomerRecover", "storefront", {"email": ACCOUNT["email"]}),
    ("CustomerAccount", "CustomerRecover", None, {"email": "nobody@example.com"}),
    ("CustomerAccount", "OrderByToken", None, {"token": "<status>"}),
    ("CustomerAccount", "OrderByToken", "storefront", {"token": "hubos_unknown"}),
    ("CustomerAccount", "CustomerSignIn", "storefront", {"input": ACCOUNT}),
    # Last: it answers once Customer.loyalty has points (issue 11, the loyalty part).
    ("CustomerProfile", "CustomerProfile", "customer", {}),
]

MASKS = [
    (re.compile(rb'gid://hub/(Cart|Order|CartLine|Payment)/[^"]+'), rb"gid://hub/\1/_"),
    (re.compile(rb'"\d{4}-\d\d-\d\dT[0-9:.]+(Z|[+-]\d\d:\d\d)?"'), b'"<time>"'),
    (re.compile(rb'"currentlyAvailable":\d+'), b'"currentlyAvailable":_'),
    (re.compile(rb'"name":"#\d+"'), b'"name":"#_"'),
    (re.compile(rb"hubca_[A-Za-z0-9_-]+"), b"hubca__"),
    (re.compile(rb"hubos_[0-9a-f]{64}"), b"hubos__"),
]


def _mask(body: bytes) -> str:
    for pattern, repl in MASKS:
        body = pattern.sub(repl, body)
    return body.decode()


async def _fresh_pg() -> tuple[str, str] | None:
    server = _pg_server_url()
    if server is None:
        return None
    name = f"hub_golden_{uuid.uuid4().hex[:10]}"
    eng = create_async_engine(server, isolation_level="AUTOCOMMIT")
    try:
        async with eng.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await eng.dispose()
    return server, f"{server.rsplit('/', 1)[0]}/{name}"


async def _drop_pg(server: str, url: str) -> None:
    eng = create_async_engine(server, isolation_level="AUTOCOMMIT")
    try:
        async with eng.connect() as conn:
            await conn.execute(
                text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
            )
    finally:
        await eng.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Hub]:
    """A hub on a database of its own, seeded with the demo catalog and nothing else."""
    pg: tuple[str, str] | None = None
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'golden.db'}"
    else:
        pg = await _fresh_pg()
        if pg is None:
            if os.environ.get("CI"):
                pytest.fail("HUB_TEST_POSTGRES_URL is not set: CI must test PostgreSQL")
            pytest.skip("PostgreSQL not configured (set HUB_TEST_POSTGRES_URL)")
        url = pg[1]
    os.environ["HUB_TEST_PAYMENTS"] = "1"
    try:
        h = await _start(request.param, url)
    finally:
        os.environ.pop("HUB_TEST_PAYMENTS", None)
    try:
        yield h
    finally:
        await h.close()
        if pg is not None:
            await _drop_pg(*pg)


def _status_token(cart: str | None, body: dict[str, Any]) -> str | None:
    """The guest order's status token (CheckoutComplete does not ask for it): derived
    from the cart's token and the order, as checkoutComplete's statusToken is."""
    order = (body.get("data") or {}).get("checkoutComplete", {}).get("order")
    if cart is None or not order:
        return None
    return status_token(cart.rsplit("/", 1)[1], int(order["id"].rsplit("/", 1)[1]))


def _token_of(body: dict[str, Any]) -> str | None:
    for payload in (body.get("data") or {}).values():
        got = (payload or {}).get("customerAccessToken") if isinstance(payload, dict) else None
        if got:
            return str(got["accessToken"])
    return None


async def _run(hub: Hub) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    made: dict[str, str | None] = {"<cart>": None, "<token>": None, "<status>": None}
    for file, name, who, variables in STEPS:
        query = (CONTRACT / "operations" / f"{file}.graphql").read_text()
        text_vars = json.dumps(variables)
        for placeholder, value in made.items():
            text_vars = text_vars.replace(json.dumps(placeholder), json.dumps(value))
        variables = json.loads(text_vars)
        headers = {}
        token = {
            "admin": hub.admin_token,
            "storefront": hub.storefront_token,
            "customer": made["<token>"],
        }.get(who or "")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        body = {"query": query, "variables": variables, "operationName": name}
        with hub.count_statements() as seen:
            resp = await hub.client.post("/graphql", json=body, headers=headers)
        if name == "CartCreate":
            made["<cart>"] = resp.json()["data"]["cartCreate"]["cart"]["id"]
        if name == "CheckoutComplete":
            made["<status>"] = _status_token(made["<cart>"], resp.json())
        if name in ("CustomerSignIn", "CustomerTokenRenew"):
            made["<token>"] = _token_of(resp.json()) or made["<token>"]
        out.append(
            {
                "step": _mask(f"{name} as {who} {json.dumps(variables, sort_keys=True)}".encode()),
                "status": resp.status_code,
                "statements": len(seen),
                "body": _mask(resp.content),
            }
        )
    return out


async def test_contract_answers_match_the_golden_file(fresh: Hub) -> None:
    got = await _run(fresh)
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    if RECORD:
        golden[fresh.name] = got
        GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
        return
    assert fresh.name in golden, "no golden answers recorded: HUB_RECORD_GOLDEN=1"
    want = golden[fresh.name]
    for g, w in zip(got, want, strict=False):
        assert g == w, f"{g['step']}\n got  {g}\n want {w}"
    missing = [g["step"] for g in got[len(want) :]]
    assert not missing, f"steps without a recorded answer: {missing}"
    assert len(got) == len(want)


def test_every_contract_operation_is_run() -> None:
    """Each operation of every file in the contract's operations folder is a step."""
    ran = {(file, name) for file, name, _, _ in STEPS}
    for path in sorted((CONTRACT / "operations").glob("*.graphql")):
        names = re.findall(r"^(?:query|mutation|subscription)\s+(\w+)", path.read_text(), re.M)
        if path.stem == "InventoryChanged":  # a subscription: tests/test_subscriptions.py
            assert names == ["InventoryChanged"]
            continue
        assert names, path
        for name in names:
            assert (path.stem, name) in ran, f"{path.name}: {name} is not run"
