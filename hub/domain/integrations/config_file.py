"""Connector instances from a YAML file (``HUB_CONNECTORS_FILE``), applied at start by
name: an instance the file names is created, or updated to what the file says
(idempotent: applying the same file twice changes nothing the second time). Instances
the file does not name are left alone. ``${VAR}`` in a string value is replaced by the
environment variable ``VAR`` (keep secrets out of the file)::

    connectors:
      - name: erp-feed
        type: file_feed
        enabled: true            # default true
        schedule_seconds: 300    # default: no schedule
        event_interval_seconds: 5
        timeout_seconds: 600
        config:
          path: /srv/feeds
      - name: tax
        type: http_tax
        config:
          url: https://tax.example.com
          api_key: ${TAX_API_KEY}
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from hub.db.tables import connectors_t
from hub.domain.errors import DomainError
from hub.domain.integrations.admin import ConnectorInput, validate_config
from hub.domain.integrations.runtime import Integrations

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigFileError(Exception):
    """The connectors file can't be applied (the message says where and why)."""


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    type: str
    enabled: bool = True
    schedule_seconds: int | None = None
    event_interval_seconds: int = 5
    timeout_seconds: int = 300
    config: dict[str, Any] = Field(default_factory=dict)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    connectors: list[_Entry] = Field(default_factory=list)


def _expand(value: Any, where: str) -> Any:
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            got = os.environ.get(m.group(1))
            if got is None:
                raise ConfigFileError(f"{where}: environment variable {m.group(1)} is not set")
            return got

        return _VAR.sub(sub, value)
    if isinstance(value, dict):
        return {k: _expand(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def load(path: Path) -> list[_Entry]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigFileError(f"{path}: {exc}") from None
    try:
        parsed = _File.model_validate(data)
    except ValidationError as exc:
        raise ConfigFileError(f"{path}: {exc}") from None
    names = [e.name for e in parsed.connectors]
    if dupes := sorted({n for n in names if names.count(n) > 1}):
        raise ConfigFileError(f"{path}: connector names repeated: {dupes}")
    for e in parsed.connectors:
        e.config = _expand(e.config, f"{path}: {e.name}.config")
    return parsed.connectors


async def apply(integrations: Integrations, path: Path) -> dict[str, str]:
    """Apply the file: ``{name: "created" | "updated" | "unchanged"}``."""
    done: dict[str, str] = {}
    for e in load(path):
        inp = ConnectorInput(
            name=e.name,
            type_name=e.type,
            config=e.config,
            enabled=e.enabled,
            schedule_seconds=e.schedule_seconds,
            clear_schedule=e.schedule_seconds is None,
            event_interval_seconds=e.event_interval_seconds,
            timeout_seconds=e.timeout_seconds,
        )
        try:
            done[e.name] = await _apply_one(integrations, e, inp)
        except DomainError as exc:
            raise ConfigFileError(f"{path}: connector {e.name!r}: {exc}") from None
    return done


async def _apply_one(integrations: Integrations, e: _Entry, inp: ConnectorInput) -> str:
    async with integrations.db.read() as conn:
        row = (
            await conn.execute(select(connectors_t).where(connectors_t.c.name == e.name))
        ).first()
    if row is None:
        await integrations.create(inp, source="file")
        return "created"
    cls = integrations.types.get(e.type)
    if cls is not None and row.type_name == e.type:
        fields = set(cls.secret_fields)
        public = {k: v for k, v in e.config.items() if k not in fields}
        secrets = {k: v for k, v in e.config.items() if k in fields}
        try:
            config, hidden = validate_config(cls, public, secrets)
        except DomainError:
            config, hidden = {}, {}
        same = (
            config == (row.config or {})
            and hidden == (row.secrets or {})
            and row.enabled == e.enabled
            and row.schedule_seconds == e.schedule_seconds
            and row.event_interval_seconds == e.event_interval_seconds
            and row.timeout_seconds == e.timeout_seconds
        )
        if same:
            return "unchanged"
    await integrations.update(row.id, inp)
    return "updated"
