"""Relay plumbing: the Node interface, the node registry behind ``node``/``nodes``,
cursor connections and global ids."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import strawberry
from strawberry.types import Info

from hub import ids
from hub.db.database import Reader
from hub.domain.paging import InvalidCursor, InvalidPage, PageRequest, decode_cursor, encode_cursor
from schema.errors import ApiCode, ApiError, decode_id

T = TypeVar("T")


def is_record(record: type) -> staticmethod[[Any, Any], bool]:
    """The ``is_type_of`` of an object type whose values are ``record`` instances: which
    type a value of an interface (``Node``) or union is. It takes no resolve info."""

    def is_type_of(obj: Any, _info: Any) -> bool:
        return isinstance(obj, record)

    # attr-defined: the compiled path checks the class itself (schema.engine.plan).
    is_type_of.hub_record = record  # type: ignore[attr-defined]
    return staticmethod(is_type_of)


@strawberry.interface(description="An object with a globally unique, opaque `id`.")
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    nodes: list[T]
    page_info: PageInfo


class _Edge:
    __slots__ = ("cursor", "node")

    def __init__(self, cursor: str, node: Any) -> None:
        self.cursor = cursor
        self.node = node


class _PageInfo:
    __slots__ = ("end_cursor", "has_next_page", "has_previous_page", "start_cursor")

    def __init__(self, cursors: Sequence[str], has_next: bool, has_previous: bool) -> None:
        self.has_next_page = has_next
        self.has_previous_page = has_previous
        self.start_cursor = cursors[0] if cursors else None
        self.end_cursor = cursors[-1] if cursors else None


class ConnectionValue:
    """What connection fields return: plain attributes, edges built only if asked."""

    __slots__ = ("_cursors", "_make_cursors", "has_next", "has_previous", "nodes")

    def __init__(
        self,
        nodes: list[Any],
        cursors: list[str] | Callable[[], list[str]],
        has_next: bool,
        has_previous: bool,
    ) -> None:
        self.nodes = nodes
        # A list, or a function that makes it when edges or pageInfo are first asked
        # for (a listing asking only for `variants { nodes }` never needs them).
        if callable(cursors):
            self._cursors: list[str] | None = None
            self._make_cursors: Callable[[], list[str]] | None = cursors
        else:
            self._cursors, self._make_cursors = cursors, None
        self.has_next = has_next
        self.has_previous = has_previous

    @property
    def cursors(self) -> list[str]:
        if self._cursors is None:
            assert self._make_cursors is not None
            self._cursors = self._make_cursors()
        return self._cursors

    @property
    def edges(self) -> list[_Edge]:
        return [_Edge(c, n) for c, n in zip(self.cursors, self.nodes, strict=True)]

    @property
    def page_info(self) -> _PageInfo:
        return _PageInfo(self.cursors, self.has_next, self.has_previous)


def page_request(
    first: int | None, after: str | None, last: int | None, before: str | None, max_size: int
) -> PageRequest:
    page = PageRequest(first=first, after=after, last=last, before=before)
    try:
        page.validate(max_size)
    except InvalidPage as exc:
        raise ApiError(str(exc), ApiCode.INVALID_PAGE) from None
    return page


# The Relay paging arguments of every two-way connection field, in this order.
_PAGE_PARAMETERS = [
    inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=kind)
    for name, kind in (
        ("first", int | None),
        ("after", str | None),
        ("last", int | None),
        ("before", str | None),
    )
]

R = TypeVar("R", bound=Callable[..., Any])


def paged(resolver: R) -> R:
    """A connection resolver taking ``page: PageRequest`` (and ``info``) exposed with the
    arguments ``first``, ``after``, ``last`` and ``before`` in its place; they are checked
    (:func:`page_request`, HUB_MAX_PAGE_SIZE) before the resolver runs."""
    return _with_page(resolver, _PAGE_PARAMETERS)


def forward_paged(resolver: R) -> R:
    """:func:`paged` for a connection read forward only: ``first`` and ``after``."""
    return _with_page(resolver, _PAGE_PARAMETERS[:2])


def _with_page(resolver: R, page_parameters: list[inspect.Parameter]) -> R:
    signature = inspect.signature(resolver)
    params = list(signature.parameters.values())
    at = [p.name for p in params].index("page")
    exposed = signature.replace(parameters=[*params[:at], *page_parameters, *params[at + 1 :]])

    names = [p.name for p in exposed.parameters.values()]
    defaults = {
        p.name: p.default
        for p in exposed.parameters.values()
        if p.default is not inspect.Parameter.empty
    }
    plain = all(
        p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in exposed.parameters.values()
    )

    def bind(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """``exposed.bind(...)`` with defaults applied; the common case without
        ``inspect`` (which costs more than the resolver)."""
        if plain and len(args) <= len(names):
            given = dict(defaults)
            given.update(zip(names, args, strict=False))
            if kwargs.keys().isdisjoint(names[: len(args)]):
                given.update(kwargs)
                if len(given) == len(names):  # nothing unknown, nothing missing
                    return given
        bound = exposed.bind(*args, **kwargs)  # raises TypeError as a call would
        bound.apply_defaults()
        return bound.arguments

    def call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        given = bind(args, kwargs)
        asked = {p.name: given.pop(p.name) for p in page_parameters}
        first, after, last, before = (asked.get(p.name) for p in _PAGE_PARAMETERS)
        max_size = given["info"].context.settings.max_page_size
        given["page"] = page_request(first, after, last, before, max_size)
        return resolver(**given)

    if inspect.iscoroutinefunction(resolver):

        @functools.wraps(resolver)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            return await call(args, kwargs)

    else:

        @functools.wraps(resolver)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return call(args, kwargs)

    # What strawberry reads for the field's arguments (inspect.signature stops here).
    wrapper.__signature__ = exposed  # type: ignore[attr-defined]
    wrapper.__annotations__ = {
        **{p.name: p.annotation for p in exposed.parameters.values()},
        "return": signature.return_annotation,
    }
    return wrapper  # type: ignore[return-value]


def connection_from_list(
    items: Sequence[Any],
    page: PageRequest,
    kind: str,
    key: Callable[[Any], int],
    default_size: int = 250,
) -> ConnectionValue:
    """Slice an already loaded, ordered list (a product's variants, say) as a page."""
    start, end = 0, len(items)
    try:
        if page.after is not None:
            _, pk = decode_cursor(page.after, kind)
            start = next((i + 1 for i, it in enumerate(items) if key(it) == pk), end)
        if page.before is not None:
            _, pk = decode_cursor(page.before, kind)
            end = next((i for i, it in enumerate(items) if key(it) == pk), end)
    except InvalidCursor as exc:
        raise ApiError(str(exc), ApiCode.INVALID_CURSOR) from None
    window = items[start:end]
    if page.backward:
        n = page.size(default_size)
        sliced = window[max(0, len(window) - n) :]
        has_prev, has_next = len(window) > n, end < len(items)
    else:
        n = page.size(default_size)
        sliced = window[:n]
        has_next, has_prev = len(window) > n, start > 0
    nodes = list(sliced)
    return ConnectionValue(
        nodes, lambda: [encode_cursor(kind, None, key(it)) for it in nodes], has_next, has_prev
    )


# --------------------------------------------------------------------------- node registry

NodeFetch = Callable[[Info, list[Any]], Awaitable[Mapping[Any, Any]]]
"""Loads objects of one type by key, for this request: ``{key: object}``, leaving out
every key that doesn't exist *or that the request may not see*."""


def _int_key(raw: str) -> int | None:
    return ids.parse_pk(raw)


@dataclass(frozen=True, slots=True)
class _NodeType:
    fetch: NodeFetch
    parse: Callable[[str], Any]


_NODE_TYPES: dict[str, _NodeType] = {}


def register_node(
    type_name: str, fetch: NodeFetch, *, parse: Callable[[str], Any] = _int_key
) -> None:
    """Make ``gid://hub/<type_name>/<key>`` reachable through ``node``/``nodes``.

    ``parse`` turns the id's last part into a key (None: malformed; default: a
    primary key). ``fetch`` loads many keys at once (``nodes`` asks each type once)
    and must apply the same visibility as the type's own query: what it leaves out
    is null, whether missing or hidden, so ``node`` never tells the two apart.
    """
    _NODE_TYPES[type_name] = _NodeType(fetch, parse)


def staff_only(
    fetch: Callable[[Reader, list[int]], Awaitable[Mapping[int, Any]]], permission: str
) -> NodeFetch:
    """A :data:`NodeFetch` of a staff-only type: ``fetch(reader, pks)`` for a principal
    holding ``permission`` (``hub.auth.PERMISSIONS``), nothing (every id null) for any
    other."""

    async def fetch_for_staff(info: Info, pks: list[int]) -> Mapping[int, Any]:
        if not info.context.principal.can(permission):
            return {}
        return await fetch(info.context.reader, pks)

    return fetch_for_staff


def node_types() -> tuple[str, ...]:
    return tuple(_NODE_TYPES)


def _parse_gid(gid: str) -> tuple[str, Any]:
    if isinstance(gid, str) and gid.startswith(ids.PREFIX):
        type_name, _, raw = gid[len(ids.PREFIX) :].partition("/")
        entry = _NODE_TYPES.get(type_name)
        if entry is None and type_name and raw:
            known = " or ".join(_NODE_TYPES)
            raise ApiError(f"{gid!r} is not a {known} id", ApiCode.INVALID_ID)
        key = entry.parse(raw) if entry is not None else None
        if key is not None:
            return type_name, key
    raise ApiError(f"{gid!r} is not a hub global id (gid://hub/<Type>/<id>)", ApiCode.INVALID_ID)


async def resolve_nodes(info: Info, gids: Sequence[str]) -> list[Any]:
    """Objects by global id, in the order asked (None where missing or not visible).
    Each type's objects load in one batch, whatever the number of ids."""
    parsed = [_parse_gid(g) for g in gids]
    wanted: dict[str, list[Any]] = {}
    for type_name, key in parsed:
        keys = wanted.setdefault(type_name, [])
        if key not in keys:
            keys.append(key)
    names = list(wanted)
    got = await asyncio.gather(*(_NODE_TYPES[n].fetch(info, wanted[n]) for n in names))
    found = dict(zip(names, got, strict=True))
    return [found[t].get(k) for t, k in parsed]


__all__ = [
    "Connection",
    "ConnectionValue",
    "Node",
    "connection_from_list",
    "decode_id",
    "node_types",
    "page_request",
    "register_node",
    "resolve_nodes",
]
