"""Backorders and pre-orders over GraphQL on SQLite and PostgreSQL (issue 14, item 6):
DENY (the default) still refuses a line beyond stock; BACKORDER sells beyond stock
without negative stock (the units wait as backorders, their fulfillment order on
hold); the cap holds under concurrent checkouts; received stock (inventoryReceive, a
transfer received) is allocated to backorders oldest first, strictly in order, and
their fulfillment orders become fulfillable; storefronts see the policy and the
expected date; bad input is refused with a code and nothing written."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.helpers.client import Hub
from tests.helpers.fulfillment import (
    ADDRESS,
    ERRORS,
    admin,
    fo_action,
    gid,
    ledger_clean,
    levels,
    make_channel,
    make_site,
    place,
    stocked,
    uid,
)
from tests.helpers.inventory import op

POLICY = f"""mutation($i: VariantInventoryPolicyInput!) {{
  variantInventoryPolicySet(input: $i) {{
    inventoryPolicy {{ policy expectedOn backorderable preorder remaining backorderLimit
                       backordered }}
    {ERRORS} }} }}"""
QUEUE = """query($v: ID, $o: ID) { backorders(variantId: $v, orderId: $o) {
  id orderId locationId fulfillmentOrderId policy quantity quantityAllocated status } }"""
VARIANT = """query($id: ID!) { node(id: $id) { ... on ProductVariant {
  availableForSale quantityAvailable
  inventoryPolicy { policy expectedOn backorderable preorder remaining } } } }"""


async def set_policy(hub: Hub, vid: str, policy: str, **extra: Any) -> dict[str, Any]:
    out = await admin(hub, POLICY, {"i": {"variantId": vid, "policy": policy, **extra}})
    return out["variantInventoryPolicySet"]


async def queue(hub: Hub, vid: str | None = None, order: str | None = None) -> list[dict]:
    return (await admin(hub, QUEUE, {"v": vid, "o": order}))["backorders"]


async def make_cart(
    hub: Hub, channel: str, lines: list[tuple[str, int]], *, pickup: int | None = None
) -> tuple[str, list[str], list[int]]:
    """cartCreate and cartDeliveryUpdate (a till: the admin key): the cart's id, its
    warnings' codes and its lines' quantities."""
    h = {"X-Hub-Channel": channel}
    res = await hub.admin(
        f"""mutation($i: CartInput) {{ cartCreate(input: $i) {{
          cart {{ id lines(first: 10) {{ nodes {{ quantity }} }} }}
          warnings {{ code }} {ERRORS} }} }}""",
        {"i": {"lines": [{"merchandiseId": v, "quantity": q} for v, q in lines]}},
        headers=h,
    )
    assert "errors" not in res and res["data"]["cartCreate"]["userErrors"] == [], res
    made = res["data"]["cartCreate"]
    cid = made["cart"]["id"]
    group = (
        {"pickupLocationId": gid("Location", pickup)}
        if pickup is not None
        else {"shippingAddress": ADDRESS}
    )
    upd = await hub.admin(
        f"""mutation($c: ID!, $g: [CartDeliveryGroupInput!]!) {{
          cartDeliveryUpdate(cartId: $c, deliveryGroups: $g) {{ cart {{ id }} {ERRORS} }} }}""",
        {"c": cid, "g": [group]},
        headers=h,
    )
    assert upd["data"]["cartDeliveryUpdate"]["userErrors"] == [], upd
    return (
        cid,
        [w["code"] for w in made["warnings"]],
        [n["quantity"] for n in made["cart"]["lines"]["nodes"]],
    )


async def complete(hub: Hub, channel: str, cid: str) -> dict[str, Any]:
    """checkoutComplete, paid in cash at a till: its payload, whatever it says."""
    done = await hub.admin(
        f"""mutation($c: ID!, $k: String!, $p: PaymentInput) {{ checkoutComplete(cartId: $c,
          idempotencyKey: $k, payment: $p) {{ order {{ id }} {ERRORS} }} }}""",
        {"c": cid, "k": uid(), "p": {"provider": "cash", "reference": "till-1"}},
        headers={"X-Hub-Channel": channel},
    )
    assert "errors" not in done, done
    return done["data"]["checkoutComplete"]


async def try_place(
    hub: Hub, channel: str, lines: list[tuple[str, int]], *, pickup: int | None = None
) -> dict[str, Any]:
    cid, _, _ = await make_cart(hub, channel, lines, pickup=pickup)
    return await complete(hub, channel, cid)


async def receive(hub: Hub, vid: str, loc: int, qty: int) -> None:
    out = await op(
        hub,
        "inventoryReceive",
        {"variantId": vid, "locationId": gid("Location", loc), "quantity": qty},
    )
    assert out["userErrors"] == [], out


async def outbox(hub: Hub, topic: str, order_pk: int | None = None) -> list[dict[str, Any]]:
    from tests.helpers.checkout import outbox_payloads

    got = await outbox_payloads(hub, topic)
    return [p for p in got if order_pk is None or p.get("orderId") == order_pk]


def pk(global_id: str) -> int:
    return int(global_id.rsplit("/", 1)[1])


async def test_deny_refuses_and_backorder_sells_beyond_stock(hub: Hub) -> None:
    ch = await make_channel(hub)
    site = await make_site(hub, ch, priority=1)
    vid = await stocked(hub, ch, {site: 2})
    # DENY, the default: the cart cuts 5 to the 2 there are; a checkout whose stock
    # went meanwhile is refused, nothing written.
    _, warned, qty = await make_cart(hub, ch, [(vid, 5)])
    assert warned == ["MERCHANDISE_NOT_ENOUGH_STOCK"] and qty == [2]
    late, _, _ = await make_cart(hub, ch, [(vid, 2)])
    await place(hub, ch, [(vid, 1)])
    refused = await complete(hub, ch, late)
    assert [e["code"] for e in refused["userErrors"]] == ["INSUFFICIENT_STOCK"]
    assert refused["order"] is None
    assert await levels(hub, vid, site) == (2, 0, 1)
    await receive(hub, vid, site, 1)  # back to 2 free (on hand 3, 1 committed)

    got = await set_policy(hub, vid, "BACKORDER", backorderLimit=10)
    assert got["userErrors"] == []
    assert got["inventoryPolicy"] == {
        "policy": "BACKORDER",
        "expectedOn": None,
        "backorderable": True,
        "preorder": False,
        "remaining": 10,
        "backorderLimit": 10,
        "backordered": 0,
    }
    _, warned, qty = await make_cart(hub, ch, [(vid, 5)])
    assert warned == [] and qty == [5]
    o = await place(hub, ch, [(vid, 5)])
    # The 2 free are committed; the 3 beyond wait as a backorder: no negative stock.
    assert await levels(hub, vid, site) == (3, 0, 3)
    (fo,) = o["fulfillmentOrders"]
    assert fo["status"] == "ON_HOLD" and fo["holdReason"] == "BACKORDER"
    assert fo["lines"][0]["quantity"] == 5
    (b,) = await queue(hub, order=o["id"])
    assert (b["quantity"], b["quantityAllocated"], b["status"]) == (3, 0, "OPEN")
    assert b["locationId"] == gid("Location", site) and b["fulfillmentOrderId"] == fo["id"]
    (ev,) = await outbox(hub, "backorder.created", pk(o["id"]))
    assert ev["quantity"] == 3 and ev["policy"] == "BACKORDER"
    # Staff can't take it off hold while the units are not there.
    rel = await fo_action(hub, "Release", fo["id"])
    assert [e["code"] for e in rel["userErrors"]] == ["AWAITING_STOCK"]
    after = await set_policy(hub, vid, "BACKORDER", backorderLimit=10)
    assert after["inventoryPolicy"]["backordered"] == 3
    assert after["inventoryPolicy"]["remaining"] == 7
    # Beyond the cap: the cart takes 7 at most; a checkout past it is refused.
    _, warned, qty = await make_cart(hub, ch, [(vid, 8)])
    assert warned == ["MERCHANDISE_NOT_ENOUGH_STOCK"] and qty == [7]
    late, _, _ = await make_cart(hub, ch, [(vid, 7)])
    await place(hub, ch, [(vid, 1)])
    over = await complete(hub, ch, late)
    assert [e["code"] for e in over["userErrors"]] == ["INSUFFICIENT_STOCK"]
    assert [b["quantity"] for b in await queue(hub, vid)] == [3, 1]
    await ledger_clean(hub)


async def test_received_stock_is_allocated_oldest_first(hub: Hub) -> None:
    ch = await make_channel(hub)
    site = await make_site(hub, ch, priority=1)
    other = await make_site(hub, ch, priority=2, ships=False)
    vid = await stocked(hub, ch, {other: 10})
    await set_policy(hub, vid, "BACKORDER")
    first = await place(hub, ch, [(vid, 2)])
    second = await place(hub, ch, [(vid, 3)])
    third = await place(hub, ch, [(vid, 1)])
    assert [b["quantity"] for b in await queue(hub, vid)] == [2, 3, 1]
    # Paged by id, bounded; a bad id or page is a request error with a code.
    q = """query($v: ID, $f: Int!, $a: ID) { backorders(variantId: $v, first: $f, after: $a) {
      id quantity } }"""
    page1 = (await admin(hub, q, {"v": vid, "f": 2, "a": None}))["backorders"]
    page2 = (await admin(hub, q, {"v": vid, "f": 2, "a": page1[-1]["id"]}))["backorders"]
    assert [b["quantity"] for b in page1 + page2] == [2, 3, 1]
    too_big = await hub.admin(q, {"v": vid, "f": 101, "a": None})
    assert too_big["errors"][0]["extensions"]["code"] == "INVALID_PAGE"
    bad_id = await hub.admin(q, {"v": "nope", "f": 2, "a": None})
    assert bad_id["errors"][0]["extensions"]["code"] == "INVALID_ID"
    hidden = await hub.gql(q, {"v": vid, "f": 2, "a": None}, token=hub.storefront_token)
    assert hidden["data"] is None or hidden["data"]["backorders"] is None
    assert "errors" in hidden
    assert await levels(hub, vid, site) == (0, 0, 0)

    # 4 units: the first in full, the second in part, the third (which would fit) waits.
    await receive(hub, vid, site, 4)
    q = await queue(hub, vid)
    assert [(b["quantityAllocated"], b["status"]) for b in q] == [
        (2, "ALLOCATED"),
        (2, "OPEN"),
        (0, "OPEN"),
    ]
    assert await levels(hub, vid, site) == (4, 0, 4)
    status = [(await order_fo(hub, o["id"]))["status"] for o in (first, second, third)]
    assert status == ["OPEN", "ON_HOLD", "ON_HOLD"]
    released = await outbox(hub, "backorder.allocated")
    assert [(p["orderId"], p["quantity"]) for p in released] == [
        (pk(first["id"]), 2),
        (pk(second["id"]), 2),
    ]

    # A transfer received at the site allocates the rest, still in order.
    t = await op(
        hub,
        "inventoryTransferCreate",
        {
            "fromLocationId": gid("Location", other),
            "toLocationId": gid("Location", site),
            "lines": [{"variantId": vid, "quantity": 3}],
        },
    )
    assert t["userErrors"] == [], t
    assert [b["status"] for b in await queue(hub, vid)] == ["ALLOCATED", "OPEN", "OPEN"]
    rcv = await admin(
        hub,
        f"""mutation($id: ID!) {{ inventoryTransferReceive(id: $id) {{ {ERRORS} }} }}""",
        {"id": t["transferId"]},
    )
    assert rcv["inventoryTransferReceive"]["userErrors"] == []
    assert [b["status"] for b in await queue(hub, vid)] == ["ALLOCATED"] * 3
    assert await levels(hub, vid, site) == (7, 0, 6)
    for o in (second, third):
        assert (await order_fo(hub, o["id"]))["status"] == "OPEN"
    # Fulfillable now: the first order ships its 2 units.
    from tests.helpers.fulfillment import fulfil

    fo = await order_fo(hub, first["id"])
    shipped = await fulfil(hub, fo["id"])
    assert shipped["userErrors"] == [], shipped
    assert await levels(hub, vid, site) == (5, 0, 4)
    await ledger_clean(hub)


async def order_fo(hub: Hub, order_id: str) -> dict[str, Any]:
    from tests.helpers.fulfillment import order

    (fo,) = (await order(hub, order_id))["fulfillmentOrders"]
    return fo


async def test_cancelling_a_backordered_order_gives_back_only_what_was_committed(
    hub: Hub,
) -> None:
    ch = await make_channel(hub)
    site = await make_site(hub, ch, priority=1)
    vid = await stocked(hub, ch, {site: 1})
    await set_policy(hub, vid, "BACKORDER", backorderLimit=5)
    o = await place(hub, ch, [(vid, 3)])
    assert await levels(hub, vid, site) == (1, 0, 1)
    out = await admin(
        hub,
        f"""mutation($id: ID!) {{ orderCancel(orderId: $id, reason: "customer") {{
          {ERRORS} }} }}""",
        {"id": o["id"]},
    )
    assert out["orderCancel"]["userErrors"] == [], out
    assert await levels(hub, vid, site) == (1, 0, 0)
    assert [b["status"] for b in await queue(hub, order=o["id"])] == ["CANCELLED"]
    pol = await set_policy(hub, vid, "BACKORDER", backorderLimit=5)
    assert pol["inventoryPolicy"]["backordered"] == 0
    # Received stock no longer goes to the cancelled order.
    await receive(hub, vid, site, 2)
    assert await levels(hub, vid, site) == (3, 0, 0)
    await ledger_clean(hub)


async def test_the_cap_holds_under_concurrent_checkouts(hub: Hub) -> None:
    ch = await make_channel(hub)
    site = await make_site(hub, ch, priority=1)
    vid = await stocked(hub, ch, {})
    got = await set_policy(hub, vid, "PREORDER", expectedOn="2027-02-01", backorderLimit=3)
    assert got["userErrors"] == [], got
    carts = [(await make_cart(hub, ch, [(vid, 1)]))[0] for _ in range(7)]
    results = await asyncio.gather(*(complete(hub, ch, c) for c in carts))
    placed = [r for r in results if r["order"] is not None]
    refused = [r for r in results if r["order"] is None]
    assert len(placed) == 3, results
    assert all([e["code"] for e in r["userErrors"]] == ["INSUFFICIENT_STOCK"] for r in refused), (
        refused
    )
    q = await queue(hub, vid)
    assert sum(b["quantity"] for b in q) == 3 and {b["policy"] for b in q} == {"PREORDER"}
    pol = await set_policy(hub, vid, "PREORDER", expectedOn="2027-02-01", backorderLimit=3)
    assert pol["inventoryPolicy"]["backordered"] == 3
    assert pol["inventoryPolicy"]["backorderable"] is False
    assert await levels(hub, vid, site) == (0, 0, 0)


async def test_storefronts_see_the_policy_and_bad_input_is_refused(hub: Hub) -> None:
    ch = await make_channel(hub)
    await make_site(hub, ch, priority=1)
    vid = await stocked(hub, ch, {})
    sf = await hub.gql(
        VARIANT, {"id": vid}, token=hub.storefront_token, headers={"X-Hub-Channel": ch}
    )
    assert sf["data"]["node"]["inventoryPolicy"] == {
        "policy": "DENY",
        "expectedOn": None,
        "backorderable": False,
        "preorder": False,
        "remaining": 0,
    }
    # PREORDER needs the date; a negative cap is refused; an unknown variant too.
    bad = await set_policy(hub, vid, "PREORDER")
    assert [e["code"] for e in bad["userErrors"]] == ["EXPECTED_DATE_REQUIRED"]
    assert bad["userErrors"][0]["field"] == ["expectedOn"]
    neg = await set_policy(hub, vid, "BACKORDER", backorderLimit=-1)
    assert [e["code"] for e in neg["userErrors"]] == ["INVALID"]
    gone = await set_policy(hub, "gid://hub/ProductVariant/999999999", "BACKORDER")
    assert [e["code"] for e in gone["userErrors"]] == ["NOT_FOUND"]
    n = await hub.scalar(
        "SELECT COUNT(*) FROM variant_inventory_policies WHERE variant_id = :v", v=pk(vid)
    )
    assert n == 0
    ok = await set_policy(hub, vid, "PREORDER", expectedOn="2027-03-15")
    assert ok["userErrors"] == []
    sf = await hub.gql(
        VARIANT, {"id": vid}, token=hub.storefront_token, headers={"X-Hub-Channel": ch}
    )
    assert sf["data"]["node"]["inventoryPolicy"] == {
        "policy": "PREORDER",
        "expectedOn": "2027-03-15",
        "backorderable": True,
        "preorder": True,
        "remaining": None,
    }
    # The cap and the count are staff-only.
    hidden = await hub.gql(
        """query($id: ID!) { node(id: $id) { ... on ProductVariant {
          inventoryPolicy { backordered } } } }""",
        {"id": vid},
        token=hub.storefront_token,
        headers={"X-Hub-Channel": ch},
    )
    assert hidden["errors"][0]["extensions"]["code"] in {
        "FORBIDDEN",
        "ACCESS_DENIED",
        "UNAUTHORIZED",
    }, hidden
    # Storefronts can't set it.
    denied = await hub.gql(
        POLICY, {"i": {"variantId": vid, "policy": "DENY"}}, token=hub.storefront_token
    )
    assert "errors" in denied
    (ev,) = [
        p
        for p in await outbox(hub, "variant.inventory_policy_updated")
        if p["variantId"] == pk(vid)
    ]
    assert ev["policy"] == "PREORDER" and ev["expectedOn"] == "2027-03-15"
