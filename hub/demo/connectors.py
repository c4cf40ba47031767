"""The demo's connectors (``hub serve --demo``): a marketplace connector publishing
the ``web`` channel to the stand-in marketplace the hub itself serves at
``/_demo/marketplace`` (whose demo buyers place a few orders once offers arrive, so
the next run imports them), and, when the ``file_feed`` connector type is installed,
a file feed reading a small CSV the demo writes. Both are instances of a connectors
file (``HUB_CONNECTORS_FILE``) the demo writes, applied by name at start, so their
runs show in ``connectorRuns``."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import yaml

DEMO_MARKETPLACE_PATH = "/_demo/marketplace"
DEMO_MARKETPLACE_TOKEN = "demo-marketplace-token"  # the stand-in's; not a secret
DEMO_MARKETPLACE = "demo-marketplace"
DEMO_FEED = "demo-file-feed"
DEMO_BUYERS = 3
DEMO_SOURCE = "demo-market"


def demo_connectors(hub_url: str, folder: Path, types: Collection[str]) -> list[dict[str, object]]:
    """The demo's connector instances (the connectors file's entries) for a hub
    served at ``hub_url``; ``folder`` holds the file feed's files."""
    entries: list[dict[str, object]] = [
        {
            "name": DEMO_MARKETPLACE,
            "type": "marketplace",
            "schedule_seconds": 30,
            "event_interval_seconds": 5,
            "timeout_seconds": 120,
            "config": {
                "base_url": hub_url.rstrip("/") + DEMO_MARKETPLACE_PATH,
                "token": DEMO_MARKETPLACE_TOKEN,
                "channel": "web",
                "source": DEMO_SOURCE,
            },
        }
    ]
    feed = _feed_entry(folder, types)
    if feed is not None:
        entries.append(feed)
    return entries


def _feed_entry(folder: Path, types: Collection[str]) -> dict[str, object] | None:
    """The file feed instance, or None when its type is not installed."""
    if "file_feed" not in types:
        return None
    return None


def write_connectors_file(hub_url: str, folder: Path, types: Collection[str]) -> Path:
    """Write the demo's connectors file (and the feed's files) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "connectors.yaml"
    body = {"connectors": demo_connectors(hub_url, folder, types)}
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return path
