"""The hub as a user runs it: ``hub seed``, ``hub apikey create`` and ``hub serve`` as
real processes on a real port, on SQLite and on PostgreSQL; then a schemathesis run
of every query and mutation in the schema against it."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import schemathesis
from graphql import StringValueNode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import contract_operation
from tests.processes import HUB, free_port, hub_run

# Money amounts are decimal strings; also send junk to prove it is refused cleanly.
schemathesis.graphql.scalar(
    "Decimal",
    st.one_of(
        st.decimals(min_value=-(10**6), max_value=10**6, places=3, allow_nan=False),
        st.text(max_size=8),
    ).map(lambda v: StringValueNode(value=str(v))),
)


@dataclass
class Served:
    url: str
    admin_token: str
    env: dict[str, str]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    pg_server = os.environ.get("HUB_TEST_POSTGRES_URL")
    drop = None
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('served') / 'hub.db'}"
    else:
        if not pg_server:
            if os.environ.get("CI"):
                pytest.fail("HUB_TEST_POSTGRES_URL is not set: CI must test PostgreSQL")
            pytest.skip("PostgreSQL not configured (set HUB_TEST_POSTGRES_URL)")
        name = f"hub_served_{uuid.uuid4().hex[:8]}"
        base = pg_server.rsplit("/", 1)[0].replace("postgresql+asyncpg://", "postgresql://")
        subprocess.run(
            ["psql", pg_server.replace("+asyncpg", ""), "-qc", f'CREATE DATABASE "{name}"'],
            check=True,
            capture_output=True,
        )
        drop = name
        url = f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://")
    env = {**os.environ, "HUB_DATABASE_URL": url, "HUB_LOG_LEVEL": "WARNING"}
    proc = None
    try:
        seeded = hub_run(["seed", "--demo", "--products", "60"], env)
        assert "60 products" in seeded.stdout
        token = hub_run(
            ["apikey", "create", "--scope", "admin", "--name", "fuzz"], env
        ).stdout.strip()
        assert token.startswith("hub_")
        port = free_port()
        proc = subprocess.Popen(
            [*HUB, "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.2)
        else:
            pytest.fail("hub serve did not become ready")
        yield Served(base_url, token, env)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if drop:
            subprocess.run(
                [
                    "psql",
                    pg_server.replace("+asyncpg", ""),
                    "-qc",
                    f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)',
                ],
                check=True,
                capture_output=True,
            )


def test_served_hub_answers_the_contract_listing(served: Served) -> None:
    body = {
        "query": contract_operation("ProductListing"),
        "variables": {"first": 24, "channel": "eu"},
    }
    resp = httpx.post(f"{served.url}/graphql", json=body, timeout=10)
    assert resp.status_code == 200
    data = resp.json()["data"]["products"]
    assert len(data["edges"]) == 24
    node = data["edges"][0]["node"]
    assert node["priceRange"]["minVariantPrice"]["currencyCode"] == "EUR"
    page = httpx.get(f"{served.url}/graphql", headers={"Accept": "text/html"}, timeout=10)
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    denied = httpx.post(
        f"{served.url}/graphql",
        timeout=10,
        json={
            "query": 'mutation { collectionCreate(input: {title: "x"}) { userErrors { code } } }'
        },
    )
    assert denied.json()["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
    allowed = httpx.post(
        f"{served.url}/graphql",
        timeout=10,
        headers={"Authorization": f"Bearer {served.admin_token}"},
        json={
            "query": 'mutation { collectionCreate(input: {title: "Served"}) '
            "{ collection { handle } userErrors { code } } }"
        },
    )
    assert allowed.json()["data"]["collectionCreate"]["collection"]["handle"] == "served"


def test_worker_command_says_what_it_does(served: Served) -> None:
    out = hub_run(["worker"], served.env)
    assert "run inside `hub serve`" in out.stdout


def test_schemathesis_finds_no_server_errors(served: Served) -> None:
    """Every query and mutation, with generated arguments, as an admin: never a 5xx,
    never a masked internal error."""
    schema = schemathesis.graphql.from_url(f"{served.url}/graphql")
    headers = {"Authorization": f"Bearer {served.admin_token}"}
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=15,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            resp = case.call(base_url=served.url, headers=headers, timeout=30)
            assert resp.status_code < 500, (case.body, resp.text)
            payload = resp.json()
            for err in payload.get("errors") or []:
                assert not err["message"].startswith("Internal error"), (case.body, err)

        check()
        checked += 1
    assert checked >= 20  # every root field was exercised
