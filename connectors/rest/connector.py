"""The generic REST connector (type ``rest``): pulls records from a JSON API into the
hub's catalog, stock or customers by a declarative mapping, and pushes the hub's events
to the API. Usable for an ERP (``kind: erp``: pull products, prices and stock; push
orders, returns, stock movements) or a CRM (``kind: crm``: pull and push customer
profiles and consents). The config and the wire are in ``docs/rest-connector.md``.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping, Sequence
from typing import Any

from connectors.base import ConnectorKind, Event, RowResult, RunContext
from connectors.rest.client import RestClient, RestError
from connectors.rest.config import PUSH_TOPICS, Pull, RestConfig
from connectors.rest.mapping import BodyMapper, ItemError, RowMapper

INVALID_ITEM = "INVALID_ITEM"


class RestSyncFailed(Exception):
    """A run in which a resource or an event could not be read or sent (each failure is
    also recorded with its item)."""


def own_source(instance_id: int) -> str:
    """The ``source`` the hub's events carry when this instance's sync caused them."""
    return f"connector:{instance_id}"


class RestConnector:
    type_name: str = "rest"
    kind: ConnectorKind = "erp"  # the type's; an instance's config says erp or crm
    config_schema: type[Any] = RestConfig
    secret_fields: frozenset[str] = frozenset({"token", "password"})
    # The event families a push rule may name (the ERP's orders, returns, refunds,
    # fulfilments and stock movements; the CRM's customer profiles and consents): the
    # type asks for all of them, handle() sends those an instance's rules match.
    topics: tuple[str, ...] = PUSH_TOPICS

    @staticmethod
    def topics_for(config: Mapping[str, Any]) -> tuple[str, ...]:
        """An instance's topics: its push rules' (none: no event runs at all)."""
        return tuple(dict.fromkeys(str(p["topic"]) for p in config.get("push") or ()))

    @staticmethod
    def kind_for(config: Mapping[str, Any]) -> ConnectorKind:
        return "crm" if config.get("kind") == "crm" else "erp"

    def __init__(self, transport: Any = None) -> None:
        self._transport = transport  # an httpx transport, for tests; None in production

    # ------------------------------------------------------------------ pull

    async def sync(self, ctx: RunContext) -> None:
        cfg = RestConfig.model_validate(dict(ctx.config))
        marks: dict[str, Any] = json.loads(ctx.cursor) if ctx.cursor else {}
        failed: list[str] = []
        async with RestClient(cfg, transport=self._transport) as client:
            for pull in cfg.pull:
                try:
                    mark = await self._pull(ctx, client, pull, marks.get(pull.name))
                except RestError as exc:
                    ctx.error(pull.name, exc.code, str(exc))
                    failed.append(pull.name)
                    continue
                if mark is not None:
                    marks[pull.name] = mark
                    ctx.set_cursor(json.dumps(marks, sort_keys=True))
        if failed:
            raise RestSyncFailed(f"could not read {', '.join(failed)}")

    async def _pull(self, ctx: RunContext, client: RestClient, pull: Pull, since: Any) -> Any:
        """Read every page of ``pull`` into the hub; the new high-water mark."""
        mapper = RowMapper(pull)
        high = since
        seen = 0
        async for items in client.pages(pull, since):
            ctx.read(len(items))
            rows: list[Any] = []
            for item in items:
                key = mapper.key_of(item, seen)
                seen += 1
                try:
                    rows.append(mapper.row(item))
                except ItemError as exc:
                    ctx.error(key, INVALID_ITEM, str(exc))
                    continue
                high = _higher(high, mapper.mark_of(item))
            if rows:
                # The gateway counts each row written (created/updated) and each one the
                # hub rejected (an item error naming the row's key).
                await _write(ctx, pull.target, rows)
        return high

    # ------------------------------------------------------------------ push

    async def handle(self, ctx: RunContext, events: Sequence[Event]) -> None:
        cfg = RestConfig.model_validate(dict(ctx.config))
        rules = [BodyMapper(p) for p in cfg.push]
        mine = own_source(ctx.instance_id)
        retry_later: list[str] = []
        async with RestClient(cfg, transport=self._transport) as client:
            for event in events:
                matching = [r for r in rules if fnmatch.fnmatchcase(event.topic, r.rule.topic)]
                if not matching or event.payload.get("source") == mine:
                    continue
                ctx.read()
                for rule in matching:
                    item = f"{event.topic}#{event.id}"
                    try:
                        path, body = rule.request(event.topic, event.id, event.payload)
                        await client.request(
                            rule.rule.method,
                            path,
                            json=body,
                            headers={"Idempotency-Key": f"hub-{ctx.instance_id}-{event.id}"},
                        )
                    except ItemError as exc:
                        ctx.error(item, INVALID_ITEM, str(exc))
                        continue
                    except RestError as exc:
                        ctx.error(item, exc.code, str(exc))
                        if exc.retryable:  # timeouts, 429, 5xx: the run fails, sent again
                            retry_later.append(item)
                        continue
                    ctx.written()
        if retry_later:
            raise RestSyncFailed(f"could not send {', '.join(retry_later[:5])}")


async def _write(ctx: RunContext, target: str, rows: list[Any]) -> list[RowResult]:
    if target == "catalog":
        return await ctx.hub.upsert_catalog(rows)
    if target == "stock":
        return await ctx.hub.set_stock(rows)
    return await ctx.hub.upsert_customers(rows)


def _higher(a: Any, b: Any) -> Any:
    """The later of two change marks (numbers compare as numbers, anything else as text:
    ISO-8601 timestamps in one format sort as text)."""
    if b is None:
        return a
    if a is None:
        return b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return max(a, b)
    return max(str(a), str(b))
