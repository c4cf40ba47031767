"""The file feed ERP connector, type ``file_feed`` (kind ``erp``): products, variants,
prices and stock from CSV or JSON files in a folder or at an HTTP(S) URL, in the format
of ``docs/file-feed.md`` (:mod:`connectors.erp.feed_format`).

A run (``sync``, on the instance's schedule or ``connectorRunNow``):

1. lists the folder's files matching ``pattern`` (name order; hidden files and
   ``*.tmp``/``*.part`` skipped) or asks the URL, conditionally (``If-None-Match`` /
   ``If-Modified-Since``);
2. skips a file that has not changed since the last run: same name, size and
   modification time; for a URL a ``304``, or the same ETag, Last-Modified or (without
   either) the same body hash;
3. parses a changed file; a row that breaks the format is an item error of the run
   (``<file> row <n> (<sku>)``, a code, why) and the others go on;
4. hands the hub only the rows whose content hash differs from the one it imported
   last time (the hashes are kept by the hub per instance, ``feed_row_hashes``), in
   chunks of ``batch_rows``; the hub writes them in batches and reports each row
   (created, updated, unchanged, or rejected with a code: the run's errors);
5. records each file's stamp in the cursor once its rows are in, so a run that fails
   half-way starts again from the files it had not finished (and the rows it had
   written are skipped by their hashes).

A run with no cursor (the first one) starts afresh: it forgets the instance's hashes.
So does a run whose source settings (folder, url, pattern, format, delimiter) changed.
Rows missing from a later file are left as they are: the feed never deletes (make a
product inactive with ``active`` false).
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connectors.base import ConnectorKind, Event, RunContext
from connectors.erp.feed_format import BadFile, FeedRow, Parsed, parse_feed
from hub.money import exponent

STATE_VERSION = 1
SKIPPED_SUFFIXES = (".tmp", ".part", ".partial", ".swp")


class FileFeedConfig(BaseModel):
    """An instance's config: exactly one of ``folder`` and ``url``."""

    model_config = ConfigDict(extra="forbid")

    folder: str | None = Field(
        default=None, max_length=4096, description="An absolute path the hub can read."
    )
    url: str | None = Field(default=None, max_length=2048, description="An http(s) URL.")
    pattern: str = Field(
        default="*", min_length=1, max_length=255, description="Which files of the folder."
    )
    format: Literal["auto", "csv", "json"] = "auto"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    authorization: str | None = Field(
        default=None, max_length=4096, description="Authorization header for the URL."
    )
    timeout: float = Field(default=60.0, gt=0, le=600, description="Seconds per request.")
    max_bytes: int = Field(default=256 * 2**20, ge=1, le=2**31, description="Largest file.")
    batch_rows: int = Field(default=5000, ge=1, le=50_000, description="Rows per hub call.")

    @field_validator("folder")
    @classmethod
    def _absolute(cls, v: str | None) -> str | None:
        if v is not None and not os.path.isabs(v):
            raise ValueError("an absolute path")
        return v

    @field_validator("url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and (not v.startswith(("http://", "https://")) or len(v) < 10):
            raise ValueError("an http:// or https:// URL")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> FileFeedConfig:
        if (self.folder is None) == (self.url is None):
            raise ValueError("give either folder or url")
        return self

    def source_key(self) -> str:
        """What decides which rows the feed holds: a change starts the feed afresh."""
        doc = [self.folder, self.url, self.pattern, self.format, self.delimiter]
        return hashlib.sha256(json.dumps(doc).encode()).hexdigest()[:16]


class FeedUnavailable(Exception):
    """The URL could not be read (the run fails and is retried with backoff)."""


@dataclass
class _File:
    name: str
    data: bytes
    stamp: dict[str, Any]
    content_type: str | None = None


def _load_state(cursor: str | None, key: str) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        state = json.loads(cursor)
    except ValueError:
        return None
    if not isinstance(state, dict) or state.get("v") != STATE_VERSION or state.get("key") != key:
        return None
    if not isinstance(state.get("files"), dict):
        return None
    return state


def _list_folder(folder: str, pattern: str) -> list[tuple[str, dict[str, Any]]]:
    """The folder's feed files (name, stamp), in name order."""
    out = []
    with os.scandir(folder) as entries:
        for e in entries:
            if e.name.startswith(".") or e.name.endswith(SKIPPED_SUFFIXES):
                continue
            if not fnmatch.fnmatch(e.name, pattern) or not e.is_file():
                continue
            st = e.stat()
            out.append((e.name, {"size": st.st_size, "mtime_ns": st.st_mtime_ns}))
    return sorted(out)


def _read(path: Path, limit: int) -> bytes:
    with path.open("rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise BadFile("FILE_TOO_LARGE", f"the file is larger than {limit} bytes")
    return data


def _item(name: str, number: int, sku: str | None) -> str:
    if not number:
        return name
    return f"{name} row {number}" + (f" ({sku})" if sku else "")


class FileFeedConnector:
    type_name: str = "file_feed"
    kind: ConnectorKind = "erp"
    config_schema: type[Any] = FileFeedConfig
    secret_fields: frozenset[str] = frozenset({"authorization"})
    topics: tuple[str, ...] = ()

    async def sync(self, ctx: RunContext) -> None:
        config = FileFeedConfig.model_validate(dict(ctx.config))
        key = config.source_key()
        state = _load_state(ctx.cursor, key)
        if state is None:
            await ctx.hub.forget_row_hashes(ctx.instance_id)
            state = {"v": STATE_VERSION, "key": key, "files": {}}
        currencies = {
            handle: exponent(code) for handle, code in (await ctx.hub.channel_currencies()).items()
        }
        hashes = dict(await ctx.hub.row_hashes(ctx.instance_id))
        if config.folder is not None:
            await self._folder(ctx, config, state, currencies, hashes)
        else:
            await self._url(ctx, config, state, currencies, hashes)

    async def handle(self, ctx: RunContext, events: Sequence[Event]) -> None:  # no topics
        return None

    async def _folder(
        self,
        ctx: RunContext,
        config: FileFeedConfig,
        state: dict[str, Any],
        currencies: Mapping[str, int],
        hashes: dict[str, str],
    ) -> None:
        assert config.folder is not None
        try:
            listed = await asyncio.to_thread(_list_folder, config.folder, config.pattern)
        except OSError as exc:
            raise FeedUnavailable(f"can't list {config.folder}: {exc.strerror}") from None
        files: dict[str, Any] = state["files"]
        for gone in set(files) - {name for name, _ in listed}:
            del files[gone]  # a file that comes back is read again
        for name, stamp in listed:
            if files.get(name) == stamp:
                continue
            try:
                data = await asyncio.to_thread(_read, Path(config.folder, name), config.max_bytes)
            except BadFile as bad:
                ctx.error(name, bad.code, bad.message)
                continue
            except OSError as exc:
                raise FeedUnavailable(f"can't read {name}: {exc.strerror}") from None
            await self._import(ctx, config, _File(name, data, stamp), currencies, hashes)
            files[name] = stamp
            ctx.set_cursor(json.dumps(state))

    async def _url(
        self,
        ctx: RunContext,
        config: FileFeedConfig,
        state: dict[str, Any],
        currencies: Mapping[str, int],
        hashes: dict[str, str],
    ) -> None:
        assert config.url is not None
        files: dict[str, Any] = state["files"]
        got = await self._fetch(config, files.get(config.url) or {})
        if got is None:  # 304 Not Modified, or the same stamp
            return
        await self._import(ctx, config, got, currencies, hashes)
        files.clear()
        files[config.url] = got.stamp
        ctx.set_cursor(json.dumps(state))

    async def _fetch(self, config: FileFeedConfig, before: Mapping[str, Any]) -> _File | None:
        """The URL's body, unless it is the one imported last (then None)."""
        assert config.url is not None
        headers = {"Accept": "text/csv, application/json;q=0.9, */*;q=0.5"}
        if before.get("etag"):
            headers["If-None-Match"] = before["etag"]
        if before.get("last_modified"):
            headers["If-Modified-Since"] = before["last_modified"]
        if config.authorization:
            headers["Authorization"] = config.authorization
        try:
            async with (
                httpx.AsyncClient(timeout=config.timeout, follow_redirects=True) as client,
                client.stream("GET", config.url, headers=headers) as resp,
            ):
                if resp.status_code == 304:
                    return None
                if resp.status_code != 200:
                    raise FeedUnavailable(f"GET {config.url} answered HTTP {resp.status_code}")
                body = bytearray()
                async for chunk in resp.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > config.max_bytes:
                        raise FeedUnavailable(f"the feed is larger than {config.max_bytes} bytes")
        except httpx.HTTPError as exc:
            raise FeedUnavailable(f"GET {config.url} failed: {exc!r}") from None
        stamp = {
            "etag": resp.headers.get("etag"),
            "last_modified": resp.headers.get("last-modified"),
            "sha256": hashlib.sha256(body).hexdigest(),
        }
        if before.get("sha256") == stamp["sha256"]:
            return None  # the same body (a server without validators)
        name = config.url.rsplit("/", 1)[-1].split("?", 1)[0] or "feed"
        return _File(name, bytes(body), stamp, resp.headers.get("content-type"))

    async def _import(
        self,
        ctx: RunContext,
        config: FileFeedConfig,
        file: _File,
        currencies: Mapping[str, int],
        hashes: dict[str, str],
    ) -> None:
        """Parse one file and hand the hub its changed rows."""
        try:
            parsed: Parsed = await asyncio.to_thread(
                parse_feed,
                file.name,
                file.data,
                currencies,
                fmt=config.format,
                delimiter=config.delimiter,
                content_type=file.content_type,
            )
        except BadFile as bad:
            ctx.error(file.name, bad.code, bad.message)
            return
        ctx.read(parsed.count)
        for r in parsed.rejections:
            ctx.error(_item(file.name, r.number, r.sku), r.code, r.message)
        todo = [r for r in parsed.rows if hashes.get(r.row.sku) != r.hash]
        for start in range(0, len(todo), config.batch_rows):
            await self._hand_over(ctx, file.name, todo[start : start + config.batch_rows], hashes)

    async def _hand_over(
        self, ctx: RunContext, name: str, chunk: list[FeedRow], hashes: dict[str, str]
    ) -> None:
        rows = [replace(r.row, item=_item(name, r.number, r.row.sku)) for r in chunk]
        results = await ctx.hub.upsert_catalog(rows)
        done = {
            r.row.sku: r.hash
            for r, res in zip(chunk, results, strict=True)
            if res.status != "rejected"
        }
        if done:
            await ctx.hub.save_row_hashes(ctx.instance_id, done)
            hashes.update(done)
