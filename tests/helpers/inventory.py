"""Helpers shared by the tests (moved from tests.schema.test_inventory)."""

from __future__ import annotations

import uuid

from tests.helpers.client import Hub

LEVEL = "level { onHand committed reserved incoming quarantined safetyStock available }"


PAYLOAD = (
    f"{{ {LEVEL} levels {{ onHand incoming }} transferId reservation {{ token expiresAt }} "
    "userErrors { field message code } }"
)


def _uid() -> str:
    return uuid.uuid4().hex[:8]


async def make_variant(hub: Hub, *, tracked: bool = True, channel: str = "web") -> str:
    h = f"stock-{_uid()}"
    res = await hub.admin(
        """mutation($i: ProductInput!) { productCreate(input: $i) {
        product { variants(first: 1) { nodes { id } } } userErrors { code } } }""",
        {
            "i": {
                "handle": h,
                "title": f"Stock {h}",
                "status": "ACTIVE",
                "variants": [{"sku": h.upper()}],
            }
        },
    )
    vid = res["data"]["productCreate"]["product"]["variants"]["nodes"][0]["id"]
    await hub.admin(
        """mutation($p: [VariantPriceInput!]!) { productVariantPricesSet(prices: $p) {
        userErrors { code } } }""",
        {"p": [{"variantId": vid, "channel": channel, "amount": "10"}]},
    )
    if not tracked:
        await hub.scalar("SELECT 1")
        async with hub.db.transaction() as conn:
            from sqlalchemy import text

            await conn.execute(
                text("UPDATE variants SET tracked = false WHERE id = :i"),
                {"i": int(vid.rsplit("/", 1)[1])},
            )
    return vid


async def make_location(
    hub: Hub,
    *,
    channels: list[str] | None = None,
    pickup: bool = False,
    lat: float = 40.0,
    lng: float = -74.0,
    kind: str = "STORE",
) -> str:
    res = await hub.admin(
        """mutation($i: LocationInput!) { locationCreate(input: $i) {
        location { id } userErrors { field code } } }""",
        {
            "i": {
                "handle": f"loc-{_uid()}",
                "name": "Test location",
                "kind": kind,
                "countryCode": "US",
                "city": "Testville",
                "latitude": lat,
                "longitude": lng,
                "pickupEnabled": pickup,
                "pickupLeadMinutes": 90,
                "channels": channels if channels is not None else ["web"],
            }
        },
    )
    assert res["data"]["locationCreate"]["userErrors"] == [], res
    return res["data"]["locationCreate"]["location"]["id"]


async def op(hub: Hub, name: str, input_: dict, token: str | None = None) -> dict:
    q = f"mutation($i: {_input_type(name)}!) {{ {name}(input: $i) {PAYLOAD} }}"
    res = await hub.gql(q, {"i": input_}, token=token or hub.admin_token)
    assert "errors" not in res, res
    return res["data"][name]


def _input_type(name: str) -> str:
    return {
        "inventoryAdjust": "InventoryAdjustInput",
        "inventorySetOnHand": "InventorySetOnHandInput",
        "inventoryReceive": "InventoryReceiveInput",
        "inventoryQuarantine": "InventoryQuarantineInput",
        "inventoryTransferCreate": "InventoryTransferInput",
        "inventoryReserve": "InventoryReserveInput",
        "inventoryFulfill": "InventoryMoveInput",
        "inventorySell": "InventoryMoveInput",
        "inventoryReturn": "InventoryMoveInput",
        "inventorySetThresholds": "InventoryThresholdsInput",
    }[name]
