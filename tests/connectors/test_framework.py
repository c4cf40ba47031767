"""The connector framework over GraphQL: instances (config validated, secrets
write-only), manual runs and their records, paging of runs, the admin gate."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from tests.helpers.client import Hub
from tests.helpers.connectors import (
    CREATE,
    RUN_NOW,
    Recorder,
    connector,
    create_connector,
    delete_connector,
    idle,
    received,
    register,
    run_now,
    runs,
    update_connector,
    wait_run,
)


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_create_validates_the_config_and_never_returns_secrets(
    hub: Hub, tmp_path: Path
) -> None:
    register(hub, Recorder)
    before = await hub.scalar("SELECT count(*) FROM connectors")

    unknown = await hub.admin(
        CREATE, {"input": {"name": _name("x"), "typeName": "no_such_type", "config": {}}}
    )
    errs = unknown["data"]["connectorCreate"]["userErrors"]
    assert [(e["code"], e["field"]) for e in errs] == [("UNKNOWN_CONNECTOR_TYPE", ["typeName"])]

    bad = await hub.admin(
        CREATE,
        {
            "input": {
                "name": _name("x"),
                "typeName": "test_recorder",
                "config": {"items": "many", "token": "s3cr3t-value"},
            }
        },
    )
    errs = bad["data"]["connectorCreate"]["userErrors"]
    assert bad["data"]["connectorCreate"]["connector"] is None
    fields = sorted(tuple(e["field"]) for e in errs)
    assert fields == [("config", "items"), ("config", "out")]
    assert {e["code"] for e in errs} == {"INVALID_CONNECTOR_CONFIG"}
    assert "s3cr3t-value" not in json.dumps(bad)
    assert await hub.scalar("SELECT count(*) FROM connectors") == before

    out = tmp_path / "out.jsonl"
    made = await create_connector(
        hub, _name("rec"), "test_recorder", {"out": str(out), "token": "s3cr3t-value"}
    )
    assert made["config"]["out"] == str(out) and "token" not in made["config"]
    assert made["secrets"] == [{"name": "token", "isSet": True}]
    assert made["kind"] == "erp" and made["source"] == "API" and made["failures"] == 0

    taken = await hub.admin(
        CREATE,
        {"input": {"name": made["name"], "typeName": "test_recorder", "config": {"out": "x"}}},
    )
    assert [e["code"] for e in taken["data"]["connectorCreate"]["userErrors"]] == ["TAKEN"]

    # An update without the secret keeps it; the connector still gets it.
    changed = await update_connector(hub, made["id"], config={"out": str(out), "items": 3})
    assert changed["userErrors"] == []
    assert changed["connector"]["secrets"] == [{"name": "token", "isSet": True}]
    run = await run_now(hub, made["id"], wait=True)
    assert run["status"] == "SUCCEEDED", run
    assert received(out)[-1] == {"sync": 1, "token": "s3cr3t-value"}
    assert "s3cr3t-value" not in json.dumps(await connector(hub, made["id"]))

    # null clears it.
    cleared = await update_connector(hub, made["id"], config={"out": str(out), "token": None})
    assert cleared["connector"]["secrets"] == [{"name": "token", "isSet": False}]
    await delete_connector(hub, made["id"])
    assert await connector(hub, made["id"]) is None


async def test_a_manual_run_is_recorded_with_counts_errors_and_cursor(
    hub: Hub, tmp_path: Path
) -> None:
    register(hub, Recorder)
    out = tmp_path / "out.jsonl"
    made = await create_connector(
        hub, _name("rec"), "test_recorder", {"out": str(out), "items": 5, "fail_items": ["A-1"]}
    )
    started = await run_now(hub, made["id"])
    assert started["trigger"] == "MANUAL" and started["connectorId"] == made["id"]
    run = await wait_run(hub, started["id"])
    assert run["status"] == "PARTIAL"
    assert (run["itemsRead"], run["itemsWritten"], run["errorCount"]) == (5, 4, 1)
    assert run["errors"] == [{"item": "A-1", "code": "BAD_ITEM", "message": "item A-1 is broken"}]
    assert run["startedAt"] <= run["endedAt"]
    assert (await connector(hub, made["id"]))["cursor"] == "1"

    second = await run_now(hub, made["id"], wait=True)
    assert second["status"] == "PARTIAL"
    assert [r["sync"] for r in received(out)] == [1, 2]
    assert (await connector(hub, made["id"]))["cursor"] == "2"

    # Newest first, paged.
    page = await runs(hub, made["id"], first=1)
    assert [r["id"] for r in page] == [second["id"]]
    got = await hub.admin(
        """query($id: ID!) { connectorRuns(connectorId: $id, first: 1) {
             pageInfo { hasNextPage endCursor } } }""",
        {"id": made["id"]},
    )
    info = got["data"]["connectorRuns"]["pageInfo"]
    assert info["hasNextPage"] is True
    rest = await runs(hub, made["id"], first=5, after=info["endCursor"])
    assert [r["id"] for r in rest] == [run["id"]]
    await delete_connector(hub, made["id"])


async def test_the_admin_api_needs_the_connectors_permission(hub: Hub) -> None:
    got = await hub.gql("{ connectorTypes { name } }", token=hub.storefront_token)
    assert got["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
    got = await hub.gql(
        CREATE,
        {"input": {"name": "x", "typeName": "http_tax", "config": {}}},
        token=hub.storefront_token,
    )
    assert got["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
    types = await hub.admin("{ connectorTypes { name kind secretFields configSchema } }")
    http_tax = next(t for t in types["data"]["connectorTypes"] if t["name"] == "http_tax")
    assert http_tax["kind"] == "tax" and http_tax["secretFields"] == ["api_key"]
    assert "url" in http_tax["configSchema"]["properties"]


async def test_run_errors_are_bounded_and_a_disabled_instance_does_not_run(
    hub: Hub, tmp_path: Path
) -> None:
    register(hub, Recorder)
    out = tmp_path / "out.jsonl"
    items = [f"SKU-{i}" for i in range(60)]
    made = await create_connector(
        hub, _name("many"), "test_recorder", {"out": str(out), "items": 60, "fail_items": items}
    )
    try:
        run = await run_now(hub, made["id"], wait=True)
        assert run["status"] == "PARTIAL" and run["errorCount"] == 60
        assert [e["item"] for e in run["errors"]] == items[:50]  # the first 50 kept

        off = await update_connector(hub, made["id"], enabled=False)
        assert off["connector"]["enabled"] is False
        got = await hub.admin(RUN_NOW, {"id": made["id"], "wait": True})
        payload = got["data"]["connectorRunNow"]
        assert payload["run"] is None
        assert [e["code"] for e in payload["userErrors"]] == ["CONNECTOR_DISABLED"]
        assert len(await runs(hub, made["id"])) == 1

        bad = await update_connector(hub, made["id"], timeoutSeconds=0, scheduleSeconds=-1)
        assert sorted(e["field"][0] for e in bad["userErrors"]) == [
            "scheduleSeconds",
            "timeoutSeconds",
        ]
        assert {e["code"] for e in bad["userErrors"]} == {"INVALID"}
        assert (await connector(hub, made["id"]))["timeoutSeconds"] == 300
    finally:
        await delete_connector(hub, made["id"])


LIST = """query($first: Int) { connectors(first: $first) { nodes { id name secrets { isSet }
  lastRun { id status itemsRead errors { code } } } } }"""


async def test_connectors_with_their_last_run_are_read_in_constant_statements(
    hub: Hub, tmp_path: Path
) -> None:
    register(hub, Recorder)
    made = []
    try:
        for i in range(4):
            c = await create_connector(
                hub, _name(f"list{i}"), "test_recorder", {"out": str(tmp_path / f"{i}.jsonl")}
            )
            made.append(c)
            await run_now(hub, c["id"], wait=True)
        for c in made:
            await idle(hub, c["id"])
        with hub.count_statements() as few:
            small = await hub.admin(LIST, {"first": 2})
        with hub.count_statements() as many:
            big = await hub.admin(LIST, {"first": 250})
        assert "errors" not in small and "errors" not in big, big
        nodes = {n["id"]: n for n in big["data"]["connectors"]["nodes"]}
        for c in made:
            assert nodes[c["id"]]["lastRun"]["status"] == "SUCCEEDED"
        assert len(many) == len(few), many

        node = await hub.admin(
            "query($id: ID!) { node(id: $id) { ... on Connector { name } } }", {"id": made[0]["id"]}
        )
        assert node["data"]["node"] == {"name": made[0]["name"]}
        hidden = await hub.gql(
            "query($id: ID!) { node(id: $id) { id } }",
            {"id": made[0]["id"]},
            token=hub.storefront_token,
        )
        assert hidden["data"]["node"] is None
    finally:
        for c in made:
            await delete_connector(hub, c["id"])
