"""Connectors on the API (staff, permission ``connectors``): the registered types, the
instances (``connectorCreate/Update/Delete``: config validated by the type's schema,
secrets write-only, shown only as set or not), their runs (``connectorRuns``, newest
first) and ``connectorRunNow``."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from hub.domain import integrations as ig
from hub.domain.integrations.records import connectors_by_ids, runs_by_ids
from hub.domain.paging import InvalidCursor, PageRequest, id_page
from schema.errors import ApiCode, ApiError, UserError, decode_id, field_pk, run_write
from schema.loaders import Loader
from schema.permissions import needs
from schema.relay import (
    Connection,
    ConnectionValue,
    Node,
    forward_paged,
    is_record,
    register_node,
    staff_only,
)

PERM = needs("connectors")


@strawberry.enum
class ConnectorTrigger(Enum):
    SCHEDULE = "SCHEDULE"
    EVENT = "EVENT"
    MANUAL = "MANUAL"


@strawberry.enum
class ConnectorRunStatus(Enum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"


@strawberry.enum
class ConnectorSource(Enum):
    API = "API"
    FILE = "FILE"


@strawberry.type(description="A connector type the hub has registered.")
class ConnectorTypeInfo:
    name: str
    kind: str = strawberry.field(description="erp, crm, marketplace, tax or payment.")
    topics: list[str] = strawberry.field(description="The outbox topics its runs handle.")
    secret_fields: list[str] = strawberry.field(description="Config fields that are write-only.")
    config_schema: JSON = strawberry.field(description="The config's JSON Schema.")


@strawberry.type(name="ConnectorSecret", description="A write-only secret: set or not.")
class ConnectorSecretType:
    name: str
    is_set: bool


@strawberry.type(name="ConnectorRunError", description="One item a run could not handle.")
class ConnectorRunErrorType:
    item: str = strawberry.field(
        description="The item (a SKU, a row, an external id); empty for the run as a whole."
    )
    code: str
    message: str


@strawberry.type(name="ConnectorRun")
class ConnectorRunType(Node):
    id: strawberry.ID
    connector_id: strawberry.ID
    started_at: datetime
    ended_at: datetime | None = strawberry.field(description="Null while it runs.")
    items_read: int = strawberry.field(description="Items read from the outside system.")
    items_written: int = strawberry.field(
        description="Items written (to the hub, or to the outside system)."
    )
    events: int = strawberry.field(
        description="Outbox events handed to the connector (before coalescing)."
    )
    error_count: int = strawberry.field(
        description="Every error of the run (`errors` keeps the first 50)."
    )
    errors: list[ConnectorRunErrorType]
    message: str | None = strawberry.field(description="Why a FAILED run failed.")
    runner: str | None = strawberry.field(
        description='The process that ran it ("host:pid:nonce").'
    )

    is_type_of = is_record(ig.RunRecord)

    @strawberry.field
    def trigger(self, root: strawberry.Parent[ig.RunRecord]) -> ConnectorTrigger:
        return ConnectorTrigger(root.trigger)

    @strawberry.field
    def status(self, root: strawberry.Parent[ig.RunRecord]) -> ConnectorRunStatus:
        return ConnectorRunStatus(root.status)


def _last_run_loader(info: Info) -> Loader:
    ctx = info.context

    def make() -> Loader:
        async def fetch(keys: Any) -> Any:
            return await ig.last_runs(ctx.reader, list(keys))

        return Loader(fetch)

    got: Loader = ctx.keyed("connector-last-run", make)
    return got


@strawberry.type(name="Connector")
class ConnectorType(Node):
    id: strawberry.ID
    name: str
    type_name: str
    kind: str
    enabled: bool
    secrets: list[ConnectorSecretType] = strawberry.field(
        description="The type's secret fields: set or not (never their values)."
    )
    schedule_seconds: int | None = strawberry.field(
        description="Seconds between scheduled syncs; null: no schedule."
    )
    event_interval_seconds: int = strawberry.field(
        description="Event runs start at most this often (stock events coalesced over it)."
    )
    timeout_seconds: int
    cursor: str | None = strawberry.field(description="The sync cursor, as the connector keeps it.")
    failures: int = strawberry.field(
        description="Runs failed in a row (the backoff doubles with each)."
    )
    next_run_at: datetime | None = strawberry.field(description="The next scheduled sync.")
    events_after: datetime | None = strawberry.field(
        description="No event run before this (the interval, or the backoff)."
    )
    last_error: str | None
    running: bool = strawberry.field(description="A run holds its lease now.")
    created_at: datetime
    updated_at: datetime

    is_type_of = is_record(ig.ConnectorRecord)

    @strawberry.field(description="API (connectorCreate) or FILE (HUB_CONNECTORS_FILE).")
    def source(self, root: strawberry.Parent[ig.ConnectorRecord]) -> ConnectorSource:
        return ConnectorSource(root.source.upper())

    @strawberry.field(description="The config without its secrets.")
    def config(self, root: strawberry.Parent[ig.ConnectorRecord]) -> JSON:
        return cast(JSON, dict(root.config))

    @strawberry.field(description="The newest run.")
    async def last_run(
        self, info: Info, root: strawberry.Parent[ig.ConnectorRecord]
    ) -> ConnectorRunType | None:
        return cast(ConnectorRunType | None, await _last_run_loader(info).load(root.pk))


@strawberry.input
class ConnectorCreateInput:
    name: str
    type_name: str
    config: JSON = strawberry.field(
        description="The type's config, secrets included (they are never read back)."
    )
    enabled: bool = True
    schedule_seconds: int | None = strawberry.field(
        default=None, description="Run `sync` this often; null: no schedule."
    )
    event_interval_seconds: int = 5
    timeout_seconds: int = 300


@strawberry.input
class ConnectorUpdateInput:
    name: str | None = None
    config: JSON | None = strawberry.field(
        default=None,
        description="Replaces the config; a secret left out is kept, one given as null is cleared.",
    )
    enabled: bool | None = None
    schedule_seconds: int | None = strawberry.field(
        default=None, description="A new schedule (clearSchedule removes it)."
    )
    clear_schedule: bool = False
    event_interval_seconds: int | None = None
    timeout_seconds: int | None = None


@strawberry.type
class ConnectorPayload:
    connector: ConnectorType | None
    user_errors: list[UserError]


@strawberry.type
class ConnectorDeletePayload:
    deleted_id: strawberry.ID | None
    user_errors: list[UserError]


@strawberry.type
class ConnectorRunNowPayload:
    run: ConnectorRunType | None
    user_errors: list[UserError]


def _config(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        from hub.domain.errors import fail

        raise fail(ig.ConnectorCode.INVALID, "config must be a JSON object", path)
    return value


async def _one(info: Info, pk: int | None) -> ConnectorType | None:
    if pk is None:
        return None
    hub = info.context.hub
    got = await connectors_by_ids(info.context.reader, [pk], hub.integrations.secret_fields())
    return cast(ConnectorType | None, got.get(pk))


def _schema_of(cls: Any) -> dict[str, Any]:
    try:
        schema: dict[str, Any] = cls.config_schema.model_json_schema()
        return schema
    except Exception:
        return {}


@strawberry.type
class ConnectorQuery:
    @strawberry.field(permission_classes=PERM, description="The registered connector types.")
    def connector_types(self, info: Info) -> list[ConnectorTypeInfo]:
        types = info.context.hub.integrations.types
        return [
            ConnectorTypeInfo(
                name=name,
                kind=cls.kind,
                topics=list(cls.topics),
                secret_fields=sorted(cls.secret_fields),
                config_schema=cast(JSON, _schema_of(cls)),
            )
            for name, cls in sorted(types.items())
        ]

    @strawberry.field(permission_classes=PERM, description="Connector instances, oldest first.")
    @forward_paged
    async def connectors(self, info: Info, page: PageRequest) -> Connection[ConnectorType]:
        secret = info.context.hub.integrations.secret_fields()
        stmt = ig.connectors_page_stmt()
        rows, cursors, more, prev = await _page(
            info, stmt, stmt.selected_columns.id, page, "Connector"
        )
        nodes = [ig.records.record_of(r, secret.get(r.type_name, ())) for r in rows]
        return cast(Connection[ConnectorType], ConnectionValue(nodes, cursors, more, prev))

    @strawberry.field(permission_classes=PERM, description="A connector instance by id.")
    async def connector(self, info: Info, id: strawberry.ID) -> ConnectorType | None:
        return await _one(info, decode_id(id, "Connector"))

    @strawberry.field(permission_classes=PERM, description="A connector's runs, newest first.")
    @forward_paged
    async def connector_runs(
        self, info: Info, connector_id: strawberry.ID, page: PageRequest
    ) -> Connection[ConnectorRunType]:
        pk = decode_id(connector_id, "Connector")
        stmt = ig.runs_stmt(pk)
        rows, cursors, more, prev = await _page(
            info, stmt, stmt.selected_columns.id, page, "ConnectorRun", newest_first=True
        )
        nodes = [ig.records.run_of(r) for r in rows]
        return cast(Connection[ConnectorRunType], ConnectionValue(nodes, cursors, more, prev))

    @strawberry.field(permission_classes=PERM, description="A connector run by id.")
    async def connector_run(self, info: Info, id: strawberry.ID) -> ConnectorRunType | None:
        pk = decode_id(id, "ConnectorRun")
        got = await runs_by_ids(info.context.reader, [pk])
        return cast(ConnectorRunType | None, got.get(pk))


async def _page(
    info: Info, stmt: Any, id_col: Any, page: PageRequest, kind: str, *, newest_first: bool = False
) -> tuple[list[Any], list[str], bool, bool]:
    try:
        if newest_first:
            # Newest first is the id order read backward: `first` as `last`, `after` as
            # `before`.
            back = PageRequest(last=page.size(20), before=page.after)
            rows, cursors, _, more = await id_page(info.context.reader, stmt, id_col, back, kind)
            return rows[::-1], cursors[::-1], more, page.after is not None
        return await id_page(info.context.reader, stmt, id_col, page, kind)
    except InvalidCursor as exc:
        raise ApiError(str(exc), ApiCode.INVALID_CURSOR) from None


@strawberry.type
class ConnectorMutation:
    @strawberry.mutation(
        permission_classes=PERM,
        description="Configure a connector instance of a registered type (its config "
        "validated by the type's schema).",
    )
    async def connector_create(self, info: Info, input: ConnectorCreateInput) -> ConnectorPayload:
        async def go() -> int:
            return await info.context.hub.integrations.create(
                ig.ConnectorInput(
                    name=input.name,
                    type_name=input.type_name,
                    config=_config(input.config, "config"),
                    enabled=input.enabled,
                    schedule_seconds=input.schedule_seconds,
                    event_interval_seconds=input.event_interval_seconds,
                    timeout_seconds=input.timeout_seconds,
                )
            )

        pk, errs = await run_write(info, go)
        return ConnectorPayload(connector=await _one(info, pk), user_errors=errs)

    @strawberry.mutation(permission_classes=PERM, description="Change a connector instance.")
    async def connector_update(
        self, info: Info, id: strawberry.ID, input: ConnectorUpdateInput
    ) -> ConnectorPayload:
        async def go() -> int:
            pk = field_pk(id, "Connector", "id")
            config = None if input.config is None else _config(input.config, "config")
            return await info.context.hub.integrations.update(
                pk,
                ig.ConnectorInput(
                    name=input.name,
                    config=config,
                    enabled=input.enabled,
                    schedule_seconds=input.schedule_seconds,
                    clear_schedule=input.clear_schedule,
                    event_interval_seconds=input.event_interval_seconds,
                    timeout_seconds=input.timeout_seconds,
                ),
            )

        pk, errs = await run_write(info, go)
        return ConnectorPayload(connector=await _one(info, pk), user_errors=errs)

    @strawberry.mutation(
        permission_classes=PERM, description="Delete a connector instance and its runs."
    )
    async def connector_delete(self, info: Info, id: strawberry.ID) -> ConnectorDeletePayload:
        async def go() -> int:
            return await info.context.hub.integrations.delete(field_pk(id, "Connector", "id"))

        pk, errs = await run_write(info, go)
        return ConnectorDeletePayload(deleted_id=id if pk is not None else None, user_errors=errs)

    @strawberry.mutation(
        permission_classes=PERM,
        description="Run a connector now (MANUAL: its sync, then its pending events). "
        "Returns the run at once (RUNNING), or once it ended with `wait: true`; "
        "CONNECTOR_BUSY while another run holds it.",
    )
    async def connector_run_now(
        self, info: Info, id: strawberry.ID, wait: bool = False
    ) -> ConnectorRunNowPayload:
        async def go() -> int:
            pk = field_pk(id, "Connector", "id")
            return await info.context.hub.integrations.run_now(pk, wait=wait)

        run_pk, errs = await run_write(info, go)
        run = None
        if run_pk is not None:
            run = (await runs_by_ids(info.context.reader, [run_pk])).get(run_pk)
        return ConnectorRunNowPayload(run=cast(ConnectorRunType | None, run), user_errors=errs)


async def _connectors_for_staff(info: Info, pks: list[int]) -> Any:
    if not info.context.staff:
        return {}
    secret = info.context.hub.integrations.secret_fields()
    return await connectors_by_ids(info.context.reader, pks, secret)


register_node("Connector", _connectors_for_staff)
register_node("ConnectorRun", staff_only(runs_by_ids))
