"""Connector instances from ``HUB_CONNECTORS_FILE`` (YAML), applied at start by name:
created, then unchanged when the same file is applied again, updated when it changes;
secrets from the environment stay write-only; a bad file stops the start."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from hub.domain.integrations.config_file import ConfigFileError
from tests.helpers.client import Hub, served_again
from tests.helpers.connectors import delete_connector

FIND = """query { connectors(first: 250) { nodes { id name typeName enabled source config
  secrets { name isSet } scheduleSeconds timeoutSeconds updatedAt } } }"""


def _file(path: Path, name: str, timeout: int = 30) -> Path:
    path.write_text(
        f"""
connectors:
  - name: {name}
    type: http_tax
    enabled: false
    schedule_seconds: 600
    timeout_seconds: {timeout}
    config:
      url: https://tax.example.com
      api_key: ${{HUB_TEST_TAX_KEY}}
      timeout: 1.5
""",
        encoding="utf-8",
    )
    return path


async def _named(hub: Hub, name: str) -> list[dict]:
    got = await hub.admin(FIND)
    assert "errors" not in got, got
    return [c for c in got["data"]["connectors"]["nodes"] if c["name"] == name]


async def test_the_connectors_file_is_applied_by_name(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_TEST_TAX_KEY", "key-from-env-42")
    name = f"file-tax-{uuid.uuid4().hex[:8]}"
    path = _file(tmp_path / "connectors.yaml", name)

    async with served_again(hub, connectors_file=str(path)):
        pass
    (made,) = await _named(hub, name)
    assert made["source"] == "FILE" and made["typeName"] == "http_tax"
    assert made["enabled"] is False and made["scheduleSeconds"] == 600
    assert made["config"]["url"] == "https://tax.example.com" and made["config"]["timeout"] == 1.5
    assert made["secrets"] == [{"name": "api_key", "isSet": True}]
    assert "key-from-env-42" not in json.dumps(made)
    stored = await hub.scalar("SELECT secrets FROM connectors WHERE name = :n", n=name)
    secrets = json.loads(stored) if isinstance(stored, str) else stored
    assert secrets == {"api_key": "key-from-env-42"}

    try:
        # The same file again: the same instance, untouched.
        async with served_again(hub, connectors_file=str(path)):
            pass
        (again,) = await _named(hub, name)
        assert again == made

        # Changed: updated in place.
        _file(path, name, timeout=90)
        async with served_again(hub, connectors_file=str(path)):
            pass
        (changed,) = await _named(hub, name)
        assert changed["id"] == made["id"] and changed["timeoutSeconds"] == 90
    finally:
        await delete_connector(hub, made["id"])


async def test_a_bad_connectors_file_stops_the_start(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HUB_TEST_TAX_KEY", raising=False)
    name = f"file-bad-{uuid.uuid4().hex[:8]}"
    path = _file(tmp_path / "connectors.yaml", name)
    with pytest.raises(ConfigFileError, match="HUB_TEST_TAX_KEY is not set"):
        async with served_again(hub, connectors_file=str(path)):
            pass

    path.write_text(
        f"connectors:\n  - name: {name}\n    type: no_such_type\n    config: {{}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigFileError, match="UNKNOWN_CONNECTOR_TYPE"):
        async with served_again(hub, connectors_file=str(path)):
            pass

    path.write_text(
        f"connectors:\n  - name: {name}\n    type: http_tax\n    config: {{url: nope}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigFileError, match="INVALID_CONNECTOR_CONFIG"):
        async with served_again(hub, connectors_file=str(path)):
            pass
    assert await _named(hub, name) == []
