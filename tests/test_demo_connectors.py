"""`hub serve --demo` shows connector runs, on SQLite and PostgreSQL: the demo serves a
stand-in marketplace at /_demo/marketplace and configures (through a connectors file)
a marketplace connector publishing the web channel there, plus a file feed when the
``file_feed`` type is installed. Its runs show in ``connectorRuns``; the marketplace
holds the web channel's listings and offers, and its demo buyers' orders are imported
once into the hub (source ``demo-market``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.demo.connectors import DEMO_FEED, DEMO_MARKETPLACE, DEMO_SOURCE
from tests.helpers.processes import (
    BACKENDS,
    Process,
    database,
    free_port,
    hub_env,
    hub_run,
    wait_ready,
)

CONNECTORS = """{ connectorTypes { name } connectors(first: 10) { nodes { id name typeName
  lastRun { status } } } }"""
RUNS = """query($id: ID!) { connectorRuns(connectorId: $id, first: 20) { nodes {
  trigger status itemsRead itemsWritten errorCount errors { item code message } } } }"""
ORDERS = """{ orders(first: 50) { nodes { source externalId } } }"""


def _gql(url: str, token: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    got = httpx.post(
        f"{url}/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert got.status_code == 200, got.text
    body = got.json()
    assert "errors" not in body, body
    return body["data"]


@pytest.fixture(params=BACKENDS)
def demo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A ``hub serve --demo`` (on a demo catalog of 60 products seeded first): its URL
    and an admin token."""
    with database(request.param, tmp_path, tag="democonn") as url:
        env = hub_env(url, TMPDIR=str(tmp_path))
        env.pop("HUB_CONNECTORS_FILE", None)
        hub_run(["seed", "--demo", "--products", "60"], env)
        token = hub_run(["apikey", "create", "--scope", "admin"], env).stdout.strip()
        port = free_port()
        proc = Process.start(["serve", "--demo", "--port", str(port)], env, tmp_path / "s.log")
        proc.url = f"http://127.0.0.1:{port}"
        try:
            wait_ready([proc])
            assert "/_demo/marketplace" in proc.output()
            yield proc.url, token
        finally:
            proc.stop()


def test_serve_demo_shows_connector_runs(demo: tuple[str, str]) -> None:
    url, token = demo
    deadline = time.monotonic() + 60
    while True:
        data = _gql(url, token, CONNECTORS)
        by_name = {c["name"]: c for c in data["connectors"]["nodes"]}
        market = by_name.get(DEMO_MARKETPLACE)
        orders = [
            o for o in _gql(url, token, ORDERS)["orders"]["nodes"] if o["source"] == DEMO_SOURCE
        ]
        ended = market is not None and any(
            r["status"] == "SUCCEEDED"
            for r in _gql(url, token, RUNS, {"id": market["id"]})["connectorRuns"]["nodes"]
        )
        if ended and len(orders) == 3:
            break
        assert time.monotonic() < deadline, (data, len(orders))
        time.sleep(0.5)
    assert market["typeName"] == "marketplace"
    state = httpx.get(f"{url}/_demo/marketplace/_standin/state", timeout=10).json()
    runs = _gql(url, token, RUNS, {"id": market["id"]})["connectorRuns"]["nodes"]
    first = runs[-1]
    assert (first["trigger"], first["status"]) == ("SCHEDULE", "SUCCEEDED"), runs
    listed = len(state["listings"])
    # every listing and its offer, and the three demo buyers' orders
    assert listed > 60 and first["itemsWritten"] >= 2 * listed, (first, listed)
    assert len(state["offers"]) == listed
    assert sorted(o["externalId"] for o in orders) == sorted(state["orders"])
    assert all(o["acknowledged"] for o in state["orders"].values())
    any_offer = next(iter(state["offers"].values()))
    assert any_offer["price"]["currency"] == "USD" and any_offer["price"]["amount"] > 0

    types = {t["name"] for t in data["connectorTypes"]}
    if "file_feed" in types:  # the feed helper's type, once it is merged
        feed = by_name[DEMO_FEED]
        deadline = time.monotonic() + 60
        while not (_gql(url, token, RUNS, {"id": feed["id"]})["connectorRuns"]["nodes"]):
            assert time.monotonic() < deadline, "the demo feed never ran"
            time.sleep(0.5)
        feed_runs = _gql(url, token, RUNS, {"id": feed["id"]})["connectorRuns"]["nodes"]
        assert feed_runs[-1]["status"] == "SUCCEEDED", feed_runs
    else:
        assert DEMO_FEED not in by_name
