"""Plugins installed with pip and served by a real ``hub serve``: the gift wrap example
end to end over GraphQL (line attribute, fee in the cart's total, charged at checkout,
``Order.giftWrapped``, its event handler), and the plugins that fail (to import, to
configure, to register, to join the schema) reported FAILED in ``plugins`` and the start-up
log and left out while the hub serves. SQLite and PostgreSQL (the ``hub`` fixture's
database, served by the subprocess)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.demo import NEWARK
from tests.helpers.carts import create, mutate, stocked_variant, uid
from tests.helpers.checkout import checkout
from tests.helpers.client import Hub
from tests.helpers.processes import hub_env, hub_exit, serve, wait_ready

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    ROOT / "plugins" / "examples" / "gift_wrap",
    ROOT / "tests" / "plugins" / "packages" / "broken",
)

PLUGINS = """{ plugins { name version state reason source permissions partnerKeyPermissions
  eventTopics eventsHandled eventErrors } }"""
ORDER = """query($id: ID!) { order(id: $id) { totalPrice { amount } totalFees { amount } giftWrapped
  giftWrapTotal { amount currencyCode } payments { amount { amount } } } }"""
STATS = "{ giftWrapStats { wrappedOrders wrappedLines } }"
WRAP = [{"key": "giftWrap", "value": "true"}]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example and the broken plugins pip-installed (from copies: a build writes
    into its source folder) into a folder of their own, as a deployment would."""
    tmp = tmp_path_factory.mktemp("plugins")
    sources = []
    for pkg in PACKAGES:
        dst = tmp / "src" / pkg.name
        shutil.copytree(
            pkg, dst, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
        )
        sources.append(str(dst))
    target = tmp / "site"
    out = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--target", str(target), *sources],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert (target / "hub_gift_wrap" / "__init__.py").exists()
    return target


def plugin_env(hub: Hub, site: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``hub`` subprocess on the fixture's database with the
    installed plugins on its PYTHONPATH."""
    url = hub.db.engine.url.render_as_string(hide_password=False)
    return hub_env(
        url,
        PYTHONPATH=os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p),
        **extra,
    )


@pytest.fixture
async def served(hub: Hub, site: Path, tmp_path: Path) -> AsyncIterator[tuple[Hub, Path]]:
    """``hub serve`` on the fixture's database, the plugins on its PYTHONPATH; a
    ``Hub`` whose client talks to it, and its log."""
    env = plugin_env(
        hub,
        site,
        HUB_TEST_PAYMENTS="true",
        HUB_LOG_LEVEL="INFO",
        HUB_PLUGIN_GIFT_WRAP__FEE="250",
        HUB_PLUGIN_BAD_SETTINGS__ENDPOINT="not a url",
        HUB_PLUGIN_BAD_SETTINGS__RETRIES="many",
    )
    log = tmp_path / "serve.log"
    proc = serve(env, log)
    try:
        await asyncio.to_thread(wait_ready, [proc])
        async with httpx.AsyncClient(base_url=proc.url, timeout=60) as client:
            yield replace(hub, client=client), log
    finally:
        await asyncio.to_thread(proc.stop)


async def test_plugins_are_listed_and_the_failing_ones_skipped(
    served: tuple[Hub, Path],
) -> None:
    shop, log = served
    res = await shop.admin(PLUGINS)
    assert "errors" not in res, res
    got = {p["name"]: p for p in res["data"]["plugins"]}
    assert set(got) == {
        "gift_wrap", "legacy_hello", "broken_import", "bad_settings", "bad_schema", "taken_kind",
    }  # fmt: skip
    wrap = got["gift_wrap"]
    assert (wrap["state"], wrap["version"], wrap["reason"]) == ("ACTIVE", "1.0.0", None)
    assert wrap["source"] == "commerce_hub.plugins: gift_wrap = hub_gift_wrap:plugin"
    assert wrap["permissions"] == ["giftwrap:read"]
    assert wrap["partnerKeyPermissions"] == ["giftwrap:read", "orders"]
    assert got["broken_import"]["partnerKeyPermissions"] == []
    assert wrap["eventTopics"] == ["order.created"]
    assert (got["legacy_hello"]["state"], got["legacy_hello"]["version"]) == ("ACTIVE", "0.3.1")
    assert got["legacy_hello"]["source"].startswith("hub.plugins: ")
    failed = {n: p["reason"] for n, p in got.items() if p["state"] == "FAILED"}
    assert set(failed) == {"broken_import", "bad_settings", "bad_schema", "taken_kind"}
    assert "ModuleNotFoundError" in failed["broken_import"]
    assert "hub_no_such_dependency" in failed["broken_import"]
    assert "HUB_PLUGIN_BAD_SETTINGS__ENDPOINT" in failed["bad_settings"]
    assert "HUB_PLUGIN_BAD_SETTINGS__RETRIES" in failed["bad_settings"]
    assert "Order.totalPrice exists already" in failed["bad_schema"]
    assert "'min_subtotal' is already registered" in failed["taken_kind"]
    assert all(got[n]["version"] == "0.3.1" for n in failed)

    # The failed ones are out of the schema; the others serve.
    legacy = await shop.gql("{ legacyHello }")
    assert legacy["data"] == {"legacyHello": "hello from hub.plugins"}, legacy
    clash = await shop.gql("{ clashHello }")
    assert "Cannot query field 'clashHello'" in clash["errors"][0]["message"]
    order_type = await shop.admin('{ __type(name: "Order") { fields { name } } }')
    fields = [f["name"] for f in order_type["data"]["__type"]["fields"]]
    assert fields.count("totalPrice") == 1 and "giftWrapped" in fields  # gift_wrap's, kept

    # Staff only (the settings permission).
    denied = await shop.gql(PLUGINS, token=shop.storefront_token)
    assert denied["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
    assert denied.get("data") is None

    # The start-up log names each plugin with its version and state.
    text = log.read_text()
    assert "plugin gift_wrap 1.0.0 ACTIVE" in text
    assert "plugin broken_import 0.3.1 FAILED: ModuleNotFoundError" in text
    assert "plugin bad_schema 0.3.1 FAILED: PluginSchemaError: bad_schema: Order.totalPrice" in text
    assert "plugin bad_settings 0.3.1 FAILED: bad settings: HUB_PLUGIN_BAD_SETTINGS__ENDP" in text


def _line(cart: dict[str, Any], vid: str) -> dict[str, Any]:
    (line,) = [ln for ln in cart["lines"]["nodes"] if ln["merchandise"]["id"] == vid]
    return line


def _total(cart: dict[str, Any]) -> Decimal:
    c = cart["cost"]
    taxed = Decimal(0) if c["taxesIncluded"] else Decimal(c["totalTaxAmount"]["amount"])
    return (
        Decimal(c["subtotalAmount"]["amount"])
        - Decimal(c["totalDiscountAmount"]["amount"])
        + Decimal(c["totalShippingAmount"]["amount"])
        + taxed
    )


WRAP_FIELDS = """query($id: ID!) { cart(id: $id) { giftWrapTotal { amount currencyCode }
  cost { totalAmount { amount } totalFeeAmount { amount } }
  fees { code label amount { amount } lineId }
  lines(first: 10) { nodes { id giftWrapped merchandise { id } cost { subtotalAmount { amount }
  totalAmount { amount } } discountAllocations { discountedAmount { amount } } } } } }"""


async def _wrap_view(shop: Hub, cid: str) -> dict[str, Any]:
    res = await shop.gql(WRAP_FIELDS, {"id": cid})
    assert "errors" not in res, res
    return res["data"]["cart"]


def _fee_in_line(line: dict[str, Any]) -> Decimal:
    """What the line costs beyond its merchandise after discounts."""
    discounts = sum(Decimal(a["discountedAmount"]["amount"]) for a in line["discountAllocations"])
    return (
        Decimal(line["cost"]["totalAmount"]["amount"])
        - Decimal(line["cost"]["subtotalAmount"]["amount"])
        + discounts
    )


async def test_gift_wrap_end_to_end(served: tuple[Hub, Path]) -> None:
    shop, _ = served
    plain = await stocked_variant(shop, {NEWARK: 10}, price="20.00")
    gift = await stocked_variant(shop, {NEWARK: 10}, price="30.00")
    made = await create(
        shop,
        {"lines": [
            {"merchandiseId": plain, "quantity": 1},
            {"merchandiseId": gift, "quantity": 2, "attributes": WRAP},
        ]},
    )  # fmt: skip
    assert made["userErrors"] == [], made
    cid = made["cart"]["id"]
    view = await _wrap_view(shop, cid)
    assert view["giftWrapTotal"] == {"amount": "2.50", "currencyCode": "USD"}
    # The hub's own view of it: the fee, its line, in the cost.
    assert view["fees"] == [
        {"code": "gift_wrap", "label": "Gift wrapping", "amount": {"amount": "2.50"},
         "lineId": _line(view, gift)["id"]}
    ]  # fmt: skip
    assert view["cost"]["totalFeeAmount"] == {"amount": "2.50"}
    assert _line(view, gift)["giftWrapped"] is True
    assert _line(view, plain)["giftWrapped"] is False
    assert _fee_in_line(_line(view, gift)) == Decimal("2.50")  # one fee per line, not per unit
    assert _fee_in_line(_line(view, plain)) == 0
    # The fee is in the cart's total: subtotal - discounts + shipping + tax + fees.
    cart = made["cart"]
    assert Decimal(cart["cost"]["totalAmount"]["amount"]) == _total(cart) + Decimal("2.50")

    # Wrap the other line too, with the hub's own cartLinesUpdate.
    plain_line = _line(view, plain)["id"]
    upd = await mutate(
        shop,
        "cartLinesUpdate",
        "",
        {"cartId": cid, "lines": [{"id": plain_line, "attributes": WRAP}]},
    )
    assert upd["userErrors"] == [], upd
    view = await _wrap_view(shop, cid)
    assert view["giftWrapTotal"]["amount"] == "5.00"
    assert _line(view, plain)["giftWrapped"] is True
    total = upd["cart"]["cost"]["totalAmount"]["amount"]
    assert Decimal(total) == _total(upd["cart"]) + Decimal("5.00")

    # Checkout charges it, and the order keeps it.
    out = await checkout(shop, cid, uid(), {"provider": "test", "paymentMethodId": "pm_card_visa"})
    assert out["userErrors"] == [], out
    assert out["order"]["totalPrice"]["amount"] == total
    order = (await shop.admin(ORDER, {"id": out["order"]["id"]}))["data"]["order"]
    assert order["giftWrapped"] is True
    assert order["giftWrapTotal"] == {"amount": "5.00", "currencyCode": "USD"}
    assert order["totalFees"] == {"amount": "5.00"}
    assert order["payments"] == [{"amount": {"amount": total}}]
    fees = await shop.scalar(
        "SELECT fees FROM orders WHERE id = :id", id=int(out["order"]["id"].rsplit("/", 1)[1])
    )
    assert "gift_wrap" in str(fees)

    # The order.created handler ran (in the serving process) and counted it.
    stats = await _stats_when(shop, lambda s: s["wrappedOrders"] >= 1)
    assert stats == {"wrappedOrders": 1, "wrappedLines": 2}

    # An order without wrapping: giftWrapped false, not counted.
    bare = await create(shop, {"lines": [{"merchandiseId": plain, "quantity": 1}]})
    paid = await checkout(
        shop, bare["cart"]["id"], uid(), {"provider": "test", "paymentMethodId": "pm_card_visa"}
    )
    assert paid["userErrors"] == [], paid
    got = (await shop.admin(ORDER, {"id": paid["order"]["id"]}))["data"]["order"]
    assert got["giftWrapped"] is False and got["giftWrapTotal"]["amount"] == "0.00"
    assert got["totalFees"] == {"amount": "0.00"}
    listed = await _plugin_when(shop, "gift_wrap", lambda p: p["eventsHandled"] >= 2)
    assert listed["eventErrors"] == 0
    assert (await shop.admin(STATS))["data"]["giftWrapStats"] == stats
    # giftWrapStats needs the plugin's own permission (today: the admin scope).
    denied = await shop.gql(STATS, token=shop.storefront_token)
    assert denied["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"


async def _stats_when(shop: Hub, ok: Any) -> dict[str, int]:
    for _ in range(100):
        stats: dict[str, int] = (await shop.admin(STATS))["data"]["giftWrapStats"]
        if ok(stats):
            return stats
        await asyncio.sleep(0.1)
    raise AssertionError(f"the order.created handler did not count the order: {stats}")


async def _plugin_when(shop: Hub, name: str, ok: Any) -> dict[str, Any]:
    for _ in range(100):
        (got,) = [p for p in (await shop.admin(PLUGINS))["data"]["plugins"] if p["name"] == name]
        if ok(got):
            return dict(got)
        await asyncio.sleep(0.1)
    raise AssertionError(f"{name}: {got}")


# ------------------------------------------------------------ partner keys


ORDERS = "{ orders(first: 1) { nodes { id } } }"
PRODUCT = """mutation($i: ProductInput!) { productCreate(input: $i) {
  product { id } userErrors { code } } }"""


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _partner_key(hub: Hub, site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return hub_exit(["apikey", "create", "--scope", "partner", *args], plugin_env(hub, site))


async def test_a_partner_key_for_a_plugin_holds_what_it_declares(
    served: tuple[Hub, Path], site: Path
) -> None:
    """``hub apikey create --scope partner --plugin gift_wrap`` (the real CLI, the plugin
    found on its PYTHONPATH): the key reads ``giftWrapStats`` (giftwrap:read) and orders
    (the hub's ``orders``, which gift_wrap requires), and is refused what it doesn't
    declare; ``--permission`` narrows, never widens; an unknown or FAILED plugin is
    refused with exit status 2, and nothing is created."""
    shop, _ = served
    made = _partner_key(shop, site, "--plugin", "gift_wrap", "--name", "wrapper")
    assert made.returncode == 0, made.stderr
    token = made.stdout.split()[0]
    assert "for plugin gift_wrap" in made.stderr
    rows = await shop.rows("SELECT plugin, permissions FROM api_keys WHERE name = 'wrapper'")
    assert [(r.plugin, sorted(_json(r.permissions))) for r in rows] == [
        ("gift_wrap", ["giftwrap:read", "orders"])
    ]

    stats = await shop.gql(STATS, token=token)
    assert "errors" not in stats, stats
    assert set(stats["data"]["giftWrapStats"]) == {"wrappedOrders", "wrappedLines"}
    orders = await shop.gql(ORDERS, token=token)
    assert "errors" not in orders, orders
    # Outside the declaration: refused, nothing written.
    title = f"partner-{uid()}"
    res = await shop.gql(PRODUCT, {"i": {"title": title}}, token=token)
    assert res["errors"][0]["extensions"]["code"] == "ACCESS_DENIED", res
    assert "catalog:write" in res["errors"][0]["message"]
    assert await shop.scalar("SELECT count(*) FROM products WHERE title = :t", t=title) == 0
    assert (await shop.gql("{ plugins { name } }", token=token))["errors"][0]["extensions"][
        "code"
    ] == "ACCESS_DENIED"

    # Narrowed to the plugin's own permission: the stats, not the orders.
    narrow = _partner_key(shop, site, "--plugin", "gift_wrap", "--permission", "giftwrap:read")
    assert narrow.returncode == 0, narrow.stderr
    small = narrow.stdout.split()[0]
    assert "errors" not in await shop.gql(STATS, token=small)
    res = await shop.gql(ORDERS, token=small)
    assert res["errors"][0]["extensions"]["code"] == "ACCESS_DENIED", res

    before = await shop.scalar("SELECT count(*) FROM api_keys")
    # Widening: refunds is not gift_wrap's to give.
    wide = _partner_key(shop, site, "--plugin", "gift_wrap", "--permission", "refunds")
    assert wide.returncode == 2, (wide.stdout, wide.stderr)
    assert "may only narrow" in wide.stderr and "refunds" in wide.stderr
    assert wide.stdout == ""
    # No such plugin; a plugin that FAILED to load.
    nosuch = _partner_key(shop, site, "--plugin", "nosuch")
    assert nosuch.returncode == 2, (nosuch.stdout, nosuch.stderr)
    assert "no plugin named 'nosuch' is installed" in nosuch.stderr
    assert "gift_wrap" in nosuch.stderr  # the installed ones are named
    broken = _partner_key(shop, site, "--plugin", "broken_import")
    assert broken.returncode == 2, (broken.stdout, broken.stderr)
    assert "'broken_import' 0.3.1 FAILED to load: ModuleNotFoundError" in broken.stderr
    # --plugin is for a partner key alone.
    admin = hub_exit(
        ["apikey", "create", "--scope", "admin", "--plugin", "gift_wrap"], plugin_env(shop, site)
    )
    assert admin.returncode == 2, (admin.stdout, admin.stderr)
    assert "partner scope alone" in admin.stderr
    assert await shop.scalar("SELECT count(*) FROM api_keys") == before
