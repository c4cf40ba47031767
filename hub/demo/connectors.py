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


# The file feed's demo file (the format of docs/file-feed.md): three mugs of one new
# product, priced in the web channel and stocked at the Newark warehouse; the
# marketplace connector lists them once the feed brought them in.
FEED_HEADER = (
    "sku,product_handle,product_title,description,active,option:Color,price:web,stock:wh-newark"
)
FEED_MUGS = (
    ("BLUE", "Blue", "12.50", 24),
    ("RED", "Red", "12.50", 18),
    ("SAND", "Sand", "13.00", 0),
)
FEED_CSV = (
    "\n".join(
        [FEED_HEADER]
        + [
            f"FEED-MUG-{code},feed-mug,Enamel mug (from the ERP feed),"
            f"A mug the demo's file feed brings in.,true,{color},{price},{stock}"
            for code, color, price, stock in FEED_MUGS
        ]
    )
    + "\n"
)


def _feed_entry(folder: Path, types: Collection[str]) -> dict[str, object] | None:
    """The file feed instance reading ``folder/feed`` (where its CSV is written), or
    None when the ``file_feed`` type is not installed."""
    if "file_feed" not in types:
        return None
    feed = folder / "feed"
    feed.mkdir(parents=True, exist_ok=True)
    (feed / "products.csv").write_text(FEED_CSV, encoding="utf-8")
    return {
        "name": DEMO_FEED,
        "type": "file_feed",
        "schedule_seconds": 60,
        "timeout_seconds": 300,
        "config": {"folder": str(feed.resolve()), "pattern": "*.csv"},
    }


def write_connectors_file(hub_url: str, folder: Path, types: Collection[str]) -> Path:
    """Write the demo's connectors file (and the feed's files) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "connectors.yaml"
    body = {"connectors": demo_connectors(hub_url, folder, types)}
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return path
