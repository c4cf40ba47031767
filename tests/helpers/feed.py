"""Catalog import tests' helpers: a product as the admin API shows it (fields, options,
price range, variants with their price in a channel and on hand per location), the
ledger rows of a variant, feed files, and a stand-in HTTP server for feeds at a URL."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tests.helpers.client import Hub
from tests.helpers.serving import listening_socket, serve_on, url_of

PRODUCT = """
query($h: String!) {
  product(handle: $h) {
    id title description status taxClass
    options { name values }
    priceRange { minVariantPrice { amount currencyCode } maxVariantPrice { amount } }
    attributes { key type value }
    variants(first: 50) { nodes {
      id sku barcode title weightGrams position
      selectedOptions { name value }
      price { amount currencyCode }
      inventoryLevels(first: 20) { nodes { location { handle } onHand available } }
    } }
  }
}"""

MOVEMENTS = """
query($v: ID!) { inventoryMovements(variantId: $v, first: 50) {
  nodes { reason onHand actor location { handle } } } }"""

SEARCH = """
query($q: String!) { products(first: 5, query: $q) { nodes { handle } } }"""


def unique(prefix: str = "feed") -> str:
    """A prefix no other test (on the session-wide hub) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def product_view(hub: Hub, handle: str, channel: str = "web") -> dict[str, Any] | None:
    """The product ``handle`` through GraphQL (admin), prices in ``channel``:
    its fields, options, price range and ``variants`` by SKU."""
    res = await hub.admin(PRODUCT, {"h": handle}, headers={"X-Hub-Channel": channel})
    assert "errors" not in res, res
    p = res["data"]["product"]
    if p is None:
        return None
    rng = p["priceRange"]
    variants = {}
    for v in p["variants"]["nodes"]:
        variants[v["sku"]] = {
            "id": v["id"],
            "barcode": v["barcode"],
            "title": v["title"],
            "weight": v["weightGrams"],
            "position": v["position"],
            "options": [(o["name"], o["value"]) for o in v["selectedOptions"]],
            "price": v["price"]["amount"] if v["price"] else None,
            "currency": v["price"]["currencyCode"] if v["price"] else None,
            "stock": {
                lv["location"]["handle"]: lv["onHand"] for lv in v["inventoryLevels"]["nodes"]
            },
        }
    return {
        "id": p["id"],
        "title": p["title"],
        "description": p["description"],
        "status": p["status"],
        "tax_class": p["taxClass"],
        "options": [(o["name"], o["values"]) for o in p["options"]],
        "range": None
        if rng is None
        else (rng["minVariantPrice"]["amount"], rng["maxVariantPrice"]["amount"]),
        "attributes": {a["key"]: (a["type"], a["value"]) for a in p["attributes"]},
        "variants": variants,
    }


async def movements(hub: Hub, variant_id: str) -> list[tuple[str, int, str, str]]:
    """The variant's ledger rows, newest first: (reason, onHand delta, actor, location)."""
    res = await hub.admin(MOVEMENTS, {"v": variant_id})
    assert "errors" not in res, res
    return [
        (m["reason"], m["onHand"], m["actor"], m["location"]["handle"])
        for m in res["data"]["inventoryMovements"]["nodes"]
    ]


async def search(hub: Hub, words: str) -> list[str]:
    """Handles of the storefront's products matching ``words`` (web channel)."""
    res = await hub.gql(SEARCH, {"q": words}, token=hub.storefront_token)
    assert "errors" not in res, res
    return [n["handle"] for n in res["data"]["products"]["nodes"]]


def write_file(path: Path, text: str | bytes) -> None:
    """Write a feed file and move its modification time on, so a rewrite within the
    file system's time resolution is still seen as a change."""
    data = text.encode() if isinstance(text, str) else text
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_bytes(data)
    after = path.stat().st_mtime_ns
    if after <= before:
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


# ------------------------------------------------------------------ HTTP stand-in


@dataclass
class FeedServer:
    """A stand-in ERP export endpoint: ``GET /<name>`` answers the current body with a
    strong ETag (its SHA-256) and Last-Modified, ``304`` to a matching
    ``If-None-Match``; ``status`` other than 200 makes it fail; it records each
    request's conditional and Authorization headers."""

    body: bytes = b"[]"
    content_type: str = "application/json"
    status: int = 200
    validators: bool = True  # False: no ETag nor Last-Modified (the body hash decides)
    requests: list[dict[str, str | None]] = field(default_factory=list)
    changed_at: float = field(default_factory=time.time)

    def set(self, body: bytes | str) -> None:
        self.body = body.encode() if isinstance(body, str) else body
        self.changed_at = time.time()

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'

    async def _endpoint(self, request: Request) -> Response:
        self.requests.append(
            {
                "if_none_match": request.headers.get("if-none-match"),
                "authorization": request.headers.get("authorization"),
            }
        )
        if self.status != 200:
            return PlainTextResponse("the export is down", status_code=self.status)
        headers = {
            "ETag": self.etag,
            "Last-Modified": formatdate(self.changed_at, usegmt=True),
        }
        if not self.validators:
            return Response(self.body, media_type=self.content_type)
        if request.headers.get("if-none-match") == self.etag:
            return Response(status_code=304, headers=headers)
        return Response(self.body, media_type=self.content_type, headers=headers)

    @property
    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{name}", self._endpoint)])


@contextmanager
def serving_feed(server: FeedServer) -> Iterator[str]:
    """Serve ``server`` on a free 127.0.0.1 port until the block ends; its base URL."""
    sock = listening_socket()
    url = url_of(sock)
    with serve_on(
        sock,
        server.app,
        name="stand-in feed server",
        log_level="critical",
        access_log=False,
        http="h11",
    ):
        yield url
