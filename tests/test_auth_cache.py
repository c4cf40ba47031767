"""API keys are trusted from a short per-process cache: revocation in the process
applies at once, revocation elsewhere within HUB_AUTH_CACHE_SECONDS."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from hub.auth import PrincipalCache, authenticate, create_api_key, revoke_api_key
from hub.db.database import Reader
from tests.helpers.client import Hub

ME = "{ channels { handle } }"


async def test_revoking_in_this_process_refuses_the_key_at_once(hub: Hub) -> None:
    pk, token = await create_api_key(hub.db, "cache-1", ["admin"])
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(2):  # the second answer comes from the cache
        ok = await hub.client.post("/graphql", json={"query": ME}, headers=headers)
        assert ok.status_code == 200 and "errors" not in ok.json()
    assert await revoke_api_key(hub.db, pk)
    refused = await hub.client.post("/graphql", json={"query": ME}, headers=headers)
    assert refused.status_code == 401


async def test_revocation_by_another_process_applies_within_the_ttl(hub: Hub) -> None:
    pk, token = await create_api_key(hub.db, "cache-2", ["connector"])
    cache = PrincipalCache(ttl=0.2)
    reader = Reader(hub.db)
    try:
        first = await authenticate(reader, token, cache)
        assert first is not None and first.scopes == frozenset({"connector"})
        # Another process revokes it: this process doesn't hear of it...
        async with hub.db.transaction() as conn:
            await conn.execute(
                text("UPDATE api_keys SET revoked_at = CURRENT_TIMESTAMP WHERE id = :id"),
                {"id": pk},
            )
        assert await authenticate(reader, token, cache) == first
        assert await authenticate(reader, token) is None  # uncached: refused
        # ... until the entry lapses.
        await asyncio.sleep(0.25)
        assert await authenticate(reader, token, cache) is None
        # Unknown tokens are never cached.
        assert await authenticate(reader, "hub_" + "x" * 40, cache) is None
        assert cache._entries == {}
    finally:
        await reader.close()
