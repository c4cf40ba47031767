"""The REST connector's config: validated with pydantic when an instance is created
or changed (``connectorCreate``), so a bad mapping is a ``userError`` naming the
field (``config.pull.0.fields.sku``), never a failed run. Described field by field in
``docs/rest-connector.md``."""

from __future__ import annotations

import re
from dataclasses import fields as dc_fields
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from connectors.base import CatalogRow, CustomerRow, StockRow
from connectors.rest.expressions import check

Expr = Annotated[str, AfterValidator(check)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]

# The profile fields a customers mapping may set besides CustomerRow's own; they travel
# in CustomerRow.attributes (hub.domain.integrations.crm applies them).
CUSTOMER_ATTRIBUTES = ("customer_group", "segments", "tax_exempt_vat_id")

ROW_TYPES: dict[str, type[Any]] = {
    "catalog": CatalogRow,
    "stock": StockRow,
    "customers": CustomerRow,
}
TARGET_FIELDS: dict[str, frozenset[str]] = {
    "catalog": frozenset(f.name for f in dc_fields(CatalogRow)),
    "stock": frozenset(f.name for f in dc_fields(StockRow)),
    "customers": frozenset(f.name for f in dc_fields(CustomerRow)) | set(CUSTOMER_ATTRIBUTES),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "catalog": ("sku", "product_handle"),
    "stock": ("sku", "location", "on_hand"),
    "customers": ("email",),
}
# What names an item in errors and results when the resource gives no ``key``.
DEFAULT_KEY = {"catalog": "sku", "stock": "sku", "customers": "external_id"}
# The outbox topics the type receives (Connector.topics); a push rule names some of them.
PUSH_TOPICS = (
    "order.*",
    "return.*",
    "refund.*",
    "fulfillment.*",
    "inventory.*",
    "stock.*",
    "customer.*",
)
_PATH = re.compile(r"^/[^\s?#]*$")
_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_]+)\}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Auth(_Model):
    """How requests authenticate: ``none``; ``header`` (the ``token`` secret in the
    header named ``header``); ``bearer`` (``Authorization: Bearer <token>``);
    ``basic`` (``username`` and the ``password`` secret)."""

    style: Literal["none", "header", "bearer", "basic"] = "none"
    header: str = Field("X-Api-Key", pattern=r"^[A-Za-z0-9-]{1,64}$")
    username: str | None = Field(None, max_length=256)


class Pagination(_Model):
    """How a resource is paged. ``none``: one request. ``cursor``: the expression
    ``next_cursor`` over each answer gives the next page's ``cursor_param`` (stop when
    it is null or empty). ``page``: ``page_param`` counts from ``first_page``. ``offset``:
    ``offset_param`` moves by the items received. ``size_param`` (when set) asks for
    ``size`` items a page; page and offset stop at a short page (with ``size_param``)
    or an empty one. At most ``max_pages`` requests a run."""

    style: Literal["none", "cursor", "page", "offset"] = "none"
    next_cursor: Expr | None = None
    cursor_param: Name = "cursor"
    page_param: Name = "page"
    first_page: int = Field(1, ge=0)
    offset_param: Name = "offset"
    size_param: Name | None = None
    size: int = Field(100, ge=1, le=1000)
    max_pages: int = Field(1000, ge=1, le=100_000)

    @model_validator(mode="after")
    def _cursor(self) -> Pagination:
        if self.style == "cursor" and not self.next_cursor:
            raise ValueError("a cursor pagination needs next_cursor (where the next cursor is)")
        return self


class Incremental(_Model):
    """Pull only what changed: ``field`` (an expression over an item, e.g.
    ``updated_at``) is the item's change mark; the highest one seen is kept in the
    instance's cursor and sent as ``param`` on the next run."""

    param: Name
    field: Expr


class Pull(_Model):
    """One remote resource read into the hub: ``GET base_url + path`` (with
    ``params``), ``items`` (an expression over the answer, ``@`` when the answer is the
    list) are the records, each mapped by ``fields`` (hub field -> expression over the
    record) to a row of ``target``."""

    name: Name
    path: str = Field(max_length=1000)
    params: dict[Name, str | int | float | bool] = Field(default_factory=dict, max_length=50)
    target: Literal["catalog", "stock", "customers"]
    items: Expr = "@"
    pagination: Pagination = Pagination()
    incremental: Incremental | None = None
    key: Expr | None = None
    fields: dict[str, Expr] = Field(max_length=100)

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not _PATH.match(v):
            raise ValueError("a path starts with / and has no spaces, query or fragment")
        return v

    @model_validator(mode="after")
    def _fields(self) -> Pull:
        known = TARGET_FIELDS[self.target]
        unknown = sorted(set(self.fields) - known)
        if unknown:
            raise ValueError(
                f"{', '.join(unknown)}: not a field of {self.target} "
                f"(known: {', '.join(sorted(known))})"
            )
        missing = [f for f in REQUIRED[self.target] if f not in self.fields]
        if self.target == "customers" and "phone" in self.fields:
            missing = []
        if missing:
            raise ValueError(f"a {self.target} mapping needs {', '.join(missing)}")
        return self


class Push(_Model):
    """Events sent out: each outbox event whose topic matches ``topic`` (``*``
    patterns) becomes ``method base_url + path``. ``{name}`` in the path is
    ``path_params[name]``; ``body`` maps remote fields to expressions (or is one
    expression for the whole body), over ``{"topic", "eventId", "data"}`` where
    ``data`` is the event's payload. Events the instance's own sync caused
    (``data.source`` is this connector) are not sent back."""

    topic: str = Field(pattern=r"^[a-z0-9_.*]{1,64}$")
    method: Literal["POST", "PUT", "PATCH", "DELETE"] = "POST"
    path: str = Field(max_length=1000)
    path_params: dict[Name, Expr] = Field(default_factory=dict, max_length=20)
    body: dict[str, Expr] | Expr | None = None

    @field_validator("topic")
    @classmethod
    def _topic(cls, v: str) -> str:
        family = v.split(".", 1)[0]
        if "." not in v or not any(t.split(".", 1)[0] == family for t in PUSH_TOPICS):
            raise ValueError(
                "a push topic is <family>.<event> (patterns allowed) in one of: "
                + ", ".join(PUSH_TOPICS)
            )
        return v

    @model_validator(mode="after")
    def _placeholders(self) -> Push:
        if not _PATH.match(_PLACEHOLDER.sub("x", self.path)):
            raise ValueError("a path starts with / and has no spaces, query or fragment")
        missing = sorted(set(_PLACEHOLDER.findall(self.path)) - set(self.path_params))
        if missing:
            raise ValueError(f"path_params must give {', '.join(missing)}")
        return self


class RestConfig(_Model):
    """A REST connector instance. ``token`` and ``password`` are secrets (write-only)."""

    kind: Literal["erp", "crm"] = "erp"
    base_url: str = Field(max_length=1000)
    auth: Auth = Auth()
    token: str | None = Field(None, max_length=4096)
    password: str | None = Field(None, max_length=4096)
    headers: dict[str, str] = Field(default_factory=dict, max_length=20)
    timeout_seconds: float = Field(10.0, gt=0, le=120)
    retries: int = Field(3, ge=0, le=10)
    backoff_seconds: float = Field(0.5, ge=0, le=60)
    pull: list[Pull] = Field(default_factory=list, max_length=20)
    push: list[Push] = Field(default_factory=list, max_length=50)

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", v):
            raise ValueError("base_url must be an http(s) URL without query or fragment")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _auth_and_names(self) -> RestConfig:
        style = self.auth.style
        if style in ("header", "bearer") and not self.token:
            raise ValueError(f"auth style {style} needs the token secret")
        if style == "basic" and not (self.auth.username and self.password):
            raise ValueError("auth style basic needs auth.username and the password secret")
        names = [p.name for p in self.pull]
        if len(names) != len(set(names)):
            raise ValueError("pull resource names must be unique")
        return self
