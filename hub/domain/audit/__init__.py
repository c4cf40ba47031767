"""The audit log (issue 12): every write by an admin, staff user, connector or partner
records who (the actor), what (the operation and the rows it changed, before and after,
secrets redacted), when and from where (request id, client address).

- :mod:`scope`: the audit scope of the running task (``audit_scope``, ``actor_of``);
- :mod:`capture`: the engine listeners that capture the writes made under a scope and
  write them in the same transaction (``install``, ``mark_secret``);
- :mod:`changes`: merging, diffing and redacting the captured rows;
- :mod:`log`: reading the log (``events``, ``AuditFilter``);
- :mod:`retention`: the purge of events past ``HUB_AUDIT_RETENTION_DAYS``.

The log is append-only: there is no update or delete path here, and the database
refuses both (triggers, migration 0017_audit) except the retention job's deletes of
rows older than its mark.
"""

from hub.domain.audit.capture import SKIPPED_TABLES, install
from hub.domain.audit.changes import REDACTED, mark_secret
from hub.domain.audit.log import AuditEventRecord, AuditFilter, events
from hub.domain.audit.retention import purge
from hub.domain.audit.scope import Actor, AuditScope, actor_of, audit_scope, current_scope

__all__ = [
    "REDACTED",
    "SKIPPED_TABLES",
    "Actor",
    "AuditEventRecord",
    "AuditFilter",
    "AuditScope",
    "actor_of",
    "audit_scope",
    "current_scope",
    "events",
    "install",
    "mark_secret",
    "purge",
]
