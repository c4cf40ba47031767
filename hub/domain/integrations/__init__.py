"""Integrations: the connector framework's runtime (issue 12).

Owns connector *instances* (the ``connectors`` table: a registered connector type with
its config, write-only secrets, schedule, sync cursor, event feed position, failures
and backoff, and the lease of the run going on) and their *runs* (``connector_runs``).

- ``records``: ``ConnectorCode``, the records and their batched reads;
- ``admin``: create, update, delete (config validated by the type's ``config_schema``,
  its ``secret_fields`` split off into the write-only secrets);
- ``store``: the lease, the run rows, the outcome (cursor, position, backoff);
- ``runtime``: :class:`Integrations`, the container's ``hub.integrations``: the
  scheduler, runs with timeouts, manual runs, the event feed;
- ``feed``: topic patterns and the coalescing of stock events;
- ``context``: the ``RunContext`` a connector gets; ``gateway``: its ``HubGateway``,
  delegating to ``catalog_sync``, ``crm`` and ``orders_in``;
- ``config_file``: instances from ``HUB_CONNECTORS_FILE``.

Connector *types* live in ``connectors/<kind>/`` and are registered in
``hub.composition.connector_types``; this package knows them only through the
``connectors.base.Connector`` protocol.
"""

from hub.domain.integrations.admin import ConnectorInput
from hub.domain.integrations.records import (
    MAX_RUN_ERRORS,
    ConnectorCode,
    ConnectorRecord,
    RunError,
    RunRecord,
    SecretState,
    connectors_page_stmt,
    last_runs,
    runs_stmt,
)
from hub.domain.integrations.runtime import Integrations

__all__ = [
    "MAX_RUN_ERRORS",
    "ConnectorCode",
    "ConnectorInput",
    "ConnectorRecord",
    "Integrations",
    "RunError",
    "RunRecord",
    "SecretState",
    "connectors_page_stmt",
    "last_runs",
    "runs_stmt",
]
