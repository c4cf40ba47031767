"""The e-mail webhook, on SQLite and PostgreSQL: with ``HUB_EMAIL_WEBHOOK_URL`` set,
the messages for customers (here a password reset) are POSTed as signed JSON to a
local stand-in of the deployment's e-mail service, and the token they carry works."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.helpers.accounts import RESET, email, run, sign_up
from tests.helpers.client import Hub, served_again
from tests.helpers.serving import listening_socket, serve_on, url_of

SECRET = "webhook-secret"


class Inbox:
    def __init__(self) -> None:
        self.received: list[tuple[bytes, str]] = []
        self.url = ""

        async def hook(request: Request) -> Response:
            self.received.append((await request.body(), request.headers.get("x-hub-signature", "")))
            return Response(status_code=204)

        self.app = Starlette(routes=[Route("/send", hook, methods=["POST"])])


@pytest.fixture(scope="module")
def inbox() -> Iterator[Inbox]:
    box = Inbox()
    sock = listening_socket()
    with serve_on(sock, box.app, name="inbox", log_level="critical", access_log=False):
        box.url = url_of(sock) + "/send"
        yield box


async def _message_to(inbox: Inbox, to: str) -> dict[str, Any]:
    for _ in range(500):
        for body, signature in inbox.received:
            message = json.loads(body)
            if message["to"] == to:
                mac = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                assert signature == f"sha256={mac}"
                return dict(message)
        await asyncio.sleep(0.02)
    raise AssertionError(f"no message to {to}")


async def test_reset_link_goes_through_the_webhook(hub: Hub, inbox: Inbox) -> None:
    address = email()
    customer = await sign_up(hub, address)
    settings = {"email_webhook_url": inbox.url, "email_webhook_secret": SECRET}
    async with served_again(hub, **settings) as again:
        recover = "mutation($e: String!) { customerRecover(email: $e) { userErrors { code } } }"
        assert (await run(again, recover, {"e": address}))["userErrors"] == []
        message = await _message_to(inbox, address)
        assert message["template"] == "customer.password_reset"
        assert message["data"]["customerId"] == customer["id"]
        variables = {
            "id": customer["id"],
            "input": {"resetToken": message["data"]["token"], "password": "via the webhook"},
        }
        done = await run(again, RESET, variables)
        assert done["userErrors"] == [] and done["customerAccessToken"]["accessToken"]
