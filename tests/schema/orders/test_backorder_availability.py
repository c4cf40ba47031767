"""Storefront availability follows the inventory policy (issue 14, item 6), on SQLite
and PostgreSQL: a variant selling beyond stock (BACKORDER, PREORDER) is
`availableForSale` with no stock while its cap has room, its product too, and the
listing's `available` filter agrees; `quantityAvailable` stays the physical stock.
Once checkouts use up the cap it is sold out; a DENY variant with no stock is sold
out. The demo has a backorder and a pre-order variant."""

from __future__ import annotations

from typing import Any

from tests.helpers.client import DEMO_PRODUCTS, Hub
from tests.helpers.fulfillment import make_channel, make_site, place, stocked
from tests.schema.orders.test_backorders import set_policy

VARIANT = """query($id: ID!) { node(id: $id) { ... on ProductVariant {
  availableForSale quantityAvailable
  inventoryPolicy { policy expectedOn remaining }
  product { id availableForSale } } } }"""
LISTING = """query($a: Boolean) { products(first: 50, filter: {available: $a}) {
  nodes { id availableForSale variants(first: 5) { nodes { id availableForSale } } } } }"""


async def storefront(hub: Hub, channel: str, vid: str) -> dict[str, Any]:
    res = await hub.gql(
        VARIANT, {"id": vid}, token=hub.storefront_token, headers={"X-Hub-Channel": channel}
    )
    assert "errors" not in res, res
    return res["data"]["node"]


async def listed(hub: Hub, channel: str, available: bool | None) -> dict[str, bool]:
    """The channel's listing (with the `available` filter): product id → its
    availableForSale."""
    res = await hub.gql(
        LISTING, {"a": available}, token=hub.storefront_token, headers={"X-Hub-Channel": channel}
    )
    assert "errors" not in res, res
    return {n["id"]: n["availableForSale"] for n in res["data"]["products"]["nodes"]}


async def test_a_preorder_without_stock_is_available_until_its_cap_is_used(hub: Hub) -> None:
    ch = await make_channel(hub)
    site = await make_site(hub, ch, priority=1)
    pre = await stocked(hub, ch, {})
    deny = await stocked(hub, ch, {})
    in_stock = await stocked(hub, ch, {site: 3})
    # Before any policy: no stock, sold out (the listing's filter agrees).
    before = await storefront(hub, ch, pre)
    assert (before["availableForSale"], before["quantityAvailable"]) == (False, 0)
    pre_product = before["product"]["id"]
    assert before["product"]["availableForSale"] is False
    assert pre_product not in await listed(hub, ch, True)
    assert pre_product in await listed(hub, ch, False)

    got = await set_policy(hub, pre, "PREORDER", expectedOn="2027-02-01", backorderLimit=2)
    assert got["userErrors"] == [], got
    now = await storefront(hub, ch, pre)
    assert now["availableForSale"] is True
    assert now["quantityAvailable"] == 0  # physical stock, not the pre-order room
    assert now["inventoryPolicy"] == {
        "policy": "PREORDER",
        "expectedOn": "2027-02-01",
        "remaining": 2,
    }
    assert now["product"]["availableForSale"] is True
    available = await listed(hub, ch, True)
    assert available.get(pre_product) is True
    assert pre_product not in await listed(hub, ch, False)

    # A DENY variant with no stock stays sold out; a stocked one is available.
    d = await storefront(hub, ch, deny)
    assert (d["availableForSale"], d["quantityAvailable"]) == (False, 0)
    assert d["inventoryPolicy"]["policy"] == "DENY"
    assert d["product"]["id"] not in available
    assert (await listed(hub, ch, False)).get(d["product"]["id"]) is False
    s = await storefront(hub, ch, in_stock)
    assert (s["availableForSale"], s["quantityAvailable"]) == (True, 3)
    assert available.get(s["product"]["id"]) is True

    # Checkouts use the cap: one unit leaves room for one more, still available.
    await place(hub, ch, [(pre, 1)])
    mid = await storefront(hub, ch, pre)
    assert mid["availableForSale"] is True and mid["inventoryPolicy"]["remaining"] == 1
    await place(hub, ch, [(pre, 1)])
    full = await storefront(hub, ch, pre)
    assert full["inventoryPolicy"]["remaining"] == 0
    assert (full["availableForSale"], full["quantityAvailable"]) == (False, 0)
    assert full["product"]["availableForSale"] is False
    assert pre_product not in await listed(hub, ch, True)
    assert (await listed(hub, ch, False)).get(pre_product) is False
    # And the storefront's answer is the cart's: one more unit is refused.
    over = await hub.admin(
        """mutation($i: CartInput) { cartCreate(input: $i) { cart { id }
          userErrors { code } } }""",
        {"i": {"lines": [{"merchandiseId": pre, "quantity": 1}]}},
        headers={"X-Hub-Channel": ch},
    )
    assert over["data"]["cartCreate"] == {
        "cart": None,
        "userErrors": [{"code": "INSUFFICIENT_STOCK"}],
    }, over

    # Raising the cap gives room again.
    raised = await set_policy(hub, pre, "PREORDER", expectedOn="2027-02-01", backorderLimit=5)
    assert raised["userErrors"] == [], raised
    again = await storefront(hub, ch, pre)
    assert again["availableForSale"] is True and again["inventoryPolicy"]["remaining"] == 3
    assert pre_product in await listed(hub, ch, True)


async def test_a_backorder_without_a_cap_is_available_and_a_draft_is_not(hub: Hub) -> None:
    ch = await make_channel(hub)
    await make_site(hub, ch, priority=1)
    vid = await stocked(hub, ch, {})
    got = await set_policy(hub, vid, "BACKORDER")
    assert got["userErrors"] == [], got
    v = await storefront(hub, ch, vid)
    assert (v["availableForSale"], v["quantityAvailable"]) == (True, 0)
    assert v["inventoryPolicy"] == {"policy": "BACKORDER", "expectedOn": None, "remaining": None}
    product = v["product"]["id"]
    assert product in await listed(hub, ch, True)
    # Back to DENY: sold out again.
    assert (await set_policy(hub, vid, "DENY"))["userErrors"] == []
    assert (await storefront(hub, ch, vid))["availableForSale"] is False
    assert product not in await listed(hub, ch, True)


async def test_the_demo_has_a_backorder_and_a_preorder_variant(hub: Hub) -> None:
    rows: dict[str, int] = {}
    for policy in ("BACKORDER", "PREORDER"):
        rows[policy] = await hub.scalar(
            "SELECT MIN(p.variant_id) FROM variant_inventory_policies p "
            "JOIN variants v ON v.id = p.variant_id "
            "WHERE p.policy = :p AND v.product_id <= :n",
            p=policy,
            n=DEMO_PRODUCTS,
        )
    seen = {}
    for policy, pk in rows.items():
        assert pk is not None, policy
        v = await storefront(hub, "web", f"gid://hub/ProductVariant/{pk}")
        assert v["availableForSale"] is True and v["product"]["availableForSale"] is True
        seen[policy] = v["inventoryPolicy"]
    assert seen["BACKORDER"] == {"policy": "BACKORDER", "expectedOn": None, "remaining": 25}
    assert seen["PREORDER"] == {"policy": "PREORDER", "expectedOn": "2027-03-01", "remaining": 50}
