"""The outbox as each instance's event feed: which events its topics ask for, and the
coalescing of stock events (one per variant per run, with the latest levels)."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from typing import Any

from connectors.base import Event

COALESCED_PREFIX = "inventory."


def matches(topic: str, patterns: Sequence[str]) -> bool:
    """Whether ``topic`` is one of ``patterns`` (``*`` matches any run of characters:
    ``inventory.*``, ``order.*``, ``*``)."""
    return any(fnmatch.fnmatchcase(topic, p) for p in patterns)


def topics_of(cls: type[Any], config: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The topics an instance asks for: its type's ``topics``, or what the type's
    optional ``topics_for(config)`` says for this instance's config (a type whose
    events depend on its config, like the REST connector's push rules: an instance
    with no rule then gets no event runs)."""
    hook = getattr(cls, "topics_for", None)
    if hook is None or config is None:
        return tuple(cls.topics)
    return tuple(hook(config))


def select_events(events: Sequence[Event], patterns: Sequence[str]) -> list[Event]:
    return [e for e in events if matches(e.topic, patterns)]


def coalesce(events: Sequence[Event]) -> list[Event]:
    """Stock events (``inventory.*`` with a ``variantId``) collapsed to one per
    (topic, variant): the newest event of the variant, its payload with ``levels``
    added (the newest level at each location that changed, by ``locationId``) and
    ``coalesced`` (how many events it stands for); placed where that newest event is.
    Every other event passes through unchanged, in order."""
    newest: dict[tuple[str, Any], int] = {}
    levels: dict[tuple[str, Any], dict[str, Any]] = {}
    counts: dict[tuple[str, Any], int] = {}
    for i, e in enumerate(events):
        key = _stock_key(e)
        if key is None:
            continue
        newest[key] = i
        counts[key] = counts.get(key, 0) + 1
        at = levels.setdefault(key, {})
        loc = e.payload.get("locationId")
        at[str(loc)] = {"locationId": loc, "level": e.payload.get("level")}
    out: list[Event] = []
    for i, e in enumerate(events):
        key = _stock_key(e)
        if key is None:
            out.append(e)
        elif newest[key] == i:
            payload = {
                **e.payload,
                "levels": list(levels[key].values()),
                "coalesced": counts[key],
            }
            out.append(Event(e.id, e.topic, payload, e.txid))
    return out


def _stock_key(e: Event) -> tuple[str, Any] | None:
    if not e.topic.startswith(COALESCED_PREFIX):
        return None
    variant = e.payload.get("variantId")
    return None if variant is None else (e.topic, variant)
