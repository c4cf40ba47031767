"""The hub as a user runs it: ``hub seed``, ``hub apikey create`` and ``hub serve`` as
real processes on a real port, on SQLite and on PostgreSQL; then a schemathesis run
of every query and mutation in the schema against it, without a key and with an
admin key."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import websockets
from hypothesis import HealthCheck, given, settings

from tests.helpers import fuzzing
from tests.helpers.client import contract_operation
from tests.helpers.processes import Process, database, hub_env, hub_run, serve, wait_ready

# Strings with control characters and NUL, ids of real objects and hostile ones,
# integers over the whole 32-bit range, decimals without bounds (exponents, NaN,
# Infinity, 60 digits): see tests/helpers/fuzzing.py.
fuzzing.register()

# Examples per operation and run (84 operations, 4 runs: 2 databases x 2 keys): a
# fixed budget that keeps the four runs to a few minutes on a 2-core machine.
EXAMPLES = {"anonymous": 8, "admin": 15}


@dataclass
class Served:
    url: str
    admin_token: str
    env: dict[str, str]
    process: Process
    ids: list[str] = field(default_factory=list)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp(f"served-{request.param}")
    with database(request.param, tmp, "served") as url:
        env = hub_env(url)
        seeded = hub_run(["seed", "--demo", "--products", "60"], env)
        assert "60 products" in seeded.stdout
        token = hub_run(
            ["apikey", "create", "--scope", "admin", "--name", "fuzz"], env
        ).stdout.strip()
        assert token.startswith("hub_")
        proc = serve(env, tmp / "serve.log")
        try:
            wait_ready([proc])
            yield Served(proc.url, token, env, proc, _objects(proc.url, token))
        finally:
            proc.stop()


def _post(
    url: str,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    timeout: float = 10,
) -> httpx.Response:
    """``POST /graphql`` to the served hub, with ``token`` as its API key if given."""
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return httpx.post(f"{url}/graphql", timeout=timeout, headers=headers, json=body)


def _objects(url: str, token: str) -> list[str]:
    """Ids for the fuzzer beyond the demo data's: carts (their ids are random) and an
    order."""
    made: list[str] = []
    for n in range(3):
        res = _post(
            url,
            "mutation($v: ID!) { cartCreate(input: {lines: [{merchandiseId: $v, "
            'quantity: 1}], buyerIdentity: {email: "fuzz@example.com"}}) '
            "{ cart { id lines(first: 1) { nodes { id } } } } }",
            {"v": f"gid://hub/ProductVariant/{n + 1}"},
            timeout=30,
        ).json()
        cart = res["data"]["cartCreate"]["cart"]
        made += [cart["id"], *(ln["id"] for ln in cart["lines"]["nodes"])]
    done = _post(
        url,
        "mutation($c: ID!) { checkoutComplete(cartId: $c, idempotencyKey: "
        '"fuzz-1", payment: {provider: "cash", reference: "fuzz"}) '
        "{ order { id } userErrors { code message } } }",
        {"c": made[0]},
        token=token,
        timeout=30,
    ).json()
    order = done["data"]["checkoutComplete"]["order"]
    assert order is not None, done
    return [*made, order["id"]]


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
    denied = _post(
        served.url, 'mutation { collectionCreate(input: {title: "x"}) { userErrors { code } } }'
    )
    assert denied.json()["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
    allowed = _post(
        served.url,
        'mutation { collectionCreate(input: {title: "Served"}) '
        "{ collection { handle } userErrors { code } } }",
        token=served.admin_token,
    )
    assert allowed.json()["data"]["collectionCreate"]["collection"]["handle"] == "served"


def test_worker_command_says_what_it_does(served: Served) -> None:
    out = hub_run(["worker"], served.env)
    assert "run inside `hub serve`" in out.stdout


def test_subscription_arguments_go_through_the_input_guard(served: Served) -> None:
    """Over a websocket too: a NUL in a subscription's ids is BAD_USER_INPUT, and the
    connection stays usable."""

    async def go() -> list[dict]:
        url = served.url.replace("http://", "ws://") + "/graphql"
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            got = []
            for n, pid in enumerate(["gid://hub/Product/1\x00", "gid://hub/Product/١"]):
                await ws.send(
                    json.dumps(
                        {
                            "id": str(n),
                            "type": "subscribe",
                            "payload": {
                                "query": "subscription($p: [ID!]!) { availabilityChanged("
                                "productIds: $p) { occurredAt } }",
                                "variables": {"p": [pid]},
                            },
                        }
                    )
                )
                got.append(json.loads(await asyncio.wait_for(ws.recv(), 15)))
            return got

    first, second = asyncio.run(go())
    for msg in (first, second):
        assert msg["type"] in ("error", "next"), msg
        errors = msg["payload"] if msg["type"] == "error" else msg["payload"]["errors"]
        assert not any(e["message"].startswith("Internal error") for e in errors), msg
    codes = [
        (m["payload"] if m["type"] == "error" else m["payload"]["errors"])[0]["extensions"]["code"]
        for m in (first, second)
    ]
    assert codes == ["BAD_USER_INPUT", "INVALID_ID"]


@dataclass
class FuzzRun:
    tried: int = 0
    server_errors: int = 0
    internal_errors: int = 0
    by_operation: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


@pytest.mark.parametrize("key", ["anonymous", "admin"])
def test_schemathesis_finds_no_server_errors(
    served: Served, key: str, capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest
) -> None:
    """Every query and mutation, with generated arguments, without a key and as an
    admin: never a 5xx, never a masked internal error. The figures are printed."""
    fuzzing.use_ids([*fuzzing.demo_ids(), *served.ids])
    schema = schemathesis.graphql.from_url(f"{served.url}/graphql")
    headers = {"Authorization": f"Bearer {served.admin_token}"} if key == "admin" else {}
    run = FuzzRun()
    started = time.monotonic()
    for result in schema.get_all_operations():
        _fuzz(result.ok(), EXAMPLES[key], served.url, headers, run)
    backend = request.node.callspec.params["served"]
    with capsys.disabled():
        print(
            f"\nschemathesis {backend} {key}: {run.tried} responses over "
            f"{len(run.by_operation)} operations in {time.monotonic() - started:.0f} s, "
            f"{run.server_errors} 5xx, {run.internal_errors} internal errors"
        )
    assert len(run.by_operation) >= 80  # every root field was exercised
    assert not run.failures, "\n".join(run.failures[:20]) + "\n" + _log_tail(served)


def _fuzz(
    operation: schemathesis.APIOperation,
    examples: int,
    url: str,
    headers: dict[str, str],
    run: FuzzRun,
) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case: schemathesis.Case) -> None:
        resp = case.call(base_url=url, headers=headers, timeout=60)
        run.tried += 1
        run.by_operation[operation.label] += 1
        internal = "Internal error" in resp.text
        run.server_errors += resp.status_code >= 500
        run.internal_errors += internal
        if resp.status_code >= 500 or internal:
            # Recorded rather than asserted: one run reports every finding, and
            # hypothesis spends no time shrinking.
            run.failures.append(
                f"{operation.label} -> {resp.status_code} {resp.text[:200]}\n"
                f"    {json.dumps(case.body)[:600]}"
            )

    check()


def _log_tail(served: Served) -> str:
    return "server log:\n" + Path(served.process.log).read_text(errors="replace")[-6000:]
