"""Persisted queries: registered GraphQL operations, by id.

The protocol is Apollo's automatic persisted queries (APQ), which Apollo Client
(``createPersistedQueryLink``), urql (``persistedExchange``) and Relay speak: a request
carries ``extensions.persistedQuery = {"version": 1, "sha256Hash": "<hex>"}``, with or
without the ``query`` text (see :mod:`hub.app` for the HTTP side and README.md).

The operations live in the ``persisted_queries`` table, the most recently used ones
in an LRU of this process too (:class:`PersistedQueries`), so a hit costs no statement.
An operation is registered by a client sending its text with the hash (once the text
validates), or by ``hub persisted-queries load`` from a manifest
(:func:`parse_manifest`: Apollo's ``persisted-query-manifest.json`` or Relay's
``persisted_queries.json``); in allow-list mode (``HUB_PERSISTED_QUERIES_ONLY``)
only the latter.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from graphql import FieldNode, GraphQLError, OperationDefinitionNode, OperationType, parse
from sqlalchemy import select

from hub.auth import ANONYMOUS
from hub.db.database import Database, Reader, fetch_all
from hub.db.dialect import dialect_insert
from hub.db.tables import persisted_queries_t as pq_t
from hub.edge import EdgeError

# An operation id: a SHA-256 in hex (APQ), or the id a manifest gives (Relay's md5).
ID_RE = re.compile(r"^[A-Za-z0-9_:.-]{1,128}$")
SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")

# Root fields whose anonymous answers may be cached by a CDN (catalog reads only: no
# cart, order or customer, and not `node`, which reaches carts too).
CATALOG_ROOT_FIELDS = frozenset(
    {
        "__typename",
        "channels",
        "collection",
        "collections",
        "currentChannel",
        "locations",
        "product",
        "products",
    }
)


class ManifestError(ValueError):
    """A manifest that can't be loaded (its message says why)."""


def catalog_read(query: str) -> bool:
    """Whether every operation of ``query`` is a query of catalog root fields only."""
    try:
        doc = parse(query, no_location=True)
    except GraphQLError:
        return False
    ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    return bool(ops) and all(
        op.operation == OperationType.QUERY
        and all(
            isinstance(sel, FieldNode) and sel.name.value in CATALOG_ROOT_FIELDS
            for sel in op.selection_set.selections
        )
        for op in ops
    )


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class Persisted:
    """One registered operation, as this process holds it."""

    __slots__ = ("id", "prepared", "public", "query")

    def __init__(self, id: str, query: str) -> None:
        self.id = id
        self.query = query
        # The schema layer's parsed and validated document (schema.documents), kept
        # with the entry so a persisted query is neither parsed nor validated again.
        self.prepared: Any = None
        # Whether the document reads only the catalog (None: not worked out yet).
        self.public: bool | None = None


class PublicAnswers:
    """Answers to anonymous persisted GETs that may be cached publicly, kept by this
    process for ``ttl`` seconds (``HUB_PERSISTED_QUERY_LOCAL_SECONDS``, at most the
    max-age a CDN is told): the same page asked by many shoppers at once runs once per
    interval. Keyed by the request's query string and channel header (the only inputs
    of an anonymous GET); at most ``size`` answers."""

    def __init__(self, ttl: float, size: int = 512) -> None:
        self.ttl = ttl
        self.size = size
        self._kept: OrderedDict[tuple[str, str], tuple[float, Any]] = OrderedDict()

    def key(self, request: Any) -> tuple[str, str] | None:
        """The key of a request whose answer may be kept, else None."""
        if request.method != "GET":
            return None
        headers = request.headers
        if "authorization" in headers or "x-request-id" in headers:
            return None
        qs = request.scope.get("query_string", b"")
        if b"persistedQuery" not in qs:
            return None
        return qs.decode("latin-1"), headers.get("x-hub-channel", "")

    def get(self, key: tuple[str, str]) -> Any:
        hit = self._kept.get(key)
        if hit is None:
            return None
        if hit[0] < time.monotonic():
            del self._kept[key]
            return None
        return hit[1]

    def put(self, key: tuple[str, str], response: Any) -> None:
        """Keep a starlette ``Response``'s body, status and headers (its request id
        and length left out: each answer gets its own)."""
        headers = {
            k: v for k, v in response.headers.items() if k not in ("x-request-id", "content-length")
        }
        kept = (response.body, response.status_code, headers)
        self._kept[key] = (time.monotonic() + self.ttl, kept)
        self._kept.move_to_end(key)
        while len(self._kept) > self.size:
            self._kept.popitem(last=False)


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    id: str
    query: str
    name: str | None


class PersistedQueries:
    """The registered operations: the database, with an LRU of this process in front."""

    def __init__(self, db: Database, size: int = 2000) -> None:
        self.db = db
        self.size = size
        self._lru: OrderedDict[str, Persisted] = OrderedDict()

    def cached(self, op_id: str) -> Persisted | None:
        hit = self._lru.get(op_id)
        if hit is not None:
            self._lru.move_to_end(op_id)
        return hit

    def _keep(self, entry: Persisted) -> Persisted:
        if self.size:
            self._lru[entry.id] = entry
            self._lru.move_to_end(entry.id)
            while len(self._lru) > self.size:
                self._lru.popitem(last=False)
        return entry

    def forget(self) -> None:
        """Empty this process's LRU (the database keeps every operation)."""
        self._lru.clear()

    async def get(self, op_id: str, reader: Reader | None = None) -> Persisted | None:
        """The operation registered as ``op_id``: from the LRU, else one statement."""
        hit = self.cached(op_id)
        if hit is not None:
            return hit
        if not ID_RE.match(op_id):
            return None
        stmt = select(pq_t.c.query).where(pq_t.c.id == op_id)
        if reader is not None:
            rows = await fetch_all(reader, stmt)
        else:
            async with self.db.read() as conn:
                rows = (await conn.execute(stmt)).all()
        if not rows:
            return None
        return self._keep(Persisted(op_id, rows[0].query))

    async def register(self, entry: Persisted, name: str | None = None) -> Persisted:
        """Store a client's operation (an id registered already stays as it is)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                dialect_insert(conn, pq_t)
                .values(id=entry.id, query=entry.query, operation_name=name, source="client")
                .on_conflict_do_nothing(index_elements=["id"])
            )
        return self._keep(entry)

    async def load(self, entries: Sequence[ManifestEntry]) -> tuple[int, int]:
        """Store a manifest's operations in one transaction: (added, already there).
        An id already registered with another text is refused (ManifestError)."""
        ids = [e.id for e in entries]
        async with self.db.transaction() as conn:
            have = {
                r.id: r.query
                for r in (
                    await conn.execute(select(pq_t.c.id, pq_t.c.query).where(pq_t.c.id.in_(ids)))
                ).all()
            }
            added = 0
            for e in entries:
                old = have.get(e.id)
                if old is not None:
                    if old != e.query:
                        raise ManifestError(
                            f"operation {e.id} is registered already with another text"
                        )
                    continue
                await conn.execute(
                    pq_t.insert().values(
                        id=e.id, query=e.query, operation_name=e.name, source="manifest"
                    )
                )
                have[e.id] = e.query
                added += 1
        return added, len(entries) - added


def parse_manifest(data: Any) -> list[ManifestEntry]:
    """The operations of a persisted-query manifest, as JSON-decoded ``data``:

    - Apollo's (``@apollo/generate-persisted-query-manifest``): ``{"format":
      "apollo-persisted-query-manifest", "version": 1, "operations": [{"id", "name",
      "type", "body"}]}``, ids being the SHA-256 of the body;
    - Relay's (``relay-compiler`` with ``persistConfig``): ``{"<id>": "<text>"}``.

    An operation whose id is not the SHA-256 of its text is also registered under
    that hash, so APQ clients and the allow-list find it by its text."""
    out: list[ManifestEntry] = []
    if isinstance(data, dict) and data.get("format") == "apollo-persisted-query-manifest":
        if data.get("version") != 1:
            raise ManifestError(f"unsupported Apollo manifest version {data.get('version')!r}")
        ops = data.get("operations")
        if not isinstance(ops, list):
            raise ManifestError("an Apollo manifest has an `operations` list")
        for i, op in enumerate(ops):
            if not isinstance(op, dict):
                raise ManifestError(f"operations[{i}] is not an object")
            op_id, body, name = op.get("id"), op.get("body"), op.get("name")
            if not isinstance(op_id, str) or not isinstance(body, str):
                raise ManifestError(f"operations[{i}] needs a string `id` and `body`")
            if op_id.lower() != sha256_hex(body):
                raise ManifestError(f"operations[{i}]: `id` is not the SHA-256 of `body`")
            out.append(ManifestEntry(op_id.lower(), body, name if isinstance(name, str) else None))
    elif isinstance(data, dict):
        for op_id, body in data.items():
            if not isinstance(body, str):
                raise ManifestError(f"{op_id!r}: expected the operation's text")
            out.append(ManifestEntry(str(op_id), body, None))
    else:
        raise ManifestError(
            "expected an Apollo persisted-query manifest or a Relay persisted_queries.json"
        )
    seen: dict[str, ManifestEntry] = {}
    for e in list(out):
        if not ID_RE.match(e.id):
            raise ManifestError(f"{e.id!r} is not an operation id (letters, digits, _:.-)")
        digest = sha256_hex(e.query)
        if digest != e.id and digest not in seen:
            out.append(ManifestEntry(digest, e.query, e.name))
        seen[e.id] = e
    unique: dict[str, ManifestEntry] = {}
    for e in out:
        prior = unique.get(e.id)
        if prior is not None and prior.query != e.query:
            raise ManifestError(f"operation {e.id} appears twice with different texts")
        unique[e.id] = e
    return list(unique.values())


def not_registered() -> EdgeError:
    """The refusal of an operation that isn't registered, in allow-list mode."""
    return EdgeError(
        403,
        "only registered operations run on this hub (HUB_PERSISTED_QUERIES_ONLY); "
        "register it with `hub persisted-queries load`",
        "PERSISTED_QUERY_NOT_ALLOWED",
    )


async def resolve_request(
    s: Any, store: PersistedQueries | None, method: str, ctx: Any, data: Any
) -> Any:
    """A GraphQL HTTP request (strawberry's ``GraphQLRequestData``) with its persisted
    query's text, for the request context ``ctx`` (``schema.context.HubContext``), or
    EdgeError: the hash unknown (``PERSISTED_QUERY_NOT_FOUND``, as Apollo's clients
    expect), not matching the text, or an operation not registered in allow-list
    mode (``HUB_PERSISTED_QUERIES_ONLY``, settings ``s``)."""
    ext = (data.extensions or {}).get("persistedQuery")
    only = s.persisted_queries_only and not ctx.principal.is_staff
    if ext is None:
        if only:
            assert store is not None and data.query is not None
            found = await store.get(sha256_hex(data.query), ctx.reader)
            if found is None:
                raise not_registered()
            ctx.persisted = found
        return data
    if not s.persisted_queries or store is None:
        raise EdgeError(200, "PersistedQueryNotSupported", "PERSISTED_QUERY_NOT_SUPPORTED")
    op_id = ext.get("sha256Hash") if isinstance(ext, dict) else None
    if not isinstance(ext, dict) or ext.get("version") != 1 or not isinstance(op_id, str):
        raise EdgeError(
            400,
            'extensions.persistedQuery is {"version": 1, "sha256Hash": "<hex>"}',
            "BAD_REQUEST",
        )
    if SHA256_RE.match(op_id):
        op_id = op_id.lower()
    elif not ID_RE.match(op_id):
        raise EdgeError(400, "sha256Hash is not a persisted query id", "BAD_REQUEST")
    if data.query:
        if sha256_hex(data.query) != op_id:
            raise EdgeError(400, "provided sha does not match query", "BAD_REQUEST")
        found = store.cached(op_id) or (await store.get(op_id, ctx.reader) if only else None)
        if found is None:
            if only:
                raise not_registered()
            found = Persisted(op_id, data.query)
            ctx.register = True  # once its text validates
    else:
        found = await store.get(op_id, ctx.reader)
        if found is None:
            raise EdgeError(200, "PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")
    ctx.persisted = found
    data.query = found.query
    if method == "GET" and ctx.principal is ANONYMOUS and s.persisted_query_max_age:
        if found.public is None:
            found.public = catalog_read(found.query)
        ctx.public = found.public
    return data


__all__ = [
    "CATALOG_ROOT_FIELDS",
    "ManifestEntry",
    "ManifestError",
    "Persisted",
    "PersistedQueries",
    "PublicAnswers",
    "catalog_read",
    "not_registered",
    "parse_manifest",
    "resolve_request",
    "sha256_hex",
]
