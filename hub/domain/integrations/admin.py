"""Creating, changing and deleting connector instances: the config validated by the
type's ``config_schema`` (a pydantic model), the type's ``secret_fields`` split off
into the write-only ``secrets`` column."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import Connector
from hub.db.tables import connectors_t
from hub.domain.errors import DomainError, UserError, fail
from hub.domain.integrations.records import NAME_MAX, ConnectorCode, now

Types = Mapping[str, type[Connector]]

MAX_SCHEDULE = 7 * 24 * 3600
MAX_TIMEOUT = 6 * 3600


@dataclass(frozen=True, slots=True)
class ConnectorInput:
    """What ``connectorCreate`` / ``connectorUpdate`` / the config file give; ``None``
    leaves a field as it is (on update). ``config`` holds the secrets too: a secret
    field given as ``None`` is cleared, one left out is kept."""

    name: str | None = None
    type_name: str | None = None
    config: Mapping[str, Any] | None = None
    enabled: bool | None = None
    schedule_seconds: int | None = None
    clear_schedule: bool = False
    event_interval_seconds: int | None = None
    timeout_seconds: int | None = None


def connector_type(types: Types, type_name: str, *path: str) -> type[Connector]:
    cls = types.get(type_name)
    if cls is None:
        raise fail(
            ConnectorCode.UNKNOWN_CONNECTOR_TYPE,
            f"no connector type {type_name!r}; known: {', '.join(sorted(types)) or '(none)'}",
            *path,
        )
    return cls


def kind_of(cls: type[Connector], config: Mapping[str, Any]) -> str:
    """An instance's kind: its type's, or what the type's optional ``kind_for(config)``
    says (the REST connector is an ERP or a CRM by its config)."""
    hook = getattr(cls, "kind_for", None)
    return str(hook(config)) if hook is not None else cls.kind


def validate_config(
    cls: type[Connector], config: Mapping[str, Any], secrets: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config without secrets, secrets) after ``cls.config_schema`` validated the two
    together; each failure a userError on ``config.<field>`` (never echoing a value)."""
    merged = {**config, **{k: v for k, v in secrets.items() if v is not None}}
    schema: type[BaseModel] = cls.config_schema
    try:
        model = schema.model_validate(merged)
    except ValidationError as exc:
        raise DomainError(
            [
                UserError(
                    ["config", *(str(p) for p in e["loc"])],
                    e["msg"],
                    ConnectorCode.INVALID_CONNECTOR_CONFIG,
                )
                for e in exc.errors(include_input=False, include_url=False)
            ]
        ) from None
    dumped = model.model_dump(mode="json")
    secret_fields = set(cls.secret_fields)
    public = {k: v for k, v in dumped.items() if k not in secret_fields}
    hidden = {k: v for k, v in dumped.items() if k in secret_fields and v is not None}
    return public, hidden


def _split(
    cls: type[Connector], config: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    fields = set(cls.secret_fields)
    return (
        {k: v for k, v in config.items() if k not in fields},
        {k: v for k, v in config.items() if k in fields},
    )


def _check(inp: ConnectorInput) -> None:
    errs: list[UserError] = []
    if inp.name is not None:
        name = inp.name.strip()
        if not name:
            errs.append(UserError(["name"], "name can't be blank", ConnectorCode.BLANK))
        elif len(name) > NAME_MAX:
            errs.append(
                UserError(["name"], f"at most {NAME_MAX} characters", ConnectorCode.INVALID)
            )
    for field, value, low, high in (
        ("schedule_seconds", inp.schedule_seconds, 1, MAX_SCHEDULE),
        ("event_interval_seconds", inp.event_interval_seconds, 0, 3600),
        ("timeout_seconds", inp.timeout_seconds, 1, MAX_TIMEOUT),
    ):
        if value is not None and not low <= value <= high:
            errs.append(
                UserError([field], f"must be between {low} and {high}", ConnectorCode.INVALID)
            )
    if errs:
        raise DomainError(errs)


def _taken(exc: IntegrityError, name: str) -> DomainError:
    msg = str(exc.orig).lower()
    if "unique" in msg or "duplicate" in msg:
        return fail(ConnectorCode.TAKEN, f"a connector named {name!r} exists", "name")
    raise exc


async def create(
    conn: AsyncConnection,
    types: Types,
    inp: ConnectorInput,
    *,
    position: tuple[int, int] = (0, 0),
    source: str = "api",
) -> int:
    """A new instance; its event feed starts at ``position`` (the head of the outbox
    when it is created: it sees the events committed after)."""
    _check(inp)
    if inp.name is None or not inp.name.strip():
        raise fail(ConnectorCode.BLANK, "name can't be blank", "name")
    if not inp.type_name:
        raise fail(ConnectorCode.BLANK, "typeName can't be blank", "type_name")
    cls = connector_type(types, inp.type_name, "type_name")
    public, secrets = _split(cls, inp.config or {})
    config, hidden = validate_config(cls, public, secrets)
    at = now()
    values: dict[str, Any] = {
        "name": inp.name.strip(),
        "type_name": inp.type_name,
        "kind": kind_of(cls, config),
        "config": config,
        "secrets": hidden,
        "enabled": True if inp.enabled is None else inp.enabled,
        "source": source,
        "schedule_seconds": inp.schedule_seconds,
        "event_interval_seconds": 5
        if inp.event_interval_seconds is None
        else inp.event_interval_seconds,
        "timeout_seconds": 300 if inp.timeout_seconds is None else inp.timeout_seconds,
        "failures": 0,
        "event_txid": position[0],
        "event_id": position[1],
        "next_run_at": at if inp.schedule_seconds else None,
        "created_at": at,
        "updated_at": at,
    }
    try:
        async with conn.begin_nested():
            pk: int = (
                await conn.execute(insert(connectors_t).values(values).returning(connectors_t.c.id))
            ).scalar_one()
    except IntegrityError as exc:
        raise _taken(exc, values["name"]) from None
    return pk


async def update_instance(
    conn: AsyncConnection, types: Types, pk: int, inp: ConnectorInput
) -> None:
    _check(inp)
    row = (
        await conn.execute(select(connectors_t).where(connectors_t.c.id == pk).with_for_update())
    ).first()
    if row is None:
        raise fail(ConnectorCode.NOT_FOUND, "no such connector", "id")
    cls = connector_type(types, row.type_name, "type_name")
    if inp.type_name is not None and inp.type_name != row.type_name:
        raise fail(ConnectorCode.INVALID, "a connector's type can't change", "type_name")
    values: dict[str, Any] = {"updated_at": now()}
    if inp.config is not None:
        public, given = _split(cls, inp.config)
        secrets = {**(row.secrets or {}), **given}
        values["config"], values["secrets"] = validate_config(cls, public, secrets)
        values["kind"] = kind_of(cls, values["config"])
    if inp.name is not None:
        values["name"] = inp.name.strip()
    if inp.enabled is not None:
        values["enabled"] = inp.enabled
        if inp.enabled and not row.enabled:  # switched back on: a clean slate
            values.update(failures=0, last_error=None, events_after=None)
    if inp.clear_schedule:
        values.update(schedule_seconds=None, next_run_at=None)
    elif inp.schedule_seconds is not None:
        values.update(schedule_seconds=inp.schedule_seconds, next_run_at=now())
    if inp.event_interval_seconds is not None:
        values["event_interval_seconds"] = inp.event_interval_seconds
    if inp.timeout_seconds is not None:
        values["timeout_seconds"] = inp.timeout_seconds
    try:
        async with conn.begin_nested():
            await conn.execute(update(connectors_t).where(connectors_t.c.id == pk).values(values))
    except IntegrityError as exc:
        raise _taken(exc, values.get("name", row.name)) from None


async def delete_instance(conn: AsyncConnection, pk: int) -> None:
    gone = await conn.execute(delete(connectors_t).where(connectors_t.c.id == pk))
    if not gone.rowcount:
        raise fail(ConnectorCode.NOT_FOUND, "no such connector", "id")
