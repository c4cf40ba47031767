"""audit log: audit_events (who, what, when, from where, the changed rows), the objects
each touched (audit_objects, filled by a trigger from the event's ``objects``, so an
event is one INSERT) and the retention mark (audit_retention); triggers make
both tables append-only: UPDATE is refused, DELETE too unless the row is older than
audit_retention.purge_before (which only moves forward)

Revision ID: 0017_audit
Revises: 0016_staff
Create Date: 2026-12-03 18:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0017_audit"
down_revision: str | None = "0016_staff"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
REFUSED = "audit log rows are append-only"
GUARDED = ("audit_events", "audit_objects")
When = sa.DateTime(timezone=True)

PG_FUNCTIONS = f"""
CREATE FUNCTION audit_append_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE'
     AND OLD.occurred_at < (SELECT purge_before FROM audit_retention WHERE id = 1) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION '{REFUSED}' USING ERRCODE = 'insufficient_privilege';
END $$ LANGUAGE plpgsql;
CREATE FUNCTION audit_index_objects() RETURNS trigger AS $$
BEGIN
  INSERT INTO audit_objects (event_id, occurred_at, object_type, object_id)
  SELECT NEW.id, NEW.occurred_at, o->>0, o->>1 FROM json_array_elements(NEW.objects) AS o;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE FUNCTION audit_truncate_refused() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION '{REFUSED}' USING ERRCODE = 'insufficient_privilege';
END $$ LANGUAGE plpgsql;
CREATE FUNCTION audit_retention_forward() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.purge_before >= OLD.purge_before THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'the audit retention mark only moves forward'
    USING ERRCODE = 'insufficient_privilege';
END $$ LANGUAGE plpgsql
"""


def _pg() -> None:
    for stmt in PG_FUNCTIONS.split(";\nCREATE"):
        op.execute(stmt if stmt.lstrip().startswith("CREATE") else "CREATE" + stmt)
    op.execute(
        "CREATE TRIGGER audit_events_objects AFTER INSERT ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_index_objects()"
    )
    for table in GUARDED:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_truncate_refused()"
        )
    op.execute(
        "CREATE TRIGGER audit_retention_guard BEFORE UPDATE OR DELETE ON audit_retention "
        "FOR EACH ROW EXECUTE FUNCTION audit_retention_forward()"
    )
    op.execute(
        "CREATE TRIGGER audit_retention_no_truncate BEFORE TRUNCATE ON audit_retention "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_truncate_refused()"
    )


def _sqlite() -> None:
    mark = "(SELECT purge_before FROM audit_retention WHERE id = 1)"
    op.execute(
        "CREATE TRIGGER audit_events_objects AFTER INSERT ON audit_events BEGIN "
        "INSERT INTO audit_objects (event_id, occurred_at, object_type, object_id) "
        "SELECT NEW.id, NEW.occurred_at, json_extract(value, '$[0]'), "
        "json_extract(value, '$[1]') FROM json_each(NEW.objects); END"
    )
    for table in GUARDED:
        op.execute(
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            f"WHEN {mark} IS NULL OR OLD.occurred_at >= {mark} "
            f"BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END"
        )
    op.execute(
        "CREATE TRIGGER audit_retention_forward BEFORE UPDATE ON audit_retention "
        "WHEN NEW.id != OLD.id OR NEW.purge_before < OLD.purge_before "
        "BEGIN SELECT RAISE(ABORT, 'the audit retention mark only moves forward'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_retention_no_delete BEFORE DELETE ON audit_retention "
        "BEGIN SELECT RAISE(ABORT, 'the audit retention mark only moves forward'); END"
    )


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", BigId, nullable=False),
        sa.Column("occurred_at", When, nullable=False),
        sa.Column("actor_kind", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("actor_name", sa.String(length=255), nullable=False),
        sa.Column("actor_role", sa.String(length=32), nullable=False),
        sa.Column("operation", sa.String(length=128), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("client_address", sa.String(length=64), nullable=True),
        sa.Column("objects", sa.JSON(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_occurred_at", "audit_events", ["occurred_at"])
    op.create_index("ix_audit_events_actor", "audit_events", ["actor_kind", "actor_id", "id"])
    op.create_index("ix_audit_events_operation", "audit_events", ["operation", "id"])
    op.create_table(
        "audit_objects",
        sa.Column("id", BigId, nullable=False),
        sa.Column("event_id", BigId, nullable=False),
        sa.Column("occurred_at", When, nullable=False),
        sa.Column("object_type", sa.String(length=64), nullable=False),
        sa.Column("object_id", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["audit_events.id"],
            name=op.f("fk_audit_objects_event_id_audit_events"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_objects")),
    )
    op.create_index("ix_audit_objects_event_id", "audit_objects", ["event_id"])
    op.create_index(
        "ix_audit_objects_object", "audit_objects", ["object_type", "object_id", "event_id"]
    )
    retention = op.create_table(
        "audit_retention",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purge_before", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_retention")),
    )
    op.bulk_insert(retention, [{"id": 1, "purge_before": datetime(1970, 1, 1, tzinfo=UTC)}])
    if op.get_bind().dialect.name == "postgresql":
        _pg()
    else:
        _sqlite()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in (*GUARDED, "audit_retention"):
            op.execute(f"DROP TABLE {table} CASCADE")
        for fn in (
            "audit_append_only",
            "audit_index_objects",
            "audit_truncate_refused",
            "audit_retention_forward",
        ):
            op.execute(f"DROP FUNCTION {fn}()")
        return
    for table in ("audit_objects", "audit_events", "audit_retention"):
        op.drop_table(table)
