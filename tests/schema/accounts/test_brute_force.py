"""Brute force on accounts is stopped, on SQLite and PostgreSQL: sign-in, recovery and
token checks take from per-account and per-address buckets of the shared limiter, one
unit per attempt however the attempts arrive: aliased in one document or in several
requests; a batch (a JSON array) is refused whole. Over a limit: userError THROTTLED
with retryAfter (and a Retry-After header); the right password does not get through.

Each test runs on a second app over the same database (``served_again``) with small
limits and a limiter of its own, and a client address of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from tests.helpers.accounts import PASSWORD, email, sign_up
from tests.helpers.client import Hub, served_again

LIMITS = {
    "rate_limit_sign_in_account": "5/15m",
    "rate_limit_sign_in_address": "8/15m",
    "rate_limit_recover_account": "3/1h",
    "rate_limit_recover_address": "8/1h",
    "rate_limit_token_checks": "5/15m",
    "rate_limit_token_checks_account": "4/1h",
}


@asynccontextmanager
async def limited(hub: Hub) -> AsyncIterator[Any]:
    async with served_again(hub, **LIMITS) as again:
        yield again


def client_at(app: Any, address: str) -> httpx.AsyncClient:
    """A client of ``app`` calling from ``address``."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://hub")


def aliased(field: str, args: str, n: int, select: str) -> str:
    return "mutation {" + " ".join(f"a{i}: {field}({args}) {{ {select} }}" for i in range(n)) + "}"


def sign_in_args(address: str, password: str) -> str:
    return f'input: {{email: "{address}", password: "{password}"}}'


def codes(data: dict[str, Any]) -> list[str | None]:
    """The first userError code of each alias a0, a1, ... (None: no error)."""
    ordered = sorted(data.items(), key=lambda kv: int(kv[0][1:]))
    return [v["userErrors"][0]["code"] if v["userErrors"] else None for _, v in ordered]


SIGN_IN_ONE = """mutation($i: CustomerAccessTokenCreateInput!) {
  customerAccessTokenCreate(input: $i) { userErrors { code } } }"""


async def test_aliased_sign_ins_count_one_each_per_account_and_address(hub: Hub) -> None:
    victim, other = email(), email()
    await sign_up(hub, victim)
    await sign_up(hub, other)
    async with limited(hub) as again:
        async with client_at(again.app, "10.1.0.1") as c:
            doc = aliased(
                "customerAccessTokenCreate",
                sign_in_args(victim, "guess-guess"),
                7,
                "customerAccessToken { accessToken } userErrors { code retryAfter }",
            )
            resp = await c.post("/graphql", json={"query": doc})
            data = resp.json()["data"]
            assert codes(data) == ["UNIDENTIFIED_CUSTOMER"] * 5 + ["THROTTLED"] * 2
            waits = [
                v["userErrors"][0]["retryAfter"]
                for v in data.values()
                if v["userErrors"][0]["code"] == "THROTTLED"
            ]
            assert all(w and 0 < w <= 900 for w in waits)
            assert 0 < int(resp.headers["Retry-After"]) <= 900
            # Locked out: the right password does not get through either.
            right = await c.post(
                "/graphql",
                json={
                    "query": aliased(
                        "customerAccessTokenCreate",
                        sign_in_args(victim, PASSWORD),
                        1,
                        "customerAccessToken { accessToken } userErrors { code }",
                    )
                },
            )
            assert right.json()["data"]["a0"] == {
                "customerAccessToken": None,
                "userErrors": [{"code": "THROTTLED"}],
            }
            # The address's bucket (8) is spent too: another account from it is refused.
            more = await c.post(
                "/graphql",
                json={
                    "query": aliased(
                        "customerAccessTokenCreate",
                        sign_in_args(other, PASSWORD),
                        1,
                        "userErrors { code }",
                    )
                },
            )
            assert codes(more.json()["data"]) == ["THROTTLED"]
        async with client_at(again.app, "10.1.0.2") as c2:
            # Another address: the other account signs in; the locked one stays locked.
            ok = await c2.post(
                "/graphql",
                json={
                    "query": aliased(
                        "customerAccessTokenCreate",
                        sign_in_args(other, PASSWORD),
                        1,
                        "customerAccessToken { accessToken } userErrors { code }",
                    )
                },
            )
            assert ok.json()["data"]["a0"]["customerAccessToken"]["accessToken"].startswith(
                "hubca_"
            )
            locked = await c2.post(
                "/graphql",
                json={
                    "query": aliased(
                        "customerAccessTokenCreate",
                        sign_in_args(victim, PASSWORD),
                        1,
                        "userErrors { code }",
                    )
                },
            )
            assert codes(locked.json()["data"]) == ["THROTTLED"]


async def test_a_batch_is_refused_whole(hub: Hub) -> None:
    victim = email()
    await sign_up(hub, victim)
    async with limited(hub) as again, client_at(again.app, "10.2.0.1") as c:
        one = {
            "query": SIGN_IN_ONE,
            "variables": {"i": {"email": victim, "password": "guess"}},
        }
        resp = await c.post("/graphql", json=[one] * 20)
        assert resp.status_code == 400
        assert "batched operations" in resp.text
        # Nothing ran: the account's 5 attempts are all still there.
        for _ in range(5):
            got = (await c.post("/graphql", json=one)).json()["data"]["customerAccessTokenCreate"]
            assert [e["code"] for e in got["userErrors"]] == ["UNIDENTIFIED_CUSTOMER"]
        got = (await c.post("/graphql", json=one)).json()["data"]["customerAccessTokenCreate"]
        assert [e["code"] for e in got["userErrors"]] == ["THROTTLED"]


async def test_recover_is_limited_and_answers_alike(hub: Hub) -> None:
    known = email()
    await sign_up(hub, known)
    unknown = email()
    async with limited(hub) as again, client_at(again.app, "10.3.0.1") as c:
        answers = {}
        for who in (known, unknown):
            doc = aliased("customerRecover", f'email: "{who}"', 4, "userErrors { code retryAfter }")
            answers[who] = (await c.post("/graphql", json={"query": doc})).json()["data"]
        # Per account: 3 an hour, then THROTTLED, whether or not the email has an account.
        assert codes(answers[known]) == codes(answers[unknown]) == [None, None, None, "THROTTLED"]
        # Per address: 8 an hour (4 + 4 attempts above).
        doc = aliased("customerRecover", f'email: "{email()}"', 1, "userErrors { code }")
        assert codes((await c.post("/graphql", json={"query": doc})).json()["data"]) == [
            "THROTTLED"
        ]


async def test_token_checks_are_limited(hub: Hub) -> None:
    async with limited(hub) as again, client_at(again.app, "10.4.0.1") as c:
        doc = aliased(
            "customerAccessTokenRenew",
            'customerAccessToken: "hubca_guess"',
            7,
            "customerAccessToken { accessToken } userErrors { code }",
        )
        data = (await c.post("/graphql", json={"query": doc})).json()["data"]
        assert codes(data) == ["TOKEN_INVALID"] * 5 + ["THROTTLED"] * 2
    async with limited(hub) as again, client_at(again.app, "10.4.0.2") as c:
        customer = (await sign_up(hub, email()))["id"]
        doc = aliased(
            "customerReset",
            f'id: "{customer}", input: {{resetToken: "guess", password: "long enough 1"}}',
            6,
            "customer { id } userErrors { code }",
        )
        data = (await c.post("/graphql", json={"query": doc})).json()["data"]
        # Per account (4 an hour) before per address (5 per 15 minutes).
        assert codes(data) == ["TOKEN_INVALID"] * 4 + ["THROTTLED"] * 2
    async with limited(hub) as again, client_at(again.app, "10.4.0.3") as c:
        doc = (
            "query {"
            + " ".join(f'o{i}: orderByToken(token: "hubos_{i}") {{ id }}' for i in range(7))
            + "}"
        )
        body = (await c.post("/graphql", json={"query": doc})).json()
        assert sum(1 for v in body["data"].values() if v is None) == 7
        throttled = [e for e in body["errors"] if e["extensions"]["code"] == "THROTTLED"]
        assert len(throttled) == 2 and all(e["extensions"]["retryAfter"] > 0 for e in throttled)


async def test_cart_customer_token_checks_are_limited(hub: Hub) -> None:
    async with limited(hub) as again, client_at(again.app, "10.5.0.1") as c:
        made = await c.post("/graphql", json={"query": "mutation { cartCreate { cart { id } } }"})
        cart = made.json()["data"]["cartCreate"]["cart"]["id"]
        binds = " ".join(
            f'b{i}: cartBuyerIdentityUpdate(cartId: "{cart}", '
            f'buyerIdentity: {{customerAccessToken: "hubca_guess{i}"}}) {{ userErrors {{ code }} }}'
            for i in range(7)
        )
        body = (await c.post("/graphql", json={"query": "mutation {" + binds + "}"})).json()
        # The sixth check is refused: THROTTLED with retryAfter (the payload is non-null,
        # so the whole answer's data is null), and the cart stays a guest's.
        throttled = [e for e in body["errors"] if e["extensions"]["code"] == "THROTTLED"]
        assert throttled and all(e["extensions"]["retryAfter"] > 0 for e in throttled)
        assert body["data"] is None
        one = (
            f'mutation {{ cartBuyerIdentityUpdate(cartId: "{cart}", buyerIdentity: '
            '{customerAccessToken: "hubca_again"}) { userErrors { code } } }'
        )
        again_body = (await c.post("/graphql", json={"query": one})).json()
        assert again_body["errors"][0]["extensions"]["code"] == "THROTTLED"
        read = f'{{ cart(id: "{cart}") {{ buyerIdentity {{ customerId }} }} }}'
        shown = (await c.post("/graphql", json={"query": read})).json()
        assert shown["data"]["cart"]["buyerIdentity"]["customerId"] is None
