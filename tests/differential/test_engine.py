"""The compiled path against graphql-core's executor on a schema made to be awkward.

The schema below has what the hub's schema rarely shows: resolvers that raise
(synchronously and after an await), nulls in non-null fields and non-null list
items (so errors propagate through several levels, also after an await), values a
scalar refuses, an interface, a dataloader, arguments from literals and variables,
and resolvers that report their ``info`` (path, field, parent type, variables,
operation), so a wrong ``GraphQLResolveInfo`` shows up in the data. hypothesis draws
documents over it (see :mod:`tests.differential.documents`); each one must give the
same bytes (data and errors, in order) on both paths.
"""

from __future__ import annotations

import asyncio
import enum
from typing import Any

import orjson
import pytest
import strawberry
from aiodataloader import DataLoader
from graphql import GraphQLError
from hypothesis import HealthCheck, given, settings
from strawberry.types import Info

from schema.engine import HubExecutionContext, PlanCache, mark_fast_fields
from schema.engine import plain_attribute_resolvers as _plain_attribute_resolvers
from tests.differential.documents import documents

MAX_DEPTH = 4
SORT_ERRORS = False


@strawberry.enum
class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


@strawberry.interface
class Thing:
    id: strawberry.ID


def _rec(n: int, depth: int) -> Rec:
    return Rec(n, depth)


class Rec:
    """A deterministic value: everything follows from ``n`` and ``depth``."""

    def __init__(self, n: int, depth: int) -> None:
        self.n = n
        self.depth = depth
        self.id = f"R{n}"
        self.name = f"rec-{n}"
        self.maybe = None if n % 3 == 0 else f"m{n}"
        self.count = n * 7
        self.ratio = n / 4
        self.flag = n % 2 == 0
        self.color = Color.RED if n % 2 else Color.GREEN
        self.tags = [f"t{n}", f"u{n}"]
        self.big = 2**40 if n % 5 == 0 else n  # Int refuses the big ones
        self.nullable_tags: list[str | None] = [f"x{n}", None]
        self.strict_name = None if n % 4 == 3 else f"s{n}"  # null in a String!


def _kids(rec: Rec, k: int) -> list[Rec]:
    if rec.depth >= MAX_DEPTH:
        return []
    return [_rec(rec.n * 3 + i + 1, rec.depth + 1) for i in range(k)]


@strawberry.type
class Other(Thing):
    id: strawberry.ID
    label: str

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, OtherRec)


class OtherRec:
    def __init__(self, n: int) -> None:
        self.id = f"O{n}"
        self.label = f"other-{n}"


@strawberry.type
class Leaf(Thing):
    id: strawberry.ID
    name: str
    maybe: str | None
    count: int
    ratio: float
    flag: bool
    color: Color
    tags: list[str]
    big: int
    nullable_tags: list[str | None]
    strict_name: str

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, Rec)

    @strawberry.field
    def boom(self) -> str:
        if self.n % 2:  # type: ignore[attr-defined]
            raise ValueError(f"boom {self.n}")  # type: ignore[attr-defined]
        return "fine"

    @strawberry.field
    def soft(self) -> str | None:
        if self.n % 3 == 1:  # type: ignore[attr-defined]
            raise GraphQLError("soft failure", extensions={"code": "SOFT"})
        return f"soft-{self.n}"  # type: ignore[attr-defined]

    @strawberry.field
    async def later(self) -> str:
        await asyncio.sleep(0)
        if self.n % 4 == 2:  # type: ignore[attr-defined]
            raise ValueError(f"later boom {self.n}")  # type: ignore[attr-defined]
        return f"later-{self.n}"  # type: ignore[attr-defined]

    @strawberry.field
    async def later_maybe(self) -> str | None:
        await asyncio.sleep(0)
        if self.n % 5 == 1:  # type: ignore[attr-defined]
            raise ValueError("later maybe boom")
        return None if self.n % 2 else "lm"  # type: ignore[attr-defined]

    @strawberry.field
    def where(self, info: Info) -> str:
        raw = info._raw_info
        return "|".join(
            [
                ".".join(str(p) for p in info.path.as_list()),
                raw.field_name,
                str(raw.parent_type),
                str(raw.return_type),
                raw.operation.operation.value,
                ",".join(sorted(raw.variable_values or {})),
                str(len(raw.field_nodes)),
            ]
        )

    @strawberry.field
    def children(self, first: int = 2) -> list[Leaf]:
        return _kids(self, max(0, min(first, 3)))  # type: ignore[arg-type,return-value]

    @strawberry.field
    def sparse(self) -> list[Leaf | None]:
        kids = _kids(self, 3)  # type: ignore[arg-type]
        return [k if k.n % 2 else None for k in kids]  # type: ignore[misc]

    @strawberry.field
    def strict(self) -> list[Leaf]:
        kids = _kids(self, 2)  # type: ignore[arg-type]
        return [k if k.n % 7 else None for k in kids]  # type: ignore[misc]

    @strawberry.field
    async def loaded(self, info: Info) -> Leaf | None:
        if self.depth >= MAX_DEPTH:  # type: ignore[attr-defined]
            return None
        return await info.context["loader"].load(self.n + 100)  # type: ignore[attr-defined]

    @strawberry.field
    def later_kids(self, info: Info) -> list[Leaf]:
        if self.depth >= MAX_DEPTH:  # type: ignore[attr-defined]
            return []
        loader = info.context["loader"]
        return [loader.load(self.n * 2 + i) for i in range(2)]  # type: ignore[attr-defined,return-value]

    @strawberry.field
    def things(self) -> list[Thing]:
        return [self, OtherRec(self.n)]  # type: ignore[list-item]

    @strawberry.field
    def echo(self, text: str | None = None, times: int = 1) -> str | None:
        if times < 0:
            raise ValueError("times must not be negative")
        return None if text is None else text * min(times, 3)

    @strawberry.field
    def required_child(self) -> Leaf:
        kids = _kids(self, 1)  # type: ignore[arg-type]
        return kids[0] if kids else None  # type: ignore[return-value]


@strawberry.type
class Query:
    @strawberry.field
    def leaf(self, n: int = 1) -> Leaf | None:
        return _rec(abs(n) % 50, 0)  # type: ignore[return-value]

    @strawberry.field
    def leaves(self, first: int = 3) -> list[Leaf]:
        return [_rec(i, 1) for i in range(max(0, min(first, 4)))]  # type: ignore[misc]

    @strawberry.field
    def strict_leaf(self) -> Leaf:
        return _rec(3, 0)  # type: ignore[return-value]

    @strawberry.field
    async def async_leaf(self, info: Info, n: int = 2) -> Leaf | None:
        return await info.context["loader"].load(abs(n) % 50)

    @strawberry.field
    def thing(self, n: int = 1) -> Thing | None:
        return OtherRec(n) if n % 2 else _rec(n, 0)  # type: ignore[return-value]

    @strawberry.field
    def greeting(self) -> str:
        return "hello"


def _make_schema() -> strawberry.Schema:
    schema = strawberry.Schema(query=Query, execution_context_class=HubExecutionContext)
    gql = schema._schema
    mark_fast_fields(gql, _plain_attribute_resolvers(gql, schema.config.name_converter))
    return schema


SCHEMA = _make_schema()


def _context() -> dict[str, Any]:
    async def batch(keys: list[int]) -> list[Any]:
        return [None if k % 11 == 0 else _rec(k, 1 + k % 3) for k in keys]

    return {"loader": DataLoader(batch)}


async def _run(
    query: str, variables: dict[str, Any], compiled: bool, sort_errors: bool = False
) -> bytes:
    cache = PlanCache.of(SCHEMA._schema)
    cache.enabled = compiled
    try:
        result = await SCHEMA.execute(query, variable_values=variables, context_value=_context())
    finally:
        cache.enabled = True
    body: dict[str, Any] = {}
    if result.errors:
        body["errors"] = [e.formatted for e in result.errors]
        if sort_errors:
            body["errors"].sort(key=lambda e: orjson.dumps(e))
    body["data"] = result.data
    return orjson.dumps(body)


async def _same(query: str, variables: dict[str, Any], sort_errors: bool = False) -> None:
    standard = await _run(query, variables, False, sort_errors)
    compiled = await _run(query, variables, True, sort_errors)
    assert compiled == standard, (
        f"{query}\n{variables}\nstandard {standard!r}\ncompiled {compiled!r}"
    )


HAND_WRITTEN = [
    "{ leaf { id name maybe count ratio flag color tags big nullableTags } }",
    "{ leaf(n: 3) { strictName soft boom } }",
    "{ strictLeaf { strictName } greeting }",  # a non-null root nulls all the data
    "{ leaves(first: 4) { name later laterMaybe } }",
    "{ leaves { strict { name strict { name } } sparse { name boom } } }",
    "{ asyncLeaf(n: 7) { loaded { name loaded { name } } laterKids { name later } } }",
    "{ leaf { things { id __typename ... on Leaf { name } ... on Other { label } } } }",
    "{ thing(n: 2) { id ... on Leaf { where children { where } } } }",
    'query Q($t: String, $k: Int = 2) { leaf { echo(text: $t, times: $k) a: echo(text: "x") } }',
    "{ leaf { requiredChild { requiredChild { requiredChild { requiredChild "
    "{ requiredChild { name } } } } } } }",
    "{ leaf { a: children(first: 1) { where } b: children(first: 3) { where } } }",
    "{ leaf { echo(times: -1) } __typename }",
    "{ __typename leaf { __typename ... on Thing { id } } }",
]


@pytest.mark.parametrize("query", HAND_WRITTEN)
async def test_hand_written_documents_answer_the_same(query: str) -> None:
    await _same(query, {"t": "ab"})
    cache = PlanCache.of(SCHEMA._schema)
    before = cache.fallbacks
    await _run(query, {"t": "ab"}, compiled=True)
    assert cache.fallbacks == before, "this document should run on the compiled path"


async def test_introspection_and_defer_take_the_standard_executor() -> None:
    cache = PlanCache.of(SCHEMA._schema)
    before = cache.fallbacks
    await _same("{ __schema { queryType { name } } leaf { name } }", {})
    assert cache.fallbacks > before


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(doc=documents(SCHEMA._schema))
async def test_generated_documents_answer_the_same(doc: tuple[str, dict[str, Any]]) -> None:
    query, variables = doc
    # Errors raised in different event-loop iterations (resolvers that await for
    # different lengths, an error climbing through awaits) may be collected in another
    # order than graphql-core's; everything else is compared byte for byte.
    await _same(query, variables, sort_errors=SORT_ERRORS)
