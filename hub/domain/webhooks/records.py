"""What webhooks are made of: the codes, the records the API reads, topic patterns,
the field filter, the body and its signature, and the backoff between attempts."""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import random
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson

MAX_TOPICS = 20
MAX_FIELDS = 50
MAX_URL = 2048
MAX_DESCRIPTION = 255
TOPIC_RE = re.compile(r"^[A-Za-z0-9_.*-]{1,64}$")
FIELD_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SIGNATURE_HEADER = "Hub-Signature"


class WebhookCode(StrEnum):
    """userErrors codes of webhooks beyond the common ones."""

    INVALID_URL = "WEBHOOK_INVALID_URL"  # not http(s) with a host
    URL_REFUSED = "WEBHOOK_URL_REFUSED"  # the address policy refuses it (SSRF guard)
    URL_UNRESOLVABLE = "WEBHOOK_URL_UNRESOLVABLE"  # the host has no address
    INVALID_TOPIC = "WEBHOOK_INVALID_TOPIC"
    INVALID_FIELD = "WEBHOOK_INVALID_FIELD"
    REPLAY_TOO_LARGE = "WEBHOOK_REPLAY_TOO_LARGE"  # more events than one replay re-queues
    INVALID_RANGE = "WEBHOOK_INVALID_RANGE"


# The transport's refusal reasons (connectors.base.WebhookTarget.refusal) as codes.
REFUSAL_CODES = {
    "INVALID": WebhookCode.INVALID_URL,
    "UNRESOLVABLE": WebhookCode.URL_UNRESOLVABLE,
    "REFUSED": WebhookCode.URL_REFUSED,
}


@dataclass(frozen=True, slots=True)
class SubscriptionRecord:
    id: int
    topics: list[str]
    url: str
    fields: list[str] | None
    active: bool
    description: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    id: int
    subscription_id: int
    event_id: int
    topic: str
    status: str
    attempts: int
    next_attempt_at: datetime | None  # None once settled (SUCCEEDED, DEAD)
    last_status_code: int | None
    last_latency_ms: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None


def new_secret() -> str:
    """32 random bytes, prefixed so a leaked one is recognisable."""
    return "whsec_" + secrets.token_urlsafe(32)


def matches(patterns: Sequence[str], topic: str) -> bool:
    """Whether ``topic`` matches one of the patterns (``*`` any run of characters)."""
    return any(fnmatch.fnmatchcase(topic, p) for p in patterns)


def kept(payload: Mapping[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    """The payload with only ``fields`` (its top-level keys) kept; all of it without."""
    if fields is None:
        return dict(payload)
    return {k: payload[k] for k in fields if k in payload}


def body(event_id: int, topic: str, payload: Mapping[str, Any]) -> bytes:
    """What a receiver gets: the same bytes at every attempt."""
    return orjson.dumps({"id": str(event_id), "topic": topic, "data": payload})


def signature(secret: str, timestamp: int, raw: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` with the subscription's secret."""
    signed = str(timestamp).encode() + b"." + raw
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def headers(secret: str, timestamp: int, event_id: int, topic: str, raw: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "hub-webhooks/1",
        SIGNATURE_HEADER: f"t={timestamp},v1={signature(secret, timestamp, raw)}",
        "Hub-Event-Id": str(event_id),
        "Hub-Topic": topic,
        "Idempotency-Key": str(event_id),
    }


def backoff(attempts: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones: ``base`` doubled
    per attempt, at most ``cap``, with jitter (between half of it and all of it)."""
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return delay * (0.5 + 0.5 * (rng or random).random())
