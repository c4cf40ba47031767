"""Parsed and validated documents, cached by a hash of their text within a memory budget,
and the shape limits (depth, aliases, tokens) checked before full validation.

strawberry's ParserCache and ValidationCache are ``lru_cache``s keyed by the query text
(and the document): fifty distinct 10 MB queries kept 1.2 GB alive. Here one store keeps,
per document, its AST and its validation errors under a 128-bit BLAKE2b digest of the
text, and evicts the least recently used documents once their estimated size passes
``HUB_DOCUMENT_CACHE_BYTES``. The estimate is ``AST_BYTES_PER_CHAR`` bytes per character
of text (measured: 50 to 120 for dense documents, far less for long string literals); a
document larger than an eighth of the budget is never cached. A persisted query
(``hub.persisted``) keeps its parsed and validated document with its entry, so it is
neither parsed nor validated again while that entry is held.

Every error of these steps has an ``extensions.code``: ``GRAPHQL_PARSE_FAILED``,
``MAX_TOKENS_EXCEEDED``, ``MAX_DEPTH_EXCEEDED``, ``MAX_ALIASES_EXCEEDED``,
``INTROSPECTION_DISABLED`` or ``GRAPHQL_VALIDATION_FAILED``.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSyntaxError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

AST_BYTES_PER_CHAR = 128


def set_code(error: GraphQLError, code: str) -> GraphQLError:
    """Give ``error`` an ``extensions.code`` unless it has one."""
    ext = error.extensions
    if not ext or "code" not in ext:
        error.extensions = {**(ext or {}), "code": str(code)}
    return error


class NoIntrospection(NoSchemaIntrospectionCustomRule):
    """``__schema`` and ``__type`` refused (``__typename`` stays): HUB_INTROSPECTION=false."""

    def report_error(self, error: GraphQLError) -> None:
        super().report_error(set_code(error, "INTROSPECTION_DISABLED"))


@dataclass(slots=True)
class _Entry:
    document: DocumentNode
    weight: int
    rules: tuple[Any, ...] | None = None
    errors: list[GraphQLError] | None = None


@dataclass
class DocumentStore:
    """The process's documents: digest -> AST and validation result, LRU within a budget."""

    max_bytes: int
    max_tokens: int = 10_000
    max_depth: int = 12
    max_aliases: int = 50
    _entries: OrderedDict[bytes, _Entry] = field(default_factory=OrderedDict)
    size: int = 0

    def digest(self, query: str) -> bytes:
        return hashlib.blake2b(query.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def get(self, key: bytes) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: bytes, document: DocumentNode, text_length: int) -> _Entry:
        entry = _Entry(document, AST_BYTES_PER_CHAR * text_length + 1024)
        if entry.weight > self.max_bytes // 8:
            return entry  # too big to keep: used for this request only
        old = self._entries.pop(key, None)
        if old is not None:
            self.size -= old.weight
        self._entries[key] = entry
        self.size += entry.weight
        while self.size > self.max_bytes and self._entries:
            _, gone = self._entries.popitem(last=False)
            self.size -= gone.weight
        return entry

    def __len__(self) -> int:
        return len(self._entries)


class DocumentCache(SchemaExtension):
    """Parse and validate through a :class:`DocumentStore` (one per schema)."""

    def __init__(self, *, store: DocumentStore) -> None:
        self.store = store
        self._key: bytes | None = None
        self._entry: _Entry | None = None

    def on_parse(self) -> Iterator[None]:
        ec = self.execution_context
        query = ec.query
        persisted = getattr(ec.context, "persisted", None)
        if persisted is not None and persisted.prepared is not None:
            # A persisted query: parsed and validated once, kept with its entry.
            self._entry = persisted.prepared
            ec.graphql_document = self._entry.document
            yield
            return
        if ec.graphql_document is None and query:
            self._key = self.store.digest(query)
            entry = self.store.get(self._key)
            if entry is not None:
                self._entry = entry
                ec.graphql_document = entry.document
            else:
                ec.parse_options["max_tokens"] = self.store.max_tokens
        yield
        if self._entry is None and self._key is not None:
            if ec.graphql_document is not None and query:
                self._entry = self.store.put(self._key, ec.graphql_document, len(query))
            for err in ec.pre_execution_errors or ():
                _code_parse_error(err)

    def on_validate(self) -> Iterator[None]:
        ec = self.execution_context
        entry = self._entry
        rules = ec.validation_rules
        if entry is not None and entry.errors is not None and entry.rules == rules:
            ec.pre_execution_errors = entry.errors
        elif ec.graphql_document is not None:
            errors = shape_errors(
                ec.graphql_document, self.store.max_depth, self.store.max_aliases
            ) or validate_document(ec.schema._schema, ec.graphql_document, rules)
            for err in errors:
                set_code(err, "GRAPHQL_VALIDATION_FAILED")
            ec.pre_execution_errors = errors
            if entry is not None:
                entry.rules, entry.errors = rules, errors
        ctx = ec.context
        if hasattr(ctx, "document_valid"):
            ctx.document_valid = not ec.pre_execution_errors
            persisted = ctx.persisted
            if persisted is not None and persisted.prepared is None and entry is not None:
                if entry.errors is not None and not entry.errors:
                    persisted.prepared = entry  # valid: never parsed or validated again
        yield


def _code_parse_error(err: GraphQLError) -> None:
    # graphql-core's token limit is a syntax error too: "Document contains more than N
    # tokens. Parsing aborted."
    if isinstance(err, GraphQLSyntaxError) and "Document contains more than" in err.message:
        set_code(err, "MAX_TOKENS_EXCEEDED")
    else:
        set_code(err, "GRAPHQL_PARSE_FAILED")


# ------------------------------------------------------------------------ shape limits


def shape_errors(doc: DocumentNode, max_depth: int, max_aliases: int) -> list[GraphQLError]:
    """Depth and alias limits of every operation, fragments expanded wherever they are
    spread (each fragment measured once, so a fragment bomb costs linear time)."""
    fragments = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
    memo: dict[str, tuple[int, int]] = {}
    errors: list[GraphQLError] = []

    def measure(sel_set: SelectionSetNode | None, visiting: frozenset[str]) -> tuple[int, int]:
        """(depth, aliases) of a selection set: depth 0 for leaves only."""
        depth = aliases = 0
        if sel_set is None:
            return 0, 0
        for sel in sel_set.selections:
            if isinstance(sel, FieldNode):
                if sel.name.value.startswith("__"):
                    continue
                if sel.alias is not None:
                    aliases += 1
                if sel.selection_set is not None:
                    d, a = measure(sel.selection_set, visiting)
                    depth = max(depth, d + 1)
                    aliases += a
            elif isinstance(sel, InlineFragmentNode):
                d, a = measure(sel.selection_set, visiting)
                depth, aliases = max(depth, d), aliases + a
            elif isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                if name in visiting or name not in fragments:
                    continue  # a cycle or an unknown fragment: validation reports it
                if name not in memo:
                    memo[name] = measure(fragments[name].selection_set, visiting | {name})
                d, a = memo[name]
                depth, aliases = max(depth, d), aliases + a
        return depth, aliases

    for op in doc.definitions:
        if not isinstance(op, OperationDefinitionNode):
            continue
        depth, aliases = measure(op.selection_set, frozenset())
        label = f"'{op.name.value}'" if op.name else "The operation"
        if depth > max_depth:
            errors.append(
                GraphQLError(
                    f"{label} exceeds maximum operation depth of {max_depth} (depth {depth})",
                    [op],
                    extensions={"code": "MAX_DEPTH_EXCEEDED"},
                )
            )
        if aliases > max_aliases:
            errors.append(
                GraphQLError(
                    f"{label} has {aliases} aliases, more than the {max_aliases} allowed "
                    "(fragments count each time they are spread)",
                    [op],
                    extensions={"code": "MAX_ALIASES_EXCEEDED"},
                )
            )
    return errors
