"""Webhooks out, over GraphQL against the real app, on SQLite and PostgreSQL, with a
real receiver (tests/helpers/webhooks.py) on 127.0.0.1 (so these hubs set
HUB_WEBHOOK_ALLOW_PRIVATE, except where the SSRF guard itself is tested)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from connectors.base import WebhookRequest
from connectors.webhooks import AddressPolicy, HttpWebhookTarget
from tests.helpers.client import BACKENDS, Hub, served_again
from tests.helpers.webhooks import (
    DELIVERIES,
    SUBSCRIBE,
    Receiver,
    adjust,
    admin_client,
    readme_verify,
    receiver_server,
    stock,
    verify,
    webhook_hub,
)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with receiver_server() as r:
        yield r


@pytest.fixture(scope="module", params=BACKENDS)
async def hub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Hub]:
    if request.param == "postgresql":
        from tests.helpers.client import _pg_server_url

        if _pg_server_url() is None:
            pytest.skip("PostgreSQL not configured (set HUB_TEST_POSTGRES_URL)")
    async with webhook_hub(request.param, tmp_path_factory.mktemp("wh")) as h:
        yield h


def _name(prefix: str) -> str:
    return f"{prefix}-{time.time_ns()}"


async def subscribe(hub: Hub, url: str, topics: list[str], **more: object) -> tuple[str, str]:
    got = (await hub.admin(SUBSCRIBE, {"i": {"url": url, "topics": topics, **more}}))["data"]
    made = got["webhookSubscriptionCreate"]
    assert made["userErrors"] == [], made
    return made["webhookSubscription"]["id"], made["secret"]


async def deliveries(hub: Hub, sub: str, status: str | None = None) -> list[dict]:
    got = await hub.admin(DELIVERIES, {"s": sub, "st": status, "f": 100})
    assert "errors" not in got, got
    return got["data"]["webhookDeliveries"]["nodes"]


async def settled(hub: Hub, sub: str, count: int, status: str = "SUCCEEDED") -> list[dict]:
    """The subscription's deliveries once ``count`` of them are in ``status`` (the hub
    records an attempt just after the receiver answered it)."""
    for _ in range(200):
        rows = await deliveries(hub, sub, status)
        if len(rows) >= count:
            return rows
        await _sleep(0.05)
    return rows


async def test_signed_delivery_with_event_id_topic_and_idempotency_key(
    hub: Hub, receiver: Receiver
) -> None:
    path = _name("signed")
    sub, secret = await subscribe(hub, receiver.endpoint(path), ["inventory.*"])
    assert secret.startswith("whsec_") and len(secret) > 30
    async with admin_client(hub) as admin:
        variant, location = await stock(admin)
        await adjust(admin, variant, location)
    hits = await receiver.wait(path, 2)  # the stocking adjustment and ours
    assert len(hits) == 2, receiver.at(path)
    readme = readme_verify()  # the receiver's check as README "Webhooks" shows it
    for hit in hits:
        assert verify(secret, hit)
        assert not verify(secret + "x", hit)
        assert readme(secret, hit.headers["hub-signature"], hit.body)
        assert not readme(secret, hit.headers["hub-signature"], hit.body + b" ")
        assert not readme(secret, hit.headers["hub-signature"], hit.body, tolerance=-1)
        body = hit.json()
        assert body["id"] == hit.event_id == hit.headers["idempotency-key"]
        assert body["topic"] == hit.headers["hub-topic"] == "inventory.changed"
        assert body["data"]["variantId"] == int(variant.rsplit("/", 1)[1])
        assert hit.headers["content-type"] == "application/json"
    # A tampered body fails the check.
    hits[0].body = hits[0].body.replace(b"inventory", b"inventorx")
    assert not verify(secret, hits[0])
    rows = await settled(hub, sub, 2)
    assert len(rows) == 2
    assert {r["eventId"] for r in rows} == {h.event_id for h in hits}
    for r in rows:
        assert r["status"] == "SUCCEEDED" and r["attempts"] == 1
        assert r["lastStatusCode"] == 200 and r["lastLatencyMs"] >= 0 and r["lastError"] is None
        assert r["nextAttemptAt"] is None and r["deliveredAt"] is not None
    # The secret is write-only: no field answers it.
    fields = await hub.admin('{ __type(name: "WebhookSubscription") { fields { name } } }')
    assert "secret" not in {f["name"] for f in fields["data"]["__type"]["fields"]}
    listed = await hub.admin("{ webhookSubscriptions(first: 50) { nodes { id topics url } } }")
    assert sub in {n["id"] for n in listed["data"]["webhookSubscriptions"]["nodes"]}


async def test_receiver_failing_twice_gets_each_event_once_after_retries(
    hub: Hub, receiver: Receiver
) -> None:
    path = _name("flaky")
    sub, _ = await subscribe(hub, receiver.endpoint(path, fail_first=2), ["inventory.changed"])
    async with admin_client(hub) as admin:
        variant, location = await stock(admin)
        for _ in range(2):
            await adjust(admin, variant, location)
    ok = await receiver.wait(path, 3)
    assert len(ok) == 3, receiver.at(path)
    tries = Counter(h.event_id for h in receiver.at(path))
    successes = Counter(h.event_id for h in ok)
    assert set(tries.values()) == {3}, tries  # two failures, then the success
    assert set(successes.values()) == {1}, successes  # exactly once per event id
    # The retries waited (backoff), and the rows say what happened.
    for event in tries:
        at = sorted(h.at for h in receiver.at(path) if h.event_id == event)
        assert at[1] - at[0] >= 0.09 and at[2] - at[1] >= 0.19, at
    rows = await settled(hub, sub, 3)
    assert sorted(r["attempts"] for r in rows) == [3, 3, 3]
    assert all(r["lastStatusCode"] == 200 for r in rows)


async def test_dead_after_max_attempts_then_retry_by_hand(hub: Hub, receiver: Receiver) -> None:
    path = _name("down")
    sub, _ = await subscribe(hub, receiver.endpoint(path, always_fail=True), ["inventory.*"])
    async with admin_client(hub) as admin:
        await stock(admin)
    await receiver.wait(path, 3, ok=False)
    for _ in range(100):
        rows = await deliveries(hub, sub)
        if rows and rows[0]["status"] == "DEAD":
            break
        await _sleep(0.1)
    assert len(rows) == 1 and rows[0]["status"] == "DEAD", rows
    assert rows[0]["attempts"] == 3 and rows[0]["lastStatusCode"] == 500
    assert rows[0]["lastError"] == "HTTP 500" and rows[0]["nextAttemptAt"] is None
    await _sleep(0.6)
    assert len(receiver.at(path)) == 3  # no attempt after DEAD
    receiver.paths[path].always_fail = False
    retried = await hub.admin(
        "mutation($i: ID!) { webhookDeliveryRetry(id: $i) { webhookDelivery { status attempts } "
        "userErrors { code } } }",
        {"i": rows[0]["id"]},
    )
    assert retried["data"]["webhookDeliveryRetry"] == {
        "webhookDelivery": {"status": "PENDING", "attempts": 0},
        "userErrors": [],
    }
    assert len(await receiver.wait(path, 1)) == 1
    rows = await settled(hub, sub, 1)
    assert len(rows) == 1 and rows[0]["attempts"] == 1
    missing = await hub.admin(
        "mutation($i: ID!) { webhookDeliveryRetry(id: $i) { userErrors { code field } } }",
        {"i": "gid://hub/WebhookDelivery/987654321"},
    )
    assert missing["data"]["webhookDeliveryRetry"]["userErrors"] == [
        {"code": "NOT_FOUND", "field": ["id"]}
    ]


async def test_replay_requeues_a_time_range(hub: Hub, receiver: Receiver) -> None:
    path = _name("replay")
    sub, _ = await subscribe(hub, receiver.endpoint(path), ["inventory.changed"])
    start = datetime.now(UTC)  # the outbox's times are this process's clock
    async with admin_client(hub) as admin:
        variant, location = await stock(admin)
        await adjust(admin, variant, location)
    first = await receiver.wait(path, 2)
    assert len(first) == 2
    end = datetime.now(UTC) + timedelta(seconds=1)
    replay = """mutation($f: DateTime!, $t: DateTime!, $s: ID) {
      webhookEventsReplay(from: $f, to: $t, subscriptionId: $s) {
        queued userErrors { code field } } }"""
    got = await hub.admin(replay, {"f": start.isoformat(), "t": end.isoformat(), "s": sub})
    assert got["data"]["webhookEventsReplay"] == {"queued": 2, "userErrors": []}
    again = await receiver.wait(path, 4)
    assert len(again) == 4, await hub.rows(
        "SELECT * FROM webhook_deliveries WHERE subscription_id = :s", s=int(sub.rsplit("/", 1)[1])
    )
    assert Counter(h.event_id for h in again) == Counter({h.event_id: 2 for h in first})
    rows = await settled(hub, sub, 2)
    assert len(rows) == 2 and all(r["status"] == "SUCCEEDED" for r in rows)
    bad = await hub.admin(replay, {"f": end.isoformat(), "t": start.isoformat(), "s": sub})
    assert bad["data"]["webhookEventsReplay"] == {
        "queued": 0,
        "userErrors": [{"code": "WEBHOOK_INVALID_RANGE", "field": ["to"]}],
    }


async def test_field_filter_keeps_only_the_listed_payload_keys(
    hub: Hub, receiver: Receiver
) -> None:
    path = _name("fields")
    await subscribe(
        hub, receiver.endpoint(path), ["inventory.*"], fields=["variantId", "reason", "nope"]
    )
    async with admin_client(hub) as admin:
        await stock(admin)
    [hit] = await receiver.wait(path, 1)
    assert set(hit.json()["data"]) == {"variantId", "reason"}


async def test_bad_input_is_refused_with_codes_and_nothing_written(hub: Hub) -> None:
    before = await hub.scalar("SELECT COUNT(*) FROM webhook_subscriptions")
    cases = [
        ({"url": "ftp://example.com/x", "topics": ["*"]}, "WEBHOOK_INVALID_URL", ["url"]),
        ({"url": "", "topics": ["*"]}, "BLANK", ["url"]),
        ({"url": "https://93.184.215.14/x", "topics": []}, "BLANK", ["topics"]),
        ({"url": "https://93.184.215.14/x", "topics": ["a b"]}, "WEBHOOK_INVALID_TOPIC", None),
        (
            {"url": "https://93.184.215.14/x", "topics": ["*"], "fields": ["a.b"]},
            "WEBHOOK_INVALID_FIELD",
            None,
        ),
    ]
    for given, code, path in cases:
        got = (await hub.admin(SUBSCRIBE, {"i": given}))["data"]["webhookSubscriptionCreate"]
        assert got["webhookSubscription"] is None and got["secret"] is None
        assert [e["code"] for e in got["userErrors"]] == [code], (given, got)
        if path is not None:
            assert got["userErrors"][0]["field"] == path
    assert await hub.scalar("SELECT COUNT(*) FROM webhook_subscriptions") == before
    # Without the admin scope: refused.
    denied = await hub.gql(
        SUBSCRIBE,
        {"i": {"url": "https://93.184.215.14", "topics": ["*"]}},
        token=hub.storefront_token,
    )
    assert denied["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:8080/hook",
        "http://localhost:8080/hook",  # a name that resolves to loopback
        "http://[::ffff:127.0.0.1]/hook",
        "http://192.168.0.10/hook",
    ],
)
async def test_private_targets_are_refused_unless_allowed(hub: Hub, url: str) -> None:
    before = await hub.scalar("SELECT COUNT(*) FROM webhook_subscriptions")
    async with served_again(hub) as strict:  # HUB_WEBHOOK_ALLOW_PRIVATE unset
        got = (await strict.admin(SUBSCRIBE, {"i": {"url": url, "topics": ["*"]}}))["data"]
        made = got["webhookSubscriptionCreate"]
        assert made["secret"] is None
        assert [(e["code"], e["field"]) for e in made["userErrors"]] == [
            ("WEBHOOK_URL_REFUSED", ["url"])
        ], made
        assert await hub.scalar("SELECT COUNT(*) FROM webhook_subscriptions") == before
        # An update to such a URL is refused the same way.
        sub, _ = await subscribe(hub, "http://127.0.0.1:9/ok", ["x.y"])
        upd = await strict.admin(
            "mutation($i: ID!, $u: String) { webhookSubscriptionUpdate(id: $i, input: {url: $u}) "
            "{ webhookSubscription { url } userErrors { code } } }",
            {"i": sub, "u": url},
        )
        assert upd["data"]["webhookSubscriptionUpdate"]["userErrors"] == [
            {"code": "WEBHOOK_URL_REFUSED"}
        ]
        deleted = await hub.admin(
            "mutation($i: ID!) { webhookSubscriptionDelete(id: $i) "
            "{ deletedId userErrors { code } } }",
            {"i": sub},
        )
        assert deleted["data"]["webhookSubscriptionDelete"] == {"deletedId": sub, "userErrors": []}
    host = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    if host == "localhost":  # an exempt host name is allowed
        async with served_again(hub, webhook_allowed_hosts="localhost") as exempt:
            got = (await exempt.admin(SUBSCRIBE, {"i": {"url": url, "topics": ["x"]}}))["data"]
            assert got["webhookSubscriptionCreate"]["userErrors"] == []
            await exempt.admin(
                "mutation($i: ID!) { webhookSubscriptionDelete(id: $i) { deletedId } }",
                {"i": got["webhookSubscriptionCreate"]["webhookSubscription"]["id"]},
            )


async def test_allow_list_mode_only_calls_the_hosts_listed(hub: Hub) -> None:
    async with served_again(hub, webhook_hosts="hooks.example.com") as listed:
        got = (
            await listed.admin(SUBSCRIBE, {"i": {"url": "https://example.org/x", "topics": ["*"]}})
        )["data"]["webhookSubscriptionCreate"]
        assert [e["code"] for e in got["userErrors"]] == ["WEBHOOK_URL_REFUSED"]
        assert "example.org is not one of the hosts" in got["userErrors"][0]["message"]


async def test_the_guard_also_refuses_at_send_time(receiver: Receiver) -> None:
    """A target that passed once (or a name that now resolves elsewhere) is checked
    again before each attempt, and the request never leaves."""
    path = _name("guarded")
    url = receiver.endpoint(path)
    target = HttpWebhookTarget(AddressPolicy())
    try:
        got = await target.send(WebhookRequest(url, b"{}", {"Hub-Event-Id": "1"}), 1.0)
    finally:
        await target.aclose()
    assert got.status_code is None and got.error is not None and got.error.startswith("refused")
    assert receiver.at(path) == []
    allowed = HttpWebhookTarget(AddressPolicy(allow_private=True))
    try:
        got = await allowed.send(WebhookRequest(url, b"{}", {"Hub-Event-Id": "1"}), 1.0)
    finally:
        await allowed.aclose()
    assert got.ok and len(receiver.at(path)) == 1


async def test_a_slow_receiver_does_not_delay_another_subscription(
    hub: Hub, receiver: Receiver
) -> None:
    slow, fast = _name("slow"), _name("fast")
    # Longer than the one-second timeout: every attempt of the slow one times out.
    slow_sub, _ = await subscribe(hub, receiver.endpoint(slow, delay=3.0), ["inventory.*"])
    await subscribe(hub, receiver.endpoint(fast), ["inventory.*"])
    async with admin_client(hub) as admin:
        variant, location = await stock(admin)
        for _ in range(5):  # a backlog for the slow receiver
            await adjust(admin, variant, location)
    committed = time.monotonic()
    got = await receiver.wait(fast, 6, within=10)
    assert len(got) == 6
    # Each slow attempt takes the whole one-second timeout: had the fast receiver
    # waited behind one, its deliveries would come a second after the slow one's first.
    first_slow = min(h.at for h in receiver.at(slow))
    assert max(h.at for h in got) < first_slow + 0.9, "the fast receiver waited"
    assert max(h.at for h in got) - committed < 3.0
    rows = await deliveries(hub, slow_sub)
    assert not any(r["status"] == "SUCCEEDED" for r in rows)
    for _ in range(60):
        rows = await deliveries(hub, slow_sub)
        if any(r["lastError"] for r in rows):
            break
        await _sleep(0.1)
    assert any((r["lastError"] or "").startswith("timed out") for r in rows), rows
    await hub.admin(
        "mutation($i: ID!) { webhookSubscriptionUpdate(id: $i, input: {active: false}) "
        "{ userErrors { code } } }",
        {"i": slow_sub},
    )


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


async def test_deliveries_page_by_cursor_in_one_statement_and_nodes_are_staff_only(
    hub: Hub, receiver: Receiver
) -> None:
    path = _name("pages")
    sub, _ = await subscribe(hub, receiver.endpoint(path), ["inventory.changed"])
    async with admin_client(hub) as admin:
        variant, location = await stock(admin)
        for _ in range(3):
            await adjust(admin, variant, location)
    every = await settled(hub, sub, 4)
    assert len(every) == 4
    counts = []
    await hub.admin(DELIVERIES, {"s": sub, "f": 1})  # the key is looked up (then cached)
    for first in (1, 4):
        with hub.count_statements() as seen:
            got = await hub.admin(DELIVERIES, {"s": sub, "f": first})
        assert len(got["data"]["webhookDeliveries"]["nodes"]) == first
        counts.append(len(seen))
    assert counts[1] <= counts[0], counts  # the same query however many rows
    page = (await hub.admin(DELIVERIES, {"s": sub, "f": 2}))["data"]["webhookDeliveries"]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = await hub.admin(DELIVERIES, {"s": sub, "f": 2, "a": page["pageInfo"]["endCursor"]})
    ids = [n["id"] for n in page["nodes"]] + [
        n["id"] for n in rest["data"]["webhookDeliveries"]["nodes"]
    ]
    assert ids == [r["id"] for r in every] and len(set(ids)) == 4
    bad = await hub.admin(DELIVERIES, {"s": sub, "f": 2, "a": "nonsense"})
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"
    too_many = await hub.admin(DELIVERIES, {"s": sub, "f": 100000})
    assert too_many["errors"][0]["extensions"]["code"] == "INVALID_PAGE"
    node = "query($i: ID!) { node(id: $i) { __typename id } }"
    for gid, kind in ((sub, "WebhookSubscription"), (every[0]["id"], "WebhookDelivery")):
        assert (await hub.admin(node, {"i": gid}))["data"]["node"] == {
            "__typename": kind,
            "id": gid,
        }
        assert (await hub.gql(node, {"i": gid}, token=hub.storefront_token))["data"]["node"] is None
    denied = await hub.gql(DELIVERIES, {"s": sub}, token=hub.storefront_token)
    assert denied["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"


async def test_a_replay_past_its_bound_queues_nothing(hub: Hub, receiver: Receiver) -> None:
    from hub.domain.errors import DomainError
    from hub.domain.webhooks import WebhookCode, admin

    path = _name("bound")
    sub, _ = await subscribe(hub, receiver.endpoint(path), ["inventory.changed"])
    start = datetime.now(UTC)  # the outbox's times are this process's clock
    async with admin_client(hub) as c:
        variant, location = await stock(c)
        await adjust(c, variant, location)
    await settled(hub, sub, 2)
    end = datetime.now(UTC) + timedelta(seconds=1)
    pk = int(sub.rsplit("/", 1)[1])
    with pytest.raises(DomainError) as refused:
        await admin.replay(hub.db, start, end, pk, limit=1)
    assert [e.code for e in refused.value.errors] == [WebhookCode.REPLAY_TOO_LARGE]
    rows = await deliveries(hub, sub)
    assert [r["status"] for r in rows] == ["SUCCEEDED", "SUCCEEDED"]  # nothing re-queued
    assert await admin.replay(hub.db, start, end, pk) == 2
