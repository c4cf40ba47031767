"""Customer access tokens are a credential kind of ``hub.auth``, on SQLite and
PostgreSQL: open sockets that stand on one are closed at once when it is signed out or
renewed, and by the periodic check once it expires (its CREDENTIAL_CHECKS checker)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from hub.auth import CREDENTIAL_CHECKS, CUSTOMER_TOKEN, authenticate, token_digest
from hub.db.database import Reader
from hub.sessions import CLOSE_FORBIDDEN, OpenSockets
from tests.helpers.accounts import email, run, sign_up, token_for
from tests.helpers.client import Hub

SIGN_OUT = """mutation($t: String!) { customerAccessTokenDelete(customerAccessToken: $t) {
  deletedAccessToken userErrors { code } } }"""


async def _socket(hub: Hub, sockets: OpenSockets, token: str) -> list[int]:
    """A stand-in socket opened with ``token``: the close codes it receives."""
    reader = Reader(hub.db)
    try:
        principal = await authenticate(reader, token)
    finally:
        await reader.close()
    assert principal is not None and principal.kind == CUSTOMER_TOKEN
    closed: list[int] = []

    async def close(code: int, reason: str) -> None:
        closed.append(code)

    sockets.add(principal, close)
    return closed


async def test_sockets_close_on_sign_out_and_on_expiry(hub: Hub) -> None:
    assert CUSTOMER_TOKEN in CREDENTIAL_CHECKS
    address = email()
    await sign_up(hub, address)
    sockets = OpenSockets(hub.db, 1)
    signed_out = await token_for(hub, address)
    expiring = await token_for(hub, address)
    lasting = await token_for(hub, address)
    closes = {t: await _socket(hub, sockets, t) for t in (signed_out, expiring, lasting)}

    assert (await run(hub, SIGN_OUT, {"t": signed_out}))["deletedAccessToken"] == signed_out
    for _ in range(50):  # closed in the background, right after the commit
        if closes[signed_out]:
            break
        await asyncio.sleep(0.02)
    assert closes[signed_out] == [CLOSE_FORBIDDEN]

    async with hub.db.transaction() as conn:
        await conn.execute(
            text("UPDATE customer_tokens SET expires_at = :t WHERE token_hash = :h"),
            {"t": datetime.now(UTC) - timedelta(seconds=1), "h": token_digest(expiring)},
        )
    assert await sockets.sweep() == 1
    await asyncio.sleep(0.05)
    assert closes[expiring] == [CLOSE_FORBIDDEN]
    assert closes[lasting] == []
    assert len(sockets) == 1
