"""Relay plumbing: the Node interface, cursor connections and global ids."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import strawberry

from hub import ids
from hub.domain.paging import InvalidCursor, InvalidPage, PageRequest, decode_cursor, encode_cursor
from schema.errors import ApiError

T = TypeVar("T")


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

    __slots__ = ("_cursors", "has_next", "has_previous", "nodes")

    def __init__(
        self, nodes: list[Any], cursors: list[str], has_next: bool, has_previous: bool
    ) -> None:
        self.nodes = nodes
        self._cursors = cursors
        self.has_next = has_next
        self.has_previous = has_previous

    @property
    def edges(self) -> list[_Edge]:
        return [_Edge(c, n) for c, n in zip(self._cursors, self.nodes, strict=True)]

    @property
    def page_info(self) -> _PageInfo:
        return _PageInfo(self._cursors, self.has_next, self.has_previous)


def page_request(
    first: int | None, after: str | None, last: int | None, before: str | None, max_size: int
) -> PageRequest:
    page = PageRequest(first=first, after=after, last=last, before=before)
    try:
        page.validate(max_size)
    except InvalidPage as exc:
        raise ApiError(str(exc), "INVALID_PAGE") from None
    return page


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
        raise ApiError(str(exc), "INVALID_CURSOR") from None
    window = items[start:end]
    if page.backward:
        n = page.size(default_size)
        sliced = window[max(0, len(window) - n) :]
        has_prev, has_next = len(window) > n, end < len(items)
    else:
        n = page.size(default_size)
        sliced = window[:n]
        has_next, has_prev = len(window) > n, start > 0
    return ConnectionValue(
        list(sliced), [encode_cursor(kind, None, key(it)) for it in sliced], has_next, has_prev
    )


def decode_id(gid: str, expected: str | tuple[str, ...]) -> int:
    """A global id's primary key; a GraphQL error for a malformed or foreign id."""
    try:
        return ids.decode(gid, expected)[1]
    except ids.InvalidId as exc:
        raise ApiError(str(exc), "INVALID_ID") from None
