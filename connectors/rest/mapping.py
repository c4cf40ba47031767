"""Remote records to hub rows (a pull's ``fields``) and hub events to remote bodies (a
push's ``body``): the compiled expressions of one config, applied item by item."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

from connectors.rest.config import CUSTOMER_ATTRIBUTES, DEFAULT_KEY, ROW_TYPES, Pull, Push
from connectors.rest.expressions import Expression

_ADAPTERS: dict[str, TypeAdapter[Any]] = {t: TypeAdapter(cls) for t, cls in ROW_TYPES.items()}


class ItemError(ValueError):
    """A record that can't be mapped: the message says which field and why."""


class RowMapper:
    """One pull resource's mapping: a record to a CatalogRow, StockRow or CustomerRow."""

    def __init__(self, pull: Pull) -> None:
        self.target = pull.target
        self.fields = {name: Expression(src) for name, src in pull.fields.items()}
        key = pull.key or pull.fields.get(DEFAULT_KEY[pull.target])
        self.key = Expression(key) if key else None
        self.mark = Expression(pull.incremental.field) if pull.incremental else None

    def key_of(self, item: Any, index: int) -> str:
        """How errors name the record: its key, else its position in the run."""
        try:
            value = self.key(item) if self.key else None
        except ValueError:
            value = None
        return str(value) if value not in (None, "") else f"#{index + 1}"

    def mark_of(self, item: Any) -> Any:
        return self.mark(item) if self.mark else None

    def row(self, item: Any) -> Any:
        """The hub row the record maps to (ItemError if it can't be made)."""
        values: dict[str, Any] = {}
        for name, expr in self.fields.items():
            try:
                value = expr(item)
            except ValueError as exc:
                raise ItemError(f"{name}: {exc}") from None
            if isinstance(value, dict):  # prices, stock, attributes: null means not given
                value = {k: v for k, v in value.items() if v is not None} or None
            values[name] = value
        if self.target == "customers":
            values = _customer(values)
        try:
            return _ADAPTERS[self.target].validate_python(values)
        except ValidationError as exc:
            raise ItemError(_describe(exc)) from None


def _customer(values: dict[str, Any]) -> dict[str, Any]:
    attrs = dict(values.pop("attributes", None) or {})
    for name in CUSTOMER_ATTRIBUTES:
        if name in values:
            value = values.pop(name)
            if value is not None:
                attrs[name] = value
    values.setdefault("email", None)
    if attrs:
        values["attributes"] = attrs
    return values


def _describe(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in e["loc"]) or "record"
        parts.append(f"{where}: {e['msg']}")
    return "; ".join(parts)


class BodyMapper:
    """One push rule: an event to a path and a JSON body."""

    def __init__(self, push: Push) -> None:
        self.rule = push
        self.params = {k: Expression(v) for k, v in push.path_params.items()}
        self.body: dict[str, Expression] | Expression | None
        if isinstance(push.body, str):
            self.body = Expression(push.body)
        elif push.body is not None:
            self.body = {k: Expression(v) for k, v in push.body.items()}
        else:
            self.body = None

    def request(self, topic: str, event_id: int, payload: Mapping[str, Any]) -> tuple[str, Any]:
        """(path, body) of the event (ItemError when a path parameter is missing)."""
        doc = {"topic": topic, "eventId": event_id, "data": dict(payload)}
        path = self.rule.path
        for name, expr in self.params.items():
            value = expr(doc)
            if value is None or value == "":
                raise ItemError(f"path_params.{name}: the event has no value for it")
            path = path.replace("{" + name + "}", _quote(str(value)))
        if self.body is None:
            return path, None
        if isinstance(self.body, Expression):
            return path, self.body(doc)
        return path, {k: e(doc) for k, e in self.body.items()}


def _quote(segment: str) -> str:
    from urllib.parse import quote

    return quote(segment, safe="")
