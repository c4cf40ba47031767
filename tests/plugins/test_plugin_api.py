"""The plugin API in one process: loading and what makes a plugin FAILED, the schema
build leaving out a plugin that breaks it, and, through an app built with plugins over
GraphQL on both databases, promotion kinds, fees and event handlers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from fractions import Fraction
from typing import Any, ClassVar

import httpx
import pytest
import strawberry
from pydantic import BaseModel, Field

from connectors.base import Event
from hub.app import create_app
from hub.demo import NEWARK
from hub.settings import load_settings
from plugins import (
    Action,
    Basket,
    Condition,
    Context,
    DiscountClass,
    Fee,
    Outcome,
    Plugin,
    PluginState,
    PricedCart,
    PricingView,
)
from plugins.graphql import needs
from plugins.host import PluginHost, env_prefix, load_plugins
from schema import PluginSchemaError, build_schema
from schema.permissions import needs as hub_needs
from tests.helpers.carts import create, stocked_variant, uid
from tests.helpers.client import Hub

# --------------------------------------------------------------------- loading


class Knobs(BaseModel):
    fee: int = Field(100, ge=0)
    label: str = "Knob"


@dataclass
class FakeConnector:
    type_name: ClassVar[str] = "knob_erp"


@contextmanager
def loaded(*plugins: Plugin, env: dict[str, str] | None = None) -> Iterator[PluginHost]:
    host = load_plugins(plugins, env=env or {}, groups=())
    try:
        yield host
    finally:
        host.unload()


def test_a_plugin_is_configured_from_its_environment_block() -> None:
    good = Plugin(
        "knobs",
        settings=Knobs,
        permissions=("knobs:write",),
        connectors=(FakeConnector,),
    )
    with loaded(good, env={"HUB_PLUGIN_KNOBS__FEE": "250", "HUB_PLUGIN_OTHER__X": "1"}) as host:
        (rec,) = host.records
        assert (rec.state, rec.reason, rec.source) == (PluginState.ACTIVE, None, "given")
        assert good.config() == Knobs(fee=250, label="Knob")
        assert host.permissions() == {"knobs": ("knobs:write",)}
        assert host.connector_types() == [FakeConnector]
    assert env_prefix("gift_wrap") == "HUB_PLUGIN_GIFT_WRAP__"


def test_each_bad_declaration_fails_its_plugin_alone() -> None:
    cases = {
        "bad_value": (Plugin("bad_value", settings=Knobs), "HUB_PLUGIN_BAD_VALUE__FEE"),
        "unknown_key": (Plugin("unknown_key", settings=Knobs), "unknown settings"),
        "no_model": (Plugin("no_model"), "has no settings"),
        "hub_perm": (Plugin("hub_perm", permissions=("orders",)), "write it as 'area:action'"),
        "own_perm": (Plugin("own_perm", permissions=("catalog:write",)), "the hub's own"),
        "not_connector": (Plugin("not_connector", connectors=(int,)), "not a connector type"),
        "not_condition": (Plugin("not_condition", promotion_conditions=(int,)), "subclass"),  # type: ignore[arg-type]
        "bad_fee": (Plugin("bad_fee", fees={"x": 3}), "not callable"),  # type: ignore[dict-item]
        "Bad-Name": (Plugin("Bad-Name"), "lower case letters"),
    }
    env = {
        "HUB_PLUGIN_BAD_VALUE__FEE": "-1",
        "HUB_PLUGIN_UNKNOWN_KEY__COLOUR": "red",
        "HUB_PLUGIN_NO_MODEL__FEE": "1",
    }
    fine = Plugin("fine")
    twin = Plugin("fine")  # a second plugin of the same name
    with loaded(*(p for p, _ in cases.values()), fine, twin, env=env) as host:
        by = {(r.name, r.plugin is twin): r for r in host.records}
        for name, (_, reason) in cases.items():
            rec = by[(name, False)]
            assert rec.state is PluginState.FAILED, name
            assert rec.reason is not None and reason in rec.reason, (name, rec.reason)
        assert by[("fine", False)].state is PluginState.ACTIVE
        assert by[("fine", True)].state is PluginState.FAILED
        assert "another plugin is named 'fine'" in (by[("fine", True)].reason or "")
        assert host.active == [fine]


@strawberry.type
class OkQuery:
    @strawberry.field
    def ok_ping(self) -> str:
        return "pong"


@strawberry.type
class Stray:
    @strawberry.field
    def anything(self) -> int:
        return 1


@strawberry.type
class RootTwice:
    @strawberry.field
    def ok_ping_twice(self, root: strawberry.Parent[Any]) -> str:
        return "twice"


def test_a_plugin_that_breaks_the_schema_is_left_out() -> None:
    ok = Plugin("ok", query=(OkQuery,), type_extensions={"Query": RootTwice})
    nowhere = Plugin("nowhere", type_extensions={"NoSuchType": Stray})
    scalar = Plugin("scalar", type_extensions={"String": Stray})
    clash = Plugin("clash", type_extensions={"Order": type("C", (), {})})  # not strawberry
    settings = load_settings()
    with loaded(ok, nowhere, scalar, clash) as host:
        with pytest.raises(PluginSchemaError, match="no object type 'NoSuchType'"):
            build_schema(settings, [ok, nowhere])
        schema = build_schema(settings, host.active, on_error=host.fail)
        states = {r.name: (r.state, r.reason) for r in host.records}
        assert states["ok"] == (PluginState.ACTIVE, None)
        assert "no object type 'NoSuchType' to extend" in str(states["nowhere"][1])
        assert "no object type 'String' to extend" in str(states["scalar"][1])
        assert "TypeError: Unexpected type" in str(states["clash"][1])
        assert host.active == [ok]
        printed = schema.as_str()
        assert "okPing: String!" in printed and "okPingTwice: String!" in printed
        assert "type RootTwice" not in printed  # its fields moved onto Query
        assert "anything" not in printed


def test_needs_takes_the_hubs_permissions_and_a_plugins_own() -> None:
    assert needs("orders") == hub_needs("orders")
    (gate,) = needs("giftwrap:read")  # a plugin's own permission is checked like the hub's
    assert getattr(gate, "needed", None) == ("giftwrap:read",)
    (both,) = needs("giftwrap:read", "orders")
    assert getattr(both, "needed", None) == ("giftwrap:read", "orders")
    for bad in ((), ("giftwrap",), ("Gift Wrap:read",)):
        with pytest.raises(ValueError, match="unknown permission"):
            needs(*bad)


# ------------------------------------------------------- an app with plugins


@asynccontextmanager
async def with_plugins(hub: Hub, *plugins: Plugin, **settings: Any) -> AsyncIterator[Hub]:
    """The hub's database served by an app (its real lifespan) built with ``plugins``."""
    app = create_app(
        load_settings(
            database_url=hub.db.engine.url.render_as_string(hide_password=False), **settings
        ),
        db=hub.db,
        plugins=plugins,
    )
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub")
    try:
        yield replace(hub, client=client, app=app, lifespan=lifespan)
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)
        app.state.hub.plugins.unload()


# ----------------------------------------------------------- promotion kinds


@dataclass(frozen=True, slots=True)
class MinLines(Condition):
    """At least ``lines`` different lines in the cart."""

    lines: int
    kind: ClassVar[str] = "test_min_lines"
    reason: ClassVar[str] = "MIN_LINES_NOT_MET"

    def matches(self, basket: Basket, ctx: Context) -> bool:
        return len(basket.lines) >= self.lines

    def to_json(self) -> dict[str, Any]:
        return {"lines": self.lines}

    @classmethod
    def from_json(cls, f: Any) -> MinLines:
        return f.build(cls, lines=f.integer("lines", minimum=1))


@dataclass(frozen=True, slots=True)
class OffEachLine(Action):
    """``amount`` off every line (at most what it still costs)."""

    amount: int
    kind: ClassVar[str] = "test_off_each_line"
    classes: ClassVar[frozenset[DiscountClass]] = frozenset({DiscountClass.PRODUCT})

    def compute(self, view: PricingView) -> Outcome:
        return Outcome(
            {i: Fraction(min(self.amount, left)) for i, left in enumerate(view.remaining)}
        )

    def to_json(self) -> dict[str, Any]:
        return {"amount": self.amount}

    @classmethod
    def from_json(cls, f: Any) -> OffEachLine:
        return f.build(cls, amount=f.integer("amount", minimum=1))


PROMO = """mutation($i: PromotionInput!) { promotionCreate(input: $i) {
  promotion { id } userErrors { field message code } } }"""
CODE = """mutation($p: ID!, $code: String!) { discountCodeCreate(promotionId: $p, code: $code) {
  userErrors { code } } }"""
DELETE = "mutation($id: ID!) { promotionDelete(id: $id) { userErrors { code } } }"
DEFINITION = {
    "conditions": [{"type": "test_min_lines", "lines": 2}],
    "action": {"type": "test_off_each_line", "amount": 150},
    "combination": {"class": "PRODUCT", "combines_with": []},
}


async def test_promotion_conditions_and_actions_from_a_plugin(hub: Hub) -> None:
    kinds = Plugin("kinds", promotion_conditions=(MinLines,), promotion_actions=(OffEachLine,))
    async with with_plugins(hub, kinds) as shop:
        code = f"PLUG{uid()}".upper()
        made = await shop.admin(
            PROMO,
            {"i": {"title": "plugin kinds", "method": "CODE", "definition": DEFINITION,
                   "currencyCode": "USD"}},
        )  # fmt: skip
        out = made["data"]["promotionCreate"]
        assert out["userErrors"] == [], out
        pid = out["promotion"]["id"]
        try:
            assert (await shop.admin(CODE, {"p": pid, "code": code}))["data"]["discountCodeCreate"][
                "userErrors"
            ] == []
            # An unknown kind is refused, naming the plugin's among the known ones.
            bad = {**DEFINITION, "action": {"type": "test_nope", "amount": 1}}
            refused = await shop.admin(PROMO, {"i": {"title": "x", "definition": bad}})
            errs = refused["data"]["promotionCreate"]["userErrors"]
            assert [e["code"] for e in errs] == ["INVALID"], errs
            assert "test_off_each_line" in errs[0]["message"]
            bad_value = {**DEFINITION, "conditions": [{"type": "test_min_lines", "lines": 0}]}
            refused = await shop.admin(PROMO, {"i": {"title": "x", "definition": bad_value}})
            assert refused["data"]["promotionCreate"]["userErrors"][0]["code"] == "INVALID"

            a = await stocked_variant(shop, {NEWARK: 5}, price="20.00")
            b = await stocked_variant(shop, {NEWARK: 5}, price="1.00")
            two = await create(
                shop,
                {"lines": [{"merchandiseId": a, "quantity": 1}, {"merchandiseId": b}],
                 "discountCodes": [code]},
            )  # fmt: skip
            cart = two["cart"]
            assert cart["discountCodes"] == [{"code": code, "applicable": True, "reason": None}]
            off = sorted(
                ln["discountAllocations"][0]["discountedAmount"]["amount"]
                for ln in cart["lines"]["nodes"]
            )
            assert off == ["1.00", "1.50"]  # 1.50 off each, at most what the line costs
            one = await create(shop, {"lines": [{"merchandiseId": a}], "discountCodes": [code]})
            assert one["cart"]["discountCodes"] == [
                {"code": code, "applicable": False, "reason": "MIN_LINES_NOT_MET"}
            ]
        finally:
            await shop.admin(DELETE, {"id": pid})


# ---------------------------------------------------------------------- fees


def handling(priced: PricedCart) -> list[Fee]:
    return [Fee("handling", "Handling", 199)]  # on the cart, not a line


def broken_hook(priced: PricedCart) -> list[Fee]:
    raise RuntimeError("the fee service is down")


def negative(priced: PricedCart) -> list[Fee]:
    return [Fee("refund", "Sneaky", -500)]


def _formula(cart: dict[str, Any]) -> Decimal:
    c = cart["cost"]
    tax = Decimal(0) if c["taxesIncluded"] else Decimal(c["totalTaxAmount"]["amount"])
    return (
        Decimal(c["subtotalAmount"]["amount"])
        - Decimal(c["totalDiscountAmount"]["amount"])
        + Decimal(c["totalShippingAmount"]["amount"])
        + tax
    )


async def test_fees_join_the_total_and_a_failing_hook_is_left_out(hub: Hub) -> None:
    fees = Plugin("fees", fees={"handling": handling, "broken": broken_hook, "neg": negative})
    async with with_plugins(hub, fees) as shop:
        vid = await stocked_variant(shop, {NEWARK: 5}, price="12.00")
        made = await create(shop, {"lines": [{"merchandiseId": vid, "quantity": 2}]})
        assert made["userErrors"] == [], made
        cart = made["cart"]
        # Only the handling fee: the hook that raised and the negative fee are left out.
        assert Decimal(cart["cost"]["totalAmount"]["amount"]) == _formula(cart) + Decimal("1.99")
        res = await shop.admin(
            """mutation($c: ID!, $k: String!, $p: PaymentInput) {
            checkoutComplete(cartId: $c, idempotencyKey: $k, payment: $p) {
            order { id totalPrice { amount } } userErrors { code } } }""",
            {"c": cart["id"], "k": uid(), "p": {"provider": "cash", "reference": "till"}},
        )
        order = res["data"]["checkoutComplete"]["order"]
        assert order["totalPrice"]["amount"] == cart["cost"]["totalAmount"]["amount"]
        pk = int(order["id"].rsplit("/", 1)[1])
        kept = await shop.scalar("SELECT fees FROM orders WHERE id = :id", id=pk)
        kept = kept if isinstance(kept, list) else __import__("json").loads(kept)
        assert kept == [
            {"code": "handling", "label": "Handling", "amount": 199, "lineId": None,
             "source": "fees.handling"}
        ]  # fmt: skip


# -------------------------------------------------------------------- events


@dataclass
class Seen:
    events: list[Event]


async def test_a_failing_event_handler_breaks_no_other(hub: Hub) -> None:
    seen = Seen([])

    async def record(event: Event, _hub: Any) -> None:
        seen.events.append(event)

    def explode(event: Event, _hub: Any) -> None:
        raise RuntimeError("boom")

    flaky = Plugin("flaky", on_events={"order.created": explode})
    counter = Plugin("counter", on_events={"order.created": record})
    async with with_plugins(hub, flaky, counter) as shop:
        ready = (await shop.client.get("/readyz")).json()
        assert ready["subscribers"] == 0  # the plugins' own subscriptions aren't clients'
        vid = await stocked_variant(shop, {NEWARK: 5})
        cid = (await create(shop, {"lines": [{"merchandiseId": vid}]}))["cart"]["id"]
        res = await shop.admin(
            """mutation($c: ID!, $k: String!, $p: PaymentInput) {
            checkoutComplete(cartId: $c, idempotencyKey: $k, payment: $p) {
            order { id } userErrors { code } } }""",
            {"c": cid, "k": uid(), "p": {"provider": "cash", "reference": "till"}},
        )
        oid = res["data"]["checkoutComplete"]["order"]["id"]
        for _ in range(100):
            if any(e.payload["id"] == oid for e in seen.events):
                break
            await asyncio.sleep(0.05)
        assert [e.topic for e in seen.events if e.payload["id"] == oid] == ["order.created"]
        listed = (await shop.admin("{ plugins { name eventsHandled eventErrors } }"))["data"]
        by = {p["name"]: p for p in listed["plugins"]}
        assert by["flaky"]["eventErrors"] >= 1 and by["flaky"]["eventsHandled"] == 0
        assert by["counter"]["eventErrors"] == 0 and by["counter"]["eventsHandled"] >= 1
        assert by["counter"]["eventsHandled"] == len(seen.events)


# ------------------------------------------------- a plugin's own permissions


@strawberry.type
class VaultQuery:
    @strawberry.field(permission_classes=needs("vault:read"))
    def vault_secret(self) -> str:
        return "behind vault:read"


VAULT = "{ vaultSecret }"


async def test_a_plugins_permission_is_held_by_partner_keys_and_roles_that_list_it(
    hub: Hub,
) -> None:
    """A plugin declares ``vault:read``: a partner key holding it, or a staff user whose
    role lists it, reads the plugin's field; a partner key with other permissions and a
    role without it are refused; the permission is unknown once the plugin is gone."""
    from hub.auth import InvalidScope, create_api_key
    from tests.helpers.staff import bound_key, make_role, make_user

    vault = Plugin("vault", query=(VaultQuery,), permissions=("vault:read",))
    async with with_plugins(hub, vault) as shop:
        _, holder = await create_api_key(
            hub.db, "vault-partner", ["partner"], permissions=["vault:read"]
        )
        _, other = await create_api_key(
            hub.db, "other-partner", ["partner"], permissions=["orders"]
        )
        assert (await shop.gql(VAULT, token=holder))["data"] == {"vaultSecret": "behind vault:read"}
        res = await shop.gql(VAULT, token=other)
        assert res["errors"][0]["extensions"]["code"] == "ACCESS_DENIED", res
        assert "vault:read" in res["errors"][0]["message"]
        role = await make_role(shop, ["vault:read"])
        _, with_role = await make_user(shop, [role], password=None)
        clerk = await bound_key(shop, with_role)
        assert (await shop.gql(VAULT, token=clerk))["data"] == {"vaultSecret": "behind vault:read"}
        plain = await make_role(shop, ["orders"])
        _, without = await make_user(shop, [plain], password=None)
        res = await shop.gql(VAULT, token=await bound_key(shop, without))
        assert res["errors"][0]["extensions"]["code"] == "ACCESS_DENIED", res
    # Unloaded: a new key or role can't name it any more.
    with pytest.raises(InvalidScope, match="vault:read"):
        await create_api_key(hub.db, "late-partner", ["partner"], permissions=["vault:read"])
    res = await hub.admin(
        "mutation($i: StaffRoleInput!) { staffRoleCreate(input: $i) { userErrors { code } } }",
        {"i": {"name": f"late-{uid()}", "permissions": ["vault:read"]}},
    )
    assert res["data"]["staffRoleCreate"]["userErrors"] == [{"code": "UNKNOWN_PERMISSION"}], res


ORDERS = "{ orders(first: 1) { nodes { id } } }"


async def test_a_partner_key_holds_only_what_its_plugin_still_declares(hub: Hub) -> None:
    """A key made for the ``vault`` plugin (``partner_permissions=("orders",)``) reads
    the plugin's field and orders while the plugin is ACTIVE; served by a hub without the
    plugin it holds nothing (not even the hub's ``orders`` it had for it); a new version
    declaring less narrows it; a plugin's partner permissions must be the hub's."""
    from hub.auth import InvalidScope, create_api_key

    vault = Plugin(
        "vault", query=(VaultQuery,), permissions=("vault:read",), partner_permissions=("orders",)
    )
    async with with_plugins(hub, vault, auth_cache_seconds=0) as shop:
        _, token = await create_api_key(hub.db, "vault-app", ["partner"], plugin="vault")
        assert (await shop.gql(VAULT, token=token))["data"] == {"vaultSecret": "behind vault:read"}
        assert "errors" not in await shop.gql(ORDERS, token=token)
        with pytest.raises(InvalidScope, match="may only narrow"):
            await create_api_key(
                hub.db, "wide", ["partner"], plugin="vault", permissions=["refunds"]
            )
        with pytest.raises(InvalidScope, match="'nosuch' is not installed"):
            await create_api_key(hub.db, "none", ["partner"], plugin="nosuch")
        listed = await shop.admin("{ plugins { name partnerKeyPermissions } }")
        assert {"name": "vault", "partnerKeyPermissions": ["orders", "vault:read"]} in listed[
            "data"
        ]["plugins"]

    # The plugin is gone: the key holds nothing it had for it.
    async with with_plugins(hub, auth_cache_seconds=0) as bare:
        res = await bare.gql(ORDERS, token=token)
        assert res["errors"][0]["extensions"]["code"] == "ACCESS_DENIED", res
        assert "vaultSecret" in (await bare.gql(VAULT, token=token))["errors"][0]["message"]

    # A new version declares less (no orders any more): the key follows it.
    slim = Plugin("vault", query=(VaultQuery,), permissions=("vault:read",))
    async with with_plugins(hub, slim, auth_cache_seconds=0) as shop:
        assert (await shop.gql(VAULT, token=token))["data"] == {"vaultSecret": "behind vault:read"}
        res = await shop.gql(ORDERS, token=token)
        assert res["errors"][0]["extensions"]["code"] == "ACCESS_DENIED", res
        with pytest.raises(InvalidScope, match="not declared: orders"):
            await create_api_key(hub.db, "old", ["partner"], plugin="vault", permissions=["orders"])

    # A FAILED plugin (here: a partner permission that is not the hub's) keys nothing.
    odd = Plugin("odd", permissions=("odd:read",), partner_permissions=("odd:write",))
    with loaded(odd) as host:
        rec = host.record("odd")
        assert rec is not None and rec.state is PluginState.FAILED
        assert "partner permission 'odd:write' is not one of the hub's" in str(rec.reason)
        with pytest.raises(InvalidScope, match="'odd' is not installed"):
            await create_api_key(hub.db, "odd", ["partner"], plugin="odd")
