"""Two gaps of the order book closed, over GraphQL on SQLite and PostgreSQL:

- serial numbers leave with a fulfilment (``fulfillmentCreate`` lines'
  ``serialNumbers``, ``fulfillmentOrderPickedUp``'s ``serials``): exactly one serial in
  stock at the location per unit of a serial-numbered item, recorded on the
  fulfilment's lines; a return's serial must be one THIS order's fulfilments took out;
- an expired pickup whose refund could not reach Stripe (the stand-in stopped) is
  refunded by a later run of the job, once, under its idempotency key.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.demo import NEWARK
from tests.helpers.carts import uid
from tests.helpers.client import Hub, served_again
from tests.helpers.fulfillment import (
    codes,
    fo_action,
    fulfil,
    levels,
    make_channel,
    make_site,
    order,
    pk_of,
    stocked,
)
from tests.helpers.fulfillment import place as place_in
from tests.helpers.inventory import op
from tests.helpers.orders import STRIPE, capture
from tests.helpers.returns import (
    assert_ledger_clean,
    loc,
    new_variant,
    open_return,
    picked_up,
    place,
    receive,
)
from tests.helpers.serving import listening_socket, refusing, url_of
from tests.helpers.stripe import (  # noqa: F401  (fixtures)
    API_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    _no_stripe_telemetry,
    serving,
)

CARD = {"provider": "test", "paymentMethodId": "pm_card_visa"}


@pytest.fixture
async def shop(hub: Hub) -> AsyncIterator[Hub]:
    async with served_again(hub, test_payments=True) as served:
        yield served


async def _written(hub: Hub) -> tuple[int, ...]:
    out = []
    for table in ("fulfillments", "fulfillment_lines", "order_events", "inventory_movements"):
        out.append(await hub.scalar(f"SELECT COUNT(*) FROM {table}"))
    return tuple(out)


async def _serial(hub: Hub, sn: str) -> tuple[str, int | None]:
    rows = await hub.rows(
        "SELECT status, location_id FROM inventory_serials WHERE serial_number = :s", s=sn
    )
    return rows[0].status, rows[0].location_id


async def _receive_serials(hub: Hub, vid: str, location: int, serials: list[str]) -> None:
    got = await op(
        hub,
        "inventoryReceive",
        {
            "variantId": vid,
            "locationId": loc(location),
            "quantity": len(serials),
            "serialNumbers": serials,
        },
    )
    assert got["userErrors"] == [], got


def _fo_of(view: dict[str, Any]) -> tuple[str, str]:
    (fo,) = view["fulfillmentOrders"]
    return fo["id"], fo["lines"][0]["id"]


def _return_line(o: dict[str, Any], sn: str) -> list[dict[str, Any]]:
    return [
        {
            "orderLineId": o["lines"][0]["id"],
            "quantity": 1,
            "reason": "UNWANTED",
            "serialNumber": sn,
        }
    ]


async def test_serials_leave_with_the_fulfilment_and_return_only_on_their_order(
    shop: Hub,
) -> None:
    vid = await new_variant(shop, {})
    sns = [f"SN-{uid()}" for _ in range(4)]
    await _receive_serials(shop, vid, NEWARK, sns)
    mine = await place(shop, [(vid, 2)], CARD)
    other = await place(shop, [(vid, 1)], CARD)
    fo_id, line_id = _fo_of(await order(shop, mine["id"]))

    # Refusals write nothing: no serials, too few, one not in stock here.
    before = await _written(shop)
    missing = await fulfil(shop, fo_id, [(line_id, 2)])
    assert codes(missing) == ["SERIAL_REQUIRED"]
    assert missing["userErrors"][0]["field"] == ["lines", "0", "serialNumbers"]
    short = await fulfil(shop, fo_id, [(line_id, 2)], serials={line_id: [sns[0]]})
    assert codes(short) == ["SERIAL_REQUIRED"]
    twice = await fulfil(shop, fo_id, [(line_id, 2)], serials={line_id: [sns[0], sns[0]]})
    assert codes(twice) == ["SERIAL_REQUIRED"]
    unknown = await fulfil(shop, fo_id, [(line_id, 2)], serials={line_id: [sns[0], "SN-NONE"]})
    assert codes(unknown) == ["SERIAL_NOT_IN_STOCK"]
    assert "SN-NONE" in unknown["userErrors"][0]["message"]
    assert await _written(shop) == before
    assert [await _serial(shop, sn) for sn in sns] == [("ON_HAND", NEWARK)] * 4

    shipped = await fulfil(shop, fo_id, [(line_id, 2)], serials={line_id: sns[:2]})
    assert shipped["userErrors"] == [], shipped
    assert shipped["fulfillment"]["lines"][0]["serialNumbers"] == sns[:2]
    assert [await _serial(shop, sn) for sn in sns[:2]] == [("SOLD", None)] * 2
    # A serial already sold can't leave again; the other order ships its own.
    other_fo, other_line = _fo_of(await order(shop, other["id"]))
    gone = await fulfil(shop, other_fo, [(other_line, 1)], serials={other_line: [sns[0]]})
    assert codes(gone) == ["SERIAL_NOT_IN_STOCK"]
    ok = await fulfil(shop, other_fo, [(other_line, 1)], serials={other_line: [sns[2]]})
    assert ok["userErrors"] == [], ok
    assert await _serial(shop, sns[2]) == ("SOLD", None)

    # Returns: another order's serial (sold, but not here) is a mismatch.
    base = {"o": mine["id"], "r": "STORE_CREDIT", "loc": loc(NEWARK)}
    wrong = await open_return(shop, {**base, "l": _return_line(mine, sns[2])})
    assert codes(wrong) == ["SERIAL_MISMATCH"]
    assert wrong["userErrors"][0]["field"] == ["lines", "0", "serialNumber"]
    assert "this order" in wrong["userErrors"][0]["message"]
    on_hand = (await levels(shop, vid, NEWARK))[0]
    right = await open_return(shop, {**base, "l": _return_line(mine, sns[1])})
    assert right["userErrors"] == [], right
    ret = right["return"]
    got = await receive(shop, ret["id"], NEWARK, [(ret["lines"][0]["id"], 1, "RESTOCK")])
    assert got["userErrors"] == [], got
    assert got["return"]["lines"][0]["quantityRestocked"] == 1
    assert await _serial(shop, sns[1]) == ("ON_HAND", NEWARK)  # back in stock
    assert (await levels(shop, vid, NEWARK))[0] == on_hand + 1
    # The same serial again: back in stock, not sold any more: refused.
    again = await open_return(shop, {**base, "l": _return_line(mine, sns[1])})
    assert codes(again) == ["SERIAL_MISMATCH"]
    assert (
        await shop.scalar("SELECT COUNT(*) FROM return_lines WHERE serial_number = :s", s=sns[1])
        == 1
    )
    await assert_ledger_clean(shop)


async def test_a_pickup_hands_over_serials(shop: Hub) -> None:
    ch = await make_channel(shop)
    store = await make_site(shop, ch, kind="STORE", pickup=True, ships=False)
    vid = await stocked(shop, ch, {})
    sns = [f"SN-{uid()}", f"SN-{uid()}"]
    await _receive_serials(shop, vid, store, sns)
    o = await place_in(shop, ch, [(vid, 1)], pickup=store)
    fo_id, line_id = _fo_of(o)
    assert (await fo_action(shop, "ReadyForPickup", fo_id))["userErrors"] == []
    none = await fo_action(shop, "PickedUp", fo_id)
    assert codes(none) == ["SERIAL_REQUIRED"]
    assert none["userErrors"][0]["field"] == ["serials", "0", "serialNumbers"]
    done = await picked_up(shop, fo_id, {line_id: [sns[1]]})
    assert done["userErrors"] == [], done
    assert done["fulfillment"]["lines"][0]["serialNumbers"] == [sns[1]]
    assert await _serial(shop, sns[1]) == ("SOLD", None)
    assert await _serial(shop, sns[0]) == ("ON_HAND", store)
    await assert_ledger_clean(shop)


@pytest.fixture
def own() -> Iterator[socket.socket]:
    """A listening socket on a free port, this test's throughout: the stand-in Stripe
    is served on it, or it refuses while Stripe is "down" (no other test's server can
    take the port and answer meanwhile)."""
    sock = listening_socket()
    sock.listen()
    yield sock
    sock.close()


async def test_an_expired_pickups_refund_is_retried_once_stripe_is_back(
    hub: Hub, own: socket.socket
) -> None:
    fake = FakeStripe()
    fake.base_url = url_of(own)
    async with served_again(
        hub,
        stripe_api_key=API_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=fake.base_url,
    ) as shop:
        ch = await make_channel(shop)
        store = await make_site(shop, ch, kind="STORE", pickup=True, ships=False, window_hours=2)
        vid = await stocked(shop, ch, {store: 5})
        with serving(fake, on=own):
            o = await place_in(shop, ch, [(vid, 3)], pickup=store, payment=STRIPE)
            captured = await capture(shop, o["id"], uid())
            assert captured["userErrors"] == [], captured
            assert captured["order"]["paymentStatus"] == "PAID", captured
            fo_id = o["fulfillmentOrders"][0]["id"]
            assert (await fo_action(shop, "ReadyForPickup", fo_id))["userErrors"] == []
        svc: Any = shop.app.state.hub.fulfillments
        later = datetime.now(UTC) + timedelta(hours=3)
        key = f"pickup-expired:{fo_id}"

        async def refunds() -> list[Any]:
            return await shop.rows(
                "SELECT status FROM refunds WHERE order_id = :o AND idempotency_key = :k",
                o=pk_of(o["id"]),
                k=key,
            )

        # Stripe is down: connections to its port are reset. The stock is released,
        # the refund can't be made (left PENDING).
        with refusing(own):
            assert await svc.expire_pickups(now=later) == 1
            assert await levels(shop, vid, store) == (5, 0, 0)
            assert [r.status for r in await refunds()] == ["PENDING"]
            due = "SELECT expiry_refund FROM fulfillment_orders WHERE id = :f"
            assert await shop.scalar(due, f=pk_of(fo_id)) == "DUE"
            assert (await order(shop, o["id"]))["paymentStatus"] == "PAID"

        with serving(fake, on=own):
            # Back up: the next run expires nothing new and makes the refund.
            assert await svc.expire_pickups(now=later) == 0
            assert [r.status for r in await refunds()] == ["SUCCESS"]
            assert await shop.scalar(due, f=pk_of(fo_id)) == "DONE"
            # Once: a further run calls Stripe for nothing.
            calls = len(fake.requests)
            assert await svc.expire_pickups(now=later) == 0
            assert len(fake.requests) == calls
        made = [r for r in fake.requests if r.method == "POST" and r.path == "/v1/refunds"]
        assert len({r.idempotency_key for r in made}) == 1  # retries reuse the provider key
        stripe_refunds = [x for x in fake.objects.values() if x.get("object") == "refund"]
        assert len(stripe_refunds) == 1 and stripe_refunds[0]["amount"] == 3000
        view = await order(shop, o["id"])
        assert view["paymentStatus"] == "REFUNDED"
        (refund,) = view["refunds"]
        assert refund["amount"]["amount"] == "30.00"
