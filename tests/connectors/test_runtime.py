"""The connector runtime over GraphQL: scheduled runs, retries with backoff, the event
feed with stock coalescing (at least once), timeouts, and that neither a failing nor a
hanging connector holds up checkout or another connector."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from hub.demo import BROOKLYN, NEWARK
from tests.helpers.accounts import guest_order
from tests.helpers.client import Hub, served_again
from tests.helpers.connectors import (
    RUN_NOW,
    Recorder,
    connector,
    create_connector,
    delete_connector,
    received,
    register,
    run_now,
    runs,
    update_connector,
    wait_run,
    wait_runs,
)
from tests.helpers.inventory import make_variant, op


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def _adjust(hub: Hub, vid: str, loc: int, delta: int) -> None:
    out = await op(
        hub,
        "inventoryAdjust",
        {
            "variantId": vid,
            "locationId": f"gid://hub/Location/{loc}",
            "delta": delta,
            "reason": "received",
        },
    )
    assert out["userErrors"] == [], out


async def test_schedules_run_and_a_failing_instance_backs_off_alone(
    hub: Hub, tmp_path: Path
) -> None:
    register(hub, Recorder)
    good_out, bad_out = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    good = await create_connector(
        hub, _name("good"), "test_recorder", {"out": str(good_out)}, scheduleSeconds=1
    )
    bad = await create_connector(
        hub, _name("bad"), "test_recorder", {"out": str(bad_out), "fail": True}, scheduleSeconds=1
    )
    try:
        failed = await wait_runs(hub, bad["id"], 3, within=20, status="FAILED")
        assert {r["trigger"] for r in failed} == {"SCHEDULE"}
        assert failed[0]["message"] == "RuntimeError: the outside system is down"
        assert failed[0]["errors"][0]["code"] == "FAILED"
        # Newest first: the pauses before the 2nd and 3rd attempts double (1s, 2s +-10%).
        gaps = [
            (_at(failed[i]["startedAt"]) - _at(failed[i + 1]["endedAt"])).total_seconds()
            for i in range(2)
        ]
        assert 1.7 <= gaps[0] <= 3.5 and 0.85 <= gaps[1] <= 1.9 and gaps[0] > gaps[1], gaps
        state = await connector(hub, bad["id"])
        assert state["failures"] >= 3 and state["lastError"].startswith("RuntimeError")
        assert not bad_out.exists()

        # The good one ran on its schedule all along, each run a second apart or more.
        ok = await wait_runs(hub, good["id"], 3, status="SUCCEEDED", trigger="SCHEDULE")
        assert [r["sync"] for r in received(good_out)][:3] == [1, 2, 3]
        assert (_at(ok[0]["startedAt"]) - _at(ok[1]["startedAt"])).total_seconds() >= 0.9

        # Fixed, the next run succeeds and the failures are forgotten.
        fixed = await update_connector(hub, bad["id"], config={"out": str(bad_out)})
        assert fixed["userErrors"] == []
        assert (await run_now(hub, bad["id"], wait=True))["status"] == "SUCCEEDED"
        state = await connector(hub, bad["id"])
        assert state["failures"] == 0 and state["lastError"] is None
    finally:
        await delete_connector(hub, good["id"])
        await delete_connector(hub, bad["id"])


def _batches_for(path: Path, variant_pk: int) -> list[list[dict[str, Any]]]:
    """Per events batch the recorder got: the events of this variant."""
    return [
        [e for e in rec["events"] if e["payload"].get("variantId") == variant_pk]
        for rec in received(path)
        if "events" in rec
    ]


async def test_stock_events_are_coalesced_per_variant_with_the_latest_levels(
    hub: Hub, tmp_path: Path
) -> None:
    register(hub, Recorder)
    out = tmp_path / "events.jsonl"
    made = await create_connector(
        hub, _name("feed"), "test_recorder", {"out": str(out)}, enabled=False
    )
    try:
        vid = await make_variant(hub)
        vpk = int(vid.rsplit("/", 1)[1])
        # Four changes while the instance is off: they wait in its feed.
        await _adjust(hub, vid, NEWARK, 5)
        await _adjust(hub, vid, NEWARK, 2)
        await _adjust(hub, vid, BROOKLYN, 4)
        await _adjust(hub, vid, NEWARK, -1)
        assert received(out) == []
        await update_connector(hub, made["id"], enabled=True)
        (run,) = await wait_runs(hub, made["id"], 1, trigger="EVENT")
        assert run["status"] == "SUCCEEDED" and run["events"] >= 4

        mine = [b for b in _batches_for(out, vpk) if b]
        assert len(mine) == 1 and len(mine[0]) == 1, mine  # one event for the variant
        (event,) = mine[0]
        assert event["topic"] == "inventory.changed" and event["payload"]["coalesced"] == 4
        assert event["payload"]["level"]["onHand"] == 6  # the newest: NEWARK 5 + 2 - 1
        levels = {lv["locationId"]: lv["level"]["onHand"] for lv in event["payload"]["levels"]}
        assert levels == {NEWARK: 6, BROOKLYN: 4}

        # At least once: a failing push gets the same event again on its retry.
        await update_connector(hub, made["id"], config={"out": str(out), "fail": True})
        await _adjust(hub, vid, BROOKLYN, 1)
        await wait_runs(hub, made["id"], 1, trigger="EVENT", status="FAILED")
        assert len([b for b in _batches_for(out, vpk) if b]) == 1  # nothing pushed
        await update_connector(hub, made["id"], config={"out": str(out)})
        got = await run_now(hub, made["id"], wait=True)
        assert got["status"] == "SUCCEEDED", got
        again = [b for b in _batches_for(out, vpk) if b]
        assert len(again) == 2 and again[1][0]["payload"]["level"]["onHand"] == 5
        assert again[1][0]["payload"]["locationId"] == BROOKLYN
    finally:
        await delete_connector(hub, made["id"])


async def test_a_hanging_connector_holds_up_neither_checkout_nor_another_connector(
    hub: Hub, tmp_path: Path
) -> None:
    register(hub, Recorder)
    hang_out, other_out = tmp_path / "hang.jsonl", tmp_path / "other.jsonl"
    hung = await create_connector(
        hub, _name("hang"), "test_recorder", {"out": str(hang_out), "hang": True}, timeoutSeconds=8
    )
    other = await create_connector(hub, _name("other"), "test_recorder", {"out": str(other_out)})
    try:
        started = await run_now(hub, hung["id"])
        assert started["status"] == "RUNNING"
        t0 = time.monotonic()
        payload, _, _ = await guest_order(hub, "hang@example.com")
        assert payload["order"]["id"] and time.monotonic() - t0 < 2.5
        # The other instance handles the checkout's stock events meanwhile.
        (done,) = (await wait_runs(hub, other["id"], 1, trigger="EVENT"))[-1:]
        assert done["status"] == "SUCCEEDED" and done["events"] >= 1
        assert received(hang_out) == [{"hang": True}]  # still hanging
        assert (await connector(hub, hung["id"]))["running"] is True

        # One run at a time, in every process on the database.
        async with served_again(hub) as second:
            register(second, Recorder)
            busy = await second.admin(RUN_NOW, {"id": hung["id"], "wait": False})
        errs = busy["data"]["connectorRunNow"]["userErrors"]
        assert [e["code"] for e in errs] == ["CONNECTOR_BUSY"]

        ended = await wait_run(hub, started["id"], within=20)
        assert ended["status"] == "FAILED" and ended["message"] == "timed out after 8s"
        assert [e["code"] for e in ended["errors"]] == ["TIMEOUT"]
        state = await connector(hub, hung["id"])
        # The timeout counts as a failure (backoff); a later run that succeeded (its
        # stock events, a second after) resets the count: either is the instance's state.
        later = [r for r in await runs(hub, hung["id"]) if r["startedAt"] > ended["endedAt"]]
        reset = any(r["status"] == "SUCCEEDED" for r in later)
        assert state["failures"] == (0 if reset else 1), (state, later)
        assert state["running"] is False or later
        manual = [r["id"] for r in await runs(hub, hung["id"]) if r["trigger"] == "MANUAL"]
        assert manual == [started["id"]]
    finally:
        await delete_connector(hub, hung["id"])
        await delete_connector(hub, other["id"])
